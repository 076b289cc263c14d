"""The chat panel's logic: one conversation about one session at a time, answered on a worker thread."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.chat import store
from app.chat.backend import ChatModels
from app.chat.clips import ClipSource
from app.chat.model import ChatTurn, Clip, Conversation
from app.chat.worker import AnswerWorker
from app.events import Notice, Severity
from app.library.index import Library, LibraryError
from app.recording.session_folder import SessionError, read_session


class ChatController(QObject):
    """Asks questions about clips of a session and keeps the conversation, saved after every answer (finished,
    stopped or failed) under the session's ``chats/`` folder.

    ``manager`` is where the model runs: a ``ModelManager`` (this computer) or ``ServerChatModels`` (a vLLM server).
    ``max_new_tokens`` bounds each answer; ``version`` picks the transcript given to the model (None: the newest).
    """

    turnAdded = Signal(object)  # ChatTurn: the user turn as sent, the assistant turn when complete
    delta = Signal(str)
    progress = Signal(float, str)
    notice = Signal(object)  # Notice
    busyChanged = Signal(bool)

    def __init__(
        self, library: Library, manager: ChatModels, parent=None, *, max_new_tokens: int = 1024,
        version: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.manager = manager
        self.max_new_tokens = max_new_tokens
        self.version = version
        self._conversation: Conversation | None = None
        self._worker: AnswerWorker | None = None
        manager.add_evict_listener(self.stop)  # live captions took the memory: the answer stops, its text stays

    @property
    def conversation(self) -> Conversation | None:
        return self._conversation

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def conversations(self) -> list[Conversation]:
        """The saved conversations of the open session, oldest first."""
        if self._conversation is None:
            return []
        return store.list_conversations(self.library.folder(self._conversation.session_id))

    def open(self, session_id: str) -> Conversation:
        """The session's latest saved conversation, or a new one (saved with its first answer)."""
        self._check_idle()
        saved = store.list_conversations(self.library.folder(session_id))
        self._conversation = saved[-1] if saved else Conversation.new(session_id)
        return self._conversation

    def new_conversation(self) -> Conversation:
        """A new, empty conversation about the open session."""
        self._check_idle()
        if self._conversation is None:
            raise RuntimeError("Open a recording first.")
        self._conversation = Conversation.new(self._conversation.session_id)
        return self._conversation

    def ask(self, question: str, clips: Sequence[Clip]) -> None:
        """Send ``question`` with ``clips`` attached (none on follow-ups; the first question of a conversation without
        clips is about the whole recording). The answer streams through ``delta``."""
        self._check_idle()
        if self._conversation is None:
            raise RuntimeError("Open a recording first.")
        question = question.strip()
        if not question:
            raise ValueError("The question is empty.")
        session_id = self._conversation.session_id
        if any(c.session_id != session_id for c in clips):
            raise ValueError("A conversation is about one recording: every clip must come from it.")
        attached = tuple(clips) or (() if self._conversation.clips else (Clip(session_id),))
        turn = ChatTurn("user", question, attached)
        self._conversation = self._conversation.with_turn(turn)
        self.turnAdded.emit(turn)
        worker = AnswerWorker(self.manager, ClipSource(self.library, self.version), self._conversation.turns,
                              max_new_tokens=self.max_new_tokens, parent=self)
        worker.delta.connect(self.delta)
        worker.progress.connect(self.progress)
        worker.notice.connect(self.notice)
        worker.answered.connect(self._answered)
        worker.finished.connect(worker.deleteLater)
        self._worker = worker
        worker.start()
        self.busyChanged.emit(True)

    def stop(self) -> None:
        """Stop the answer being written; what it says so far is kept (finish_reason "stopped"). Any thread."""
        worker = self._worker
        if worker is not None:
            worker.stop()

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop any answer and wait for its thread (before the app quits)."""
        worker = self._worker
        if worker is not None:
            worker.stop()
            worker.wait(timeout_ms)

    def export_markdown(self, path: Path) -> Path:
        """Write the conversation as Markdown to ``path`` (never over audio or into the sessions folder); returns the
        path written. Raises OSError (OutputRefused saying why, for a path it will not write)."""
        if self._conversation is None:
            raise RuntimeError("There is no conversation to export.")
        try:
            title = read_session(self.library.folder(self._conversation.session_id)).title
        except SessionError:
            title = ""
        return store.export_markdown(self._conversation, Path(path), title, protected=[self.library.sessions_dir])

    def _check_idle(self) -> None:
        if self._worker is not None:
            raise RuntimeError("A question is being answered: stop it first.")

    def _answered(self, turn: ChatTurn) -> None:
        self._conversation = self._conversation.with_turn(turn)  # ask() set it, and it cannot change while busy
        worker, self._worker = self._worker, None
        if worker is not None:  # its last act was this signal: let it end, so no running thread outlives us
            worker.wait()
        try:
            store.save(self.library.folder(self._conversation.session_id), self._conversation)
        except (OSError, LibraryError) as exc:
            self.notice.emit(Notice(Severity.ERROR, f"The conversation could not be saved: {exc}"))
        self.turnAdded.emit(turn)
        self.busyChanged.emit(False)
