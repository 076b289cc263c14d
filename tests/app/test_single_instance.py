"""One Captionist per user: real processes claim the instance socket, hand over, crash, hang and get garbage.

The first instance is a child process that uses app.single_instance directly and prints what it receives; later
starts are other children. The last tests start the program itself (``python -m app.cli``) twice, and call the
window's handler in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PySide6.QtCore import QLockFile, Qt
from PySide6.QtWidgets import QApplication

from app.application import Captionist
from app.gui import bring_to_front
from app.recording.session_folder import SessionError, read_session, sessions_dir
from app.settings import ModelSettings, Settings, SettingsStore, default_path
from app.single_instance import (
    ANSWER_TIMEOUT_S,
    IDLE_TIMEOUT_MS,
    MAX_SOCKET_PATH_BYTES,
    Activation,
    InstanceError,
    decode,
    encode,
    instance_address,
)

REPO = Path(__file__).resolve().parents[2]

FIRST = """
import json, sys
from PySide6.QtCore import QCoreApplication
from app.single_instance import Activation, InstanceServer, claim
app = QCoreApplication([])
server = claim(sys.argv[1], Activation())
if not isinstance(server, InstanceServer):
    print("not the instance:", server, flush=True)
    sys.exit(3)
server.activated.connect(lambda a: print("activated", json.dumps(a.play), flush=True))
print("listening", flush=True)
app.exec()
"""

SECOND = """
import sys
from PySide6.QtCore import QCoreApplication, QTimer
from app.single_instance import Activation, InstanceServer, claim
app = QCoreApplication([])
result = claim(sys.argv[1], Activation.from_command_line(sys.argv[2] if len(sys.argv) > 2 else None))
if isinstance(result, InstanceServer):
    print("became the instance", flush=True)
    QTimer.singleShot(15000, app.quit)  # long enough for the other starts to hand over to it
    app.exec()
    sys.exit(3)
print(result.message, file=sys.stdout if result.delivered else sys.stderr)
sys.exit(0 if result.delivered else 1)
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO), **extra}


class Child:
    """A child process whose stdout lines are read on a thread, so that the test can wait for one with a timeout."""

    def __init__(self, args: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(args, cwd=cwd, env=env or _env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []  # stderr, read all along so that a chatty child never blocks on a full pipe
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.errors.extend(self.process.stderr), daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def alive(self) -> bool:
        assert self.process.poll() is None, "".join(self.errors)
        return True

    def expect(self, timeout: float = 30.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the child in {timeout} s (exit status {self.process.poll()})") \
                from None

    def nothing_more(self, seconds: float) -> None:
        with pytest.raises(queue.Empty):
            line = self.lines.get(timeout=seconds)
            pytest.fail(f"unexpected line from the child: {line!r}")

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped child would not die of SIGKILL until continued
            self.process.kill()
        self.process.wait(10)


def _remove_socket(address: str) -> None:
    """What a killed child leaves in the shared socket folder."""
    for path in (address, address + ".lock"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@pytest.fixture
def address(tmp_path: Path):
    made = instance_address(tmp_path / "settings.json")
    yield made
    _remove_socket(made)


@pytest.fixture
def children():
    started: list[Child] = []

    def start(args: list[str], **kwargs) -> Child:
        started.append(Child(args, **kwargs))
        return started[-1]

    yield start
    for child in started:
        child.end()


def _first(children, address: str) -> Child:
    first = children([sys.executable, "-c", FIRST, address])
    assert first.expect() == "listening"
    return first


def _second(address: str, *args: str, cwd: Path = REPO, timeout: float = 60) -> tuple[subprocess.CompletedProcess,
                                                                                       float]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SECOND, address, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    return done, time.monotonic() - began


# -- the message ----------------------------------------------------------------------------------------------------
def test_a_request_survives_encoding_and_a_relative_play_path_is_made_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    request = Activation.from_command_line("talks/../talk.wav")
    assert request.play == str(tmp_path / "talk.wav")
    assert decode(encode(request, time.time() + 5).rstrip(b"\n"), time.time()) == request
    assert decode(encode(Activation(), time.time() + 5), time.time()) == Activation(None)


@pytest.mark.parametrize("line", [
    b"", b"not json", b"\xff\xfe", b"null", b"[]", b"[" * 10000 + b"]" * 10000, b'"show"',
    b'{"show": false, "play": null, "expires": 1e300}', b'{"play": null, "expires": 1e300}',
    b'{"show": true, "play": 5, "expires": 1e300}', b'{"show": true, "play": "talk.wav", "expires": 1e300}',
    b'{"show": true, "play": "", "expires": 1e300}', b'{"show": true, "play": "/a\\u0000b", "expires": 1e300}',
    b'{"show": true, "play": "/' + b"x" * 5000 + b'", "expires": 1e300}',
    b'{"show": true, "play": null}', b'{"show": true, "play": null, "expires": "soon"}',
    b'{"show": true, "play": null, "expires": true}', b'{"show": true, "play": null, "expires": NaN}',
    b'{"show": true, "play": "/talk.wav", "expires": 1000}',  # its sender gave up long ago
])
def test_anything_but_a_well_formed_request_that_is_still_awaited_is_refused(line: bytes) -> None:
    assert decode(line, time.time()) is None


@pytest.fixture
def run_dir():
    """A short folder standing in for $XDG_RUNTIME_DIR (pytest's own are too long for a socket path)."""
    with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as folder:
        yield Path(folder)


def test_the_address_is_per_settings_file_short_and_in_a_private_folder(tmp_path, monkeypatch, run_dir) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    (tmp_path / "a").mkdir()
    one = instance_address(tmp_path / "settings.json")
    assert instance_address(tmp_path / "a" / ".." / "settings.json") == one
    assert instance_address(tmp_path / "other.json") != one
    folder = Path(one).parent
    assert folder.parent == run_dir and str(os.getuid()) in folder.name
    assert (folder.stat().st_mode & 0o777) == 0o700

    os.chmod(folder, 0o755)  # as a careless earlier run may have left it: made private again
    instance_address(tmp_path / "settings.json")
    assert (folder.stat().st_mode & 0o777) == 0o700

    long_dir = tmp_path / ("x" * 100)
    long_dir.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(long_dir))
    monkeypatch.setattr(tempfile, "tempdir", str(long_dir))
    short = instance_address(tmp_path / "settings.json")
    assert not short.startswith(str(long_dir)) and len(os.fsencode(short)) <= MAX_SOCKET_PATH_BYTES


def test_a_socket_folder_that_is_a_link_is_not_trusted(tmp_path, monkeypatch, run_dir) -> None:
    (run_dir / f"captionist-{os.getuid()}").symlink_to(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    with pytest.raises(InstanceError, match="not a folder of this user's"):
        instance_address(tmp_path / "settings.json")


# -- real processes -------------------------------------------------------------------------------------------------
def test_a_second_start_hands_its_absolute_play_path_to_the_first_and_exits(children, address, tmp_path) -> None:
    first = _first(children, address)
    (tmp_path / "elsewhere").mkdir()
    done, took = _second(address, "talk.wav", cwd=tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    assert "already running" in done.stdout and "brought to the front" in done.stdout
    assert first.expect() == f"activated {json.dumps(str(tmp_path / 'elsewhere' / 'talk.wav'))}"
    assert took < ANSWER_TIMEOUT_S + 10  # an answer, not a timeout (the rest is starting Python and Qt)

    done, _ = _second(address)
    assert done.returncode == 0 and first.expect() == "activated null"
    assert first.process.poll() is None


def test_starts_at_the_same_moment_wait_for_the_start_up_lock_and_give_one_instance(children, address) -> None:
    held = QLockFile(address + ".lock")  # as a start that is between its check and listening holds it
    assert held.tryLock(0)
    racers = [children([sys.executable, "-c", SECOND, address]) for _ in range(3)]
    racers[0].nothing_more(2.0)
    assert not os.path.exists(address) and all(r.alive() for r in racers)
    held.unlock()
    lines = [r.expect(60) for r in racers]
    assert lines.count("became the instance") == 1, lines
    assert sum("already running" in line for line in lines) == 2, lines


def test_the_socket_of_a_killed_instance_does_not_block_the_next_start(children, address) -> None:
    crashed = _first(children, address)
    crashed.process.send_signal(signal.SIGKILL)
    crashed.process.wait(10)
    assert os.path.exists(address)  # nothing removed it: the next start must notice nobody listens

    first = _first(children, address)
    done, _ = _second(address, "/music/talk.wav")
    assert done.returncode == 0, done.stderr
    assert first.expect() == 'activated "/music/talk.wav"'


def test_a_hung_instance_makes_a_second_start_fail_clearly_and_ignore_it_later(children, address) -> None:
    first = _first(children, address)
    first.process.send_signal(signal.SIGSTOP)
    done, took = _second(address, "/music/talk.wav")
    assert done.returncode == 1 and done.stdout == ""
    assert "already running but did not answer" in done.stderr and "Not starting a second one" in done.stderr
    assert ANSWER_TIMEOUT_S <= took < ANSWER_TIMEOUT_S + 10

    first.process.send_signal(signal.SIGCONT)  # it wakes up to a request whose sender gave up: nothing is done
    first.nothing_more(2.0)
    done, _ = _second(address)
    assert done.returncode == 0 and first.expect() == "activated null"


def test_garbage_from_other_local_clients_is_dropped_and_the_instance_keeps_working(children, address) -> None:
    first = _first(children, address)
    garbage = [b"not json\n", b"\xff\xfe\x00\n", b"[" * 10000 + b"\n", b'{"show": true, "play": 5}\n',
               b'{"show": true, "play": "relative.wav", "expires": 1e300}\n', b"null\n", b"x" * 100_000, b""]
    clients = []
    for data in garbage:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(IDLE_TIMEOUT_MS / 1000 + 10)
        client.connect(address)
        with contextlib.suppress(OSError):  # the oversized one is dropped while it is still being sent
            client.sendall(data)
        clients.append(client)
    sent = time.monotonic()
    idle_s = IDLE_TIMEOUT_MS / 1000
    for data, client in zip(garbage, clients, strict=True):
        try:
            answer = client.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b"", (data[:20], answer)  # closed without an answer
        took = time.monotonic() - sent
        # At once when it is refused; the silent client (the last) when it has been idle too long.
        assert took >= idle_s - 1 if data == b"" else took < idle_s, (data[:20], took)
        client.close()

    done, _ = _second(address, "/music/talk.wav")
    assert done.returncode == 0, done.stderr
    assert first.expect() == 'activated "/music/talk.wav"'
    first.nothing_more(0.5)
    assert first.process.poll() is None


# -- the program ----------------------------------------------------------------------------------------------------
def _sine_wav(path: Path, seconds: float) -> Path:
    t = np.arange(round(seconds * 16000)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return path


def _sessions_with(data_dir: Path, wav: Path) -> list[Path]:
    found = []
    for folder in sessions_dir(data_dir).glob("*") if sessions_dir(data_dir).is_dir() else []:
        with contextlib.suppress(SessionError):  # being written; read again next time
            if any(s.id == f"file:{wav}" for s in read_session(folder).sources):
                found.append(folder)
    return found


def test_the_program_started_twice_captions_the_second_starts_file_in_the_first(
        request, children, tmp_path, monkeypatch, tiny_realtime) -> None:
    env = _env(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, env[name])
    SettingsStore(default_path()).save(Settings(model=ModelSettings(source=str(tiny_realtime.folder))))
    address = instance_address(default_path())
    request.addfinalizer(lambda: _remove_socket(address))
    wav = _sine_wav(tmp_path / "talk.wav", 2.0)

    first = children([sys.executable, "-m", "app.cli"], env=env)
    data_dir = tmp_path / "data" / "Captionist"
    deadline = time.monotonic() + 120
    # Up: it claimed the name (the socket file) and opened its library (near the end of making the program).
    while not (os.path.exists(address) and (data_dir / "index.sqlite3").exists()):
        assert first.alive() and time.monotonic() < deadline
        time.sleep(0.2)
    began = time.monotonic()
    second = subprocess.run([sys.executable, "-m", "app.cli", "--play", "talk.wav", "--model", "elsewhere"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Captionist is already running; its window was brought to the front." in second.stdout
    assert "--model and --offline were not applied" in second.stdout
    assert time.monotonic() - began < 60  # it did not load a model or open a window of its own

    while not _sessions_with(data_dir, wav):  # the first loads its model, then records and captions the file
        assert first.alive() and time.monotonic() < began + 120
        time.sleep(0.2)
    assert len(list(sessions_dir(data_dir).iterdir())) == 1
    assert json.loads(default_path().read_text())["model"]["source"] == str(tiny_realtime.folder)


@pytest.fixture
def program(qtbot, tmp_path, tiny_realtime, monkeypatch):
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application outlives the program
    store = SettingsStore(tmp_path / "config" / "settings.json")
    store.save(Settings(model=ModelSettings(source=str(tiny_realtime.folder))))
    made = Captionist(store, capture_options={"speed": 8.0}, measure_seconds=None, data_dir=tmp_path / "data")
    qtbot.addWidget(made.window)
    yield made
    made.quit()


def test_an_activation_unminimises_the_window_and_switches_running_captions_to_its_file(
        qtbot, program, tmp_path) -> None:
    program.show()
    qtbot.waitUntil(lambda: program.live.engine is not None, timeout=30000)
    program.window.showMinimized()
    bring_to_front(program, Activation())
    assert program.window.isVisible() and not program.window.windowState() & Qt.WindowState.WindowMinimized
    assert not program.live.running

    long_talk, short_talk = _sine_wav(tmp_path / "long.wav", 60.0), _sine_wav(tmp_path / "short.wav", 1.0)
    bring_to_front(program, Activation(str(long_talk)))
    qtbot.waitUntil(lambda: program.live.running, timeout=10000)
    qtbot.waitUntil(lambda: bool(_sessions_with(program.data_dir, long_talk)), timeout=10000)
    bring_to_front(program, Activation(str(short_talk)))  # while the long one still plays (60 s at speed 8)
    qtbot.waitUntil(lambda: bool(_sessions_with(program.data_dir, short_talk)), timeout=30000)
    qtbot.waitUntil(lambda: not program.live.running, timeout=30000)  # the short file ends
    assert [s.id for s in program.window.sources.selected()] == [f"file:{short_talk}"]
    (earlier,) = _sessions_with(program.data_dir, long_talk)
    assert read_session(earlier).duration_s < 50  # it ended when the second file was asked for
