"""The one check every writer makes before writing (app.export.output_check), on real files, links, folders, pipes
and a read-only mount: inputs, audio, the recordings folder and what cannot be written are refused; transcripts may
be replaced; names too long for the file system are shortened."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.export import write_export
from app.export.output_check import OutputRefused, check_output, fit_name, name_max
from tests.fixtures.mounts import read_only


@pytest.fixture
def talk(tmp_path: Path) -> Path:
    path = tmp_path / "talk.wav"
    soundfile.write(str(path), np.zeros(1600, dtype=np.float32), 16000)
    return path


def refused(path: Path, **kwargs) -> OutputRefused:
    with pytest.raises(OutputRefused) as caught:
        check_output(path, **kwargs)
    assert str(path) in str(caught.value)
    return caught.value


def test_an_input_is_refused_however_it_is_spelled_or_linked(talk, tmp_path, monkeypatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.srt").symlink_to(talk)
    os.link(talk, tmp_path / "hard.srt")
    monkeypatch.chdir(tmp_path)
    for spelling in (talk, Path("./talk.wav"), tmp_path / "sub" / ".." / "talk.wav", tmp_path / "link.srt",
                     tmp_path / "hard.srt"):
        error = refused(spelling, inputs=[talk])
        assert "is the input" in str(error) and error.occupied
    assert talk.read_bytes()[:4] == b"RIFF"


def test_audio_is_never_replaced_by_its_name_or_its_contents(talk, tmp_path) -> None:
    disguised = tmp_path / "notes.srt"
    soundfile.write(str(disguised), np.zeros(800, dtype=np.float32), 8000, format="FLAC")
    damaged = tmp_path / "half.txt"
    damaged.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    named = tmp_path / "text.mp3"
    named.write_text("not sound, but named as sound\n")
    for path in (talk, disguised, damaged, named):
        assert "is an audio file" in str(refused(path))


def test_folders_links_and_pipes_are_refused(tmp_path) -> None:
    transcript = tmp_path / "old.srt"
    transcript.write_text("1\n")
    (tmp_path / "pointer.srt").symlink_to(transcript)
    os.mkfifo(tmp_path / "pipe.srt")
    assert "is a folder" in str(refused(tmp_path))
    assert "symbolic link" in str(refused(tmp_path / "pointer.srt"))
    assert "not a plain file" in str(refused(tmp_path / "pipe.srt"))
    assert transcript.read_text() == "1\n"


def test_transcripts_may_be_replaced_other_files_only_where_no_extension_is_required(tmp_path) -> None:
    old = tmp_path / "meeting.srt"
    old.write_text("1\n")
    notes = tmp_path / "notes.docx"
    notes.write_text("my notes")
    assert check_output(old, replace_ext=".srt") == old
    assert check_output(notes) == notes  # the export dialog: the user confirmed replacing it
    error = refused(notes, replace_ext=".srt")
    assert "is not a .srt transcript" in str(error) and error.occupied


def test_nothing_is_written_into_the_recordings_folder(tmp_path) -> None:
    sessions = tmp_path / "data" / "sessions"
    (sessions / "20250101-000000-abcdef").mkdir(parents=True)
    (sessions / "20250101-000000-abcdef" / "transcript.jsonl").write_text("")
    (tmp_path / "outside").symlink_to(sessions / "20250101-000000-abcdef")
    for path in (sessions / "20250101-000000-abcdef" / "transcript.jsonl", sessions / "new.md",
                 tmp_path / "outside" / "session.json"):
        error = refused(path, protected=[sessions])
        assert "recordings folder" in str(error) and not error.occupied
    assert check_output(tmp_path / "data" / "export.md", protected=[sessions]) == tmp_path / "data" / "export.md"


def test_places_that_cannot_be_written_are_refused_before_anything_is_created(tmp_path) -> None:
    (tmp_path / "a-file").write_text("x")
    error = refused(tmp_path / "a-file" / "out.srt")
    assert "is a file, not a folder" in str(error) and not error.occupied
    assert check_output(tmp_path / "new" / "deeper" / "out.srt") == tmp_path / "new" / "deeper" / "out.srt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # the check itself creates nothing
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        for path in (locked / "out.srt", locked / "missing" / "out.srt"):
            error = refused(path)
            assert "cannot be written to (it is read-only)" in str(error) and not error.occupied


def test_long_names_are_shortened_in_bytes_keeping_the_extension_and_the_tag(tmp_path) -> None:
    limit = name_max(tmp_path)
    long_stem = "Réunion budgétaire " * 30  # far over the limit, and 2 bytes for each accented letter
    name = fit_name(long_stem, ".srt", tmp_path, tag="-2")
    assert name.endswith("-2.srt") and len(os.fsencode(name)) <= limit
    assert long_stem.startswith(name[: -len("-2.srt")])
    assert fit_name("short", ".srt", tmp_path) == "short.srt"
    path = check_output(tmp_path / f"{long_stem}.vtt")
    assert path.parent == tmp_path and path.suffix == ".vtt" and len(os.fsencode(path.name)) <= limit
    write_export(path, "WEBVTT\n")  # the shortened name really is a name this file system takes
    assert path.read_text() == "WEBVTT\n"
