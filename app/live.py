"""Live captioning: capture threads for the chosen sources, one inference worker, and their lifecycles.

Starting, stopping and switching sources never block the GUI thread: stopping asks the capture threads to end,
then (once they have delivered their last audio) asks the worker to decode what it has, and reports ``stopped``
when every thread has finished. The model stays loaded across restarts.

With a microphone and the computer's sound captioned together (no headphones: the microphone hears the meeting), two
things keep the meeting's words from showing twice, each switched on by ``start``: the worker takes the echo out of
the microphone's audio before the model hears it (``echo_cancellation``), and the microphone's captions that repeat
the system source are dropped (``echo_suppression``, which holds a microphone word for a fraction of a second until it
is decided). The recording's audio stays raw either way; its transcript gets the captions as shown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.audio_queue import AudioQueue
from app.captions.echo_filter import EchoFilter
from app.capture.capture import Capture
from app.engine.base import Engine
from app.engine.worker import InferenceWorker
from app.events import AudioBlock, AudioSource, CaptionEvent, Notice, Severity, SourceKind


class LiveCaptions(QObject):
    caption = Signal(object)  # CaptionEvent
    status = Signal(object)  # WorkerStatus
    notice = Signal(object)  # Notice
    gap = Signal(object)  # CaptionGap: audio that got no captions (recorded all the same)
    level = Signal(object)  # LevelReading
    started = Signal()
    stopped = Signal()

    def __init__(self, *, capture_options: dict | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine: Engine | None = None
        self._captures: list[Capture] = []
        self._worker: InferenceWorker | None = None
        self._stopping = False
        self._then: Callable[[], None] | None = None  # what to do once stopped (a restart)
        self._capture_options = capture_options or {}
        self._echo: EchoFilter | None = None
        self._echo_timer = QTimer(self)  # passes on held microphone words once they are decided
        self._echo_timer.setSingleShot(True)
        self._echo_timer.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse timer may fire early
        self._echo_timer.timeout.connect(self._echo_due)
        self.sources: tuple[AudioSource, ...] = ()
        self._paused = False

    @property
    def engine(self) -> Engine | None:
        return self._engine

    def set_engine(self, engine: Engine | None) -> None:
        """Use another engine from the next ``start`` on (a running session keeps the one it started with)."""
        self._engine = engine

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the running session: while paused the sources deliver silence, so nothing said is
        recorded or captioned, and the session, its timeline and its recording go on; each pause is a ``gap``."""
        if not self.running or self._stopping:
            return
        self._paused = paused
        for capture in self._captures:
            capture.set_paused(paused)

    def start(
        self,
        sources: Sequence[AudioSource],
        *,
        delay_ms: int = 480,
        lag_ceiling_s: float = 3.0,
        listeners: Sequence[Callable[[AudioBlock], None]] = (),
        echo_cancellation: bool = False,
        echo_suppression: bool = False,
    ) -> None:
        """Capture ``sources`` and caption them; to switch, ``stop(then=...)`` the running session first.

        The echo options act only when a microphone and a system source run together (see the module docstring).
        """
        if self.running:
            raise RuntimeError("a live session is running: stop it first")
        if self._engine is None:
            self.notice.emit(Notice(Severity.ERROR, "No model is loaded yet: set up the model first."))
            return
        if not sources:
            self.notice.emit(Notice(Severity.ERROR, "Choose at least one audio source to caption."))
            return
        queue = AudioQueue()
        self.sources = tuple(sources)
        system = next((s.id for s in sources if s.kind is SourceKind.SYSTEM), None)
        references = {s.id: system for s in sources if s.kind is SourceKind.MICROPHONE and system is not None}
        self._worker = InferenceWorker(self._engine, queue, [s.id for s in sources], delay_ms=delay_ms,
                                       lag_ceiling_s=lag_ceiling_s,
                                       echo_references=references if echo_cancellation else None)
        self._echo = EchoFilter.for_sources(sources) if echo_suppression else None
        self._worker.caption.connect(self.caption if self._echo is None else self._filter_caption)
        self._worker.status.connect(self.status)
        self._worker.notice.connect(self.notice)
        self._worker.gap.connect(self.gap)
        self._worker.finished.connect(self._worker_finished)
        for source in sources:
            capture = Capture(source, queue, listeners=listeners, **self._capture_options)
            capture.level.connect(self.level)
            capture.notice.connect(self.notice)
            capture.gap.connect(self.gap)
            capture.finished.connect(self._capture_finished)
            self._captures.append(capture)
        self._worker.start()
        for capture in self._captures:
            capture.start()
        self.started.emit()

    def stop(self, *, then: Callable[[], None] | None = None) -> None:
        """Stop capturing, let the worker caption the audio already captured, then emit ``stopped``."""
        if then is not None:
            self._then = then
        if not self.running:
            self._run_then()
            return
        if self._stopping:
            return
        self._stopping = True
        for capture in self._captures:
            capture.stop()
        self._capture_finished()

    def set_delay(self, delay_ms: int) -> None:
        if self._worker is not None:
            self._worker.set_delay(delay_ms)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop at once without flushing and wait for the threads (when the program quits)."""
        for capture in self._captures:
            capture.stop()
        if self._worker is not None:
            self._worker.stop(flush=False)
        for thread in [*self._captures, self._worker]:
            if thread is not None:
                thread.wait(timeout_ms)
        self._captures.clear()
        self._worker = None
        self._stopping = False
        self._paused = False
        self._echo = None
        self._echo_timer.stop()

    def _capture_finished(self) -> None:
        # A capture that ends on its own (a file played to its end) also ends the session once all have ended.
        if self._worker is None or any(c.isRunning() for c in self._captures):
            return
        self._stopping = True
        self._worker.stop(flush=True)

    def _worker_finished(self) -> None:
        for capture in self._captures:
            capture.wait()
        self._captures.clear()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.deleteLater()
        self._stopping = False
        self._paused = False
        echo, self._echo = self._echo, None
        self._echo_timer.stop()
        if echo is not None:  # words still held (a stream that ended without its final event)
            for event in echo.flush():
                self.caption.emit(event)
        self.stopped.emit()
        self._run_then()

    def _filter_caption(self, event: CaptionEvent) -> None:
        if self._echo is None:  # an event of a session that ended
            return
        self._pass_on(self._echo.add(event))

    def _echo_due(self) -> None:
        if self._echo is not None:
            self._pass_on(self._echo.due())

    def _pass_on(self, events: list[CaptionEvent]) -> None:
        for event in events:
            self.caption.emit(event)
        due = self._echo.next_due() if self._echo is not None else None
        if due is None:
            self._echo_timer.stop()
        else:
            self._echo_timer.start(max(0, math.ceil((due - time.monotonic()) * 1000)))

    def _run_then(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            then()
