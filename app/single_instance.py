"""One program instance per user (and settings file): a second start hands its request to the running one.

The first instance listens on a local socket (a named pipe on Windows) that only its user can reach. A later start
connects, sends one line of JSON, ``{"show": true, "play": "/abs/path" | null, "expires": T}``, and waits for
``ok``; the running instance raises its window and captions the file. A running instance that does not answer is
reported, never worked around: two instances would caption and record the same sources twice. A request read after
its ``expires`` (the running instance was stopped for a while) is ignored: its sender already said it failed.

On POSIX systems the socket lives in a private folder (0700, ours) under $XDG_RUNTIME_DIR or the temporary folder,
so that no other user can take the name first or listen in. A lock file beside it makes the check-then-listen step
atomic, so that two starts at the same moment (a double click) still give one instance.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QDeadlineTimer, QLockFile, QObject, QTimer, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

ANSWER_TIMEOUT_S = 5.0  # the running instance answers from its event loop; a few seconds covers a busy start
CONNECT_TIMEOUT_MS = 1000
LOCK_TIMEOUT_MS = 5000  # the lock is held only while checking and listening: milliseconds
IDLE_TIMEOUT_MS = 5000  # a client that does not finish its message in this time is dropped
MAX_MESSAGE_BYTES = 16 * 1024
MAX_PATH_CHARS = 4096
# sun_path holds 108 bytes; Qt binds at the name plus 8 bytes (a temporary folder renamed into place) to set the
# socket's permissions.
MAX_SOCKET_PATH_BYTES = 96
ACK = b"ok\n"


class InstanceError(Exception):
    """Neither listening nor reaching a running instance is possible (the socket folder is unusable)."""


@dataclass(frozen=True)
class Activation:
    """What a second start asks of the running instance: come to the front, and caption ``play`` when given."""

    play: str | None = None

    @classmethod
    def from_command_line(cls, play: str | None) -> Activation:
        """The request of a start with ``--play play`` (a path relative to this process's folder, or None)."""
        return cls(os.path.abspath(play) if play else None)


@dataclass(frozen=True)
class HandOver:
    """The outcome of handing a start to the running instance; ``message`` is meant for the person who started."""

    delivered: bool
    message: str


def encode(activation: Activation, expires: float) -> bytes:
    """The request line; ``expires`` (time.time()) is when the sender stops waiting for the answer."""
    return json.dumps({"show": True, "play": activation.play, "expires": expires}).encode() + b"\n"


def decode(line: bytes, now: float) -> Activation | None:
    """The activation a request line asks for; None for anything that is not a well-formed request, or one whose
    sender gave up waiting before ``now`` (it told its user that nothing was done)."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # ValueError covers bad UTF-8 too
        return None
    if not isinstance(data, dict) or data.get("show") is not True:
        return None
    expires = data.get("expires")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not now <= expires:
        return None
    play = data.get("play")
    if play is None:
        return Activation()
    if not isinstance(play, str) or not 0 < len(play) <= MAX_PATH_CHARS or "\0" in play or not os.path.isabs(play):
        return None
    return Activation(play)


def instance_address(settings_path: Path) -> str:
    """The server name of the instance that uses ``settings_path``: one per user and settings file."""
    digest = hashlib.sha256(str(Path(settings_path).resolve()).encode()).hexdigest()[:16]
    if sys.platform == "win32":  # named pipes share one namespace: the user name keeps users apart
        return f"captionist-{getpass.getuser()}-{digest}"
    return str(_private_folder(digest) / digest)


def _private_folder(digest: str) -> Path:
    """captionist-UID under the first base folder that keeps the socket path short enough, made private."""
    bases = [os.environ.get("XDG_RUNTIME_DIR", ""), tempfile.gettempdir(), "/tmp"]
    for base in bases:
        folder = Path(base) / f"captionist-{os.getuid()}"
        if os.path.isabs(base) and os.path.isdir(base) and len(os.fsencode(folder / digest)) <= MAX_SOCKET_PATH_BYTES:
            break
    else:
        raise InstanceError("no folder gives a socket path short enough")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise InstanceError(f"{folder} is not a folder of this user's")
        if info.st_mode & 0o077:
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise InstanceError(f"{folder}: {exc.strerror or exc}") from None
    return folder


def _lock_path(address: str) -> str:
    if sys.platform == "win32":
        return os.path.join(tempfile.gettempdir(), address + ".lock")
    return address + ".lock"


class InstanceServer(QObject):
    """The running instance's end: emits ``activated`` (an Activation) for each well-formed request."""

    activated = Signal(object)

    def __init__(self, server: QLocalServer) -> None:
        super().__init__()
        self._server = server
        server.setParent(self)
        server.newConnection.connect(self._accept)

    def close(self) -> None:
        """Stop listening (the socket file goes away: the next start becomes the instance)."""
        self._server.close()

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            _Request(socket, self.activated.emit)


class _Request(QObject):
    """One client connection: reads one bounded line, answers a valid request, drops anything else."""

    def __init__(self, socket: QLocalSocket, deliver: Callable[[Activation], None]) -> None:
        super().__init__(socket)  # lives as long as its socket
        self._socket = socket
        self._deliver = deliver
        self._buffer = b""
        self._idle = QTimer(self, singleShot=True, interval=IDLE_TIMEOUT_MS)
        self._idle.timeout.connect(self._drop)
        self._idle.start()
        socket.readyRead.connect(self._read)
        socket.disconnected.connect(socket.deleteLater)

    def _read(self) -> None:
        self._buffer += bytes(self._socket.read(MAX_MESSAGE_BYTES + 1 - len(self._buffer)))
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                self._drop()
            return
        activation = decode(self._buffer[:end], time.time())
        if activation is None:
            self._drop()
            return
        self._idle.stop()
        self._socket.write(ACK)
        self._socket.disconnectFromServer()  # after the answer is written
        self._deliver(activation)

    def _drop(self) -> None:
        self._idle.stop()
        self._socket.abort()
        self._socket.deleteLater()


def claim(address: str, activation: Activation, *, timeout_s: float = ANSWER_TIMEOUT_S) -> InstanceServer | HandOver:
    """Become the instance at ``address``, or hand ``activation`` to the one already there.

    Returns the listening server, or how the hand-over went (not delivered: the running instance did not answer in
    ``timeout_s``). A socket left by a crashed instance is replaced. Raises InstanceError when neither works.
    """
    lock = QLockFile(_lock_path(address))
    if not lock.tryLock(LOCK_TIMEOUT_MS):
        if lock.error() == QLockFile.LockError.LockFailedError:  # held by a live process stuck while starting
            return HandOver(False, _not_answering())
        raise InstanceError(f"the lock file {_lock_path(address)} cannot be made")
    try:
        socket = QLocalSocket()
        socket.connectToServer(address)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            error = socket.error()
            if error == QLocalSocket.LocalSocketError.SocketTimeoutError:
                return HandOver(False, _not_answering())
            if error not in (QLocalSocket.LocalSocketError.ServerNotFoundError,
                             QLocalSocket.LocalSocketError.ConnectionRefusedError):
                raise InstanceError(socket.errorString())
            return _listen(address)  # nobody there: a crashed instance's socket at most
    finally:
        lock.unlock()
    return _hand_over(socket, activation, timeout_s)


def _listen(address: str) -> InstanceServer:
    QLocalServer.removeServer(address)
    server = QLocalServer()
    server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
    if not server.listen(address):
        raise InstanceError(server.errorString())
    return InstanceServer(server)


def _hand_over(socket: QLocalSocket, activation: Activation, timeout_s: float) -> HandOver:
    deadline = QDeadlineTimer(int(timeout_s * 1000))
    socket.write(encode(activation, time.time() + timeout_s))
    reply = b""
    while not reply.endswith(b"\n") and len(reply) < len(ACK):
        if not socket.waitForReadyRead(max(0, deadline.remainingTime())):
            break
        reply += bytes(socket.read(len(ACK) - len(reply)))
    answered, closed = reply == ACK, socket.state() == QLocalSocket.LocalSocketState.UnconnectedState
    socket.abort()
    if answered:
        return HandOver(True, "Captionist is already running; its window was brought to the front.")
    if closed:
        return HandOver(False, "The running Captionist closed the connection without answering (was it quitting?). "
                               "Start Captionist again.")
    return HandOver(False, _not_answering(timeout_s))


def _not_answering(timeout_s: float | None = None) -> str:
    waited = f" in {timeout_s:g} s" if timeout_s is not None else ""
    return (f"Captionist is already running but did not answer{waited}; it may be hung. Not starting a second one "
            "(it would caption and record the same sources twice): close or end the running Captionist, then start "
            "again.")
