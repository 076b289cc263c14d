"""What the chat needs of where its model runs. ``ModelManager`` (Voxtral Mini 3B on this computer) and
``ServerChatModels`` (on a vLLM server) both provide it; ChatController, AnswerWorker and LibraryActions take either."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from app.events import Notice

Progress = Callable[[float, str], None]
Notify = Callable[[Notice], None]


class AnswerStream(Protocol):
    """Text deltas of an answer; ``finish_reason`` ("eos" or "length") once it has ended. Closing it (on the thread
    that iterates it) stops the answer."""

    @property
    def finish_reason(self) -> str | None: ...

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class Abortable(Protocol):
    """An answer stream that can also be stopped from another thread, at once, even while it waits for the network."""

    def abort(self) -> None: ...


class ChatModel(Protocol):
    @property
    def max_audio_seconds(self) -> float: ...

    def stream_chat(self, conversation: Sequence[dict[str, Any]], *, max_new_tokens: int = 1024) -> AnswerStream: ...


class ChatModels(Protocol):
    def acquire(self, *, progress: Progress | None = None, notify: Notify | None = None) -> ChatModel:
        """The model, ready to answer; pair with ``release``."""
        ...

    def release(self, model: ChatModel) -> None: ...

    def add_evict_listener(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs when the model is taken away while in use (the answer using it should stop)."""
        ...
