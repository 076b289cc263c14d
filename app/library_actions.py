"""What the library's buttons do: transcribe a session again (on a worker thread) and export it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QDialog, QWidget

from app.chat.backend import ChatModel, ChatModels, Progress
from app.engine.base import Engine
from app.events import Notice, Severity
from app.export.session import export_session
from app.library.index import Library, LibraryError
from app.recording.session_folder import SessionError
from app.retranscription.worker import RetranscribeWorker
from app.ui.export_dialog import ExportDialog
from app.ui.library_view import LibraryView
from app.ui.retranscribe_dialog import RetranscribeDialog


class LibraryActions(QObject):
    """``realtime()``: the engine of live captions, None while there is none; ``models``: where Voxtral Mini 3B runs
    (``ModelManager`` on this computer, ``ServerChatModels`` on a vLLM server)."""

    _notice = Signal(object)  # a Notice from the worker thread, shown on the GUI thread

    def __init__(self, library: Library, view: LibraryView, *, realtime: Callable[[], Engine | None],
                 models: ChatModels, notify: Callable[[Notice], None], parent: QWidget) -> None:
        super().__init__(parent)
        self._library, self._view, self._parent = library, view, parent
        self._realtime, self._models, self._notify = realtime, models, notify
        self._notice.connect(notify)
        self._held: list[ChatModel] = []  # Voxtral acquired for the running job, released when it ends
        self._worker: RetranscribeWorker | None = None
        self._dialog: RetranscribeDialog | None = None
        view.retranscribeRequested.connect(self.retranscribe)
        view.exportRequested.connect(self.export)

    def _title(self, session_id: str) -> str:
        return next((s.title for s in self._library.sessions() if s.id == session_id), session_id)

    def set_models(self, models: ChatModels) -> None:
        """Where Voxtral Mini 3B runs from the next job on (the engine settings changed)."""
        self._models = models

    # -- export ---------------------------------------------------------------------------------------------------
    def export(self, session_id: str, version: str) -> None:
        try:
            versions = self._library.versions(session_id)
        except LibraryError as exc:
            self._notify(Notice(Severity.ERROR, str(exc)))
            return
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        dialog = ExportDialog(self._title(session_id), versions, Path(documents or Path.home()), self._parent,
                              protected=[self._library.sessions_dir])
        dialog.version.setCurrentText(version)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            path = export_session(self._library, session_id, dialog.version.currentText(), dialog.chosen_format(),
                                  dialog.chosen_path(), timestamps=dialog.timestamps.isChecked(),
                                  labels=dialog.labels.isChecked())
        except (OSError, LibraryError, SessionError) as exc:
            self._notify(Notice(Severity.ERROR, f"The transcript could not be exported: {exc}"))
            return
        self._notify(Notice(Severity.INFO, f"Exported to {path}."))

    # -- transcribing again ---------------------------------------------------------------------------------------
    def retranscribe(self, session_id: str) -> None:
        dialog = RetranscribeDialog(self._title(session_id), self._parent)
        dialog.start.clicked.connect(lambda: self._start(session_id, dialog))
        dialog.cancel.clicked.connect(self.cancel)
        self._dialog = dialog
        dialog.exec()
        self.cancel()
        self._dialog = None

    def _start(self, session_id: str, dialog: RetranscribeDialog) -> None:
        worker = RetranscribeWorker(self._library, session_id, dialog.method(), realtime=self._realtime(),
                                    voxtral=self._acquire_voxtral, parent=self)
        worker.progress.connect(dialog.show_progress)
        worker.done.connect(lambda name: self._done(dialog, session_id, name))
        worker.failed.connect(lambda message: self._ended(dialog, message))
        worker.cancelled.connect(lambda: self._ended(dialog, "Cancelled; nothing was stored."))
        worker.finished.connect(worker.deleteLater)
        self._worker = worker
        dialog.running(True)
        dialog.show_progress(0.0, "Starting…")
        worker.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker.wait()
            self._worker = None

    def _done(self, dialog: RetranscribeDialog, session_id: str, name: str) -> None:
        dialog.show_progress(1.0, "")
        self._ended(dialog, f"Done: stored as the version “{name}” beside the live transcript, and shown now.")
        self._view.refresh()
        if self._view.transcript.session_id() == session_id:  # the new version is what the user waited for
            self._view.transcript.select_line(name, 0)

    def _acquire_voxtral(self, progress: Progress) -> ChatModel:
        """Called on the worker thread: Voxtral Mini 3B, loaded where live captions allow or checked with the
        server; ``progress`` hears about it."""
        model = self._models.acquire(progress=progress, notify=self._notice.emit)
        self._held.append(model)
        return model

    def _ended(self, dialog: RetranscribeDialog, message: str) -> None:
        self._worker = None
        while self._held:
            self._models.release(self._held.pop())
        dialog.running(False)
        dialog.status.setText(message)
