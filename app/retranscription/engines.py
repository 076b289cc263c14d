"""Offline transcription of recorded audio into caption events, in pieces, with progress and cancellation.

Two ways: the realtime model at a chosen (usually larger, more accurate) delay, fed through a stream so every token
keeps its 80 ms time span; or Voxtral Mini 3B, in pieces of at most 30 minutes (its context holds about that much),
whose text has no token times: each sentence gets a span in proportion to its length within its piece.

Either model may run on this computer or on a vLLM server: the realtime one through any ``Engine`` (its
``open_stream``: the local engine, or the server's WebSocket stream), Voxtral Mini 3B as a local ``VoxtralModel``
(``with_voxtral``) or a ``ServerVoxtral`` (``with_server_voxtral``, through ``/v1/audio/transcriptions``; a cancel
closes the request at once).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.engine.base import Engine
from app.engine.server.cancel import Cancel, Cancelled
from app.engine.server.file_stream import FileStream, for_a_file
from app.engine.server.server_voxtral import ServerVoxtral
from app.events import MODEL_RATE, CaptionEvent
from model import VoxtralModel

Progress = Callable[[float], None]  # fraction of this source's audio done, 0..1
FEED_SECONDS = 8.0  # audio fed per step of the realtime stream: progress and cancel points
PIECE_SECONDS = 30 * 60.0


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


def with_realtime(engine: Engine, audio: np.ndarray, source_id: str, delay_ms: int, progress: Progress,
                  cancel: threading.Event) -> list[CaptionEvent]:
    """Token events of the whole audio (16 kHz mono), with their time spans, from a stream of ``engine`` (locally
    identical to the offline result)."""
    session = for_a_file(engine.open_stream(delay_ms))  # a server's stream: paced by the server, never skipping
    events: list[CaptionEvent] = []
    step = int(FEED_SECONDS * MODEL_RATE)

    def add(tokens) -> None:
        events.extend(CaptionEvent(source_id, t.text, (t.token_id,), t.start_s, t.end_s) for t in tokens)

    try:
        for i in range(0, audio.size, step):
            _check(cancel)
            add(session.feed(audio[i : i + step], MODEL_RATE))
            progress(min(1.0, (i + step) / max(audio.size, 1)))
        _check(cancel)
        add(session.finish())
    finally:
        if isinstance(session, FileStream):  # its threads and socket end with it, cancelled or failed too
            session.close()
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


def _in_pieces(transcribe: Callable[[np.ndarray], str], max_audio_s: float, audio: np.ndarray, source_id: str,
               progress: Progress, cancel: threading.Event, why: str) -> list[CaptionEvent]:
    """Sentence events of ``audio`` transcribed piece by piece (each piece as long as the model takes at once)."""
    piece = int(min(PIECE_SECONDS, max_audio_s) * MODEL_RATE)
    if piece <= 0:
        raise ValueError(why)
    events: list[CaptionEvent] = []
    for i in range(0, audio.size, piece):
        _check(cancel)
        chunk = audio[i : i + piece]
        events.extend(sentence_events(transcribe(chunk), source_id, i / MODEL_RATE, (i + chunk.size) / MODEL_RATE,
                                      continues=bool(events)))
        progress(min(1.0, (i + chunk.size) / audio.size))
    if events:
        events[-1] = dataclasses.replace(events[-1], final=True)
    return events


def with_voxtral(model: VoxtralModel, audio: np.ndarray, source_id: str, language: str | None, progress: Progress,
                 cancel: threading.Event) -> list[CaptionEvent]:
    return _in_pieces(lambda chunk: model.transcribe(chunk, MODEL_RATE, language=language).text,
                      model.max_audio_seconds, audio, source_id, progress, cancel,
                      "This Voxtral checkpoint's context holds no audio; choose another model.")


def with_server_voxtral(model: ServerVoxtral, audio: np.ndarray, source_id: str, language: str | None,
                        progress: Progress, cancel: Cancel) -> list[CaptionEvent]:
    """As ``with_voxtral``, each piece one request to the server; ``cancel`` closes the request under way."""
    return _in_pieces(lambda chunk: model.transcribe(chunk, language=language, cancel=cancel),
                      model.max_audio_seconds, audio, source_id, progress, cancel,
                      f"The server's context for “{model.name}” holds no audio ({model.served.max_model_len} tokens); "
                      "choose another model in Settings → Engine.")
