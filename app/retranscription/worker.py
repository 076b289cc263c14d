"""Re-transcribing a saved session on a worker thread; the result becomes another version beside the live one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from app.engine.base import Engine
from app.engine.server.address import ServerError
from app.engine.server.cancel import Cancel
from app.engine.server.server_voxtral import ServerVoxtral
from app.library.index import Library
from app.recording.session_folder import SessionError, member, read_audio, read_session
from app.retranscription.engines import Cancelled, Method, with_realtime, with_server_voxtral, with_voxtral
from model import ModelError, VoxtralModel

Progress = Callable[[float, str], None]
TRANSCRIBING_SHARE = 0.97  # of the progress bar; saving the version (indexing its lines) takes the rest


class RetranscribeWorker(QThread):
    """Transcribes every source of one session with ``method``; exactly one of done/failed/cancelled ends a run.

    ``realtime`` is the engine of live captions (the local model, or a vLLM server's realtime model; each run has
    its own stream). ``voxtral(progress)`` gives Voxtral Mini 3B on this thread when needed: a local model (loaded,
    perhaps downloaded unless offline mode is on) or a ``ServerVoxtral``, whose requests a cancel closes at once.
    """

    progress = Signal(float, str)  # fraction of the whole job, what is being done
    done = Signal(str)  # the new version's name
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, library: Library, session_id: str, method: Method, *, realtime: Engine | None = None,
                 voxtral: Callable[[Progress], VoxtralModel | ServerVoxtral] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._library, self._session_id, self._method = library, session_id, method
        self._realtime, self._voxtral = realtime, voxtral
        self._cancel = Cancel()
        self._meta: dict[str, object] = {}  # what the version's metadata adds about where it was made

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            name = self._run()
        except Cancelled:
            self.cancelled.emit()
        except (ModelError, OSError, ValueError, SessionError, ServerError) as exc:
            self.failed.emit(f"Transcribing again failed: {exc}")
        except Exception as exc:  # the thread's last stop: the GUI must hear about anything
            self.failed.emit(f"Transcribing again failed unexpectedly: {exc!r}")
        else:
            self.done.emit(name)

    def _run(self) -> str:
        folder = self._library.folder(self._session_id)
        info = read_session(folder)
        transcribe = self._engine()
        audios = [(source, read_audio(member(folder, source.audio))) for source in info.sources]
        total = sum(a.size for _, a in audios) or 1
        done, events = 0, []
        for source, audio in audios:
            def report(fraction: float, source=source, audio=audio, done=done) -> None:
                whole = (done + fraction * audio.size) / total
                self.progress.emit(whole * TRANSCRIBING_SHARE, f"Transcribing {source.name}…")

            if audio.size:
                events.extend(transcribe(audio, source.id, report))
            done += audio.size
        if self._cancel.is_set():
            raise Cancelled
        self.progress.emit(TRANSCRIBING_SHARE, "Saving the new version…")
        events.sort(key=lambda e: e.start_s)  # sources interleaved by time, as they were heard
        name = self._method.version_name(datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S"))
        self._library.add_version(self._session_id, name, events,
                                  {**self._method.describe(), **self._meta, "complete": True})
        self.progress.emit(1.0, "Saved.")
        return name

    def _engine(self) -> Callable[[np.ndarray, str, Callable[[float], None]], list]:
        method, cancel = self._method, self._cancel
        if method.kind == "realtime":
            if self._realtime is None:
                raise ValueError("the realtime model is not loaded yet; set it up first (Tools → Model…)")
            engine = self._realtime
            return lambda audio, sid, report: with_realtime(engine, audio, sid, method.delay_ms, report, cancel)
        if self._voxtral is None:
            raise ValueError("no Voxtral Mini 3B model is configured")
        voxtral = self._voxtral(lambda _fraction, text: self.progress.emit(0.0, text))
        if isinstance(voxtral, ServerVoxtral):
            self._meta = {"server_model": voxtral.name}
            return lambda audio, sid, report: with_server_voxtral(voxtral, audio, sid, method.language, report,
                                                                  cancel)
        return lambda audio, sid, report: with_voxtral(voxtral, audio, sid, method.language, report, cancel)
