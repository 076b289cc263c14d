"""The thread that answers one question: the model from the manager (on this computer or a server), the answer
streamed delta by delta."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QThread, Signal

from app.chat.backend import ChatModel, ChatModels
from app.chat.clips import ClipSource
from app.chat.long_audio import answer_in_parts, stream_answer
from app.chat.model import ChatTurn
from app.chat.prompting import audio_cost_s, build_messages
from app.engine.server.address import ServerError
from app.engine.server.cancel import Cancel
from app.events import Notice, Severity
from model import PromptTooLongError
from model import device as devices


class AnswerWorker(QThread):
    """Answers the last (user) turn of ``turns``; ``answered`` always comes last, with the assistant turn (its
    finish_reason "stopped" after ``stop()``, "error" after a failure, which ``notice`` explains)."""

    delta = Signal(str)
    progress = Signal(float, str)
    notice = Signal(object)  # Notice
    answered = Signal(object)  # ChatTurn

    def __init__(
        self, manager: ChatModels, source: ClipSource, turns: Sequence[ChatTurn], *, max_new_tokens: int = 1024,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chat-worker")
        self._manager = manager
        self._source = source
        self._turns = tuple(turns)
        self._max_new_tokens = max_new_tokens
        self._cancel = Cancel()
        self._text = ""  # what has streamed so far: kept when the answer fails midway

    def stop(self) -> None:
        """Stop promptly (from any thread): the model stops after the token it is on; a server's request is closed
        at once."""
        self._cancel.set()

    def run(self) -> None:
        try:
            turn = self._answer()
        except PromptTooLongError as exc:
            self.notice.emit(Notice(Severity.ERROR, f"{exc} Start a new conversation to ask more."))
            turn = ChatTurn("assistant", self._text, finish_reason="error")
        except ServerError as exc:  # already in words: what happened and what to do
            more = " Start a new conversation to ask more." if exc.kind == "limit" else ""
            self.notice.emit(Notice(Severity.ERROR, f"The question could not be answered. {exc}{more}"))
            turn = ChatTurn("assistant", self._text, finish_reason="error")
        except Exception as exc:  # a failure of any kind must reach the user and still end the answer
            self.notice.emit(Notice(Severity.ERROR, f"The question could not be answered: {exc}"))
            turn = ChatTurn("assistant", self._text, finish_reason="error")
        self.answered.emit(turn)

    def _on_delta(self, text: str) -> None:
        self._text += text
        self.delta.emit(text)

    def _answer(self) -> ChatTurn:
        model = self._manager.acquire(progress=self.progress.emit, notify=self.notice.emit)
        try:
            return self._attempt(model)
        except devices.out_of_memory_errors():  # only a model on this computer's GPU: the manager is a ModelManager
            pass  # handled below, outside the except clause, so its traceback no longer holds GPU tensors
        finally:
            self._manager.release(model)
            del model
        if self._text:  # part of the answer is on screen already: it stays; the GPU copy goes, no retry
            self._manager.unload()
            self.notice.emit(Notice(Severity.WARNING, "The GPU ran out of memory while answering; the answer stops "
                                                      "here. The next question loads the chat model again."))
            return ChatTurn("assistant", self._text, finish_reason="error")
        model = self._manager.fall_back_to_cpu(progress=self.progress.emit, notify=self.notice.emit)
        try:
            return self._attempt(model)
        finally:
            self._manager.release(model)

    def _attempt(self, model: ChatModel) -> ChatTurn:
        if self._cancel.is_set():
            return ChatTurn("assistant", "", finish_reason="stopped")
        limit = model.max_audio_seconds
        ranges = [self._source.range(c) for t in self._turns for c in t.clips]
        if audio_cost_s(ranges) > limit:
            result = answer_in_parts(model, self._turns, self._source, max_audio_s=limit,
                                     max_new_tokens=self._max_new_tokens, on_delta=self._on_delta,
                                     progress=self.progress.emit, cancel=self._cancel)
            self.notice.emit(Notice(Severity.INFO, result.message))
            return ChatTurn("assistant", result.text, finish_reason=result.finish_reason, note=result.message)
        messages = build_messages(self._turns, self._source, max_audio_s=limit)
        text, reason = stream_answer(model, messages, max_new_tokens=self._max_new_tokens, on_delta=self._on_delta,
                                     cancel=self._cancel)
        return ChatTurn("assistant", text, finish_reason=reason)
