"""Crash recovery: a recorder killed with SIGKILL at random instants, hand-made crash leftovers, live sessions."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.events import MODEL_RATE, AudioBlock, AudioSource, CaptionEvent, SourceKind
from app.recording import (
    SessionRecorder,
    SessionState,
    read_session,
    read_transcript,
    recover_sessions,
)
from app.recording.session_folder import write_session
from app.recording.wav_writer import to_pcm16
from tests.app.recording import record_child

ROOT = Path(__file__).resolve().parents[3]
CHILD = Path(__file__).with_name("record_child.py")
MAX_LOSS_S = 1.0


def _record_and_kill(data_dir: Path, kill_at_s: float) -> tuple[Path, float]:
    """Run record_child.py and SIGKILL it once it has fed ``kill_at_s`` seconds; its folder and what it had fed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(CHILD), str(data_dir), "20"], stdout=subprocess.PIPE, text=True,
                            env=env)
    folder, fed, checked_live = None, 0.0, False
    try:
        for line in proc.stdout:
            if line.startswith("folder "):
                folder = Path(line[len("folder "):].strip())
            elif line.startswith("fed "):
                fed = float(line.split()[1])
                if not checked_live and fed >= 0.5:
                    # The child is alive and holds its lock: its session must not be "recovered" under it.
                    assert recover_sessions(data_dir) == []
                    assert read_session(folder).state is SessionState.RECORDING
                    checked_live = True
                if fed >= kill_at_s:
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, f"the child ended before it was killed ({proc.returncode})"
    assert folder is not None
    return folder, fed


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_recorder_is_recovered_with_all_but_the_last_second(tmp_path: Path) -> None:
    kill_points = [random.uniform(1.3, 3.5) for _ in range(4)]  # four instants in the sync cycle, by chance
    dirs = [tmp_path / f"run{i}" for i in range(len(kill_points))]
    with ThreadPoolExecutor(len(kill_points)) as pool:
        runs = list(pool.map(_record_and_kill, dirs, kill_points))

    for data_dir, (folder, fed), kill_at in zip(dirs, runs, kill_points, strict=True):
        where = f"killed after {fed:.2f} s (aimed at {kill_at:.2f} s)"
        reports = recover_sessions(data_dir)
        assert len(reports) == 1, where
        report = reports[0]
        assert report.folder == folder and report.problem is None, where
        info = read_session(folder)
        assert info.state is SessionState.RECOVERED and info == report.info, where
        assert info.ended_at is not None and info.ended_at >= info.started_at

        lengths = []
        for i, source in enumerate(info.sources):
            recorded, rate = soundfile.read(folder / source.audio, dtype="int16")
            assert rate == MODEL_RATE
            expected = to_pcm16(record_child.signal(i, 20.0))
            assert recorded.size >= (fed - MAX_LOSS_S) * MODEL_RATE, where
            np.testing.assert_array_equal(recorded, expected[: recorded.size], err_msg=where)
            lengths.append(recorded.size)
        assert info.duration_s == pytest.approx(max(lengths) / MODEL_RATE)

        events = read_transcript(folder)
        assert events == [record_child.caption(i) for i in range(len(events))], where
        assert events and events[-1].end_s >= fed - MAX_LOSS_S, where
        assert re.fullmatch(rf"Recovered '{record_child.TITLE}': (\d+ min )?\d+ s of audio from 2 sources and "
                            rf"{len(events)} caption lines\.", report.message), report.message

        assert recover_sessions(data_dir) == []  # repaired once, for good


def _sources() -> list[AudioSource]:
    return [AudioSource("mic", SourceKind.MICROPHONE, "Microphone")]


def test_a_live_session_is_not_recovered_under_its_recorder(tmp_path: Path) -> None:
    recorder = SessionRecorder.start(tmp_path, _sources(), "Live", sync_interval_s=0.05)
    recorder.listener(AudioBlock("mic", np.zeros(1600, np.float32), 0.0))
    assert recover_sessions(tmp_path) == []
    assert read_session(recorder.folder).state is SessionState.RECORDING
    recorder.close()
    assert recover_sessions(tmp_path) == []
    assert read_session(recorder.folder).state is SessionState.COMPLETE
    assert not (recorder.folder / "recording.lock").exists()


def test_partial_sample_and_partial_transcript_line_are_cut(tmp_path: Path) -> None:
    audio = np.linspace(-0.5, 0.5, 8000, dtype=np.float32)
    event = CaptionEvent("mic", "héllo", (5, 6), 0.0, 0.08)
    recorder = SessionRecorder.start(tmp_path, _sources(), "Crashed")
    recorder.listener(AudioBlock("mic", audio, 0.0))
    recorder.add_caption(event)
    info = recorder.close()
    folder = recorder.folder
    # What a crash leaves: state "recording", header sizes from the start, half a sample and half a line at the end.
    write_session(folder, dataclasses.replace(info, state=SessionState.RECORDING, ended_at=None, duration_s=0.0))
    wav = folder / info.sources[0].audio
    with open(wav, "r+b") as f:
        f.seek(4)
        f.write((36).to_bytes(4, "little"))
        f.seek(40)
        f.write((0).to_bytes(4, "little"))
        f.seek(0, os.SEEK_END)
        f.write(b"\x01")
    with open(folder / "transcript.jsonl", "ab") as f:
        f.write(b'{"source_id": "mic", "te')

    [report] = recover_sessions(tmp_path)
    assert report.message == ("Recovered 'Crashed': 0 s of audio from 1 source and 1 caption line (a caption line cut "
                              "off by the crash was dropped).")
    assert read_transcript(folder) == [event]
    assert (folder / "transcript.jsonl").read_bytes().endswith(b"\n")
    recorded, _ = soundfile.read(wav, dtype="int16")
    np.testing.assert_array_equal(recorded, to_pcm16(audio))
    recovered = read_session(folder)
    assert recovered.state is SessionState.RECOVERED and recovered.duration_s == 0.5


def test_damaged_session_file_is_reported_and_nothing_is_touched(tmp_path: Path) -> None:
    recorder = SessionRecorder.start(tmp_path, _sources(), "Damaged")
    recorder.listener(AudioBlock("mic", np.ones(160, np.float32), 0.0))
    recorder.close()
    folder = recorder.folder
    text = (folder / "session.json").read_text()
    (folder / "session.json").write_text(text[: len(text) // 2])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    [report] = recover_sessions(tmp_path)
    assert report.info is None and report.folder == folder
    assert "session.json cannot be read" in report.message and str(folder) in report.message
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_wrong_types_in_session_file_are_damage(tmp_path: Path) -> None:
    recorder = SessionRecorder.start(tmp_path, _sources())
    recorder.close()
    raw = json.loads((recorder.folder / "session.json").read_text())
    raw["sources"] = "none"
    (recorder.folder / "session.json").write_text(json.dumps(raw))
    [report] = recover_sessions(tmp_path)
    assert "is damaged: 'sources' is not a list" in report.message


def test_no_data_folder_means_nothing_to_recover(tmp_path: Path) -> None:
    assert recover_sessions(tmp_path / "absent") == []
