"""The whole program on vLLM servers (real ones, started by tests/fixtures/vllm_server.py): Test connection, speech
played into a PulseAudio null sink and captured, or a file played as a live source, captioned through the server onto
the overlay and recorded, a question about the recording answered by the server in the chat panel, and the faults a
user meets first (a wrong key, nothing listening)."""

from __future__ import annotations

import difflib
import socket

import numpy as np
import pytest
import soundfile
from PySide6.QtWidgets import QApplication

from app.application import Captionist
from app.engine.server.address import parse_address
from app.engine.server.api_key import ApiKeyStore
from app.engine.server.connection_test import check_connection, unencrypted_warning
from app.engine.server.live_stream import ServerEngine, ServerStream
from app.events import MODEL_RATE
from app.recording.session_folder import read_audio, read_session, read_transcript, sessions_dir
from app.settings import SERVER, AudioSettings, EngineSettings, ModelSettings, Settings, SettingsStore
from model import TokenEvent
from tests.fixtures.pulse import pulse_server  # noqa: F401 — the fixture
from tests.fixtures.speech import espeak_speech
from tests.fixtures.vllm_clients import pcm16, realtime_text

WAIT_MS = 180_000  # a busy two-core machine with a server on it is slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_connection_test_says_what_the_server_is(vllm_realtime, vllm_voxtral) -> None:
    report = check_connection(vllm_realtime.base_url, vllm_realtime.api_key, "", "", vllm_voxtral.base_url)
    assert report.ok, report.message
    assert report.models == (vllm_realtime.model, vllm_voxtral.model)
    assert report.realtime_model == vllm_realtime.model and report.chat_model == vllm_voxtral.model
    assert report.delay_ms == 480 and "caption delay of 480 ms" in report.message
    assert report.rtt_ms is not None and report.rtt_ms > 0
    assert "unencrypted" not in report.message  # loopback: the audio never leaves this computer

    wrong = check_connection(vllm_realtime.base_url, "not-the-key", "", "")
    assert not wrong.ok and "refused the API key" in wrong.message and "Settings → Engine" in wrong.message
    nobody = check_connection(f"http://127.0.0.1:{_closed_port()}", None, "", "")
    assert not nobody.ok and "cannot be reached" in nobody.message
    unknown = check_connection(vllm_realtime.base_url, vllm_realtime.api_key, "no-such-model", "")
    assert not unknown.ok and "does not serve “no-such-model”" in unknown.message


def test_audio_to_another_computer_over_http_is_warned_about() -> None:
    assert "not encrypted" in unencrypted_warning(parse_address("http://10.1.2.3:8000"))
    assert unencrypted_warning(parse_address("https://10.1.2.3")) is None
    assert unencrypted_warning(parse_address("http://localhost:8000")) is None


@pytest.fixture
def from_server(monkeypatch) -> list[str]:
    """The text of every step the program's streams received from the server, in order (a spy on the stream)."""
    received: list[str] = []
    absorb = ServerStream._absorb

    def spy(self, item):
        if isinstance(item, TokenEvent):
            received.append(item.text)
        return absorb(self, item)

    monkeypatch.setattr(ServerStream, "_absorb", spy)
    return received


@pytest.fixture
def on_servers(qtbot, tmp_path, monkeypatch, vllm_realtime, vllm_voxtral):
    """``make()``: the program configured for the two servers (the key saved as the settings dialog saves it)."""
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)
    store = SettingsStore(tmp_path / "config" / "settings.json")
    engine = EngineSettings(kind=SERVER, server_url=vllm_realtime.base_url, realtime_model=vllm_realtime.model,
                            chat_model=vllm_voxtral.model, chat_server_url=vllm_voxtral.base_url)
    ApiKeyStore(store.path.parent).save(vllm_realtime.api_key)
    made: list[Captionist] = []

    def make(source_ids: tuple[str, ...] = ()) -> Captionist:
        store.save(Settings(model=ModelSettings(source=""), engine=engine, audio=AudioSettings(source_ids)))
        made.append(Captionist(store, capture_options={"speed": 1.0}, measure_seconds=None, data_dir=tmp_path / "d"))
        qtbot.addWidget(made[-1].window)
        return made[-1]

    yield make
    for program in made:
        program.quit()


def test_a_played_file_is_captioned_by_the_server_recorded_and_asked_about(qtbot, on_servers, tmp_path,
                                                                          vllm_realtime, from_server) -> None:
    audio, rate = espeak_speech("Captions should keep up with every word said in the meeting.")
    path = tmp_path / "meeting.wav"
    soundfile.write(path, audio, rate, subtype="PCM_16")
    app = on_servers()
    app.show()  # no model is loaded here: the engine is the server
    assert isinstance(app.live.engine, ServerEngine) and "vLLM server at 127.0.0.1" in app.window.model_label.text()
    app.add_file_source(path)
    with qtbot.waitSignal(app.live.stopped, timeout=WAIT_MS):
        app.start_captions()

    (folder,) = sessions_dir(app.data_dir).iterdir()
    info = read_session(folder)
    recorded = read_audio(folder / info.sources[0].audio)
    played, _ = soundfile.read(path, dtype="float32")
    expected = played if rate == MODEL_RATE else None
    if expected is not None:
        np.testing.assert_array_equal(recorded, expected)  # the recording is the audio, whatever the network did
    assert abs(recorded.size / MODEL_RATE - played.size / rate) < 0.1
    shown = app.overlay.full_text()
    sent = "".join(e.text for e in read_transcript(folder))
    assert shown.replace("\n", "").replace(" ", "") == sent.replace(" ", "") and sent.strip()
    assert sent == "".join(from_server)  # the transcript is what the server sent
    # What the server says for that audio, asked by an independent client (see the next test on exactness).
    assert_agrees(sent, realtime_text(vllm_realtime, pcm16(recorded)))

    # A question about the recording, answered by the questions server, streamed into the chat panel.
    (session,) = app.library.sessions()
    app.chat.open(session.id)
    app.chat.max_new_tokens = 8
    with qtbot.waitSignal(app.chat.busyChanged, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        app.chat_panel.ask("What was decided?")
    question, answer = app.chat.conversation.turns
    assert question.clips and answer.role == "assistant" and answer.finish_reason in ("eos", "length")
    assert not app.models.loaded  # nothing was loaded on this computer for it


MAX_TOKEN_CHARS = 8  # of one token of these random weights' text, as seen: " the", "HHHH"


def assert_agrees(sent: str, reference: str) -> None:
    """``sent`` (what the program got from the server for live audio) against ``reference`` (what the server says for
    the same audio sent all at once). Audio that arrives in real time, in the irregular blocks of a sound server, is
    batched differently inside vLLM, and these random weights amplify rounding, so a token may flip anywhere, the
    first ones included (seen here: one character in 110, twice); a lost or repeated 80 ms chunk would shift all
    that follows and differ in far more than three characters. At the very end the live stream, closed when
    capture stops, may hold one token fewer or more than the whole file (seen in CI: " the" of 67 characters)."""
    matcher = difflib.SequenceMatcher(None, sent, reference, autojunk=False)
    opcodes = matcher.get_opcodes()
    if opcodes and opcodes[-1][0] in ("insert", "delete"):  # a last token more or fewer
        tag, i1, i2, j1, j2 = opcodes.pop()
        assert max(i2 - i1, j2 - j1) <= MAX_TOKEN_CHARS, (sent, reference)
    differing = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal")
    print(f"live through the server {sent!r} vs at once {reference!r}: {differing} characters differ before the end")
    assert differing <= 3


def test_captured_system_sound_is_captioned_by_the_server_and_recorded(qtbot, pulse_server, on_servers,  # noqa: F811
                                                                       vllm_realtime, from_server) -> None:
    speech, rate = espeak_speech("Hello there, this is a test of live captions from a null sink.")
    monitor = f"system:{pulse_server.monitor}"
    app = on_servers(source_ids=(monitor,))
    app.show()
    assert [s.id for s in app.window.sources.selected()] == [monitor]
    levels = []
    app.live.level.connect(levels.append)
    app.start_captions()
    qtbot.waitUntil(lambda: len(levels) >= 5, timeout=WAIT_MS)  # capturing before the speech starts
    player = pulse_server.play(speech, rate)
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=30000)
    qtbot.wait(400)  # the tail of the playback reaches the monitor
    with qtbot.waitSignal(app.live.stopped, timeout=WAIT_MS):
        app.toggle_captions()

    (folder,) = sessions_dir(app.data_dir).iterdir()
    recorded = read_audio(folder / read_session(folder).sources[0].audio)
    scores = np.correlate(recorded, speech, mode="valid")
    at = int(np.argmax(scores))
    assert np.corrcoef(recorded[at : at + speech.size], speech)[0, 1] > 0.9  # it went through the sound server
    sent = "".join(e.text for e in read_transcript(folder))
    assert sent.strip() and app.overlay.full_text().replace("\n", "").replace(" ", "") == sent.replace(" ", "")
    assert sent == "".join(from_server)  # the transcript is what the server sent
    assert_agrees(sent, realtime_text(vllm_realtime, pcm16(recorded)))
    assert "Traceback" not in app.window.notice_label.text()


def test_a_refused_key_and_a_server_that_is_not_running_are_one_clear_notice_each(qtbot, on_servers, tmp_path,
                                                                                  vllm_realtime) -> None:
    audio, rate = espeak_speech("Hello there.")
    path = tmp_path / "hello.wav"
    soundfile.write(path, audio, rate)
    app = on_servers()
    app.api_keys.save("wrong-key")
    app.show()
    app.add_file_source(path)
    with qtbot.waitSignal(app.live.stopped, timeout=WAIT_MS):
        app.start_captions()
    notice = app.window.notice_label.text()
    assert notice.count("refused the API key") == 1 and "Check it in Settings → Engine" in notice
    assert "Traceback" not in notice
    (folder,) = sessions_dir(app.data_dir).iterdir()
    assert read_audio(folder / read_session(folder).sources[0].audio).size > 0  # recorded all the same

    app.window.clear_notice()
    app.api_keys.save(vllm_realtime.api_key)
    moved = EngineSettings(**{**app.settings.engine.__dict__, "server_url": f"http://127.0.0.1:{_closed_port()}"})
    app.apply_settings(Settings(**{**app.settings.__dict__, "engine": moved}))
    with qtbot.waitSignal(app.live.stopped, timeout=WAIT_MS):
        app.start_captions()
    assert "cannot be reached" in app.window.notice_label.text()
