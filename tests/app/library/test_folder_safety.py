"""Whatever a session folder holds (symbolic links to files and folders elsewhere, link loops, a pipe, damaged
transcript lines), the library lists it, says what is wrong, and never reads, truncates or rewrites anything outside
the session's own folder: the files elsewhere keep their bytes and times, and their text never reaches the index."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.library import Library, LibraryError
from tests.app.library.sessions import MEETING, STANDUP, event, make_session

SECRET = "Confidential merger plans"


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Bytes, modification time and mode of every plain file under ``root`` (links not followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), info.st_mtime_ns, info.st_mode)
    return out


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the data folder with files a link could point at, all holding SECRET."""
    root = tmp_path / "elsewhere"
    (root / "versions").mkdir(parents=True)
    line = json.dumps({"source_id": "mic", "text": SECRET, "start_s": 0.0, "end_s": 1.0}) + "\n"
    (root / "transcript.jsonl").write_text(line, encoding="utf-8")
    (root / "versions" / "v1.jsonl").write_text(line, encoding="utf-8")
    (root / "versions" / "v1.json").write_text('{"created_at": "2025"}', encoding="utf-8")
    (root / "corrections.json").write_text(json.dumps({"live": {"0": {"text": SECRET, "model_text": "x"}}}))
    soundfile.write(root / "audio.wav", np.linspace(-0.5, 0.5, 8000, dtype=np.float32), 16000, subtype="PCM_16")
    with open(root / "audio.wav", "ab") as f:
        f.write(b"\x01")  # a partial sample, which a "repair" would cut off
    return root


@pytest.fixture
def library(tmp_path: Path):
    lib = Library(tmp_path / "data")
    yield lib
    lib.close()


def session(library: Library, title: str = "Standup", events=STANDUP) -> Path:
    return make_session(library.data_dir, title, events)


def summary(library: Library, folder: Path):
    return next(s for s in library.sessions() if s.id == folder.name)


def relink(path: Path, target: Path | str) -> None:
    if path.is_dir() and not path.is_symlink():
        for p in sorted(path.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        path.rmdir()
    else:
        path.unlink(missing_ok=True)
    path.symlink_to(target)


def everything_a_user_can_do(library: Library, folder: Path) -> list[str]:
    """Every library call on the session; the LibraryError messages (nothing else may be raised)."""
    messages = []
    calls = [
        library.scan, library.sessions, lambda: library.search(SECRET), lambda: library.search("secret merger"),
        lambda: library.lines(folder.name), lambda: library.versions(folder.name),
        lambda: library.version_meta(folder.name, "v1"), lambda: library.lines(folder.name, "v1"),
        lambda: library.audio_path(folder.name, "mic"), lambda: library.correct(folder.name, "live", 0, "Edited"),
        lambda: library.revert_correction(folder.name, "live", 0), lambda: library.rename(folder.name, "Renamed"),
        lambda: library.add_version(folder.name, "v1", [event("mic", "Redo.", 0.0)], {"complete": True}),
    ]
    for call in calls:
        try:
            result = call()
        except LibraryError as exc:
            messages.append(str(exc))
            continue
        assert SECRET not in repr(result)
    return messages


def test_a_linked_transcript_is_not_read_and_the_session_says_why(library, outside):
    folder = session(library)
    relink(folder / "transcript.jsonl", outside / "transcript.jsonl")
    before = snapshot(outside)
    library.scan()
    assert "transcript.jsonl is a symbolic link" in summary(library, folder).problem
    with pytest.raises(LibraryError, match="transcript.jsonl is a symbolic link"):
        library.lines(folder.name)
    messages = everything_a_user_can_do(library, folder)
    assert any("symbolic link" in m for m in messages)
    assert library.search(SECRET) == []
    assert snapshot(outside) == before
    assert (folder / "transcript.jsonl").is_symlink()  # ours to leave alone as well


def test_linked_corrections_are_neither_shown_nor_overwritten(library, outside):
    folder = session(library)
    relink(folder / "corrections.json", outside / "corrections.json")
    before = snapshot(outside)
    library.scan()
    assert "corrections.json is a symbolic link" in summary(library, folder).problem
    assert [x.corrected for x in library.lines(folder.name)] == [False, False]
    with pytest.raises(LibraryError, match="Nothing was saved"):
        library.correct(folder.name, "live", 0, "Edited")
    everything_a_user_can_do(library, folder)
    assert snapshot(outside) == before


def test_a_linked_versions_folder_is_not_followed_and_not_written_into(library, outside):
    folder = session(library)
    relink(folder / "versions", outside / "versions")
    before = snapshot(outside)
    library.scan()
    assert "versions is a symbolic link" in summary(library, folder).problem
    assert library.versions(folder.name) == ["live"]
    with pytest.raises(LibraryError, match="Cannot store the version: versions is a symbolic link"):
        library.add_version(folder.name, "v2", [event("mic", "Redo.", 0.0)], {"complete": True})
    everything_a_user_can_do(library, folder)
    assert snapshot(outside) == before
    assert sorted(p.name for p in (outside / "versions").iterdir()) == ["v1.json", "v1.jsonl"]


def test_a_linked_version_file_is_not_listed(library, outside):
    folder = session(library)
    (folder / "versions").mkdir()
    (folder / "versions" / "v1.jsonl").symlink_to(outside / "versions" / "v1.jsonl")
    (folder / "versions" / "v1.json").symlink_to(outside / "versions" / "v1.json")
    before = snapshot(outside)
    library.scan()
    assert library.versions(folder.name) == ["live"]
    assert library.version_meta(folder.name, "v1") == {}
    everything_a_user_can_do(library, folder)
    assert snapshot(outside) == before


def test_linked_audio_is_not_played_and_not_counted(library, outside):
    folder = session(library)
    relink(folder / "audio" / "1-mic.wav", outside / "audio.wav")
    before = snapshot(outside)
    library.scan()
    entry = summary(library, folder)
    assert "audio/1-mic.wav is a symbolic link" in entry.problem
    plain = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    assert entry.size_bytes == sum(p.stat().st_size for p in plain)  # the linked file is not counted
    with pytest.raises(LibraryError, match="cannot be played: audio/1-mic.wav is a symbolic link"):
        library.audio_path(folder.name, "mic")
    everything_a_user_can_do(library, folder)
    assert snapshot(outside) == before


def test_link_loops_do_not_hang_or_crash(library, outside):
    folder = session(library)
    relink(folder / "audio", "audio")  # audio -> audio
    (folder / "versions").symlink_to("versions")
    (folder / "loop-a").symlink_to("loop-b")
    (folder / "loop-b").symlink_to("loop-a")
    (folder / "up").symlink_to("..")
    library.scan()
    entry = summary(library, folder)
    assert "audio is a symbolic link" in entry.problem
    assert entry.size_bytes == sum(p.lstat().st_size for p in (folder / "session.json", folder / "transcript.jsonl"))
    assert [x.text for x in library.lines(folder.name)] == [e.text for e in STANDUP]
    everything_a_user_can_do(library, folder)


def test_a_linked_session_json_reads_as_damaged(library, outside, tmp_path):
    template = session(library, "Elsewhere")
    real = outside / "session.json"
    real.write_bytes((template / "session.json").read_bytes())
    folder = session(library)
    relink(folder / "session.json", real)
    before = snapshot(outside)
    library.scan()
    entry = summary(library, folder)
    assert entry.state == "damaged" and "session.json is a symbolic link" in entry.problem
    assert entry.title == folder.name
    with pytest.raises(LibraryError, match="symbolic link"):
        library.rename(folder.name, "Renamed")
    everything_a_user_can_do(library, folder)
    assert snapshot(outside) == before


def test_a_session_folder_that_is_a_link_is_not_listed_or_read(library, outside, tmp_path):
    elsewhere = make_session(tmp_path / "other-data", "Linked", [event("mic", SECRET, 0.0)])
    linked = library.sessions_dir / elsewhere.name
    linked.symlink_to(elsewhere)
    before = snapshot(tmp_path / "other-data")
    session(library)
    assert len(library.scan()) == 1
    assert [s.title for s in library.sessions()] == ["Standup"]
    assert library.search(SECRET) == []
    with pytest.raises(LibraryError, match="is a symbolic link"):
        library.folder(elsewhere.name)
    with pytest.raises(LibraryError, match="is a symbolic link"):
        library.delete(elsewhere.name)
    assert snapshot(tmp_path / "other-data") == before


def test_deleting_a_session_removes_its_links_but_not_what_they_point_at(library, outside):
    folder = session(library)
    relink(folder / "transcript.jsonl", outside / "transcript.jsonl")
    (folder / "linked-folder").symlink_to(outside / "versions")
    relink(folder / "recording.lock", outside / "corrections.json")  # no recorder's lock
    before = snapshot(outside)
    library.scan()
    library.delete(folder.name)
    assert not os.path.lexists(folder)
    assert snapshot(outside) == before


def test_audio_paths_in_session_json_that_leave_the_folder_are_refused(library, outside):
    folder = session(library)
    raw = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    for audio in (os.path.relpath(outside / "audio.wav", folder), str(outside / "audio.wav")):
        raw["sources"][0]["audio"] = audio
        (folder / "session.json").write_text(json.dumps(raw), encoding="utf-8")
        before = snapshot(outside)
        library.scan()
        assert summary(library, folder).state == "damaged"
        with pytest.raises(LibraryError, match="missing"):
            library.audio_path(folder.name, "mic")
        everything_a_user_can_do(library, folder)
        assert snapshot(outside) == before


def test_a_pipe_in_place_of_the_transcript_is_not_opened(library):
    folder = session(library)
    (folder / "transcript.jsonl").unlink()
    os.mkfifo(folder / "transcript.jsonl")  # reading it would wait for a writer for ever
    library.scan()
    assert "transcript.jsonl is not a plain file" in summary(library, folder).problem
    with pytest.raises(LibraryError, match="not a plain file"):
        library.lines(folder.name)


def test_damaged_transcript_lines_never_stop_a_scan(library):
    folder = session(library, "Damaged lines", MEETING)
    good = (folder / "transcript.jsonl").read_bytes()
    bad_lines = [
        b'{"source_id": "mic", "text": "nan time", "start_s": NaN, "end_s": 1}',
        b'{"source_id": "mic", "text": "inf time", "start_s": 0, "end_s": Infinity}',
        b'{"source_id": "mic", "text": "huge", "start_s": 1e308, "end_s": 1e308}',
        b'{"source_id": "mic", "text": ["a list"], "start_s": 0, "end_s": 1}',
        b'\xff\xfe not utf-8',
        b'{"source_id": "mic", "text": "\\ud800 lone", "start_s": 0, "end_s": 1}',
    ]
    (folder / "transcript.jsonl").write_bytes(good + b"\n".join(bad_lines) + b"\n")
    library.scan()
    texts = [x.text for x in library.lines(folder.name)]
    assert "nan time" not in " ".join(texts) and "inf time" not in " ".join(texts)
    assert texts[0] == "Hello everyone. Let's talk about the budget."
    assert [h.line_index for h in library.search("lone")] != []

    nested = session(library, "Nested", STANDUP)
    library.scan()
    before = [x.text for x in library.lines(nested.name)]
    with open(nested / "transcript.jsonl", "ab") as f:
        f.write(b"[" * 100000 + b"\n")  # a line nested past the parser's limit is skipped like any damaged line
    library.scan()
    assert [x.text for x in library.lines(nested.name)] == before and before
