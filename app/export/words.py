"""Caption events turned into timed tokens and words, the material every export format is built from.

Each event carries a text delta, its token ids and the audio span of its step(s). An event with one token gives that
token the whole span and text. An event with several tokens (the live worker batches steps when it catches up) has
its span split evenly into one slot per token and its text split evenly by characters, an estimate. An event with
text but no token ids (sentence-level times, a character flushed at the end of a stream) spreads its span evenly over
its characters. Words are the text between whitespace; a word runs from the start of its first token's span to the end
of its last token's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.events import CaptionEvent


@dataclass(frozen=True)
class TimedToken:
    """A piece of one source's text with its audio span; ``id`` is None for text that came without a token id."""

    source_id: str
    id: int | None
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TimedWord:
    """A whitespace-delimited word of one source; ``tokens`` are the model tokens whose text starts in it."""

    source_id: str
    text: str
    start_s: float
    end_s: float
    tokens: tuple[TimedToken, ...] = ()


def _pieces(event: CaptionEvent) -> list[TimedToken]:
    ids, text, start, span = event.token_ids, event.text, event.start_s, event.end_s - event.start_s
    if ids:
        n, size = len(ids), len(text)
        cuts = [k * size // n for k in range(n + 1)]
        return [
            TimedToken(event.source_id, token, text[cuts[k] : cuts[k + 1]], start + span * k / n,
                       start + span * (k + 1) / n)
            for k, token in enumerate(ids)
        ]
    n = len(text)
    return [TimedToken(event.source_id, None, c, start + span * k / n, start + span * (k + 1) / n)
            for k, c in enumerate(text)]


def timed_tokens(events: Iterable[CaptionEvent]) -> list[TimedToken]:
    """Every token and id-less piece of text of ``events``, in event order."""
    return [piece for event in events for piece in _pieces(event)]


class _WordBuilder:
    """Collects the characters of one source's words as its pieces arrive."""

    def __init__(self, source_id: str, out: list[TimedWord]) -> None:
        self.source_id, self.out = source_id, out
        self.chars: list[str] = []
        self.first: TimedToken | None = None
        self.last: TimedToken | None = None
        self.tokens: list[TimedToken] = []

    def add(self, piece: TimedToken) -> None:
        started = False  # the piece's first visible character has been placed
        for c in piece.text:
            if c.isspace():
                self.close()
                continue
            if not self.chars:
                self.first = piece
            if not started and piece.id is not None:
                self.tokens.append(piece)
            started = True
            self.chars.append(c)
            self.last = piece

    def close(self) -> None:
        if self.chars and self.first is not None and self.last is not None:
            self.out.append(TimedWord(self.source_id, "".join(self.chars), self.first.start_s, self.last.end_s,
                                      tuple(self.tokens)))
        self.chars, self.tokens, self.first, self.last = [], [], None, None


def timed_words(events: Iterable[CaptionEvent]) -> list[TimedWord]:
    """The words of all sources in ``events``, ordered by start time (a source's own order kept on ties).

    A final event (the end of a stream) also ends the word in progress.
    """
    words: list[TimedWord] = []
    builders: dict[str, _WordBuilder] = {}
    for event in events:
        builder = builders.setdefault(event.source_id, _WordBuilder(event.source_id, words))
        for piece in _pieces(event):
            builder.add(piece)
        if event.final:
            builder.close()
    for builder in builders.values():
        builder.close()
    return sorted(words, key=lambda w: w.start_s)


def source_ids(events: Iterable[CaptionEvent]) -> list[str]:
    """The sources of ``events`` in order of first appearance."""
    return list(dict.fromkeys(event.source_id for event in events))
