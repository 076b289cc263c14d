"""The capture thread: audio from one source, converted to 16 kHz mono, to the listeners and then the model's queue.

Timeline: ``start_s`` of each block is the number of 16 kHz samples delivered before it, so a source's timeline is
continuous. When a device drops out and comes back, silence as long as the outage (measured by the clock) is
delivered first, so the timeline keeps matching wall time and the recording stays aligned with what was said; no
audio is invented beyond zeros.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from app.audio_queue import AudioQueue
from app.capture.devices import import_sounddevice, open_input_stream, resolve
from app.capture.errors import CaptureError
from app.capture.file_source import FilePlayer
from app.events import MODEL_RATE, AudioBlock, AudioSource, CaptionGap, LevelReading, Notice, Severity, SourceKind
from model.audio import StreamResampler
from model.errors import AudioInputError

FALLBACK_RATES = (48000, 44100, 16000)
PAUSED = "captions paused"  # the reason a pause gives its stretch of silence
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
LEVEL_INTERVAL_S = 0.05  # ~20 level readings per second
RING_SECONDS = 2.0  # how far the capture thread may fall behind the PortAudio callback before audio is lost
WAKE_S = 0.2  # how long the thread waits for audio before checking that the stream is still alive
ADVICE = "Check that it is connected and not used exclusively by another program, or choose another source."

# PortAudio's codes for a format the device refuses (paInvalidChannelCount, paInvalidSampleRate,
# paSampleFormatNotSupported): worth trying the next rate or channel count.
_FORMAT_ERRORS = (-9998, -9997, -9994)

Listener = Callable[[AudioBlock], None]


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _error_code(exc: Exception) -> int | None:
    return exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None


class _Ring:
    """Frames from the PortAudio callback to the capture thread, in a buffer allocated once.

    The callback only copies into it and notifies; when the reader has fallen ``RING_SECONDS`` behind, new frames are
    dropped and counted rather than overwriting frames not yet read.
    """

    def __init__(self, frames: int, channels: int) -> None:
        self._buf = np.zeros((frames, channels), dtype=np.float32)
        self._size = frames
        self._written = 0  # totals; only the callback advances _written, only the reader _read
        self._read = 0
        self._cond = threading.Condition()
        self._woken = False
        self.finished = False  # PortAudio ended the stream (device lost, error, or closed)
        self.lost_frames = 0  # dropped here because the reader was too far behind
        self.overflows = 0  # callbacks that PortAudio flagged with an input overflow

    def write(self, data: np.ndarray, overflow: bool) -> None:
        with self._cond:
            free = self._size - (self._written - self._read)
        n = min(len(data), free)
        start = self._written % self._size
        first = min(n, self._size - start)
        self._buf[start : start + first] = data[:first]
        self._buf[: n - first] = data[first:n]
        with self._cond:
            self._written += n
            self.lost_frames += len(data) - n
            self.overflows += overflow
            self._cond.notify()

    def finish(self) -> None:
        self.finished = True
        self.wake()

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()

    def read(self, timeout: float) -> np.ndarray | None:
        """Every unread frame (frames x channels), waiting up to ``timeout``; None if none came or on ``wake``."""
        with self._cond:
            if self._written == self._read and not self._woken:
                self._cond.wait(timeout)
            self._woken = False
            end = self._written
        n = end - self._read
        if n == 0:
            return None
        start = self._read % self._size
        first = min(n, self._size - start)
        out = np.concatenate([self._buf[start : start + first], self._buf[: n - first]])
        with self._cond:
            self._read = end
        return out


class _LevelMeter:
    """Turns delivered audio into one LevelReading per 50 ms of it (about 20 per second)."""

    def __init__(self, source_id: str) -> None:
        self._source_id = source_id
        self._window = round(LEVEL_INTERVAL_S * MODEL_RATE)
        self._reset()

    def _reset(self) -> None:
        self._sum_sq, self._peak, self._n = 0.0, 0.0, 0

    def add(self, samples: np.ndarray) -> list[LevelReading]:
        """The readings of the windows this block completes; windows span blocks, so the pace stays even."""
        readings = []
        pos = 0
        while pos < samples.size:
            part = samples[pos : pos + self._window - self._n]
            pos += part.size
            self._sum_sq += float(np.dot(part, part))
            self._peak = max(self._peak, float(np.abs(part).max()))
            self._n += part.size
            if self._n == self._window:
                mean_sq = self._sum_sq / self._n
                rms_dbfs = 10 * math.log10(mean_sq) if mean_sq > 0 else -math.inf
                readings.append(LevelReading(self._source_id, rms_dbfs, self._peak))
                self._reset()
        return readings


class Capture(QThread):
    """Captures one source until ``stop()``: a device, or a file played as live audio (``SourceKind.FILE``).

    Each block goes to every listener first (the recorder: audio reaches disk before the model), then onto the
    queue. A device that cannot be opened is retried after each of ``retry_delays`` seconds; a device that
    disappears while running is reopened the same way. ``speed`` and ``loop`` apply to file sources.
    """

    level = Signal(object)  # LevelReading
    notice = Signal(object)  # Notice
    gap = Signal(object)  # CaptionGap: a stretch delivered as silence while paused
    ended = Signal(str)  # the source id; emitted once when the thread ends, whatever the reason

    def __init__(
        self,
        source: AudioSource,
        queue: AudioQueue,
        *,
        listeners: Sequence[Listener] = (),
        sd: Any = None,
        block_ms: int = 40,
        speed: float = 1.0,
        loop: bool = False,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(f"capture {source.id}")
        self.source = source
        self._queue = queue
        self._listeners = tuple(listeners)
        self._failed_listeners: set[int] = set()
        self._sd = sd
        self._block_ms = block_ms
        self._speed = speed
        self._loop = loop
        self._retry_delays = tuple(retry_delays)
        self._stop = threading.Event()
        self._ring: _Ring | None = None
        self._resampler: StreamResampler | None = None
        self._meter = _LevelMeter(source.id)
        self._delivered = 0  # 16 kHz samples delivered so far; written only by the capture thread
        self._device_rate: int | None = None
        self._lost_at: float | None = None  # when the device was lost, until audio flows again
        self._paused = threading.Event()
        self._paused_from: int | None = None  # where the silence of a pause began; capture thread only

    # -- from any thread -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the thread to finish; it does within a fraction of a second (use ``wait()`` to join it)."""
        self._stop.set()
        ring = self._ring
        if ring is not None:
            ring.wake()

    def set_paused(self, paused: bool) -> None:
        """While paused, silence of the same length is delivered instead of what the source hears: nothing said
        then is recorded or captioned, and the timeline keeps wall time. The stretch is reported as a ``gap``."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    @property
    def captured_seconds(self) -> float:
        """Audio delivered so far, in seconds of the source's timeline."""
        return self._delivered / MODEL_RATE

    @property
    def device_rate(self) -> int | None:
        """The sample rate the device (or file) delivers at; None until it is open."""
        return self._device_rate

    # -- the thread ------------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            if self.source.kind is SourceKind.FILE:
                self._run_file()
            else:
                self._run_device()
        except Exception as exc:  # the thread must end with a message, never silently
            self._notify(Severity.ERROR, f"Capture from {self.source.name} stopped after an unexpected error: {exc!r}")
        finally:
            self._pause_ends()
            self.ended.emit(self.source.id)

    def _run_file(self) -> None:
        try:
            player = FilePlayer(self.source.device, block_ms=self._block_ms, speed=self._speed, loop=self._loop)
        except (AudioInputError, TypeError) as exc:
            self._notify(Severity.ERROR, f"Cannot play {self.source.name} as a live source: {exc}")
            return
        self._start_stream(player.rate)
        for block in player.blocks(self._stop):
            self._process(block)
        self._flush()

    def _run_device(self) -> None:
        try:
            sd = self._sd or import_sounddevice()
        except CaptureError as exc:
            self._notify(Severity.ERROR, str(exc))
            return
        while not self._stop.is_set():
            opened = self._open_with_retries(sd, reconnecting=self._lost_at is not None)
            if opened is None:
                return
            stream, ring = opened
            try:
                lost = self._pump(sd, stream, ring)
            finally:
                self._ring = None
                self._close(sd, stream)
                self._flush()
            if not lost:
                return
            if self._lost_at is None:  # else a reopened stream died before any audio: the outage goes on
                self._lost_at = time.monotonic()
            self._notify(Severity.WARNING, f"{self.source.name} was disconnected; trying to reconnect.")

    def _open_with_retries(self, sd: Any, *, reconnecting: bool) -> tuple[Any, _Ring] | None:
        delays = iter(self._retry_delays)
        attempts = 0
        while not self._stop.is_set():
            attempts += 1
            try:
                opened = self._open(sd)
            except (CaptureError, sd.PortAudioError) as exc:
                delay = next(delays, None)
                if delay is None:
                    self._notify(
                        Severity.ERROR,
                        f"Gave up on {self.source.name} after {attempts} attempt(s): {_sentence(exc)} {ADVICE}",
                    )
                    return None
                if attempts == 1 and not reconnecting:
                    self._notify(Severity.ERROR, f"Cannot open {self.source.name}: {_sentence(exc)} {ADVICE} Retrying…")
                if self._stop.wait(delay):
                    return None
                continue
            if reconnecting:
                self._notify(Severity.INFO, f"{self.source.name} is back; capture goes on.")
            elif attempts > 1:
                self._notify(Severity.INFO, f"{self.source.name} is open now; capture goes on.")
            return opened
        return None

    def _open(self, sd: Any) -> tuple[Any, _Ring]:
        """A started stream at the first rate and channel count the device accepts, and the ring it fills."""
        route = resolve(sd, self.source)
        rates = dict.fromkeys([route.default_rate, *FALLBACK_RATES])
        channel_counts = dict.fromkeys([1, max(1, min(2, route.max_channels))])
        first_error: Exception | None = None
        for channels in channel_counts:
            for rate in rates:
                ring = _Ring(round(rate * RING_SECONDS), channels)
                try:
                    stream = open_input_stream(
                        sd,
                        route,
                        samplerate=rate,
                        channels=channels,
                        blocksize=max(1, round(rate * self._block_ms / 1000)),
                        callback=self._callback_for(ring),
                        finished_callback=ring.finish,
                    )
                except sd.PortAudioError as exc:
                    if _error_code(exc) not in _FORMAT_ERRORS:
                        raise  # the device itself failed: other formats would fail the same way
                    first_error = first_error or exc
                    continue
                try:
                    stream.start()
                except sd.PortAudioError:
                    self._close(sd, stream)
                    raise
                self._ring = ring
                self._start_stream(rate)
                return stream, ring
        assert first_error is not None
        raise first_error

    @staticmethod
    def _callback_for(ring: _Ring) -> Callable[..., None]:
        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            ring.write(indata, bool(status.input_overflow))  # runs on PortAudio's thread: copy only

        return callback

    def _pump(self, sd: Any, stream: Any, ring: _Ring) -> bool:
        """Deliver the stream's audio until stop() (False) or until the stream dies (True)."""
        rate = self._device_rate or MODEL_RATE
        reported_loss = False
        while not self._stop.is_set():
            frames = ring.read(WAKE_S)
            if frames is None:
                try:
                    alive = stream.active and not ring.finished
                except sd.PortAudioError:
                    alive = False
                if not alive:
                    return True
                continue
            if self._lost_at is not None:
                self._deliver_silence(time.monotonic() - self._lost_at - len(frames) / rate)
                self._lost_at = None
            self._process(frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1, dtype=np.float32))
            if not reported_loss and (ring.overflows or ring.lost_frames):
                reported_loss = True
                self._notify(
                    Severity.WARNING,
                    f"Some audio from {self.source.name} was lost (input overflow); the computer may be too busy.",
                )
        return False

    def _close(self, sd: Any, stream: Any) -> None:
        with contextlib.suppress(sd.PortAudioError):  # a device that is gone cannot be closed more than this
            stream.close()

    # -- turning device audio into blocks --------------------------------------------------------------------------
    def _start_stream(self, rate: int) -> None:
        self._device_rate = int(rate)
        self._resampler = StreamResampler(int(rate), MODEL_RATE) if rate != MODEL_RATE else None

    def _process(self, samples: np.ndarray) -> None:
        if self._resampler is not None:
            samples = self._resampler.process(samples)
        self._deliver(samples)

    def _flush(self) -> None:
        if self._resampler is not None:
            self._deliver(self._resampler.process(np.zeros(0, dtype=np.float32), last=True))
            self._resampler = None

    def _deliver_silence(self, seconds: float) -> None:
        remaining = round(seconds * MODEL_RATE)
        while remaining > 0:
            n = min(remaining, MODEL_RATE)  # blocks of at most a second, like ordinary audio
            self._deliver(np.zeros(n, dtype=np.float32))
            remaining -= n

    def _deliver(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        # Callers hand over arrays nothing writes to again (resampled, mixed down, read from the ring, a file): no
        # copy is needed, only a guard, since listeners and the queue share them.
        if self._paused.is_set():
            samples = np.zeros(samples.size, dtype=np.float32)
            if self._paused_from is None:
                self._paused_from = self._delivered
        else:
            self._pause_ends()
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        samples.flags.writeable = False
        block = AudioBlock(self.source.id, samples, self._delivered / MODEL_RATE)
        for i, listener in enumerate(self._listeners):
            try:
                listener(block)
            except Exception as exc:  # a failing listener (say, the recorder on a full disk) must not stop captions
                if i not in self._failed_listeners:
                    self._failed_listeners.add(i)
                    self._notify(Severity.ERROR, f"Handling audio from {self.source.name} failed: {exc}")
        self._queue.put(block)
        self._delivered += samples.size
        for reading in self._meter.add(samples):
            self.level.emit(reading)

    def _pause_ends(self) -> None:
        if self._paused_from is not None and self._delivered > self._paused_from:
            self.gap.emit(CaptionGap(self.source.id, self._paused_from / MODEL_RATE, self._delivered / MODEL_RATE,
                                     PAUSED))
        self._paused_from = None

    def _notify(self, severity: Severity, message: str) -> None:
        self.notice.emit(Notice(severity, message, self.source.id))
