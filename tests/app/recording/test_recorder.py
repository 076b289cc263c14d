"""SessionRecorder: exact audio and transcript, concurrent sources, disk errors, a slow disk, bounded memory."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.events import MODEL_RATE, AudioBlock, AudioSource, CaptionEvent, SourceKind
from app.recording import RecordingError, SessionRecorder, SessionState, read_session, read_transcript
from app.recording.wav_writer import GrowingWav, to_pcm16

BLOCK = 640
MIC = AudioSource("mic", SourceKind.MICROPHONE, "Built-in Microphone", label="You")
SYSTEM = AudioSource("sys", SourceKind.SYSTEM, "Monitor of Speakers", label="Others")


def _signal(seed: int, seconds: float) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.2, 1.2, round(seconds * MODEL_RATE)).astype(np.float32)


def _feed(recorder: SessionRecorder, source_id: str, audio: np.ndarray, start: int = 0) -> None:
    for pos in range(0, audio.size, BLOCK):
        recorder.listener(AudioBlock(source_id, audio[pos : pos + BLOCK], (start + pos) / MODEL_RATE))


class _Errors:
    """An ``on_error`` callback that keeps the messages."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.called = threading.Event()

    def __call__(self, message: str) -> None:
        self.messages.append(message)
        self.called.set()


def test_close_leaves_a_complete_session(tmp_path: Path) -> None:
    audio = _signal(0, 3.0)
    events = [CaptionEvent("mic", f" w{i}", (i,), i * 0.08, (i + 1) * 0.08) for i in range(30)]
    recorder = SessionRecorder.start(tmp_path, [MIC], "Weekly sync")
    assert read_session(recorder.folder).state is SessionState.RECORDING
    assert (recorder.folder / "recording.lock").exists()
    _feed(recorder, "mic", audio)
    for event in events:
        recorder.add_caption(event)
    info = recorder.close()

    assert recorder.folder.parent == tmp_path / "sessions"
    assert info == read_session(recorder.folder) == recorder.info
    assert info.state is SessionState.COMPLETE and info.problem is None and info.title == "Weekly sync"
    assert info.id == recorder.folder.name and info.duration_s == 3.0
    assert info.ended_at is not None and info.ended_at >= info.started_at
    assert [(s.id, s.label, s.kind, s.audio) for s in info.sources] == [
        ("mic", "You", "microphone", "audio/1-built-in-microphone.wav")]
    recorded, rate = soundfile.read(recorder.folder / info.sources[0].audio, dtype="int16")
    assert rate == MODEL_RATE
    np.testing.assert_array_equal(recorded, to_pcm16(audio))
    assert read_transcript(recorder.folder) == events
    assert not (recorder.folder / "recording.lock").exists()
    assert recorder.close() == info


def test_two_sources_from_two_threads(tmp_path: Path) -> None:
    audio = {"mic": _signal(1, 4.0), "sys": _signal(2, 4.0)}
    recorder = SessionRecorder.start(tmp_path, [MIC, SYSTEM], sync_interval_s=0.05)

    def run(source_id: str) -> None:
        for pos in range(0, audio[source_id].size, BLOCK):
            recorder.listener(AudioBlock(source_id, audio[source_id][pos : pos + BLOCK], pos / MODEL_RATE))
            recorder.add_caption(CaptionEvent(source_id, str(pos), (pos,), pos / MODEL_RATE, pos / MODEL_RATE))
            time.sleep(0.0005)

    threads = [threading.Thread(target=run, args=(source_id,)) for source_id in audio]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    info = recorder.close()

    assert info.title.startswith("Meeting ")
    for source in info.sources:
        recorded, _ = soundfile.read(recorder.folder / source.audio, dtype="int16")
        np.testing.assert_array_equal(recorded, to_pcm16(audio[source.id]))
    events = read_transcript(recorder.folder)
    for source_id in audio:
        assert [e.token_ids[0] for e in events if e.source_id == source_id] == list(range(0, 64000, BLOCK))


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "The disk is full: recording stopped at 0:02"),
                                             (errno.EROFS, "cannot be written any more")])
def test_write_error_stops_recording_loudly_and_keeps_what_was_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str) -> None:
    appended = 0
    real_append = GrowingWav.append

    def failing_append(self: GrowingWav, samples: np.ndarray) -> None:
        nonlocal appended
        if appended + samples.size > 2 * MODEL_RATE:
            raise OSError(code, os.strerror(code))
        real_append(self, samples)
        appended += samples.size

    monkeypatch.setattr(GrowingWav, "append", failing_append)
    errors = _Errors()
    audio = _signal(3, 3.0)
    recorder = SessionRecorder.start(tmp_path, [MIC], on_error=errors)
    _feed(recorder, "mic", audio)  # the capture thread never sees the error
    assert errors.called.wait(5)
    _feed(recorder, "mic", audio[:BLOCK], start=audio.size)
    info = recorder.close()

    [message] = errors.messages
    assert words in message and str(recorder.folder) in message
    assert recorder.failed and recorder.problem == message
    assert info.problem == message and info.state is SessionState.COMPLETE
    assert json.loads((recorder.folder / "session.json").read_text())["problem"] == message
    recorded, _ = soundfile.read(recorder.folder / info.sources[0].audio, dtype="int16")
    np.testing.assert_array_equal(recorded, to_pcm16(audio[: 2 * MODEL_RATE]))


def test_a_stalled_disk_stops_recording_instead_of_filling_memory(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    stalled, release = threading.Event(), threading.Event()
    real_append = GrowingWav.append

    def stalling_append(self: GrowingWav, samples: np.ndarray) -> None:
        stalled.set()
        release.wait(10)
        real_append(self, samples)

    monkeypatch.setattr(GrowingWav, "append", stalling_append)
    errors = _Errors()
    recorder = SessionRecorder.start(tmp_path, [MIC], on_error=errors)
    recorder.listener(AudioBlock("mic", np.zeros(BLOCK, np.float32), 0.0))
    assert stalled.wait(5)
    begin = time.monotonic()
    _feed(recorder, "mic", np.zeros(31 * MODEL_RATE, np.float32), start=BLOCK)
    assert time.monotonic() - begin < 2.0  # the listener never waits for the disk
    assert recorder.backlog_s == pytest.approx(30.0, abs=0.05)
    release.set()
    assert errors.called.wait(5)
    recorder.close()
    assert errors.messages[0].startswith("The disk is too slow: more than 30 s of audio waited to be written")


def test_a_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RecordingError, match=r"Recording cannot start: the folder .*file/x/sessions cannot be "
                                             r"written \(Not a directory\)"):
        SessionRecorder.start(blocker / "x", [MIC])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o500)
    try:
        with pytest.raises(RecordingError, match=r"cannot be written \(Permission denied\)"):
            SessionRecorder.start(data_dir, [MIC])
    finally:
        data_dir.chmod(0o700)


def test_memory_does_not_grow_with_the_length_of_the_session(tmp_path: Path) -> None:
    second = _signal(4, 1.0)
    event = CaptionEvent("mic", " word", (1, 2, 3), 0.0, 0.08)
    recorder = SessionRecorder.start(tmp_path, [MIC], sync_interval_s=0.2)

    def feed_minutes(first: int, minutes: int) -> None:
        for s in range(first * 60, (first + minutes) * 60):
            _feed(recorder, "mic", second, start=s * MODEL_RATE)
            for _ in range(12):
                recorder.add_caption(event)
            while recorder.backlog_s > 2.0:  # faster than real time, but never so far ahead that it overflows
                time.sleep(0.001)

    tracemalloc.start()
    try:
        feed_minutes(0, 1)
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        feed_minutes(1, 9)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    info = recorder.close()
    assert info.duration_s == 600.0 and not recorder.failed
    assert peak - baseline < 1_000_000  # ten minutes of audio are 19 MB as int16


def test_a_stretch_without_captions_is_kept_in_the_transcript(tmp_path: Path) -> None:
    from app.events import CaptionGap

    recorder = SessionRecorder.start(tmp_path, [MIC])
    recorder.add_caption(CaptionEvent("mic", " before", (3,), 0.0, 0.08))
    recorder.add_gap(CaptionGap("mic", 0.08, 12.0, "server unreachable"))
    recorder.close()
    rows = [json.loads(line) for line in (recorder.folder / "transcript.jsonl").read_text().splitlines()]
    assert rows[1]["gap"] == "server unreachable" and (rows[1]["start_s"], rows[1]["end_s"]) == (0.08, 12.0)
    # Readers that know nothing of gaps take it for an empty caption.
    assert [e.text for e in read_transcript(recorder.folder)] == [" before", ""]
