"""The inference worker: a thread that owns the live streams (one per audio source) and turns audio into captions.

It takes every pending block from the audio queue at once, so when it has fallen behind it feeds the backlog as
one large block and the model encodes the pending steps in one batch (catch-up). When the lag still passes the
ceiling, the stream of that source is dropped and a new one starts at the newest audio, the user is told and the
skipped stretch is reported as a gap. Streams that recover by themselves (a server's: base.SupervisedStream) report
their own notices and gaps, which the worker passes on after every feed; their reconnections are no failures.

A microphone given a reference source (``echo_references``: the computer's sound it may hear) has that echo taken
out of its audio before the model hears it; the blocks themselves, and so the recording, stay raw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QThread, Signal

from app.audio_queue import AudioQueue, QueueClosed
from app.capture.echo_canceller import EchoCanceller
from app.engine.base import (
    CaptionStream,
    Engine,
    EngineUnusable,
    FixedDelayEngine,
    StreamGap,
    SupervisedStream,
)
from app.engine.pacing import RealtimeMeter, should_skip_to_live
from app.events import MODEL_RATE, AudioBlock, CaptionEvent, CaptionGap, Notice, Severity, WorkerStatus
from model import TokenEvent

MAX_FAILURES_IN_A_ROW = 3


@dataclass
class _Stream:
    """The worker's bookkeeping for one source; only the worker thread touches it."""

    source_id: str
    stream: CaptionStream | None = None
    supervised: SupervisedStream | None = None  # the stream again, when it is one (checked once: the check reads
    # the stream's properties)
    offset_s: float = 0.0  # where the current stream's audio starts on the source's timeline
    emitted_chars: int = 0  # text of the current stream already sent out
    step_ms: float = 0.0  # compute time per 80 ms step in the last batch that decoded any
    fed_s: float = 0.0  # end of the last audio fed, on the source's timeline
    captioned_s: float = 0.0  # end of the last caption sent out, on the source's timeline

    @property
    def decoded_s(self) -> float:
        if self.stream is None:
            return self.fed_s
        return self.offset_s + self.stream.decoded_seconds


class InferenceWorker(QThread):
    caption = Signal(object)  # CaptionEvent
    status = Signal(object)  # WorkerStatus
    notice = Signal(object)  # Notice
    gap = Signal(object)  # CaptionGap

    def __init__(
        self,
        engine: Engine,
        queue: AudioQueue,
        source_ids: Sequence[str],
        *,
        delay_ms: int = 480,
        lag_ceiling_s: float = 3.0,
        echo_references: Mapping[str, str] | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inference-worker")
        self._engine = engine
        self._queue = queue
        self._streams = {sid: _Stream(sid) for sid in source_ids}
        self._lock = threading.Lock()  # guards the requests below, set from the GUI thread
        self._delay_ms = delay_ms
        self._pending_delay: int | None = None
        self._flush_on_stop = True
        self._stop = threading.Event()
        self._lag_ceiling_s = lag_ceiling_s
        self._meters = {sid: RealtimeMeter() for sid in source_ids}
        self._failures = 0
        # microphone id -> (its reference's id, the canceller); only the worker thread uses them
        self._echo = {mic: (ref, EchoCanceller()) for mic, ref in (echo_references or {}).items()}

    # -- requests from other threads -------------------------------------------------------------------------
    def stop(self, *, flush: bool = True) -> None:
        """Finish promptly; with ``flush`` the streams decode the audio they already have before ending."""
        with self._lock:
            self._flush_on_stop = flush
        self._stop.set()
        self._queue.close()

    def set_delay(self, delay_ms: int) -> None:
        """Use another delay: the current streams are finished and new ones start with the next audio."""
        with self._lock:
            self._pending_delay = delay_ms

    @property
    def lag_ceiling_s(self) -> float:
        return self._lag_ceiling_s

    @property
    def delay_ms(self) -> int:
        """The delay captions have: the engine's own when it fixes one, else the one asked for."""
        if isinstance(self._engine, FixedDelayEngine) and self._engine.fixed_delay_ms is not None:
            return self._engine.fixed_delay_ms
        with self._lock:
            return self._delay_ms

    def _flushing(self) -> bool:
        with self._lock:
            return self._flush_on_stop

    # -- the thread --------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                try:
                    blocks = self._queue.get_all()  # stop() closes the queue, which wakes this at once
                except QueueClosed:
                    break  # closed and drained: with flush, everything captured has been fed
                self._apply_delay_change()
                for source_id, start_s, samples in self._without_echo(_group(blocks)):
                    if self._stop.is_set() and not self._flushing():
                        break
                    if source_id in self._streams:
                        self._process(self._streams[source_id], start_s, samples)
                if self._stop.is_set() and not self._flushing():
                    break
            if self._flushing():
                for state in self._streams.values():
                    self._finish(state)
        finally:
            for state in self._streams.values():
                self._drop(state)
            self._engine.release_memory()

    def _without_echo(self, groups: list[tuple[str, float, np.ndarray]]) -> list[tuple[str, float, np.ndarray]]:
        """The groups with each microphone's echo taken out; references are taken in first, so an echo in this
        batch finds its reference."""
        if not self._echo:
            return groups
        for source_id, start_s, samples in groups:
            for reference, canceller in self._echo.values():
                if source_id == reference:
                    canceller.add_reference(start_s, samples)
        return [(sid, start_s, self._echo[sid][1].process(start_s, samples) if sid in self._echo else samples)
                for sid, start_s, samples in groups]

    def _apply_delay_change(self) -> None:
        with self._lock:
            new, self._pending_delay = self._pending_delay, None
        if new is None or new == self._delay_ms:
            return
        if isinstance(self._engine, FixedDelayEngine):  # restarting the streams would change nothing
            known = self._engine.fixed_delay_ms
            self.notice.emit(Notice(Severity.INFO, f"The server sets the caption delay"
                                    f"{f' ({known} ms)' if known is not None else ''}; the delay setting applies "
                                    "only to captions made on this computer."))
            return
        for state in self._streams.values():
            self._finish(state)
        with self._lock:
            self._delay_ms = new
        self.notice.emit(Notice(Severity.INFO, f"Caption delay is now {new} ms."))

    def _process(self, state: _Stream, start_s: float, samples: np.ndarray) -> None:
        dropped = self._queue.take_dropped(state.source_id)
        captured = self._queue.captured_s(state.source_id)
        lag = captured - state.decoded_s
        if state.stream is not None and (dropped > 0 or should_skip_to_live(lag, self._lag_ceiling_s)):
            gap_start = max(state.captioned_s, state.offset_s)
            self._drop(state)  # without finishing: finishing would cost more time we do not have
            self._engine.release_memory()
            self._meters[state.source_id].reset()
            skipped = max(lag, dropped)
            self.notice.emit(Notice(
                Severity.WARNING,
                f"Captions fell {skipped:.1f} s behind the audio; they skipped ahead to what is being said now.",
                state.source_id,
            ))
            keep = min(samples.size, int(0.5 * MODEL_RATE))  # restart with the newest half second
            start_s += (samples.size - keep) / MODEL_RATE
            samples = samples[samples.size - keep :]
            if start_s > gap_start:
                self.gap.emit(CaptionGap(state.source_id, gap_start, start_s, "captions fell behind"))
        if state.stream is None:
            try:
                state.stream = self._engine.open_stream(self._delay_ms)
            except EngineUnusable as exc:
                self._stop_captions(f"{exc} Live captions stopped.", state.source_id)
                return
            except Exception as exc:  # noqa: BLE001 — reported to the user, the worker carries on
                self._fail(state, f"The caption engine could not start: {exc}")
                return
            state.supervised = state.stream if isinstance(state.stream, SupervisedStream) else None
            state.offset_s = start_s
            state.emitted_chars = 0
        t0 = time.perf_counter()
        try:
            events = state.stream.feed(samples, MODEL_RATE)
        except EngineUnusable as exc:
            self._stop_captions(f"{exc} Live captions stopped.", state.source_id)
            return
        except Exception as exc:  # noqa: BLE001 — e.g. out of GPU memory; audio is not lost, captions restart
            self._fail(state, f"The caption engine failed and restarts: {exc}")
            return
        compute = time.perf_counter() - t0
        self._failures = 0
        state.fed_s = start_s + samples.size / MODEL_RATE
        meter = self._meters[state.source_id]
        meter.add(compute, samples.size / MODEL_RATE)
        if events:
            state.step_ms = 1000.0 * compute / len(events)
        self._emit_captions(state, events, final=False)
        self._pass_on_reports(state)
        self.status.emit(WorkerStatus(
            source_id=state.source_id,
            captured_s=self._queue.captured_s(state.source_id),
            decoded_s=state.decoded_s,
            step_ms=state.step_ms,
            realtime_factor=meter.factor,
            device=self._engine.device_name,
            delay_ms=self.delay_ms,
        ))

    def _finish(self, state: _Stream) -> None:
        if state.stream is None:
            return
        try:
            events = state.stream.finish()
        except EngineUnusable as exc:
            self._stop_captions(f"{exc} Live captions stopped.", state.source_id)
            return
        except Exception as exc:  # noqa: BLE001
            self._fail(state, f"The caption engine failed while finishing: {exc}")
            return
        self._emit_captions(state, events, final=True,
                            rest=state.stream.text[state.emitted_chars - state.stream.dropped_chars :])
        self._drop(state)

    def _drop(self, state: _Stream) -> None:
        """Let the stream go; one that runs threads of its own is closed, after its last reports are passed on."""
        if state.supervised is not None:
            self._pass_on_reports(state)
            state.supervised.close()
        state.stream = state.supervised = None

    def _pass_on_reports(self, state: _Stream) -> None:
        if state.supervised is None:
            return
        for report in state.supervised.take_reports():
            if isinstance(report, StreamGap):
                self.gap.emit(CaptionGap(state.source_id, state.offset_s + report.start_s,
                                         state.offset_s + report.end_s, report.reason))
            else:
                self.notice.emit(Notice(report.severity, report.message, state.source_id))

    def _emit_captions(self, state: _Stream, events: Sequence[TokenEvent], *, final: bool, rest: str = "") -> None:
        if not events and not final:
            return
        text = "".join(e.text for e in events)
        if final:
            text = rest  # the stream's own text: it includes a partial character flushed at the end
        state.emitted_chars += len(text)
        start = state.offset_s + (events[0].start_s if events else state.decoded_s - state.offset_s)
        end = state.offset_s + (events[-1].end_s if events else state.decoded_s - state.offset_s)
        state.captioned_s = max(state.captioned_s, end)
        self.caption.emit(CaptionEvent(state.source_id, text, tuple(e.token_id for e in events), start, end, final))

    def _fail(self, state: _Stream, message: str) -> None:
        self._drop(state)
        self._engine.release_memory()
        self._failures += 1
        if self._failures >= MAX_FAILURES_IN_A_ROW:
            self._stop_captions(message + " Live captions stopped after repeated failures.", state.source_id)
            return
        self.notice.emit(Notice(Severity.ERROR, message, state.source_id))

    def _stop_captions(self, message: str, source_id: str) -> None:
        """Tell the user why and end the worker: nothing more can be captioned (audio is still recorded)."""
        for state in self._streams.values():
            self._drop(state)
        self.notice.emit(Notice(Severity.ERROR, message, source_id))
        self._stop.set()
        self._queue.close()
        with self._lock:
            self._flush_on_stop = False


def _group(blocks: Sequence[AudioBlock]) -> list[tuple[str, float, np.ndarray]]:
    """Pending blocks joined per source (in order): one feed per source per batch."""
    by_source: dict[str, list[AudioBlock]] = {}
    for block in blocks:
        by_source.setdefault(block.source_id, []).append(block)
    return [
        (sid, parts[0].start_s, np.concatenate([b.samples for b in parts]) if len(parts) > 1 else parts[0].samples)
        for sid, parts in by_source.items()
    ]
