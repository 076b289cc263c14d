"""The program starts, captions and says what is wrong whatever state its data folder is in: read-only, full,
damaged session folders, links that point elsewhere, files an older version left readable by others.

Each test builds the damaged state for real (a read-only bind mount, a full tmpfs, hand-damaged files, symbolic
links) and starts the real application object offscreen.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PySide6.QtWidgets import QApplication

from app.application import Captionist
from app.events import AudioBlock, AudioSource, SourceKind
from app.library.index import Library
from app.recording.recorder import SessionRecorder
from app.recording.recovery import recover_sessions
from app.recording.session_folder import SessionState, read_session, sessions_dir, write_session
from app.settings import ModelSettings, Settings, SettingsStore
from tests.fixtures.mounts import fill, read_only, tmpfs
from tests.fixtures.speech import espeak_speech

MIC = AudioSource("mic:test", SourceKind.MICROPHONE, "Test microphone")


@pytest.fixture
def speech_file(tmp_path: Path) -> Path:
    audio, rate = espeak_speech("Captions keep going when the disk does not.")
    path = tmp_path / "speech.wav"
    soundfile.write(path, audio, rate)
    return path


@pytest.fixture
def start(qtbot, tmp_path, tiny_realtime, monkeypatch):
    """``start(data_dir)``: the real program on that data folder with the tiny model; quit after the test."""
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)
    store = SettingsStore(tmp_path / "config" / "settings.json")
    store.save(Settings(model=ModelSettings(source=str(tiny_realtime.folder))))
    made: list[Captionist] = []

    def make(data_dir: Path) -> Captionist:
        made.append(Captionist(store, capture_options={"speed": 8.0}, measure_seconds=None, data_dir=data_dir))
        qtbot.addWidget(made[-1].window)
        return made[-1]

    yield make
    for program in made:
        program.quit()


def _recorded_session(data_dir: Path, seconds: float = 1.0, title: str = "Kept") -> Path:
    recorder = SessionRecorder.start(data_dir, [MIC], title)
    recorder.listener(AudioBlock(MIC.id, np.full(round(seconds * 16000), 0.25, np.float32), 0.0))
    recorder.close()
    return recorder.folder


def _crashed_session(data_dir: Path, seconds: float = 1.0) -> Path:
    """A session as a crash leaves it: state "recording", its lock free, a transcript line cut short."""
    folder = _recorded_session(data_dir, seconds, "Crashed")
    write_session(folder, dataclasses.replace(read_session(folder), state=SessionState.RECORDING, ended_at=None))
    with open(folder / "transcript.jsonl", "ab") as f:
        f.write(b'{"source_id": "mic:test", "text": " hello", "token_ids": [], "start_s": 0.0, "end_s": 0.5}\n'
                b'{"source_id": "mic:te')
    return folder


def _snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Content, modification time and mode of every file under ``root`` (links not followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            out[str(path.relative_to(root))] = (path.read_bytes(), info.st_mtime_ns, info.st_mode)
    return out


def _caption_a_file(qtbot, program: Captionist, path: Path) -> str:
    """Load the model, play ``path`` as a live source to its end; the text the overlay showed."""
    program.show()
    qtbot.waitUntil(lambda: program.live.engine is not None, timeout=30000)
    program.add_file_source(path)
    with qtbot.waitSignal(program.live.stopped, timeout=60000):
        program.start_captions()
    return program.overlay.full_text()


def test_a_read_only_data_folder_still_captions_and_says_recordings_cannot_be_saved(
        qtbot, start, tmp_path, speech_file, tiny_realtime) -> None:
    data = tmp_path / "data"
    kept = _recorded_session(data)
    before = _snapshot(data)
    with read_only(data):
        program = start(data)
        notice = program.window.notice_label.text()
        assert "Recordings cannot be saved" in notice and str(data) in notice
        # Earlier recordings stay in the library, read from the folders.
        assert program.library is not None
        assert [s.id for s in program.library.sessions()] == [kept.name]

        shown = _caption_a_file(qtbot, program, speech_file)
        played, rate = soundfile.read(speech_file, dtype="float32")
        assert shown.startswith(tiny_realtime.model.transcribe(played, rate).text) and len(shown) > 10
        assert "Captions run without a recording" in program.window.notice_label.text()
        assert program.library_view is not None
        program.library_view.refresh()  # nothing in the library view raises
    assert _snapshot(data) == before


def test_a_full_data_disk_still_captions_repairs_what_it_can_and_says_exactly_what_it_did(
        qtbot, start, tmp_path, speech_file) -> None:
    with tmpfs(tmp_path / "disk", 1024) as disk:
        data = disk / "data"
        crashed = _crashed_session(data, seconds=2.0)
        fill(disk)
        program = start(data)
        notice = program.window.notice_label.text()
        assert "Recordings cannot be saved: the disk that holds" in notice and "is full" in notice
        # The WAV header and the cut line are fixed in place (no space needed); session.json cannot be rewritten.
        assert "was repaired (2 s of audio from 1 source and 1 caption line (a caption line cut off by the crash " \
               "was dropped)), but it could not be marked as recovered" in notice
        assert "left as it was" not in notice
        assert soundfile.info(str(crashed / "audio" / "1-test-microphone.wav")).frames == 32000
        assert read_session(crashed).state is SessionState.RECORDING  # checked again at the next start

        assert len(_caption_a_file(qtbot, program, speech_file)) > 10
        assert "Captions run without a recording" in program.window.notice_label.text()


def _damaged_sessions(data: Path, outside: Path) -> dict[str, str]:
    """Session folders whose session.json or files are damaged in the ways the issue lists; name -> folder id."""
    made: dict[str, str] = {}

    def session(name: str, edit) -> None:
        folder = _crashed_session(data)
        raw = json.loads((folder / "session.json").read_text())
        text = edit(folder, raw)
        if text is not None:
            (folder / "session.json").write_text(text)
        made[name] = folder.name

    def dumped(raw: dict) -> str:
        return json.dumps(raw)

    session("infinite duration", lambda f, r: dumped(r).replace('"duration_s": 1.0', '"duration_s": Infinity'))
    session("1e999 duration", lambda f, r: dumped(r).replace('"duration_s": 1.0', '"duration_s": 1e999'))
    session("NaN duration", lambda f, r: dumped(r).replace('"duration_s": 1.0', '"duration_s": NaN'))
    session("absurd duration", lambda f, r: dumped({**r, "duration_s": 1e300}))
    session("title is a list", lambda f, r: dumped({**r, "title": ["a"]}))
    session("sources is a dict", lambda f, r: dumped({**r, "sources": {"a": 1}}))
    session("rate is a string", lambda f, r: dumped({**r, "sources": [{**r["sources"][0], "sample_rate": "16k"}]}))
    session("audio outside", lambda f, r: dumped(
        {**r, "sources": [{**r["sources"][0], "audio": os.path.relpath(outside, f)}]}))
    session("audio absolute", lambda f, r: dumped({**r, "sources": [{**r["sources"][0], "audio": str(outside)}]}))

    def link_audio(folder: Path, raw: dict) -> None:
        wav = folder / raw["sources"][0]["audio"]
        wav.unlink()
        wav.symlink_to(outside)

    def link_transcript(folder: Path, raw: dict) -> None:
        (folder / "transcript.jsonl").unlink()
        (folder / "transcript.jsonl").symlink_to(outside.with_suffix(".jsonl"))

    def loop_audio_folder(folder: Path, raw: dict) -> None:
        for wav in (folder / "audio").iterdir():
            wav.unlink()
        (folder / "audio").rmdir()
        (folder / "audio").symlink_to("audio")  # a loop

    def link_session_json(folder: Path, raw: dict) -> None:
        (folder / "session.json").unlink()
        (folder / "session.json").symlink_to(outside.with_suffix(".json"))

    session("audio is a link", link_audio)
    session("transcript is a link", link_transcript)
    session("audio folder loops", loop_audio_folder)
    session("session.json is a link", link_session_json)
    return made


def test_damaged_session_folders_are_listed_as_damaged_and_nothing_outside_them_changes(
        qtbot, start, tmp_path) -> None:
    data = tmp_path / "data"
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    outside = outside_dir / "precious.wav"
    soundfile.write(outside, np.linspace(-0.5, 0.5, 8000, dtype=np.float32), 16000, subtype="PCM_16")
    with open(outside, "ab") as f:
        f.write(b"\x01")  # a partial sample that a "repair" would cut off
    outside.with_suffix(".jsonl").write_bytes(b'{"source_id": "x", "start_s": 0, "end_s": 1, "text": "secret"}\n{"a')
    good = json.loads((_recorded_session(tmp_path / "template") / "session.json").read_text())
    outside.with_suffix(".json").write_text(json.dumps({**good, "state": "recording", "title": "Outside"}))
    made = _damaged_sessions(data, outside)
    before = _snapshot(outside_dir)

    program = start(data)
    assert _snapshot(outside_dir) == before
    notice = program.window.notice_label.text()
    assert "could not be recovered" in notice
    states = {s.id: s.state for s in program.library.sessions()}
    for name, session_id in made.items():
        expected = "recovered" if name in ("audio is a link", "transcript is a link", "audio folder loops") \
            else "damaged"
        assert states[session_id] == expected, name
    problems = {s.id: s.problem or "" for s in program.library.sessions()}
    assert "symbolic link" in problems[made["audio is a link"]]
    assert "symbolic link" in problems[made["transcript is a link"]]
    assert all("secret" not in hit.snippet for hit in program.library.search("secret"))
    assert program.library.search("secret") == []
    program.quit()
    assert _snapshot(outside_dir) == before


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(11 if depth < 2 else 8)
    return [
        lambda: None, lambda: rng.choice([True, False]), lambda: rng.randint(-2**70, 2**70),
        lambda: rng.choice([float("inf"), float("-inf"), float("nan"), 1e308, -0.0, 0.5, 1e-320]),
        lambda: rng.choice(["", "x" * rng.randrange(1, 3000), "../../x", "/etc/passwd", "audio/1-a.wav", "\x00"]),
        lambda: rng.choice(["recording", "complete", "recovered", "bogus"]),
        lambda: "2026-01-01T00:00:00+00:00", lambda: rng.choice(["not a time", "9999-99-99"]),
        lambda: [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {k: _random_value(rng, depth + 1) for k in rng.sample(
            ["id", "name", "kind", "label", "audio", "sample_rate", "x"], rng.randrange(7))},
        lambda: [dict(good_source, **{rng.choice(list(good_source)): _random_value(rng, depth + 1)})],
    ][kind]()


good_source = {"id": "mic:test", "name": "Test microphone", "kind": "microphone", "label": "",
               "audio": "audio/1-test-microphone.wav", "sample_rate": 16000}


def test_random_session_json_values_never_stop_start_up(qtbot, start, tmp_path) -> None:
    rng = random.Random(20261203)
    data = tmp_path / "data"
    folders = []
    for _ in range(60):
        folder = _crashed_session(data)
        raw = json.loads((folder / "session.json").read_text())
        for key in rng.sample(sorted(raw), rng.randrange(1, 4)):
            raw[key] = _random_value(rng)
        (folder / "session.json").write_text(json.dumps(raw, allow_nan=True))
        folders.append(folder)
    reports = recover_sessions(data)  # never raises
    assert all(r.message for r in reports)
    library = Library(data)
    library.scan()
    assert {s.id for s in library.sessions()} == {f.name for f in folders}
    library.close()
    program = start(data)
    assert len(program.library.sessions()) == len(folders)


def test_saved_data_is_private_whatever_the_umask_and_old_files_are_tightened(qtbot, start, tmp_path) -> None:
    data = tmp_path / "data"
    old = os.umask(0)
    try:
        folder = _recorded_session(data)
    finally:
        os.umask(old)
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))

    # What an earlier version left with the umask's modes is made private at the next start; links are left alone.
    (folder / "transcript.jsonl").chmod(0o644)
    (folder / "audio").chmod(0o755)
    outside = tmp_path / "shared.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (folder / "notes-link").symlink_to(outside)
    start(data)
    assert stat.S_IMODE((folder / "transcript.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "audio").stat().st_mode) == 0o700
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    index = data / "index.sqlite3"
    assert stat.S_IMODE(index.stat().st_mode) == 0o600


def test_a_rename_while_recording_survives_the_end_of_the_recording(tmp_path) -> None:
    data = tmp_path / "data"
    recorder = SessionRecorder.start(data, [MIC], "Meeting 2026-12-03 10:00")
    recorder.listener(AudioBlock(MIC.id, np.zeros(8000, np.float32), 0.0))
    library = Library(data)
    library.scan()
    library.rename(recorder.folder.name, "Budget review")
    info = recorder.close()
    assert info.title == "Budget review" == read_session(recorder.folder).title
    library.scan()
    assert [s.title for s in library.sessions()] == ["Budget review"]
    library.close()


def test_an_unreadable_sessions_folder_does_not_stop_start_up(qtbot, start, tmp_path, speech_file) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sessions_dir(data).write_text("a file where the sessions folder belongs")
    program = start(data)
    notice = program.window.notice_label.text()
    assert "Recordings cannot be saved" in notice
    assert len(_caption_a_file(qtbot, program, speech_file)) > 10
