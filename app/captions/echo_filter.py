"""Microphone captions that repeat what the computer's own sound just said are dropped (echo without headphones).

Without headphones the microphone hears the meeting, and the model writes the same words twice: once for the system
source and once, a moment later, for the microphone. This filter sits between the engine and everything that shows or
stores captions. It cuts both sources' text into words as the pieces arrive and drops a microphone word that matches
a word the system source produced shortly before (``lookback_s``) and that belongs to a run of such words: it follows
the previous echoed word within a few system words, or the next microphone word follows it, or it is long enough to
count alone. A short word that merely also occurs nearby ("the", "and") is kept, and each system word can be echoed
only once, so someone in the room who repeats a phrase afterwards still gets it captioned.

Text that was shown cannot be taken back (the overlay, the transcript and the recording only append), so a microphone
word is held until it is decided: at once when it is an echo, otherwise as soon as the system source has had its
chance to say it too (one of its events arrived ``settle_s`` after the word), at the latest ``hold_s`` after the word
arrived. A person in the room is therefore captioned about ``settle_s`` later than without the filter; an echo costs
no wait, since the system source is normally the earlier one.

Whitespace is not a word: it is passed on just before the next kept character, so dropping a word never glues its
neighbours together or doubles a space. Times are arrival times on the caller's clock (``time.monotonic`` unless
given), not audio times: the two sources' timelines start at different moments.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher

from app.events import AudioSource, CaptionEvent, SourceKind

LOOKBACK_S = 2.5  # an echo's word may arrive this long after the system source's (delays of 1-2 s are common)
HOLD_S = 0.5  # the longest a microphone word waits for its decision
SETTLE_S = 0.25  # the system source may produce a word this much later than the microphone does (jitter)
MAX_SKIP = 2  # system words an echo run may skip: the echo was misheard, or a word got lost
LOOK_AHEAD = 2  # microphone words after a short one that may show it begins a run (one may be the person's own)
RUN_GAP_S = 1.5  # ... and a pause this long between two system words ends a run
STRONG_CHARS = 5  # a matching word this long is an echo by itself; shorter ones need a neighbour in the run
SIMILAR = 0.8  # how alike two longer words must be (difflib ratio): an echo is often misheard a little


@dataclass(eq=False)
class _Word:
    """One word of a source as its characters arrive; ``key`` is what it is compared by."""

    arrived: float  # when its first character arrived
    key: str = ""  # its letters and digits, case-folded
    complete: bool = False  # whitespace or the end of the stream followed it
    echo: bool | None = None  # a microphone word's decision; None while it is held
    index: int = 0  # a system word's position among all the system words
    taken: bool = False  # a system word some microphone word was found to echo


def _own_word(char: str) -> bool:
    """Characters of scripts written without spaces (Han, kana) are words of their own."""
    return "\u3040" <= char <= "\u30ff" or "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


class _Splitter:
    """Cuts one source's text, arriving in pieces, into runs: whitespace (``None``) or part of a word."""

    def __init__(self) -> None:
        self.current: _Word | None = None
        self.made: list[_Word] = []  # words begun by the last split, in order

    def split(self, text: str, now: float) -> list[tuple[int, int, _Word | None]]:
        self.made = []
        runs: list[tuple[int, int, _Word | None]] = []
        start = 0
        for i, char in enumerate(text):
            if char.isspace():
                if self.current is not None:
                    runs.append((start, i, self.current))
                    self._close()
                    start = i
                continue
            if self.current is None or _own_word(char):
                if start < i:
                    runs.append((start, i, self.current))
                    start = i
                self._close()
                self.current = _Word(now)
                self.made.append(self.current)
            if char.isalnum():
                self.current.key += char.casefold()
            if _own_word(char):
                runs.append((start, i + 1, self.current))
                self._close()
                start = i + 1
        if start < len(text):
            runs.append((start, len(text), self.current))
        return runs

    def end(self) -> None:
        """The stream ended: the word in progress is complete."""
        self._close()

    def _close(self) -> None:
        if self.current is not None:
            self.current.complete = True
            self.current = None


def _alike(mic: _Word, system: _Word) -> bool:
    a, b = mic.key, system.key
    if not a or not b:
        return False
    if a == b:
        return True
    if (not mic.complete and len(a) >= 2 and b.startswith(a)) or (
        not system.complete and len(b) >= 2 and a.startswith(b)
    ):
        return True  # the word so far is how the other one begins
    return min(len(a), len(b)) >= 4 and SequenceMatcher(None, a, b).ratio() >= SIMILAR


def _continues(before: _Word, after: _Word, *, skip: int = MAX_SKIP) -> bool:
    """Whether system word ``after`` may come next in a run of echoed words that ``before`` is part of."""
    return 0 < after.index - before.index <= skip + 1 and after.arrived - before.arrived <= RUN_GAP_S


@dataclass(eq=False)
class _Held:
    event: CaptionEvent
    runs: list[tuple[int, int, _Word | None]]


@dataclass(eq=False)
class _Microphone:
    splitter: _Splitter = field(default_factory=_Splitter)
    held: deque[_Held] = field(default_factory=deque)  # events not passed on yet, oldest first
    undecided: deque[_Word] = field(default_factory=deque)  # in order: a word is decided only after the one before
    last_match: _Word | None = None  # the system word the newest echoed word matched
    previous_echo: bool = False  # the newest decision (punctuation standing alone goes with it)
    space: str = ""  # whitespace waiting for the next kept character

    def reset(self) -> None:
        self.splitter.end()
        self.last_match, self.previous_echo, self.space = None, False, ""


class EchoFilter:
    """Drops the microphone words that echo the system sources (see the module docstring).

    ``add`` takes every caption event in the order they arrive and returns the events to pass on now; held words
    come out of a later ``add`` or of ``due``, which the caller runs at ``next_due()`` (a single-shot timer).
    Events of other sources pass at once.
    """

    def __init__(
        self,
        mic_ids: Iterable[str],
        system_ids: Iterable[str],
        *,
        lookback_s: float = LOOKBACK_S,
        hold_s: float = HOLD_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self._mics = {sid: _Microphone() for sid in mic_ids}
        self._system_ids = frozenset(system_ids)
        self._lookback_s, self._hold_s, self._settle_s = lookback_s, hold_s, settle_s
        self._system_splitter = _Splitter()
        self._system_words: deque[_Word] = deque()  # recent system words, oldest first
        self._system_count = 0
        self._system_heard = -math.inf  # when the newest system event arrived

    @classmethod
    def for_sources(cls, sources: Sequence[AudioSource]) -> EchoFilter | None:
        """A filter for these sources, or None when they are not a microphone heard together with system sound."""
        mics = [s.id for s in sources if s.kind is SourceKind.MICROPHONE]
        systems = [s.id for s in sources if s.kind is SourceKind.SYSTEM]
        return cls(mics, systems) if mics and systems else None

    def add(self, event: CaptionEvent, now: float | None = None) -> list[CaptionEvent]:
        """Take one event; the events to pass on now, in order."""
        now = time.monotonic() if now is None else now
        if event.source_id in self._system_ids:
            self._hear_system(event, now)
            return [event, *self._release_all(now)]
        mic = self._mics.get(event.source_id)
        if mic is None:
            return [event]
        runs = mic.splitter.split(event.text, now)
        mic.undecided.extend(mic.splitter.made)
        if event.final:
            mic.splitter.end()
        mic.held.append(_Held(event, runs))
        out = self._release(mic, now, final=event.final)
        if event.final:
            mic.reset()
        return out

    def due(self, now: float | None = None) -> list[CaptionEvent]:
        """The held events whose words are decided by now (run it at ``next_due()``)."""
        return self._release_all(time.monotonic() if now is None else now)

    def next_due(self) -> float | None:
        """When the oldest held word will be decided at the latest (on the clock of ``add``); None if none is held."""
        times = [mic.undecided[0].arrived + self._hold_s for mic in self._mics.values() if mic.undecided]
        return min(times, default=None)

    def flush(self) -> list[CaptionEvent]:
        """Decide every held word now, as at the end of a stream, and return what is kept (when captions stop)."""
        out: list[CaptionEvent] = []
        for mic in self._mics.values():
            out.extend(self._release(mic, math.inf, final=True))
            mic.reset()
        return out

    # -- system side -------------------------------------------------------------------------------------------
    def _hear_system(self, event: CaptionEvent, now: float) -> None:
        self._system_heard = now
        self._system_splitter.split(event.text, now)
        for word in self._system_splitter.made:
            word.index = self._system_count
            self._system_count += 1
            self._system_words.append(word)
        if event.final:
            self._system_splitter.end()
        horizon = now - self._lookback_s - self._hold_s  # no held microphone word can match an older one
        while self._system_words and self._system_words[0].arrived < horizon:
            self._system_words.popleft()

    # -- microphone side ---------------------------------------------------------------------------------------
    def _release_all(self, now: float) -> list[CaptionEvent]:
        return [e for mic in self._mics.values() for e in self._release(mic, now, final=False)]

    def _release(self, mic: _Microphone, now: float, *, final: bool) -> list[CaptionEvent]:
        while mic.undecided:
            word = mic.undecided[0]
            verdict = self._verdict(mic, word, now, final)
            if verdict is None:
                break
            word.echo = mic.previous_echo = verdict
            mic.undecided.popleft()
        out: list[CaptionEvent] = []
        while mic.held and all(w is None or w.echo is not None for _, _, w in mic.held[0].runs):
            kept = self._kept(mic, mic.held.popleft())
            if kept is not None:
                out.append(kept)
        return out

    def _verdict(self, mic: _Microphone, word: _Word, now: float, final: bool) -> bool | None:
        """True: an echo; False: keep it; None: not decided yet."""
        late = final or now >= word.arrived + self._hold_s
        if not word.key:  # punctuation standing alone (" -") goes with the word before it
            return mic.previous_echo if word.complete or late else None
        candidates = [s for s in self._system_words
                      if not s.taken and word.arrived - self._lookback_s <= s.arrived <= word.arrived + self._hold_s
                      and _alike(word, s)]
        chance = self._system_heard >= word.arrived + self._settle_s  # the system source had its chance to say it
        if not word.complete and not late:  # how a word begins says little: it is judged once it is complete
            return False if not candidates and chance else None
        afters = [w for w in list(mic.undecided)[1 : 1 + LOOK_AHEAD] if w.key]
        seen = len(afters) == LOOK_AHEAD and all(w.complete for w in afters)  # enough words after it to judge by
        afters = [w for w in afters if w.complete]
        if candidates:
            run = [s for s in candidates if mic.last_match is not None and _continues(mic.last_match, s)]
            if not run and len(word.key) >= STRONG_CHARS:
                run = candidates
            if not run:
                run = [s for s in candidates if self._run_after(s, afters)]
            if run:
                return self._take(mic, run[0])
            return False if seen or late else None  # it only happens to occur nearby
        if mic.previous_echo and mic.last_match is not None:  # a misheard word inside an echo?
            if self._run_after(mic.last_match, afters, skip=MAX_SKIP + 1):
                return True
            if not (seen or late):
                return None
        return False if late or chance else None

    def _run_after(self, system_word: _Word, words: list[_Word], *, skip: int = MAX_SKIP) -> bool:
        """Whether one of the microphone's ``words`` matches a system word that continues a run from
        ``system_word``."""
        return any(not c.taken and _continues(system_word, c, skip=skip) and _alike(w, c)
                   for w in words for c in self._system_words)

    @staticmethod
    def _take(mic: _Microphone, system_word: _Word) -> bool:
        system_word.taken = True
        mic.last_match = system_word
        return True

    @staticmethod
    def _kept(mic: _Microphone, held: _Held) -> CaptionEvent | None:
        """What is left of a held event once its words are decided; None when nothing is left to pass on."""
        event = held.event
        parts: list[str] = []
        kept_chars: list[tuple[int, int]] = []
        dropped = False
        for start, end, word in held.runs:
            if word is None:
                mic.space = event.text[start:end]
            elif word.echo:
                dropped = True
            else:
                parts.append(mic.space + event.text[start:end])
                mic.space = ""
                kept_chars.append((start, end))
        text = "".join(parts)
        if not dropped:
            return replace(event, text=text)
        if not text and not event.final:
            return None
        return replace(event, text=text, token_ids=_ids_in(event, kept_chars))


def _ids_in(event: CaptionEvent, spans: list[tuple[int, int]]) -> tuple[int, ...]:
    """The token ids of ``event`` without those whose first visible character lies outside ``spans``; an event's
    text is spread evenly over its tokens, as the exporters estimate it (app.export.words)."""
    n, size = len(event.token_ids), len(event.text)
    kept = []
    for k, token in enumerate(event.token_ids):
        visible = [i for i in range(k * size // n, (k + 1) * size // n) if not event.text[i].isspace()]
        if not visible or any(start <= visible[0] < end for start, end in spans):
            kept.append(token)
    return tuple(kept)
