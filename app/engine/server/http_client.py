"""An OpenAI-style HTTP client for a vLLM server: the models it serves (``/v1/models``), chat completions
(``/v1/chat/completions``, streamed as server-sent events or not) and transcriptions (``/v1/audio/transcriptions``).

Every call runs httpx2's AsyncClient on an event loop of its own, driven by the calling thread: a request is then
aborted from any thread at any stage (connecting, waiting for the first byte, streaming) by cancelling its task,
which closes the connection; vLLM stops working on a request whose client has gone. Every failure is a ServerError
in words a user can act on. The API key goes in the Authorization header only: never into a message or a log.
Proxy settings of the environment are ignored: audio goes to the configured server and nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2

from app.engine.server.address import ServerAddress, ServerError
from app.engine.server.cancel import Cancel, Cancelled

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 300.0  # the longest silence within an answer: a busy server queues requests, long audio prefills
PROBE_TIMEOUT_S = 5.0
PROBE_ROUNDS = 3
SETTINGS = "Settings → Engine"
_MESSAGE_CHARS = 400  # of a server's error text quoted to the user

T = TypeVar("T")


@dataclass(frozen=True)
class ServedModel:
    """A model the server serves: its name (what requests say in ``model``) and its context length, if it says."""

    name: str
    max_model_len: int | None = None


@dataclass(frozen=True)
class ChatReply:
    """A chat completion (not streamed): the text and why it ended as the server says ("stop", "length", ...)."""

    text: str
    finish_reason: str | None


@dataclass(frozen=True)
class ProbeReport:
    """What *Test connection* found: whether the server answered, what it serves, the round-trip time of a small
    request on an open connection, and all of it in words (``message``); ``error_kind`` is the ServerError's kind
    when it failed."""

    reachable: bool
    message: str
    models: tuple[ServedModel, ...] = ()
    rtt_ms: float | None = None
    error_kind: str | None = None


# -- errors ------------------------------------------------------------------------------------------------------
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words."""
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host not found"
    text = str(exc).strip()
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host not found"
    return text or exc.__class__.__name__


def transport_error(exc: httpx2.HTTPError, address: ServerAddress, doing: str, *,
                    connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S
                    ) -> ServerError:
    """A failure to talk to the server at all, in words (``doing``: what the request was for, e.g. "answering")."""
    where = address.describe()
    if any(isinstance(c, ssl.SSLError) for c in _chain(exc)):
        return ServerError(f"The secure connection to the server at {where} failed ({_reason(exc)}). Check the "
                           f"address in {SETTINGS} (https:// for a server with TLS, http:// without) and that the "
                           "server's certificate is trusted.", "tls")
    if isinstance(exc, httpx2.ConnectTimeout):
        return ServerError(f"The server at {where} cannot be reached (no answer within {connect_timeout_s:g} s). "
                           f"Check the address in {SETTINGS} and that the server is running.", "unreachable")
    if isinstance(exc, (httpx2.ConnectError, httpx2.PoolTimeout)):
        return ServerError(f"The server at {where} cannot be reached ({_reason(exc)}). Check the address in "
                           f"{SETTINGS} and that the server is running.", "unreachable")
    if isinstance(exc, httpx2.TimeoutException):
        return ServerError(f"The server at {where} stopped answering while {doing} (nothing came for "
                           f"{read_timeout_s:g} s). Check that the server is running and not overloaded.",
                           "unreachable")
    if isinstance(exc, (httpx2.NetworkError, httpx2.RemoteProtocolError)):
        return ServerError(f"The connection to the server at {where} was lost while {doing} ({_reason(exc)}). "
                           "Check that the server is still running.", "unreachable")
    return ServerError(f"The server at {where} could not be used while {doing} ({_reason(exc)}).", "protocol")


def _server_message(body: str, address: ServerAddress) -> tuple[str, str | None]:
    """The message of a vLLM/OpenAI error body ({"error": {"message", "param"}}, {"error": "..."}, {"detail": ...}
    or plain text) and the parameter it names; the API key never reaches the user, even if a server echoed it."""
    message, param = body.strip(), None
    with suppress(ValueError, TypeError, AttributeError):
        raw = json.loads(body)
        error = raw.get("error", raw) if isinstance(raw, dict) else raw
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("detail") or message)
            param = error.get("param") if isinstance(error.get("param"), str) else None
        elif isinstance(error, str):
            message = error
    if address.api_key:
        message = message.replace(address.api_key, "…")
    if len(message) > _MESSAGE_CHARS:
        message = message[:_MESSAGE_CHARS] + "…"
    return message, param


def _is_limit(message: str, param: str | None) -> bool:
    return param in ("input_tokens", "max_tokens") or "maximum context length" in message


def status_error(status: int, body: str, address: ServerAddress, model: str | None,
                 served: list[ServedModel] | None = None) -> ServerError:
    """An HTTP error status in words; for a 404 naming the model, with what the server serves (``served``)."""
    where = address.describe()
    message, param = _server_message(body, address)
    if status in (401, 403):
        if not address.api_key:
            return ServerError(f"The server at {where} wants an API key. Enter it in {SETTINGS}.", "auth")
        return ServerError(f"The server at {where} refused the API key. Check it in {SETTINGS}.", "auth")
    if status == 404 and model is not None and (param == "model" or "does not exist" in message):
        listed = ""
        if served is not None:
            listed = f" It serves: {', '.join(m.name for m in served)}." if served else " It serves no model."
        return ServerError(f"The server at {where} does not serve the model “{model}”.{listed} Choose one in "
                           f"{SETTINGS}.", "model")
    if status == 404:
        return ServerError(f"The server at {where} has no such endpoint (HTTP 404: {message}). Is it a vLLM server? "
                           f"Check the address in {SETTINGS}.", "protocol")
    if status in (400, 413, 422):
        kind = "limit" if _is_limit(message, param) else "server"
        return ServerError(f"The server at {where} refused the request: {message}", kind)
    if status >= 500:
        return ServerError(f"The server at {where} failed (HTTP {status}: {message}). Try again; if it keeps "
                           "failing, see the server's log.", "server")
    return ServerError(f"The server at {where} answered HTTP {status}: {message}", "server")


def _protocol_error(address: ServerAddress, what: str) -> ServerError:
    return ServerError(f"The server at {address.describe()} sent {what}; is it a vLLM server? Check the address in "
                       f"{SETTINGS}.", "protocol")


# -- running a request ---------------------------------------------------------------------------------------------
def _parse_models(raw: Any, address: ServerAddress) -> list[ServedModel]:
    try:
        return [ServedModel(str(m["id"]), m.get("max_model_len") if isinstance(m.get("max_model_len"), int) else None)
                for m in raw["data"]]
    except (KeyError, TypeError, AttributeError):
        raise _protocol_error(address, "a list of models we do not understand") from None


def _json(response: httpx2.Response, address: ServerAddress) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _protocol_error(address, "an answer that is not JSON") from None


class HttpClient:
    """Requests to the server at ``address``; each call is independent (its own connection), so one client may be
    used from several threads. ``cancel`` aborts a call from any thread: it then raises Cancelled."""

    def __init__(self, address: ServerAddress, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.address = address
        self._connect_s, self._read_s = connect_timeout_s, read_timeout_s

    # -- calls -----------------------------------------------------------------------------------------------------
    def models(self, *, cancel: Cancel | None = None) -> list[ServedModel]:
        """What the server serves (``GET /v1/models``)."""
        return self._run(self._models, "listing its models", cancel)

    def served(self, name: str, *, cancel: Cancel | None = None) -> ServedModel:
        """The model ``name`` as the server serves it; ServerError (kind "model", listing what it serves) if not."""
        models = self.models(cancel=cancel)
        for model in models:
            if model.name == name:
                return model
        listed = ", ".join(m.name for m in models) or "no model"
        raise ServerError(f"The server at {self.address.describe()} does not serve the model “{name}”. It serves: "
                          f"{listed}. Choose one in {SETTINGS}.", "model")

    def chat(self, model: str, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0, seed: int | None = None, cancel: Cancel | None = None) -> ChatReply:
        """A chat completion, not streamed."""
        body = _chat_body(model, messages, max_tokens, temperature, top_p, seed, stream=False)

        async def call(client: httpx2.AsyncClient) -> ChatReply:
            response = await client.post(self.address.url("/v1/chat/completions"), json=body)
            await self._check(client, response, model)
            try:
                choice = _json(response, self.address)["choices"][0]
                return ChatReply(choice["message"]["content"] or "", choice.get("finish_reason"))
            except (KeyError, IndexError, TypeError):
                raise _protocol_error(self.address, "an answer we do not understand") from None

        return self._run(call, "answering", cancel)

    def stream_chat(self, model: str, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 0.0,
                    top_p: float = 1.0, seed: int | None = None) -> TextStream:
        """A chat completion streamed as it is generated; nothing is sent before the stream is first iterated."""
        body = _chat_body(model, messages, max_tokens, temperature, top_p, seed, stream=True)
        return TextStream(self, "/v1/chat/completions", model, "answering", json=body)

    def transcribe(self, model: str, wav: bytes, *, language: str | None = None, max_tokens: int | None = None,
                   cancel: Cancel | None = None) -> str:
        """The text of a WAV file (``language`` None: the model detects it; ``max_tokens`` None: the server's
        limit), not streamed."""
        form, files = _transcription_form(model, wav, language, stream=False, max_tokens=max_tokens)

        async def call(client: httpx2.AsyncClient) -> str:
            response = await client.post(self.address.url("/v1/audio/transcriptions"), data=form, files=files)
            await self._check(client, response, model)
            try:
                return str(_json(response, self.address)["text"])
            except (KeyError, TypeError):
                raise _protocol_error(self.address, "a transcription we do not understand") from None

        return self._run(call, "transcribing", cancel)

    def stream_transcription(self, model: str, wav: bytes, *, language: str | None = None) -> TextStream:
        """The text of a WAV file streamed as it is generated."""
        form, files = _transcription_form(model, wav, language, stream=True)
        return TextStream(self, "/v1/audio/transcriptions", model, "transcribing", data=form, files=files)

    # -- inside ----------------------------------------------------------------------------------------------------
    @asynccontextmanager
    async def session(self, doing: str) -> AsyncIterator[httpx2.AsyncClient]:
        """An AsyncClient for one call; transport failures inside become ServerErrors."""
        timeout = httpx2.Timeout(self._read_s, connect=self._connect_s)
        try:
            async with httpx2.AsyncClient(timeout=timeout, headers=self.address.headers(), trust_env=False) as client:
                yield client
        except httpx2.HTTPError as exc:
            raise transport_error(exc, self.address, doing, connect_timeout_s=self._connect_s,
                                  read_timeout_s=self._read_s) from None

    async def _models(self, client: httpx2.AsyncClient) -> list[ServedModel]:
        response = await client.get(self.address.url("/v1/models"))
        await self._check(client, response, None)
        return _parse_models(_json(response, self.address), self.address)

    async def _check(self, client: httpx2.AsyncClient, response: httpx2.Response, model: str | None) -> None:
        """Raise the ServerError an error status means (for a missing model, with what the server serves)."""
        if response.status_code < 400:
            return
        body = (await response.aread()).decode("utf-8", "replace")
        served: list[ServedModel] | None = None
        if response.status_code == 404 and model is not None:
            with suppress(ServerError, httpx2.HTTPError):
                served = await self._models(client)
        raise status_error(response.status_code, body, self.address, model, served)

    def _run(self, call: Callable[[httpx2.AsyncClient], Awaitable[T]], doing: str, cancel: Cancel | None) -> T:
        async def main() -> T:
            async with self.session(doing) as client:
                return await call(client)

        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(main())

            def abort() -> None:
                with suppress(RuntimeError):  # the loop closed meanwhile: the call is over anyway
                    loop.call_soon_threadsafe(task.cancel)

            with cancel.aborting(abort) if cancel is not None else nullcontext():
                try:
                    return loop.run_until_complete(task)
                except asyncio.CancelledError:
                    raise Cancelled from None
        finally:
            _close_loop(loop)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def _chat_body(model: str, messages: list[dict[str, Any]], max_tokens: int, temperature: float, top_p: float,
               seed: int | None, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens,
                            "temperature": temperature, "top_p": top_p, "stream": stream}
    if seed is not None:
        body["seed"] = seed
    return body


def _transcription_form(model: str, wav: bytes, language: str | None, *, stream: bool, max_tokens: int | None = None
                        ) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    form = {"model": model, "response_format": "json", "temperature": "0", "stream": "true" if stream else "false"}
    if language:
        form["language"] = language
    if max_tokens is not None:
        form["max_completion_tokens"] = str(max_tokens)
    return form, {"file": ("audio.wav", wav, "audio/wav")}


_END = object()


class TextStream:
    """Text deltas of a streamed answer or transcription as the server sends them (``choices[0].delta.content`` of
    each server-sent event, up to ``[DONE]``); empty deltas are skipped. Iterate it on one thread; the request is sent
    on the first ``next``.

    ``finish_reason``: the server's ("stop", "length", ...) once it has ended, None before and after an abort.
    ``abort()`` ends it at once from any thread (the iteration stops; the connection is closed, so the server stops
    generating). ``close()``, on the iterating thread, aborts and frees the stream's event loop; always call it.
    A failure, including a stream cut off before ``[DONE]``, raises ServerError from ``next``.
    """

    def __init__(self, client: HttpClient, path: str, model: str, doing: str, **request: Any) -> None:
        self._client, self._path, self._model, self._doing, self._request = client, path, model, doing, request
        self.finish_reason: str | None = None
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._lock = threading.Lock()  # guards the loop's closing against abort() from another thread
        self._aborted = False

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        with self._lock:
            if self._aborted or self._loop.is_closed():
                raise StopIteration
            if self._task is None:
                self._task = self._loop.create_task(self._pump())
        delta = self._loop.run_until_complete(self._next())
        if delta is _END:
            self._end(raise_failure=True)
            raise StopIteration
        if self._aborted:  # deltas that arrived before the abort took effect are not wanted any more
            raise StopIteration
        return delta

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._cancel_task)

    def close(self) -> None:
        self.abort()
        if self._loop.is_closed():
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
            self._loop.run_until_complete(asyncio.wait({self._task}))  # it closes the connection on its way out
        self._end(raise_failure=False)

    # -- inside ----------------------------------------------------------------------------------------------------
    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _next(self) -> Any:
        """The next delta, or _END once the request task has ended and every delta it queued was taken."""
        if self._queue.empty() and not self._task.done():
            getter = asyncio.ensure_future(self._queue.get())
            await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                return getter.result()
            getter.cancel()
        return self._queue.get_nowait() if not self._queue.empty() else _END

    def _end(self, *, raise_failure: bool) -> None:
        """Close the loop; with ``raise_failure``, raise the request's failure if it failed (an abort is none)."""
        task = self._task
        with self._lock:
            if not self._loop.is_closed():
                _close_loop(self._loop)
        failure = task.exception() if task is not None and task.done() and not task.cancelled() else None
        if failure is not None and raise_failure:
            raise failure

    async def _pump(self) -> None:
        client, address = self._client, self._client.address
        async with client.session(self._doing) as http, http.stream(
                "POST", address.url(self._path), headers={"Accept": "text/event-stream"}, **self._request) as response:
            await client._check(http, response, self._model)
            try:
                async for event in httpx2.EventSource(response):
                    if event.data.strip() == "[DONE]":
                        return
                    self._take(event.data)
            except httpx2.SSEError:
                raise _protocol_error(address, "a stream we do not understand") from None
        raise ServerError(f"The connection to the server at {address.describe()} was lost while {self._doing} (the "
                          "stream ended early). Check that the server is still running.", "unreachable")

    def _take(self, data: str) -> None:
        address = self._client.address
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _protocol_error(address, "a stream event that is not JSON") from None
        if not isinstance(chunk, dict):
            raise _protocol_error(address, "a stream event we do not understand")
        if "error" in chunk:  # vLLM reports a failure after the stream began as an event
            message, _ = _server_message(json.dumps(chunk), address)
            raise ServerError(f"The server at {address.describe()} failed while {self._doing}: {message}", "server")
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                raise _protocol_error(address, "a stream event we do not understand")
            text = delta.get("content")
            if text:
                self._queue.put_nowait(str(text))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])


def probe(address: ServerAddress, *, timeout_s: float = PROBE_TIMEOUT_S) -> ProbeReport:
    """Ask the server what it serves and time a few small requests on one open connection (for *Test connection*);
    never raises: a failure is a report whose message says what went wrong."""
    client = HttpClient(address, connect_timeout_s=timeout_s, read_timeout_s=timeout_s)

    async def measure(http: httpx2.AsyncClient) -> tuple[list[ServedModel], float]:
        models = await client._models(http)  # opens the connection: not timed
        rounds = []
        for _ in range(PROBE_ROUNDS):
            began = time.perf_counter()
            await client._models(http)
            rounds.append((time.perf_counter() - began) * 1000.0)
        return models, statistics.median(rounds)

    try:
        models, rtt_ms = client._run(measure, "listing its models", None)
    except ServerError as exc:
        return ProbeReport(False, str(exc), error_kind=exc.kind)
    described = ", ".join(f"{m.name} ({m.max_model_len:,} tokens of context)" if m.max_model_len else m.name
                          for m in models) or "no model"
    message = (f"The server at {address.describe()} answers: it serves {described}. A round trip takes "
               f"{rtt_ms:.0f} ms.")
    return ProbeReport(True, message, tuple(models), rtt_ms)
