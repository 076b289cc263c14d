"""Where ``captionist transcribe`` writes, and where it never does: real audio files, links, folders, a read-only
mount and a WAV left behind by a recorder that was killed. Refusals come before the model is loaded (a missing model
would otherwise be exit status 4) and leave every file as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.cli import EXIT_OK, EXIT_USAGE, main
from app.events import CaptionEvent
from app.export import export
from tests.fixtures.mounts import read_only
from tests.fixtures.speech import espeak_speech

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def talk(tmp_path: Path) -> Path:
    speech, rate = espeak_speech("The budget was approved on Monday.", rate=16000)
    path = tmp_path / "talk.wav"
    soundfile.write(str(path), speech, rate)
    return path


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def refused_before_the_model(capsys, *argv: str | Path) -> str:
    """Runs with a model that does not exist: exit status 2 shows the refusal came first. Returns stderr."""
    missing = Path(argv[0]).parent / "no-such-model"
    assert run("transcribe", *argv, "--model", missing) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot load the model" not in err
    return err


def test_the_input_is_never_the_output_however_it_is_named(talk, tmp_path, capsys, monkeypatch) -> None:
    original = talk.read_bytes()
    (tmp_path / "link.txt").symlink_to(talk)
    os.link(talk, tmp_path / "hard.txt")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    for output in (talk, "./talk.wav", "sub/../talk.wav", tmp_path / "link.txt", tmp_path / "hard.txt"):
        err = refused_before_the_model(capsys, talk, "-o", output)
        assert "is the input" in err and "Choose another output name" in err
    assert talk.read_bytes() == original


def test_existing_audio_folders_and_other_files_are_refused(talk, tmp_path, capsys) -> None:
    other = tmp_path / "interview.flac"
    soundfile.write(str(other), np.zeros(1600, dtype=np.float32), 16000)
    notes = tmp_path / "notes.docx"
    notes.write_text("mine")
    assert "is an audio file" in refused_before_the_model(capsys, talk, "-o", other)
    assert "is not a .txt transcript" in refused_before_the_model(capsys, talk, "-o", notes)
    assert "is not a .srt transcript" in refused_before_the_model(capsys, talk, "--format", "srt", "-o", notes)
    assert notes.read_text() == "mine" and soundfile.info(str(other)).frames == 1600


def test_outputs_that_cannot_be_written_are_refused(talk, tmp_path, capsys) -> None:
    (tmp_path / "a-file").write_text("x")
    err = refused_before_the_model(capsys, talk, "-o", tmp_path / "a-file" / "out.txt")
    assert f"{tmp_path / 'a-file'} is a file, not a folder" in err
    err = refused_before_the_model(capsys, talk, talk, "-o", tmp_path / "a-file" / "folder")
    assert "is a file, not a folder" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        err = refused_before_the_model(capsys, talk, "-o", locked / "out.txt")
        assert f"the folder {locked} cannot be written to (it is read-only). Choose another folder." in err
        err = refused_before_the_model(capsys, talk, talk, "-o", locked / "transcripts")
        assert "it is read-only" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "locked", "talk.wav"]


def test_a_transcript_is_replaced_and_a_missing_folder_created(talk, tmp_path, tiny_realtime, capsys) -> None:
    target = tmp_path / "new" / "folder" / "talk.srt"
    target.parent.mkdir(parents=True)
    target.write_text("an older transcript\n")
    assert run("transcribe", talk, "--model", tiny_realtime.folder, "--format", "srt", "-o", target) == EXIT_OK
    assert target.read_text(encoding="utf-8") != "an older transcript\n"
    fresh = tmp_path / "made" / "here" / "talk.txt"
    assert run("transcribe", talk, "--model", tiny_realtime.folder, "-o", fresh) == EXIT_OK
    assert fresh.is_file()
    assert run("transcribe", talk, "--model", tiny_realtime.folder, "-o", f"{tmp_path / 'into'}/") == EXIT_OK
    assert (tmp_path / "into" / "talk.txt").is_file()  # a trailing slash names a folder
    assert capsys.readouterr().err == ""


def test_folder_outputs_step_around_inputs_and_audio(tmp_path, talk, tiny_realtime, capsys) -> None:
    """talk.wav and talk.flac share a stem, so their transcripts are talk.wav.srt and talk.flac.srt; here an input
    (sound saved under a .srt name) already is talk.wav.srt, and so would its own transcript be."""
    flac = tmp_path / "talk.flac"
    soundfile.write(str(flac), soundfile.read(str(talk))[0], 16000)
    disguised = tmp_path / "talk.wav.srt"
    disguised.write_bytes(talk.read_bytes())
    inputs = [talk, flac, disguised]
    before = {p: p.read_bytes() for p in inputs}
    assert run("transcribe", *inputs, "--model", tiny_realtime.folder, "--format", "srt", "-o", tmp_path) == EXIT_OK
    err = capsys.readouterr().err
    assert f"{disguised} is the input {disguised}: writing there would destroy the audio; writing talk.wav-2.srt " \
           "instead." in err
    assert "writing talk.wav-3.srt instead." in err
    assert {p: p.read_bytes() for p in inputs} == before
    made = sorted(p.name for p in tmp_path.iterdir() if p not in inputs)
    assert made == ["talk.flac.srt", "talk.wav-2.srt", "talk.wav-3.srt"]


def test_names_too_long_for_the_file_system_are_shortened(talk, tmp_path, tiny_realtime, capsys) -> None:
    long_name = "Compte rendu de la réunion budgétaire " * 8 + ".vtt"  # about 330 bytes in UTF-8
    assert len(os.fsencode(long_name)) > 255
    assert run("transcribe", talk, "--model", tiny_realtime.folder, "--format", "vtt",
               "-o", tmp_path / long_name) == EXIT_OK
    (written,) = [p for p in tmp_path.iterdir() if p.suffix == ".vtt"]
    assert len(os.fsencode(written.name)) <= 255 and long_name.startswith(written.stem)
    assert written.read_text(encoding="utf-8").startswith("WEBVTT")
    assert f"writing {written.name}" in capsys.readouterr().err
    # Two inputs whose transcripts shorten to the same name still get one each.
    stem = "é" * 124 + "a"  # 249 bytes: talk.wav + .srt no longer fits
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
        (folder / f"{stem}.wav").write_bytes(talk.read_bytes())
    out = tmp_path / "out"
    assert run("transcribe", *(f / f"{stem}.wav" for f in folders), "--model", tiny_realtime.folder,
               "--format", "srt", "-o", out) == EXIT_OK
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and names[0] != names[1]
    assert all(len(os.fsencode(n)) <= 255 and n.endswith(".srt") for n in names)


def test_a_wav_left_by_a_killed_recorder_is_transcribed_to_its_true_length(talk, tmp_path, tiny_realtime,
                                                                           capsys) -> None:
    """A recorder (app.recording.wav_writer.GrowingWav) killed between two header updates: the header counts only
    the first second; the command reads everything the file holds."""
    speech, rate = soundfile.read(str(talk), dtype="float32")
    crashed = tmp_path / "crashed.wav"
    script = ("import os, signal, sys, numpy as np, soundfile; from app.recording.wav_writer import GrowingWav; "
              "s, r = soundfile.read(sys.argv[1], dtype='float32'); w = GrowingWav(sys.argv[2], r); "
              "w.append(s[:r]); w.sync(); w.append(s[r:]); w._file.flush(); os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", script, str(talk), str(crashed)], cwd=ROOT)
    assert done.returncode == -9
    assert soundfile.info(str(crashed)).frames == rate  # the header's count: one second
    assert run("transcribe", crashed, "--model", tiny_realtime.folder, "--format", "json") == EXIT_OK
    out, err = capsys.readouterr()
    assert f"the file holds {speech.size / rate:.1f} s" in err
    session = tiny_realtime.model.stream(delay_ms=480)
    tokens = session.feed(speech, sample_rate=rate) + session.finish()
    events = [CaptionEvent("crashed.wav", t.text, (t.token_id,), t.start_s, t.end_s) for t in tokens]
    assert out == export(events, "json", model=str(tiny_realtime.folder), title="crashed.wav")
