"""Timed words grouped for reading: subtitle cues (SRT, WebVTT, JSON) and paragraphs (TXT, Markdown).

Cue rules, in the order they are applied:

1. Words longer than a line are cut into line-sized pieces (times shared out by characters).
2. Words are taken in time order, except that while two sources talk at once, the one speaking keeps the floor over
   a word of the other that starts less than ``TURN_TOLERANCE_S`` before its own next word (word-by-word
   interleaving would make cues flicker). A cue always ends at a change of source, when the next word would not fit in
   ``MAX_LINES`` lines of ``MAX_LINE_CHARS`` characters (broken at word borders), or when the cue would last more than
   ``MAX_DURATION_S`` counted to the end of the next word. When it ends for lack of room or time, it ends after the
   last sentence or clause end in its second half, if there is one, rather than after the last word that fits.
3. A cue also ends after a sentence end or before a pause of ``PAUSE_S`` or more, but only once the next word starts at
   least ``MIN_DURATION_S`` after the cue's start, so that short sentences do not become flashes.
4. Lines are balanced: of all ways to break the text in two, the one with the most even lengths wins, with a bonus for
   breaking after punctuation.
5. Timing: a cue starts with its first word, or later to let the previous cue (another source's) be read: up to
   ``MIN_DURATION_S`` after the previous cue's start but at most ``MAX_LATE_S`` after its own first word, and at
   least ``MIN_VISIBLE_S`` after the previous cue's start. It ends with its last word, extended into the following
   silence until it lasts ``MIN_DURATION_S`` and its text reads at ``MAX_CPS`` characters per second at most, but
   never past ``MAX_DURATION_S`` nor past the next cue's start: cues never overlap. When the next cue starts too soon
   (fast speech, a second source talking), the cue ends where the next one starts and is shorter or faster than the
   limits say; nothing is delayed further to make room.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from app.export.words import TimedWord

MAX_LINES = 2
MAX_LINE_CHARS = 42
MIN_DURATION_S = 1.0
MAX_DURATION_S = 7.0
MAX_CPS = 20.0  # characters per second, spaces included, line breaks not
PAUSE_S = 0.8
MIN_VISIBLE_S = 0.2
MAX_LATE_S = 0.5
TURN_TOLERANCE_S = 0.6
SENTENCE_ENDS = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_ENDS = (",", ";", ":", "，", "、", "；", "：")
PARAGRAPH_PAUSE_S = 2.0  # a silence this long starts a new paragraph
PARAGRAPH_CHARS = 500  # past this, a paragraph ends at the next sentence end


@dataclass(frozen=True)
class Segment:
    """A cue (or paragraph) of one source: display times, label and text lines, and the words it holds."""

    start_s: float
    end_s: float
    source_id: str
    label: str
    lines: tuple[str, ...]
    words: tuple[TimedWord, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def label_for(source_id: str, labels: dict[str, str] | None) -> str:
    """The display name of a source: its label when one is given, else its id."""
    return (labels or {}).get(source_id) or source_id


def break_lines(texts: Sequence[str], *, width: int = MAX_LINE_CHARS, first_width: int | None = None,
                max_lines: int = MAX_LINES) -> list[str] | None:
    """``texts`` (words) as one line or two balanced lines, or None when they do not fit."""
    first = width if first_width is None else first_width
    whole = " ".join(texts)
    if len(whole) <= first:
        return [whole]
    if max_lines < 2:
        return None
    best: tuple[float, list[str]] | None = None
    for i in range(1, len(texts)):
        top, bottom = " ".join(texts[:i]), " ".join(texts[i:])
        if len(top) > first or len(bottom) > width:
            continue
        # Even lengths first; a break after punctuation is worth a few characters of imbalance.
        score = abs(len(top) - len(bottom)) - (6 if top.endswith(SENTENCE_ENDS + CLAUSE_ENDS) else 0)
        if best is None or score < best[0]:
            best = (score, [top, bottom])
    return None if best is None else best[1]


def _cut_long_word(word: TimedWord, size: int) -> list[TimedWord]:
    if len(word.text) <= size:
        return [word]
    n = len(word.text)
    span = word.end_s - word.start_s
    parts = []
    for a in range(0, n, size):
        b = min(n, a + size)
        start, end = word.start_s + span * a / n, word.start_s + span * b / n
        tokens = tuple(t for t in word.tokens if (start <= t.start_s < end) or (a == 0 and t.start_s < start))
        parts.append(TimedWord(word.source_id, word.text[a:b], start, end, tokens))
    return parts


def _in_turns(words: Sequence[TimedWord]) -> list[TimedWord]:
    """Rule 2's order: by start time, but the current source keeps the floor within ``TURN_TOLERANCE_S``."""
    queues: dict[str, deque[TimedWord]] = {}
    for word in sorted(words, key=lambda w: w.start_s):
        queues.setdefault(word.source_id, deque()).append(word)
    ordered: list[TimedWord] = []
    current = ""
    while queues:
        earliest = min(queues, key=lambda s: queues[s][0].start_s)
        if current not in queues or queues[current][0].start_s > queues[earliest][0].start_s + TURN_TOLERANCE_S:
            current = earliest
        ordered.append(queues[current].popleft())
        if not queues[current]:
            del queues[current]
    return ordered


class _Cutter:
    """Rules 2 and 3 of the module docstring: which words go into which cue."""

    def __init__(self, first_width: dict[str, int]) -> None:
        self.first_width = first_width

    def fits(self, words: Sequence[TimedWord]) -> bool:
        width = self.first_width.get(words[0].source_id, MAX_LINE_CHARS)
        return break_lines([w.text for w in words], first_width=width) is not None

    def too_full(self, cue: list[TimedWord], word: TimedWord) -> bool:
        return not self.fits([*cue, word]) or word.end_s - cue[0].start_s > MAX_DURATION_S

    @staticmethod
    def soft_end(cue: list[TimedWord], word: TimedWord) -> bool:
        if word.start_s - cue[0].start_s < MIN_DURATION_S:
            return False
        return cue[-1].text.endswith(SENTENCE_ENDS) or word.start_s - cue[-1].end_s >= PAUSE_S

    @staticmethod
    def clause_cut(cue: list[TimedWord]) -> int:
        """Where to end a full cue: after its last sentence (else clause) end in the second half, else at its end."""
        half = len(" ".join(w.text for w in cue)) / 2
        for ends in (SENTENCE_ENDS, CLAUSE_ENDS):
            chars = -1
            candidates = []
            for i, w in enumerate(cue[:-1]):
                chars += len(w.text) + 1
                if chars >= half and w.text.endswith(ends):
                    candidates.append(i + 1)
            if candidates:
                return candidates[-1]
        return len(cue)

    def groups(self, words: Sequence[TimedWord]) -> list[list[TimedWord]]:
        groups: list[list[TimedWord]] = []
        cue: list[TimedWord] = []
        for word in words:
            if cue and word.source_id != cue[0].source_id:
                groups.append(cue)
                cue = []
            elif cue and self.too_full(cue, word):
                cut = self.clause_cut(cue)
                groups.append(cue[:cut])
                cue = cue[cut:]
                if cue and self.too_full(cue, word):
                    groups.append(cue)
                    cue = []
            elif cue and self.soft_end(cue, word):
                groups.append(cue)
                cue = []
            cue.append(word)
        if cue:
            groups.append(cue)
        return groups


def segment(words: Sequence[TimedWord], *, labels: dict[str, str] | None = None,
            label_prefix: bool = False) -> list[Segment]:
    """Subtitle cues for ``words`` (rules in the module docstring).

    ``label_prefix``: the first line of each cue leaves room for ``"Label: "`` (SRT writes the label into the text);
    a label too long for that still leaves half a line for words.
    """
    first_width: dict[str, int] = {}
    if label_prefix:
        for source in {w.source_id for w in words}:
            reserve = len(label_for(source, labels)) + 2
            first_width[source] = max(MAX_LINE_CHARS - reserve, MAX_LINE_CHARS // 2)
    size = min(first_width.values(), default=MAX_LINE_CHARS)
    pieces = [piece for word in _in_turns(words) for piece in _cut_long_word(word, size)]
    cutter = _Cutter(first_width)
    groups = cutter.groups(pieces)

    starts = [g[0].start_s for g in groups]
    for i in range(1, len(starts)):
        readable = min(starts[i - 1] + MIN_DURATION_S, starts[i] + MAX_LATE_S)
        starts[i] = max(starts[i], starts[i - 1] + MIN_VISIBLE_S, readable)
    segments = []
    for i, group in enumerate(groups):
        texts = [w.text for w in group]
        source = group[0].source_id
        lines = break_lines(texts, first_width=first_width.get(source, MAX_LINE_CHARS))
        assert lines is not None  # the cutter only makes cues that fit
        start = starts[i]
        needed = max(MIN_DURATION_S, len(" ".join(lines)) / MAX_CPS)
        end = min(max(group[-1].end_s, start + needed), start + MAX_DURATION_S)
        if i + 1 < len(groups):
            end = min(end, starts[i + 1])
        segments.append(Segment(round(start, 3), round(end, 3), source, label_for(source, labels), tuple(lines),
                                 tuple(group)))
    return segments


def paragraphs(words: Sequence[TimedWord], *, labels: dict[str, str] | None = None) -> list[Segment]:
    """Speaker turns for running text: a new paragraph at each change of source, after a silence of
    ``PARAGRAPH_PAUSE_S`` and at the first sentence end past ``PARAGRAPH_CHARS`` characters. One line each; times
    are those of the first and last word."""
    groups: list[list[TimedWord]] = []
    chars = 0
    for word in words:
        if groups and groups[-1][0].source_id == word.source_id:
            last = groups[-1][-1]
            long = chars >= PARAGRAPH_CHARS and last.text.endswith(SENTENCE_ENDS)
            if not long and word.start_s - last.end_s < PARAGRAPH_PAUSE_S:
                groups[-1].append(word)
                chars += len(word.text) + 1
                continue
        groups.append([word])
        chars = len(word.text)
    return [
        Segment(g[0].start_s, g[-1].end_s, g[0].source_id, label_for(g[0].source_id, labels),
                (" ".join(w.text for w in g),), tuple(g))
        for g in groups
    ]
