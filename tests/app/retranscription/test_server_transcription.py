"""Transcribing a recording again through a real vLLM (the CPU build serving a tiny random Voxtral), with
``/v1/audio/transcriptions``: the text equals what an independent client gets, long audio goes in pieces, a cancel
closes the request under way, and faults are one clear message."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from app.chat.server_models import ServerChatModels
from app.engine.server.address import ServerError, parse_address
from app.engine.server.cancel import Cancel
from app.engine.server.live_stream import ServerEngine
from app.events import MODEL_RATE, AudioBlock, AudioSource, SourceKind
from app.library.index import Library
from app.recording.recorder import SessionRecorder
from app.recording.session_folder import read_audio, read_session, read_transcript
from app.retranscription.engines import Method, with_realtime, with_server_voxtral
from app.retranscription.worker import RetranscribeWorker
from tests.fixtures.speech import espeak_speech
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.vllm_clients import pcm16, realtime_text, transcription_text, wav16

WAIT_MS = 600000  # for what a busy 2-core machine may take; nothing waits this long when all is well
# The random model talks until the context (4096 tokens) is full: audio of eight 30 s chunks (3000 tokens) leaves it
# about a thousand to say, which keeps each transcription short on a CPU.
LONG_S = 230


def record(tmp_path, audios: dict[str, np.ndarray]):
    """A real recording made by the recorder (one source per entry) and the library that indexes it."""
    sources = [AudioSource(f"mic:{name}", SourceKind.MICROPHONE, name, label=name) for name in audios]
    recorder = SessionRecorder.start(tmp_path / "data", sources)
    for source, audio in zip(sources, audios.values(), strict=True):
        for i in range(0, audio.size, 640):
            recorder.listener(AudioBlock(source.id, audio[i : i + 640], i / MODEL_RATE))
    recorder.close()
    library = Library(tmp_path / "data")
    library.scan()
    (summary,) = library.sessions()
    return library, summary.id, recorder.folder


@pytest.fixture
def session(tmp_path):
    you, _ = espeak_speech("Can everyone hear me?")
    others, _ = espeak_speech("Yes, we can hear you well.")
    library, session_id, folder = record(tmp_path, {"You": np.resize(you, LONG_S * MODEL_RATE),
                                                    "Others": np.resize(others, LONG_S * MODEL_RATE)})
    yield library, session_id, folder
    library.close()


def models_of(server, api_key: str | None = "") -> ServerChatModels:
    return ServerChatModels(parse_address(server.base_url, server.api_key if api_key == "" else api_key), server.model)


def as_sentences(text: str) -> str:
    """A piece's text as its sentence events join up: stripped, one space after each sentence's end."""
    return re.sub(r"(?<=[.!?。！？])\s+", " ", text.strip())


def run(qtbot, worker: RetranscribeWorker, signal) -> list:
    with qtbot.waitSignal(signal, timeout=WAIT_MS) as ended:
        worker.start()
    worker.wait()
    return ended.args


def test_transcribe_again_through_the_server(qtbot, vllm_voxtral, session) -> None:
    library, session_id, folder = session
    models = models_of(vllm_voxtral)
    worker = RetranscribeWorker(library, session_id, Method("voxtral", language="en"),
                                voxtral=lambda progress: models.acquire(progress=progress))
    said: list[tuple[float, str]] = []
    worker.progress.connect(lambda f, text: said.append((f, text)))
    (name,) = run(qtbot, worker, worker.done)
    assert name.startswith("voxtral-en-") and name in library.versions(session_id)
    meta = library.version_meta(session_id, name)
    assert meta["server_model"] == vllm_voxtral.model and meta["language"] == "en" and meta["complete"]
    assert said[0] == (0.0, f"Asking the server at {vllm_voxtral.base_url} for Voxtral Mini 3B…")
    assert said[-1][0] == pytest.approx(1.0)
    stored = read_transcript(folder, f"versions/{name}.jsonl")
    for source in read_session(folder).sources:
        expected = transcription_text(vllm_voxtral, wav16(read_audio(folder / source.audio)), "en",
                                      timeout_s=WAIT_MS / 1000)
        assert expected.strip()
        events = [e for e in stored if e.source_id == source.id]
        assert "".join(e.text for e in events) == as_sentences(expected) and events[-1].final


def test_long_audio_goes_in_pieces_as_the_server_transcribes_each(vllm_voxtral) -> None:
    speech, _ = espeak_speech("The budget for next quarter was approved. Everyone agreed to meet again on Monday.")
    audio = np.resize(speech, 480 * MODEL_RATE)
    model = models_of(vllm_voxtral).acquire()
    assert model.max_audio_seconds == 240.0  # (4096 - 1024) // 375 whole 30 s chunks
    seen: list[float] = []
    events = with_server_voxtral(model, audio, "mic", "en", seen.append, Cancel())
    assert seen == pytest.approx([0.5, 1.0])
    piece = 240 * MODEL_RATE
    pieces = [as_sentences(transcription_text(vllm_voxtral, wav16(audio[i : i + piece]), "en",
                                                     timeout_s=WAIT_MS / 1000))
              for i in range(0, audio.size, piece)]
    assert all(pieces)
    assert "".join(e.text for e in events) == " ".join(pieces)
    starts = [0.0, 240.0]  # each piece's first sentence starts where its piece does
    firsts, t = [], 0
    for piece in pieces:
        firsts.append(events[t].start_s)
        t += len([s for s in re.split(r"(?<=[.!?。！？])\s+", piece) if s])
    assert firsts == pytest.approx(starts) and events[-1].end_s == pytest.approx(480.0) and events[-1].final


def test_cancel_closes_the_request_under_way_and_stores_nothing(qtbot, vllm_voxtral, tmp_path) -> None:
    speech, _ = espeak_speech("The budget for next quarter was approved.")
    library, session_id, _ = record(tmp_path, {"You": np.tile(speech, 3)})  # one piece: to the context's end
    models = models_of(vllm_voxtral)
    # Nothing tells from outside when the server has begun, so each try cancels later after the model was found,
    # until the server says it saw a cancel (it logs each); a whole transcription takes several times the longest.
    for wait_s in (0.25, 0.5, 1.0, 2.0):
        seen = vllm_voxtral.log_text().count("cancelled; aborting")
        worker = RetranscribeWorker(library, session_id, Method("voxtral", language="en"),
                                    voxtral=lambda progress: models.acquire(progress=progress))

        def later(_fraction: float, text: str, worker=worker, wait_s=wait_s) -> None:
            if text.endswith("is ready on the server at " + vllm_voxtral.base_url + "."):
                threading.Timer(wait_s, worker.cancel).start()

        worker.progress.connect(later)
        run(qtbot, worker, worker.cancelled)
        assert library.versions(session_id) == ["live"]
        deadline = time.monotonic() + 10.0  # the server's log is written by another process
        while vllm_voxtral.log_text().count("cancelled; aborting") == seen and time.monotonic() < deadline:
            time.sleep(0.1)
        if vllm_voxtral.log_text().count("cancelled; aborting") > seen:
            break
    else:
        pytest.fail("the server never saw the transcription cancelled")
    library.close()


def test_a_wrong_api_key_fails_with_a_clear_message(qtbot, vllm_voxtral, session) -> None:
    library, session_id, _ = session
    models = models_of(vllm_voxtral, "not-the-key-1234")
    worker = RetranscribeWorker(library, session_id, Method("voxtral", language="en"),
                                voxtral=lambda progress: models.acquire(progress=progress))
    (message,) = run(qtbot, worker, worker.failed)
    assert message == (f"Transcribing again failed: The server at {vllm_voxtral.base_url} refused the API key. "
                       "Check it in Settings → Engine.")
    assert library.versions(session_id) == ["live"]


def test_transcribe_again_with_the_servers_realtime_model_streams_without_skipping(vllm_realtime) -> None:
    """A recording fed through the server's realtime stream as fast as the server decodes it (more audio than the
    live link lets wait to be sent): every step comes back, and the text is what the server says for that audio; a
    connection that breaks partway fails it instead of leaving a hole."""
    speech, _ = espeak_speech("The budget for next quarter was approved.")
    audio = np.concatenate([speech, np.zeros(MODEL_RATE, np.float32)] * 8)
    engine = ServerEngine(parse_address(vllm_realtime.base_url, vllm_realtime.api_key), vllm_realtime.model)
    said: list[float] = []
    events = with_realtime(engine, audio, "mic", 480, said.append, threading.Event())
    assert "".join(e.text for e in events) == realtime_text(vllm_realtime, pcm16(audio), timeout_s=WAIT_MS / 1000)
    assert round(events[-1].end_s / 0.08) == len([e for e in events if e.token_ids])  # not one step skipped
    assert said[-1] == 1.0 and said == sorted(said)

    with TcpProxy("127.0.0.1", vllm_realtime.port) as proxy:
        proxy.throttle(20000)
        threading.Timer(2.0, proxy.cut).start()
        cut = ServerEngine(parse_address(f"http://127.0.0.1:{proxy.port}", vllm_realtime.api_key),
                           vllm_realtime.model)
        with pytest.raises(ServerError, match="it stopped transcribing"):
            with_realtime(cut, audio, "mic", 480, said.append, threading.Event())
