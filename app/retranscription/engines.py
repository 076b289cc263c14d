"""Offline transcription of recorded audio into caption events, in pieces, with progress and cancellation.

Two ways: the realtime model at a chosen (usually larger, more accurate) delay, fed through a stream so every token
keeps its 80 ms time span; or Voxtral Mini 3B, in pieces of at most 30 minutes (its context holds about that much),
whose text has no token times: each sentence gets a span in proportion to its length within its piece.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.events import MODEL_RATE, CaptionEvent
from model import RealtimeModel, VoxtralModel

Progress = Callable[[float], None]  # fraction of this source's audio done, 0..1
FEED_SECONDS = 8.0  # audio fed per step of the realtime stream: progress and cancel points
PIECE_SECONDS = 30 * 60.0


class Cancelled(Exception):
    """The user cancelled; nothing is stored."""


@dataclass(frozen=True)
class Method:
    """What to transcribe with: ``"realtime"`` with ``delay_ms``, or ``"voxtral"`` with ``language`` (None: detect)."""

    kind: str
    delay_ms: int = 1440
    language: str | None = None

    def version_name(self, stamp: str) -> str:
        detail = f"{self.delay_ms}ms" if self.kind == "realtime" else (self.language or "auto")
        return f"{self.kind}-{detail}-{stamp}"

    def describe(self) -> dict[str, object]:
        if self.kind == "realtime":
            return {"model": "Voxtral Mini 4B Realtime", "delay_ms": self.delay_ms, "times": "tokens"}
        return {"model": "Voxtral Mini 3B", "language": self.language or "auto", "times": "estimated per sentence"}


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled


def with_realtime(model: RealtimeModel, audio: np.ndarray, source_id: str, delay_ms: int, progress: Progress,
                  cancel: threading.Event) -> list[CaptionEvent]:
    """Token events of the whole audio (16 kHz mono), identical to the offline result, with their time spans."""
    session = model.stream(delay_ms=delay_ms)
    events: list[CaptionEvent] = []
    step = int(FEED_SECONDS * MODEL_RATE)

    def add(tokens) -> None:
        events.extend(CaptionEvent(source_id, t.text, (t.token_id,), t.start_s, t.end_s) for t in tokens)

    for i in range(0, audio.size, step):
        _check(cancel)
        add(session.feed(audio[i : i + step], MODEL_RATE))
        progress(min(1.0, (i + step) / max(audio.size, 1)))
    _check(cancel)
    add(session.finish())
    if events:  # the stream's own text includes a partial character flushed at the very end
        emitted = sum(len(e.text) for e in events)
        last = events[-1]
        rest = session.text[emitted - session.dropped_chars :]  # the session keeps only a tail of its text
        events[-1] = CaptionEvent(source_id, last.text + rest, last.token_ids, last.start_s,
                                  last.end_s, final=True)
    progress(1.0)
    return events


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def sentence_events(text: str, source_id: str, start_s: float, end_s: float, *, continues: bool = False
                    ) -> list[CaptionEvent]:
    """The text of one piece as sentence events whose spans divide the piece in proportion to their length.

    ``continues``: text came before this piece, so its first sentence is separated from it by a space.
    """
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    total = sum(len(s) for s in sentences)
    events, t = [], start_s
    for i, sentence in enumerate(sentences):
        span = (end_s - start_s) * len(sentence) / total
        events.append(CaptionEvent(source_id, (" " if i or continues else "") + sentence, (), t, t + span))
        t += span
    return events


def with_voxtral(model: VoxtralModel, audio: np.ndarray, source_id: str, language: str | None, progress: Progress,
                 cancel: threading.Event) -> list[CaptionEvent]:
    piece = int(min(PIECE_SECONDS, model.max_audio_seconds) * MODEL_RATE)
    if piece <= 0:
        raise ValueError("This Voxtral checkpoint's context holds no audio; choose another model.")
    events: list[CaptionEvent] = []
    for i in range(0, audio.size, piece):
        _check(cancel)
        chunk = audio[i : i + piece]
        text = model.transcribe(chunk, MODEL_RATE, language=language).text
        events.extend(sentence_events(text, source_id, i / MODEL_RATE, (i + chunk.size) / MODEL_RATE,
                                      continues=bool(events)))
        progress(min(1.0, (i + chunk.size) / audio.size))
    if events:
        events[-1] = dataclasses.replace(events[-1], final=True)
    return events
