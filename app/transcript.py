"""The live transcript: caption events from one or more sources gathered into timestamped lines (no Qt).

Text arrives token by token. Each event either extends its source's running line or starts a new one, so the cost
of an event does not grow with the length of the session; every line is kept, because the user scrolls back through
them. With two sources, each keeps a running line of its own: two people talking at once read as two growing lines,
not as alternating one-word lines. A session header (the date and time it started) separates captioning sessions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from app.events import CaptionEvent, CaptionGap

PAUSE_S = 1.5  # a gap this long between a source's events always starts a new line
SENTENCE_PAUSE_S = 0.4  # after a sentence end, a shorter gap is enough
MAX_LINE_CHARS = 200  # past this, the next word starts a new line
HARD_LINE_CHARS = 300  # languages written without spaces have no word border; break anyway
SENTENCE_ENDS = (".", "?", "!", "。", "？", "！")


@dataclass(slots=True)
class TranscriptLine:
    """One line of the transcript; ``text`` and ``end_s`` grow while it is the newest line."""

    index: int
    source_id: str
    label: str
    start_s: float
    end_s: float
    text: str
    header: bool = False  # a session header: no time or label before it


class ChangeKind(str, Enum):
    APPENDED = "appended"  # a new line was added at the end
    UPDATED = "updated"  # text was added to the end of line ``index`` (a source's running line)


@dataclass(frozen=True)
class LineChange:
    """What ``LiveTranscript.add`` did, so a view can make the same edit: ``text`` is what was added to line ``index``.

    For an appended line ``text`` is the line's whole text so far.
    """

    kind: ChangeKind
    index: int
    text: str


def format_timestamp(seconds: float) -> str:
    """``hh:mm:ss`` for a time in seconds (negative times show as 00:00:00)."""
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"


def gap_text(gap: CaptionGap) -> str:
    """How a stretch without captions reads in a transcript: ``(no captions 00:02:13–00:02:41: server unreachable)``."""
    return f"(no captions {format_timestamp(gap.start_s)}–{format_timestamp(gap.end_s)}: {gap.reason})"


GAPS_LISTED = 5  # stretches named in a session's note; the rest are counted


def gaps_note(gaps: Sequence[CaptionGap]) -> str:
    """What a recording's stretches without captions read as above its transcript ("" when there are none)."""
    if not gaps:
        return ""
    count = "1 stretch" if len(gaps) == 1 else f"{len(gaps)} stretches"
    named = ", ".join(f"{format_timestamp(g.start_s)}–{format_timestamp(g.end_s)} ({g.reason})"
                      for g in gaps[:GAPS_LISTED])
    more = f" and {len(gaps) - GAPS_LISTED} more" if len(gaps) > GAPS_LISTED else ""
    return (f"No live captions for {count}: {named}{more}. The audio was recorded: Transcribe again fills them "
            "in.")


def session_header(started: datetime) -> str:
    """The line that opens a captioning session in the live transcript."""
    return f"— Session of {started:%A %d %B %Y, %H:%M} —"


def line_prefix(line: TranscriptLine) -> str:
    """What is shown before a line's text: ``[hh:mm:ss] Label: `` (no label part when the label is empty; nothing
    before a session header)."""
    if line.header:
        return ""
    stamp = f"[{format_timestamp(line.start_s)}] "
    return f"{stamp}{line.label}: " if line.label else stamp


def utf16_length(text: str) -> int:
    """How many UTF-16 code units ``text`` takes: positions in Qt's text count these, and a character outside the
    Basic Multilingual Plane (an emoji) takes two."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def folded(text: str) -> tuple[str, list[int]]:
    """``text.casefold()`` and, for each of its characters, the offset in ``text`` of the character it came from.

    Case folding can change lengths ('ß' folds to 'ss', 'İ' to 'i̇'), so offsets in the folded text are mapped back
    through this list.
    """
    parts: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        fold = char.casefold()
        parts.append(fold)
        origin.extend([i] * len(fold))
    return "".join(parts), origin


def contains_folded(text: str, query: str) -> bool:
    """Whether ``query`` occurs in ``text`` under Unicode case folding ("strasse" is in "Straße")."""
    return bool(query) and query.casefold() in text.casefold()


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Start and end offsets in ``text`` of every occurrence of ``query`` under Unicode case folding.

    A match that begins or ends inside what one character folds to covers that whole character ("s" marks all of
    "ß"); such spans are merged, so spans never overlap.
    """
    needle = query.casefold()
    if not needle:
        return []
    haystack, origin = folded(text)
    spans: list[tuple[int, int]] = []
    at = haystack.find(needle)
    while at >= 0:
        start, end = origin[at], origin[at + len(needle) - 1] + 1
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
        at = haystack.find(needle, at + len(needle))
    return spans


class LiveTranscript:
    """Caption events gathered into lines; see the module docstring.

    ``running_lines=False`` groups as earlier versions did (any change of source starts a line), which the library
    keeps for stored sessions: corrections saved there are keyed by line number.
    """

    def __init__(self, *, running_lines: bool = True) -> None:
        self._lines: list[TranscriptLine] = []
        self._closed: set[str] = set()  # sources whose stream ended: their next text starts a new line
        self._running: dict[str, int] = {}  # source id -> the index of its line that new text may extend
        self._per_source = running_lines

    @property
    def lines(self) -> list[TranscriptLine]:
        """All lines, oldest first; ``lines[i].index == i``. Do not modify."""
        return self._lines

    def add(self, event: CaptionEvent, label: str = "") -> list[LineChange]:
        """Take one event; returns the changes made to the lines (none for events without text)."""
        changes: list[LineChange] = []
        if event.text:
            for piece in _pieces(event.text):
                self._add_piece(event, piece, label, changes)
        if event.final:
            self._closed.add(event.source_id)
        return changes

    def add_gap(self, gap: CaptionGap, label: str = "") -> list[LineChange]:
        """A line of its own saying that a stretch of a source got no captions; its next text starts a new line."""
        text = gap_text(gap)
        line = TranscriptLine(len(self._lines), gap.source_id, label, gap.start_s, gap.end_s, text)
        self._lines.append(line)
        self._closed.add(gap.source_id)
        return [LineChange(ChangeKind.APPENDED, line.index, text)]

    def start_session(self, started: datetime) -> list[LineChange]:
        """A header line for a new captioning session; every source's next text starts a new line (its times start
        at the new session's start)."""
        text = session_header(started)
        line = TranscriptLine(len(self._lines), "", "", 0.0, 0.0, text, header=True)
        self._lines.append(line)
        self._running.clear()
        self._closed.clear()
        return [LineChange(ChangeKind.APPENDED, line.index, text)]

    def clear(self) -> None:
        """Forget all lines."""
        self._lines.clear()
        self._closed.clear()
        self._running.clear()

    def search(self, query: str) -> list[int]:
        """Indices of the lines containing ``query`` under Unicode case folding; [] for an empty query."""
        return [line.index for line in self._lines if contains_folded(line.text, query)]

    def text_with_timestamps(self) -> str:
        """The whole transcript as text, one ``[hh:mm:ss] Label: text`` line per line, for the clipboard."""
        return "\n".join(line_prefix(line) + line.text for line in self._lines)

    def _add_piece(self, event: CaptionEvent, piece: str, label: str, changes: list[LineChange]) -> None:
        last = self._running_line(event.source_id)
        if last is None or self._starts_new_line(last, event, piece):
            text = piece.lstrip()
            if not text:  # whitespace never opens a line
                return
            self._closed.discard(event.source_id)
            line = TranscriptLine(len(self._lines), event.source_id, label, event.start_s, event.end_s, text)
            self._lines.append(line)
            self._running[event.source_id] = line.index
            changes.append(LineChange(ChangeKind.APPENDED, line.index, text))
            return
        last.text += piece
        last.end_s = max(last.end_s, event.end_s)
        if changes and changes[-1].index == last.index:  # several pieces of one event: report one change
            prev = changes[-1]
            changes[-1] = LineChange(prev.kind, prev.index, prev.text + piece)
        else:
            changes.append(LineChange(ChangeKind.UPDATED, last.index, piece))

    def _running_line(self, source_id: str) -> TranscriptLine | None:
        if not self._per_source:
            return self._lines[-1] if self._lines else None
        index = self._running.get(source_id)
        return self._lines[index] if index is not None else None

    def _starts_new_line(self, last: TranscriptLine, event: CaptionEvent, piece: str) -> bool:
        if event.source_id != last.source_id or event.source_id in self._closed:
            return True
        gap = event.start_s - last.end_s
        if gap >= PAUSE_S:
            return True
        if gap >= SENTENCE_PAUSE_S and last.text.rstrip().endswith(SENTENCE_ENDS):
            return True
        # Once someone else has spoken below it, a line grows only while its speaker talks on without a break:
        # after a pause the words would read as said before the other person's.
        if gap >= SENTENCE_PAUSE_S and last.index != len(self._lines) - 1:
            return True
        if len(last.text) >= HARD_LINE_CHARS:
            return True
        return len(last.text) >= MAX_LINE_CHARS and piece[:1].isspace()


def _pieces(text: str) -> list[str]:
    """``text`` cut before each word, so one long event can still be broken at a word border."""
    if len(text) <= 32:  # tokens are taken whole: a line overshoots MAX_LINE_CHARS by at most this much
        return [text]
    return [p for p in re.findall(r"\s*\S*", text) if p]
