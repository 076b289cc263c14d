"""Live captions through a vLLM server: the Engine and CaptionStream the inference worker drives.

``ServerStream.feed`` never waits for the network: it turns the audio into 80 ms PCM16 chunks for the stream's link
thread (transcription_link) and returns the steps that came back since the last call. Each ``transcription.delta``
is one 80 ms decoder step, so token times lie on the 80 ms grid of the stream's audio, as a local stream's do;
the server sends no token ids, so every step carries ``UNKNOWN_TOKEN_ID``. What goes wrong on the way (a dropped
connection, a stall) comes out of ``take_reports`` as notices and gaps; only errors the user must fix raise
(EngineUnusable).
"""

from __future__ import annotations

import math
import queue
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.engine.base import CaptionStream, EngineUnusable, StreamGap, StreamNotice, StreamReport
from app.engine.server.address import ServerAddress, ServerError
from app.engine.server.realtime_client import SAMPLE_RATE, STEP_SAMPLES, pcm16
from app.engine.server.server_facts import ServerFacts
from app.engine.server.transcription_link import Chunk, Crashed, Ended, Fatal, Link, LinkOptions, Progress
from model import TokenEvent
from model.audio import StreamResampler, as_mono_float32, check_sample_rate

KEEP_STEPS = 45_000  # steps whose text a stream keeps (one hour), as a local stream keeps its tokens
FINISH_TIMEOUT_S = 30.0  # the longest ``finish`` waits with nothing coming back (the link gives up sooner)


class ServerEngine:
    """Live captions by the realtime model a vLLM server serves as ``model``.

    The server fixes the delay (``fixed_delay_ms``, learned when the first stream connects); the limits it reports
    (``max_model_len``) decide when a long stream starts a new transcription.
    """

    def __init__(self, address: ServerAddress, model: str, *, options: LinkOptions | None = None,
                 finish_timeout_s: float = FINISH_TIMEOUT_S) -> None:
        self.address = address
        self.model = model
        self.options = options or LinkOptions()
        self.finish_timeout_s = finish_timeout_s
        self.facts = ServerFacts()

    @property
    def device_name(self) -> str:
        return f"vLLM server at {self.address.base_url.split('://', 1)[1]}"

    @property
    def fixed_delay_ms(self) -> int | None:
        return self.facts.delay_ms

    @property
    def max_model_len(self) -> int | None:
        """The server's length limit in 80 ms positions, once learned (None: not known, or it does not say)."""
        return self.facts.max_model_len

    def open_stream(self, delay_ms: int) -> ServerStream:
        """A new stream; ``delay_ms`` does not apply (the server's delay is fixed)."""
        return ServerStream(self.address, self.model, self.facts, self.options, finish_timeout_s=self.finish_timeout_s)

    def release_memory(self) -> None:
        """Nothing to give back: the server holds the model."""


class ServerStream(CaptionStream):
    """One live transcription on the server; feed it from one thread (the worker's)."""

    def __init__(self, address: ServerAddress, model: str, facts: ServerFacts, options: LinkOptions, *,
                 finish_timeout_s: float = FINISH_TIMEOUT_S) -> None:
        self._outbox: queue.Queue = queue.Queue()
        self._link = Link(address, model, facts, options, self._outbox)
        self._pause_dbfs = options.pause_dbfs
        self._finish_timeout_s = finish_timeout_s
        self._resampler: StreamResampler | None = None
        self._carry = np.zeros(0, dtype=np.float32)  # audio not yet a whole chunk
        self._fed = 0  # samples at 16 kHz taken so far
        self._decoded_s = 0.0
        self._parts: deque[str] = deque(maxlen=KEEP_STEPS)
        self._dropped_chars = 0
        self._reports: list[StreamReport] = []
        self._fatal: ServerError | None = None
        self._crash: str | None = None
        self._ended = False
        self._finished = False
        self._link.start()

    # -- CaptionStream ---------------------------------------------------------------------------------------------
    def feed(self, samples: Any, sample_rate: int = SAMPLE_RATE) -> list[TokenEvent]:
        """Queue a block of audio (any rate, mono or frames x channels) and return the steps decoded since the last
        call; EngineUnusable once the server turned the stream down for good."""
        if self._finished:
            raise RuntimeError("This stream has finished; open a new one.")
        block = as_mono_float32(samples, what="audio block", channels_first=False)
        self._queue(self._resample(block, check_sample_rate(sample_rate)), last=False)
        return self._collect()

    def finish(self) -> list[TokenEvent]:
        """End of audio: the server decodes the rest (waited for while it answers, at most ``finish_timeout_s`` in
        silence); then closed."""
        if self._finished:
            return []
        if self._resampler is not None:
            self._queue(self._resampler.process(np.zeros(0, dtype=np.float32), last=True), last=True)
            self._resampler = None
        self._queue(np.zeros(0, dtype=np.float32), last=True)
        self._link.end()
        events = self._collect()
        while not (self._ended or self._fatal or self._crash):
            try:
                item = self._outbox.get(timeout=self._finish_timeout_s)
            except queue.Empty:
                break
            events += self._absorb(item)
        self.close()
        self._finished = True
        if self._fatal is not None and not events:
            raise EngineUnusable(str(self._fatal)) from self._fatal
        return events

    def drain(self, behind_s: float) -> list[TokenEvent]:
        """The steps decoded since the last call, waiting until at most ``behind_s`` of the audio fed is not decoded
        yet: a file fed faster than real time then never has more waiting than the link takes. Stops waiting when
        the link has ended or failed, or nothing came for ``finish_timeout_s``."""
        events = self._collect()
        while self._fed / SAMPLE_RATE - self._decoded_s > behind_s and not (self._ended or self._fatal or
                                                                              self._crash):
            try:
                item = self._outbox.get(timeout=self._finish_timeout_s)
            except queue.Empty:
                break
            events += self._absorb(item)
        return events + self._collect()

    @property
    def decoded_seconds(self) -> float:
        return min(self._decoded_s, self._fed / SAMPLE_RATE)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def dropped_chars(self) -> int:
        return self._dropped_chars

    # -- SupervisedStream ------------------------------------------------------------------------------------------
    def take_reports(self) -> list[StreamReport]:
        reports, self._reports = self._reports, []
        return reports

    def close(self) -> None:
        self._link.stop()

    # -- internals -------------------------------------------------------------------------------------------------
    def _resample(self, block: np.ndarray, rate: int) -> np.ndarray:
        if self._resampler is not None and self._resampler.in_rate != rate:
            # The source changed its rate: finish the old conversion before starting the new one.
            self._queue(self._resampler.process(np.zeros(0, dtype=np.float32), last=True), last=False)
            self._resampler = None
        if rate == SAMPLE_RATE:
            return block
        if self._resampler is None:
            self._resampler = StreamResampler(rate, SAMPLE_RATE)
        return self._resampler.process(block)

    def _queue(self, block: np.ndarray, *, last: bool) -> None:
        """Cut the audio into chunks on the stream's 80 ms grid (so every transcription starts on it)."""
        audio = np.concatenate([self._carry, block]) if self._carry.size else block
        whole = audio.size - audio.size % STEP_SAMPLES if not last else audio.size
        for i in range(0, whole, STEP_SAMPLES):
            part = audio[i : i + STEP_SAMPLES]
            rms = float(np.sqrt(np.mean(np.square(part, dtype=np.float64))))
            quiet = rms <= 0 or 20 * math.log10(rms) < self._pause_dbfs
            self._link.put_audio(Chunk(self._fed, pcm16(part), quiet))  # refused: the link restarts at the edge
            self._fed += part.size
        self._carry = audio[whole:].copy()

    def _collect(self) -> list[TokenEvent]:
        events: list[TokenEvent] = []
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                break
            events += self._absorb(item)
        if self._fatal is not None and not events:
            raise EngineUnusable(str(self._fatal)) from self._fatal
        if self._crash is not None:
            raise RuntimeError(f"the connection to the server broke down ({self._crash})")
        return events

    def _absorb(self, item: object) -> Sequence[TokenEvent]:
        if isinstance(item, TokenEvent):
            if len(self._parts) == self._parts.maxlen:
                self._dropped_chars += len(self._parts[0])
            self._parts.append(item.text)
            return (item,)
        if isinstance(item, (StreamNotice, StreamGap)):
            self._reports.append(item)
        elif isinstance(item, Progress):
            self._decoded_s = item.decoded_s
        elif isinstance(item, Fatal):
            self._fatal = item.error
        elif isinstance(item, Ended):
            self._ended = True
        elif isinstance(item, Crashed):
            self._crash = item.reason
        return ()
