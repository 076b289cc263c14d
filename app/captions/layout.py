"""Roll-up caption layout: text deltas in, the last few word-wrapped lines out. Plain Python, no Qt.

Live captions arrive a token at a time for hours. Only a few recent lines are ever shown, so only a bounded tail of
text is kept for display and re-wrapped; the complete text is kept separately, unwrapped, for ``full_text``.

Wrapping is greedy by words and an over-long word always starts a line of its own before it is cut into pieces of
exactly the line length. With that rule, appending text can only change the last wrapped line of a paragraph, so the
lines above it are final and can be dropped from the display tail without changing what remains.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

_EXTRA_KEPT_LINES = 5  # kept beyond the visible lines, so a wider window can show a little history at once


Fits = Callable[[str], bool]  # whether a line fits the display (e.g. measured in pixels); None: characters only


def wrap(text: str, width: int, fits: Fits | None = None) -> list[str]:
    """``text`` word-wrapped at ``width`` characters (and where ``fits`` says a line still fits); words longer than a
    line are cut. Whitespace collapses."""

    def ok(line: str) -> bool:
        return len(line) <= width and (fits is None or fits(line))

    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and ok(current + " " + word):
            current += " " + word
            continue
        if current:
            lines.append(current)
        while len(word) > 1 and not ok(word):
            lo, hi = 1, len(word) - 1  # the longest prefix that fits; at least one character per line
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if ok(word[:mid]) else (lo, mid - 1)
            lines.append(word[:lo])
            word = word[lo:]
        current = word
    if current:
        lines.append(current)
    return lines


@dataclass(eq=False)  # compared by identity: each source's running paragraph is found among the kept ones
class _Paragraph:
    source_id: str
    text: str  # normalised: single spaces, no newlines
    space_pending: bool = False  # the last delta ended in whitespace, so the next word is a new word


class RollUp:
    """Accumulates caption deltas from one or more sources and lays out the visible roll-up lines.

    Each source has a running paragraph that its next delta extends, so two people talking at once read as two
    growing paragraphs rather than alternating one-word lines. A newline ends a source's paragraph; so does a pause
    (``add(paused=True)``) once another source has spoken below it, as the words would read as said before theirs.
    """

    def __init__(self, max_line_chars: int, lines: int) -> None:
        self._paragraphs: list[_Paragraph] = []  # the display tail; running paragraphs may still grow
        self._running: dict[str, _Paragraph] = {}  # source id -> the paragraph its next delta extends
        self._all = io.StringIO()
        self._by_source: dict[str, io.StringIO] = {}
        self.set_geometry(max_line_chars, lines)

    @property
    def max_line_chars(self) -> int:
        return self._width

    def set_geometry(self, max_line_chars: int, lines: int, fits: Fits | None = None) -> None:
        """Change the wrap width (in characters, and ``fits`` for what the display can hold) and the number of
        visible lines; the kept tail is re-wrapped."""
        if max_line_chars < 1 or lines < 1:
            raise ValueError(f"need at least one line of one character, not {lines} x {max_line_chars}")
        self._width = max_line_chars
        self._lines = lines
        self._fits = fits
        self._trim()

    def add(self, source_id: str, text: str, label: str = "", *, paused: bool = False) -> None:
        """Append a delta from ``source_id``; a new paragraph of a speaker is prefixed ``label:`` if given.
        ``paused``: the speaker paused before this delta (see the class docstring)."""
        if not text:
            return
        self._all.write(text)
        self._by_source.setdefault(source_id, io.StringIO()).write(text)
        running = self._running.get(source_id)
        if paused and running is not None and running is not self._paragraphs[-1] and text.strip():
            del self._running[source_id]
        for i, part in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
            if i:
                self._running.pop(source_id, None)  # a newline ends the paragraph; the speaker goes on unlabelled
            self._append_inline(source_id, part, label)
        self._trim()

    def _append_inline(self, source_id: str, part: str, label: str) -> None:
        words = part.split()
        running = self._running.get(source_id)
        if not words:
            # Whitespace alone shows nothing, but it still separates the words before and after it.
            if running is not None and part:
                running.space_pending = True
            return
        if running is not None:
            joined = " ".join(words)
            running.text += (" " + joined) if running.space_pending or part[0].isspace() else joined
        else:
            last = self._paragraphs[-1] if self._paragraphs else None
            speaker_changed = last is None or last.source_id != source_id
            prefix = f"{label}: " if label and speaker_changed else ""
            running = self._running[source_id] = _Paragraph(source_id, prefix + " ".join(words))
            self._paragraphs.append(running)
        running.space_pending = part[-1].isspace()

    def _trim(self) -> None:
        """Drop finished lines from the front of the display tail so it holds a bounded number of lines."""
        keep = self._lines + _EXTRA_KEPT_LINES
        wrapped = [wrap(p.text, self._width, self._fits) for p in self._paragraphs]
        excess = sum(len(w) for w in wrapped) - keep
        while excess > 0:
            first = wrapped[0]
            if len(self._paragraphs) > 1 and len(first) <= excess:
                if self._running.get(self._paragraphs[0].source_id) is self._paragraphs[0]:
                    del self._running[self._paragraphs[0].source_id]  # its source's next words start anew below
                del self._paragraphs[0], wrapped[0]
                excess -= len(first)
                continue
            # Lines above a paragraph's last line are final (see the module docstring), so cutting them off and
            # re-wrapping the rest from a line start gives the same lines.
            self._paragraphs[0].text = " ".join(first[excess:])
            break

    def lines(self) -> list[str]:
        """The last visible lines, oldest first (at most ``lines``; fewer while little has been said)."""
        out: list[str] = []
        for paragraph in reversed(self._paragraphs):
            out[:0] = wrap(paragraph.text, self._width, self._fits)
            if len(out) >= self._lines:
                break
        return out[-self._lines :]

    def full_text(self, source_id: str | None = None) -> str:
        """Every delta added (for one source, or all), concatenated exactly as received."""
        if source_id is None:
            return self._all.getvalue()
        buffer = self._by_source.get(source_id)
        return buffer.getvalue() if buffer is not None else ""

    def clear(self) -> None:
        """Forget everything, including the full text."""
        self._paragraphs.clear()
        self._running.clear()
        self._all = io.StringIO()
        self._by_source.clear()
