"""A client of vLLM's realtime transcription WebSocket (``/v1/realtime``), the protocol only.

One ``RealtimeConnection`` is one socket: ``session.update`` names the model, ``start()`` begins a transcription
(vLLM starts on a commit without ``final``), ``append()`` sends PCM16 16 kHz mono audio, ``end()`` asks for the
rest (a final commit, answered by ``transcription.done``), and the same socket can start another. ``receive()``
gives the server's deltas and done events; unknown events and fields are ignored (newer builds add some). Every
failure is a ServerError whose message says what to do. Send from one thread and receive from one other thread.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import numpy as np
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.sync.client import ClientConnection, reconnect

from app.engine.server.address import ServerAddress, ServerError

SAMPLE_RATE = 16000  # the server does not resample: audio goes at the model's rate
STEP_SAMPLES = 1280  # one 80 ms decoder step
CLOSE_TIMEOUT_S = 1.0
MAX_MESSAGE_BYTES = 16 * 2**20  # a done event carries a whole transcription's text
SETTINGS_HINT = "Settings → Engine"

# websockets logs the handshake headers (the API key among them) at DEBUG: its logger for us never goes that low.
_ws_log = logging.getLogger(__name__ + ".websocket")
_ws_log.setLevel(logging.INFO)


@dataclass(frozen=True)
class Delta:
    """One ``transcription.delta``: the text of one 80 ms step (often empty)."""

    text: str


@dataclass(frozen=True)
class Done:
    """``transcription.done``: the transcription ended; ``prompt_tokens`` as its usage reports it, if it does."""

    text: str
    prompt_tokens: int | None


def pcm16(samples: np.ndarray) -> bytes:
    """Float mono audio as PCM16 little-endian, the exact inverse of the server's ``int16 / 32768``."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


class _Direct(reconnect):
    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc  # a redirect would send audio and the key to a server the user did not configure


def connect(address: ServerAddress, model: str, *, open_timeout: float = 10.0) -> RealtimeConnection:
    """Open the realtime socket of ``address``, wait for ``session.created`` and name ``model``."""
    where = address.describe()
    try:
        ws = _Direct(address.realtime_url, additional_headers=address.headers(), open_timeout=open_timeout,
                     close_timeout=CLOSE_TIMEOUT_S, proxy=None, max_size=MAX_MESSAGE_BYTES, logger=_ws_log,
                     ).connect()
    except InvalidStatus as exc:
        raise _status_error(address, exc) from None
    except ssl.SSLCertVerificationError as exc:
        raise ServerError(f"The server at {where} did not prove its identity ({exc.verify_message}). Check the "
                          f"address in {SETTINGS_HINT}, or install the server's certificate.", "tls") from None
    except ssl.SSLError as exc:
        raise ServerError(f"The secure connection to the server at {where} failed ({exc.reason or exc}). Check "
                          f"whether the server speaks https or http, and its address in {SETTINGS_HINT}.",
                          "tls") from None
    except OSError as exc:  # socket.gaierror, refused, unreachable, timed out
        raise unreachable(address, _network_reason(exc, open_timeout)) from None
    except ConnectionClosed as exc:  # e.g. a server going down right then
        raise lost(address, exc) from None
    except InvalidMessage as exc:
        if isinstance(exc.__cause__, EOFError):  # it hung up without answering: going down, or starting
            raise unreachable(address, "it closed the connection without answering") from None
        raise _not_vllm(address, exc) from None
    except (InvalidHandshake, InvalidURI, WebSocketException) as exc:
        raise _not_vllm(address, exc) from None
    connection = RealtimeConnection(ws, address, model)
    try:
        connection.expect_session(open_timeout)
        connection.send({"type": "session.update", "model": model})
    except BaseException:
        connection.abort()
        raise
    return connection


class RealtimeConnection:
    """One open realtime socket (made by ``connect``)."""

    def __init__(self, ws: ClientConnection, address: ServerAddress, model: str) -> None:
        self._ws = ws
        self.address = address
        self.model = model

    def start(self) -> None:
        """Begin a transcription: audio appended from now on is transcribed."""
        self.send({"type": "input_audio_buffer.commit"})

    def append(self, pcm: bytes) -> None:
        """Send PCM16 16 kHz mono audio (not empty: the server refuses empty appends)."""
        self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")})

    def end(self) -> None:
        """No more audio for this transcription: the server pads it, decodes the rest and sends ``Done``."""
        self.send({"type": "input_audio_buffer.commit", "final": True})

    def receive(self, timeout: float | None = None) -> Delta | Done:
        """The next delta or done event; TimeoutError after ``timeout`` seconds, ServerError for errors."""
        while True:
            event = self._next_event(timeout)
            kind = event.get("type")
            if kind == "transcription.delta":
                return Delta(str(event.get("delta") or ""))
            if kind == "transcription.done":
                usage = event.get("usage") if isinstance(event.get("usage"), dict) else {}
                prompt = usage.get("prompt_tokens")
                return Done(str(event.get("text") or ""), prompt if isinstance(prompt, int) else None)
            if kind == "error":
                raise error_event(self.address, self.model, event)

    def expect_session(self, timeout: float) -> None:
        """Wait for ``session.created``, the server's first message."""
        while self._next_event(timeout).get("type") != "session.created":
            pass

    def send(self, event: dict[str, Any]) -> None:
        try:
            self._ws.send(json.dumps(event))
        except ConnectionClosed as exc:
            raise lost(self.address, exc) from None
        except OSError as exc:
            raise unreachable(self.address, _network_reason(exc, None)) from None

    def close(self) -> None:
        """Close politely (waits at most ``CLOSE_TIMEOUT_S`` for the server's answer)."""
        try:
            self._ws.close()
        except (OSError, WebSocketException):
            self.abort()

    def abort(self) -> None:
        """Drop the socket now, from any thread: a send or receive blocked on it returns with an error (websockets'
        own reader thread then closes it)."""
        with contextlib.suppress(OSError):  # already closed
            self._ws.socket.shutdown(socket.SHUT_RDWR)

    def _next_event(self, timeout: float | None) -> dict[str, Any]:
        try:
            message = self._ws.recv(timeout)
        except ConnectionClosed as exc:
            raise lost(self.address, exc) from None
        except OSError as exc:
            raise unreachable(self.address, _network_reason(exc, None)) from None
        try:
            event = json.loads(message)
        except (ValueError, TypeError):
            event = None
        if not isinstance(event, dict):
            raise ServerError(f"The server at {self.address.describe()} sent something that is not a realtime "
                              "event; is it a vLLM server?", "protocol")
        return event


def unreachable(address: ServerAddress, reason: str) -> ServerError:
    return ServerError(f"The server at {address.describe()} cannot be reached ({reason}). Check the address in "
                       f"{SETTINGS_HINT} and that the server is running.", "unreachable")


def lost(address: ServerAddress, exc: ConnectionClosed) -> ServerError:
    frame = exc.rcvd
    why = f"code {frame.code}{': ' + frame.reason if frame.reason else ''}" if frame else "closed without warning"
    return ServerError(f"The connection to the server at {address.describe()} was lost ({why}).", "unreachable")


def error_event(address: ServerAddress, model: str, event: dict[str, Any]) -> ServerError:
    """The ServerError of an ``error`` event."""
    code = str(event.get("code") or "")
    where = address.describe()
    if code in ("model_not_found", "model_not_validated"):
        return ServerError(f"The server at {where} does not serve the model “{model}”. {SETTINGS_HINT} lists the "
                           "models it serves.", "model")
    detail = str(event.get("error") or "no details")[:300]
    return ServerError(f"The server at {where} reported an error: {detail}{f' ({code})' if code else ''}.",
                       "server")


def _not_vllm(address: ServerAddress, exc: Exception) -> ServerError:
    hint = "" if address.encrypted else " If it uses https, write https:// in the address."
    return ServerError(f"The server at {address.describe()} did not answer as a vLLM server does ({exc}).{hint}",
                       "protocol")


def _status_error(address: ServerAddress, exc: InvalidStatus) -> ServerError:
    status = exc.response.status_code
    where = address.describe()
    if status in (401, 403):
        if address.api_key:
            return ServerError(f"The server at {where} refused the API key. Check it in {SETTINGS_HINT}.", "auth")
        return ServerError(f"The server at {where} wants an API key. Enter it in {SETTINGS_HINT}.", "auth")
    if status in (301, 302, 303, 307, 308):
        target = exc.response.headers.get("Location", "elsewhere")
        return ServerError(f"The server at {where} redirects to {target}; Captionist does not follow redirects. "
                           f"Enter the server's own address in {SETTINGS_HINT}.", "address")
    if status == 404:
        return ServerError(f"The server at {where} has no realtime transcription endpoint (/v1/realtime): it is not "
                           "a vLLM server serving a realtime model, or an older one.", "protocol")
    return ServerError(f"The server at {where} turned the connection down (HTTP {status}).", "server")


def _network_reason(exc: BaseException, timeout: float | None) -> str:
    if isinstance(exc, socket.gaierror):
        return "its name is not known"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s" if timeout else "no answer in time"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
