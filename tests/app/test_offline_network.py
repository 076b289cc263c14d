"""Offline mode means no network at all, for every model and every way in: the realtime model's loading, a question
about a recording, transcribing again with Voxtral Mini 3B or with the realtime model, and offline mode switched on
while the program runs.

Every connection is watched: a guard on the socket layer records and refuses each attempt that is not a local (Unix)
socket. HF_HUB_OFFLINE is unset and HF_ENDPOINT points at a local hub server that holds every model, so an attempt
that got past the guard would show up in the server's log too. A control test shows the guard does see the attempts
made with offline mode off.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from huggingface_hub import close_session, constants
from PySide6.QtWidgets import QApplication

from app.application import Captionist
from app.chat.controller import ChatController
from app.chat.model_manager import ModelManager
from app.events import MODEL_RATE
from app.library.index import Library
from app.settings import ModelSettings, Settings, SettingsStore
from app.setup.loader import ModelLoader
from app.setup.model_source import OFFLINE_MISSING
from app.ui.retranscribe_dialog import RetranscribeDialog
from model import RealtimeModel
from model.hub import fetch_checkpoint
from tests.app.library.sessions import MEETING, make_session
from tests.app.setup import REPO as REALTIME
from tests.app.setup import serving
from tests.hub_server import FakeHub

VOXTRAL = "mistralai/Tiny-Voxtral"
REALTIME_ELSEWHERE = "mistralai/Tiny-Realtime-Not-Downloaded"  # on the hub, not on this computer
VOXTRAL_ELSEWHERE = "mistralai/Tiny-Voxtral-Not-Downloaded"
NOT_HERE = "not on this computer"
WAIT_MS = 60_000


@pytest.fixture
def hub(tiny_realtime, tiny_voxtral, monkeypatch, tmp_path) -> Iterator[FakeHub]:
    """The local hub serving every model; two of them downloaded once (online, before any test watches)."""
    with serving(tiny_realtime.folder, monkeypatch, tmp_path / "hf-home") as server:
        server.add_repo(REALTIME_ELSEWHERE, tiny_realtime.folder)
        server.add_repo(VOXTRAL, tiny_voxtral.folder)
        server.add_repo(VOXTRAL_ELSEWHERE, tiny_voxtral.folder)
        cache = tmp_path / "hub-cache"
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # where the program looks for downloads
        fetch_checkpoint(REALTIME, cache_dir=cache)
        fetch_checkpoint(VOXTRAL, cache_dir=cache)
        server.reset_log()
        yield server


@pytest.fixture
def connections(hub, monkeypatch) -> list[tuple[str, object]]:
    """Every network connection attempted from now on, (address family, address); each one is refused."""
    close_session()  # the downloads' kept-alive connections: any request from now on has to connect anew
    attempts: list[tuple[str, object]] = []
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto

    def refuse(sock: socket.socket, address: object) -> OSError:
        attempts.append((sock.family.name, address))
        return ConnectionRefusedError(errno.ECONNREFUSED, f"this test allows no network connection ({address})")

    def guarded_connect(sock: socket.socket, address):
        if sock.family == socket.AF_UNIX:
            return connect(sock, address)
        raise refuse(sock, address)

    def guarded_connect_ex(sock: socket.socket, address):
        if sock.family == socket.AF_UNIX:
            return connect_ex(sock, address)
        refuse(sock, address)
        return errno.ECONNREFUSED

    def guarded_sendto(sock: socket.socket, data, *rest):
        if sock.family == socket.AF_UNIX:
            return sendto(sock, data, *rest)
        raise refuse(sock, rest[-1])

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)
    return attempts


def load_realtime(qtbot, source: str, *, offline: bool) -> tuple[str, object]:
    """What a ModelLoader thread ended with: ("loaded", model) or ("failed", message)."""
    loader = ModelLoader(source, offline=offline)
    events: list[tuple[str, object]] = []
    loader.loaded.connect(lambda m: events.append(("loaded", m)))
    loader.failed.connect(lambda message: events.append(("failed", message)))
    with qtbot.waitSignal(loader.finished, timeout=WAIT_MS):
        loader.start()
    qtbot.waitUntil(lambda: bool(events), timeout=WAIT_MS)  # queued signals arrive after finished
    return events[0]


def noise_session(data_dir: Path) -> str:
    audio = np.random.default_rng(3).uniform(-0.3, 0.3, 2 * MODEL_RATE).astype(np.float32)
    return make_session(data_dir, "Budget", MEETING, {"mic": audio}).name


def ask(qtbot, chat: ChatController, session_id: str):
    """Ask one question about the session; the answer turn and every notice given."""
    notices = []
    chat.notice.connect(notices.append)
    chat.open(session_id)
    with qtbot.waitSignal(chat.busyChanged, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        chat.ask("What was decided?", [])
    return chat.conversation.turns[-1], [n.message for n in notices]


def test_the_realtime_model_loads_offline_from_disk_without_a_connection(qtbot, hub, connections) -> None:
    kind, model = load_realtime(qtbot, REALTIME, offline=True)
    assert kind == "loaded" and isinstance(model, RealtimeModel)
    assert load_realtime(qtbot, REALTIME_ELSEWHERE, offline=True) == ("failed", OFFLINE_MISSING)
    assert NOT_HERE in OFFLINE_MISSING
    assert connections == [] and hub.requests == []


@pytest.mark.parametrize(("source", "on_disk"), [(VOXTRAL, True), (VOXTRAL_ELSEWHERE, False)])
def test_a_question_offline_makes_no_connection(qtbot, hub, connections, tmp_path, source, on_disk) -> None:
    library = Library(tmp_path / "data")
    session_id = noise_session(tmp_path / "data")
    manager = ModelManager(source, offline=True)
    chat = ChatController(library, manager, max_new_tokens=4)
    try:
        answer, notices = ask(qtbot, chat, session_id)
    finally:
        chat.shutdown()
        manager.close()
        library.close()
    if on_disk:
        assert answer.finish_reason != "error" and answer.text
    else:
        assert answer.finish_reason == "error"
        assert any(f"The question could not be answered: Offline mode is on and the model '{source}' is {NOT_HERE}"
                   in n for n in notices), notices
    assert connections == [] and hub.requests == []


@pytest.fixture
def program(qtbot, tmp_path, monkeypatch, hub):
    """``program(model_settings)``: the real program on a new settings file, quit after the test."""
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application outlives the program
    made: list[Captionist] = []

    def make(model: ModelSettings) -> Captionist:
        store = SettingsStore(tmp_path / f"config-{len(made)}" / "settings.json")
        store.save(Settings(model=model))
        made.append(Captionist(store, measure_seconds=None, data_dir=tmp_path / f"data-{len(made)}"))
        qtbot.addWidget(made[-1].window)
        return made[-1]

    yield make
    for app in made:
        app.quit()


def import_noise(app: Captionist, tmp_path: Path) -> str:
    path = tmp_path / "meeting.wav"
    soundfile.write(path, np.random.default_rng(4).uniform(-0.3, 0.3, 2 * MODEL_RATE).astype(np.float32),
                    MODEL_RATE)
    app.import_file(path)
    (session,) = app.library.sessions()
    return session.id


def transcribe_again(qtbot, app: Captionist, session_id: str, *, voxtral: bool, stop: bool = False) -> str:
    """What the dialog says at the end of transcribing again (``stop``: cancelled once the job has begun)."""
    dialog = RetranscribeDialog("Budget")
    qtbot.addWidget(dialog)
    dialog.voxtral.setChecked(voxtral)
    app.library_actions._start(session_id, dialog)  # noqa: SLF001 — what the dialog's Start button does
    if stop:
        app.library_actions.cancel()
    qtbot.waitUntil(lambda: not dialog.cancel.isEnabled(), timeout=WAIT_MS)  # the job has ended
    return dialog.status.text()


def test_every_way_into_a_model_makes_no_connection_in_offline_mode(qtbot, program, hub, connections,
                                                                    tmp_path) -> None:
    app = program(ModelSettings(source=REALTIME, offline=True, offline_source=VOXTRAL))
    app.show()  # loads the realtime model
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=WAIT_MS)
    session_id = import_noise(app, tmp_path)
    app.chat.max_new_tokens = 4
    answer, _ = ask(qtbot, app.chat, session_id)
    assert answer.finish_reason != "error" and app.models.loaded
    assert transcribe_again(qtbot, app, session_id, voxtral=False).startswith("Done")
    app.models.unload()
    # Transcribing again with Voxtral loads it anew; stopped once loaded, as a random model talks on for long.
    assert transcribe_again(qtbot, app, session_id, voxtral=True, stop=True).startswith("Cancelled")
    assert app.models.loaded
    assert connections == [] and hub.requests == []


def test_offline_mode_without_the_models_on_disk_says_so_and_makes_no_connection(qtbot, program, hub, connections,
                                                                                 tmp_path) -> None:
    app = program(ModelSettings(source=REALTIME_ELSEWHERE, offline=True, offline_source=VOXTRAL_ELSEWHERE))
    app.show()
    qtbot.waitUntil(lambda: OFFLINE_MISSING in app.window.notice_label.text(), timeout=WAIT_MS)
    session_id = import_noise(app, tmp_path)
    answer, notices = ask(qtbot, app.chat, session_id)
    assert answer.finish_reason == "error" and any(NOT_HERE in n for n in notices)
    assert NOT_HERE in app.chat_panel.notice_label.text()
    status = transcribe_again(qtbot, app, session_id, voxtral=True)
    assert status.startswith("Transcribing again failed: Offline mode is on") and NOT_HERE in status
    assert "not loaded yet" in transcribe_again(qtbot, app, session_id, voxtral=False)
    assert connections == [] and hub.requests == []


def test_offline_mode_switched_on_while_running_reaches_every_model(qtbot, program, hub, connections,
                                                                   tmp_path) -> None:
    app = program(ModelSettings(source=REALTIME, offline=False, offline_source=VOXTRAL_ELSEWHERE))
    session_id = import_noise(app, tmp_path)
    answer, _ = ask(qtbot, app.chat, session_id)
    assert answer.finish_reason == "error" and connections  # online, the chat model is looked up on the hub
    connections.clear()
    app.apply_settings(dataclasses.replace(app.settings, model=dataclasses.replace(app.settings.model, offline=True)))
    qtbot.waitUntil(lambda: app.live.engine is not None, timeout=WAIT_MS)  # the realtime model, reloaded offline
    answer, notices = ask(qtbot, app.chat, session_id)
    assert answer.finish_reason == "error" and any(NOT_HERE in n for n in notices)
    assert connections == [] and hub.requests == []


@pytest.mark.parametrize("model", ["realtime", "voxtral"])
def test_control_with_offline_mode_off_the_guard_sees_the_connections(qtbot, hub, connections, model) -> None:
    """Online, each model is first looked up on the hub: the guard records (and refuses) it, the copy on disk is
    used instead, and the refused requests never reach the server."""
    if model == "realtime":
        kind, loaded = load_realtime(qtbot, REALTIME, offline=False)
        assert kind == "loaded"
    else:
        manager = ModelManager(VOXTRAL, offline=False)
        manager.release(manager.acquire())
        manager.close()
    port = int(hub.url.rsplit(":", 1)[1])
    assert connections and all(address[1] == port for _, address in connections)
    assert hub.requests == []


def _exit_code(argv: list[str]) -> int:
    from app.cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # the stream subcommand exits from where the model fails to load
        return int(exc.code)


def test_the_command_line_makes_no_connection_with_offline(hub, connections, capsys, tmp_path) -> None:
    audio, _ = soundfile.read("/usr/share/sounds/alsa/Front_Center.wav", dtype="float32")
    wav = tmp_path / "talk.wav"
    soundfile.write(wav, audio, 48000)
    assert _exit_code(["transcribe", str(wav), "--offline", "--model", REALTIME, "--format", "json"]) == 0
    assert '"segments"' in capsys.readouterr().out  # transcribed with the copy on this computer
    for argv in (["transcribe", str(wav), "--offline", "--model", REALTIME_ELSEWHERE],
                 ["--offline", "stream", str(wav), "--fast", "--model", REALTIME_ELSEWHERE],
                 ["transcribe", str(wav), "--offline", "--model", VOXTRAL_ELSEWHERE]):
        assert _exit_code(argv) == 4, argv
        assert NOT_HERE in capsys.readouterr().err
    assert connections == [] and hub.requests == []
