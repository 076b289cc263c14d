"""The chat's model when Voxtral Mini 3B runs on a vLLM server: what ChatController, AnswerWorker and LibraryActions
use of ``ModelManager``, with nothing loaded on this computer (no GPU memory, nothing for live captions to evict)."""

from __future__ import annotations

from collections.abc import Callable

from app.chat.backend import Notify, Progress
from app.chat.model_manager import MODEL_NAME
from app.engine.server.address import ServerAddress
from app.engine.server.http_client import HttpClient
from app.engine.server.server_voxtral import ServerVoxtral


class ServerChatModels:
    """Voxtral Mini 3B as the server at ``address`` serves it under the name ``model`` (Settings → Engine)."""

    def __init__(self, address: ServerAddress, model: str, *, client: HttpClient | None = None) -> None:
        self.address, self.model = address, model
        self.client = client or HttpClient(address)

    def acquire(self, *, progress: Progress | None = None, notify: Notify | None = None) -> ServerVoxtral:
        """The served model, checked with the server first (it is reachable, serves ``model``, and says how long
        its context is); ServerError, in words, when not. Call it on a worker thread: it makes a request."""
        where = self.address.describe()
        if progress is not None:
            progress(0.0, f"Asking the server at {where} for {MODEL_NAME}…")
        model = ServerVoxtral(self.client, self.client.served(self.model))
        if progress is not None:
            progress(1.0, f"{MODEL_NAME} is ready on the server at {where}.")
        return model

    def release(self, model: ServerVoxtral) -> None:
        """Nothing is held between questions: each request stands alone."""

    def add_evict_listener(self, callback: Callable[[], None]) -> None:
        """Live captions never take a server's model away: there is nothing to listen for."""
