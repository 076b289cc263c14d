"""Re-transcribing a recorded session on a worker thread, stored as a new version beside the live one."""

from __future__ import annotations

import threading

import pytest

from app.engine.local import LocalEngine
from app.events import AudioBlock, AudioSource, SourceKind
from app.library.index import Library
from app.recording.recorder import SessionRecorder
from app.recording.session_folder import read_audio, read_session, read_transcript
from app.retranscription.engines import Method, with_realtime
from app.retranscription.worker import RetranscribeWorker
from tests.fixtures.speech import espeak_speech


@pytest.fixture
def session(tmp_path):
    """A real recording of two sources, made by the recorder, and the library that indexes it."""
    you, _ = espeak_speech("Can everyone hear me?")
    others, _ = espeak_speech("Yes, we can hear you well.")
    sources = [AudioSource("mic:a", SourceKind.MICROPHONE, "Microphone", label="You"),
               AudioSource("system:b", SourceKind.SYSTEM, "Speakers", label="Others")]
    recorder = SessionRecorder.start(tmp_path / "data", sources)
    for source, audio in zip(sources, (you, others), strict=True):
        for i in range(0, audio.size, 640):
            recorder.listener(AudioBlock(source.id, audio[i : i + 640], i / 16000))
    recorder.close()
    library = Library(tmp_path / "data")
    library.scan()
    (summary,) = library.sessions()
    yield library, summary.id, recorder.folder
    library.close()


def test_a_new_version_is_stored_beside_the_live_one(qtbot, tiny_realtime, session) -> None:
    library, session_id, folder = session
    live_before = (folder / "transcript.jsonl").read_bytes()
    worker = RetranscribeWorker(library, session_id, Method("realtime", delay_ms=960),
                                realtime=LocalEngine(tiny_realtime.model))
    fractions: list[float] = []
    worker.progress.connect(lambda f, _text: fractions.append(f))
    with qtbot.waitSignal(worker.done, timeout=60000) as done:
        worker.start()
    worker.wait()
    name = done.args[0]
    assert name.startswith("realtime-960ms-") and name in library.versions(session_id)
    assert library.version_meta(session_id, name)["delay_ms"] == 960
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    # Each source transcribed on its own, exactly as the engine does it for that audio.
    stored = read_transcript(folder, f"versions/{name}.jsonl")
    for source in read_session(folder).sources:
        expected = with_realtime(LocalEngine(tiny_realtime.model), read_audio(folder / source.audio), source.id, 960,
                                 lambda f: None, threading.Event())
        assert [e for e in stored if e.source_id == source.id] == expected
    assert library.lines(session_id, name)
    assert (folder / "transcript.jsonl").read_bytes() == live_before  # the live version is untouched


def test_cancel_stores_nothing(qtbot, tiny_realtime, session) -> None:
    library, session_id, _ = session
    worker = RetranscribeWorker(library, session_id, Method("realtime"), realtime=LocalEngine(tiny_realtime.model))
    worker.progress.connect(lambda *_: worker.cancel())
    with qtbot.waitSignal(worker.cancelled, timeout=60000):
        worker.start()
    worker.wait()
    assert library.versions(session_id) == ["live"]


def test_without_a_model_it_fails_with_a_clear_message(qtbot, session) -> None:
    library, session_id, _ = session
    worker = RetranscribeWorker(library, session_id, Method("realtime"))
    with qtbot.waitSignal(worker.failed, timeout=10000) as failed:
        worker.start()
    worker.wait()
    assert "Tools → Model" in failed.args[0]
