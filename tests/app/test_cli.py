"""The headless ``captionist transcribe`` command on real audio files (espeak speech as WAV and FLAC) with tiny
random checkpoints: every format, several files, unreadable inputs, option errors, exit codes, no display."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import srt

from app.cli import VOXTRAL_TOKENS_PER_S, main
from app.events import CaptionEvent
from app.export import FORMATS, export
from app.model_kind import REALTIME, VOXTRAL, model_kind
from tests.fixtures.speech import espeak_speech

ROOT = Path(__file__).resolve().parents[2]
SPEECH = "Hello there. This is a test of the captions."


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same speech as a 22.05 kHz mono WAV and a 16 kHz stereo FLAC, both named ``speech``."""
    folder = tmp_path_factory.mktemp("audio")
    wav_audio, wav_rate = espeak_speech(SPEECH, rate=22050)
    flac_audio, flac_rate = espeak_speech(SPEECH, rate=16000)
    soundfile.write(folder / "speech.wav", wav_audio, wav_rate)
    soundfile.write(folder / "speech.flac", np.stack([flac_audio, 0.5 * flac_audio], axis=1), flac_rate)
    (folder / "broken.mp3").write_bytes(b"this is not audio at all\n" * 40)
    (folder / "empty.wav").write_bytes(b"")
    return {"wav": folder / "speech.wav", "flac": folder / "speech.flac", "broken": folder / "broken.mp3",
            "empty": folder / "empty.wav"}


def expected(model, model_arg: str, path: Path, fmt: str, delay_ms: int = 480) -> str:
    """What the command should write: the export of the model's token events for the whole file, streamed at once."""
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    session = model.stream(delay_ms=delay_ms)
    tokens = session.feed(samples.mean(axis=1), sample_rate=rate) + session.finish()
    events = [CaptionEvent(path.name, t.text, (t.token_id,), t.start_s, t.end_s) for t in tokens]
    date = dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    return export(events, fmt, model=model_arg, title=path.name, date=date)


def run(*argv: str | Path) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_the_export_of_the_models_events(fmt, tiny_realtime, audio_files, capsys) -> None:
    folder = str(tiny_realtime.folder)
    assert run("transcribe", audio_files["wav"], "--model", folder, "--device", "cpu", "--format", fmt) == 0
    out, err = capsys.readouterr()
    assert out == expected(tiny_realtime.model, folder, audio_files["wav"], fmt)
    assert err == ""  # no progress bar when stderr is not a terminal


def test_precision_option_loads_the_weights_so(tiny_realtime, audio_files, monkeypatch, capsys) -> None:
    import model as model_package

    asked = []
    real = model_package.load_realtime

    def spy(*args, **kwargs):
        loaded = real(*args, **kwargs)
        asked.append((kwargs.get("precision"), loaded.precision))
        return loaded

    monkeypatch.setattr(model_package, "load_realtime", spy)
    folder = str(tiny_realtime.folder)
    assert run("transcribe", audio_files["wav"], "--model", folder, "--precision", "int8", "--format", "txt") == 0
    assert run("transcribe", audio_files["wav"], "--model", folder, "--format", "txt") == 0
    assert asked == [("int8", "int8"), ("auto", "full")]  # auto: this fp32 checkpoint stays as stored
    capsys.readouterr()
    assert run("transcribe", audio_files["wav"], "--model", folder, "--precision", "fp8") == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err


def test_token_times_come_from_the_same_tokens_as_offline_transcription(tiny_realtime, audio_files, capsys) -> None:
    folder = str(tiny_realtime.folder)
    assert run("transcribe", audio_files["flac"], "--model", folder, "--format", "json", "--delay-ms", "240") == 0
    doc = json.loads(capsys.readouterr().out)
    samples, rate = soundfile.read(str(audio_files["flac"]), dtype="float32")
    offline = tiny_realtime.model.transcribe(samples, rate, delay_ms=240)
    tokens = [t for s in doc["segments"] for t in s["tokens"]]
    assert tokens and doc["timing"] == "tokens"
    assert "".join(t["text"] for t in tokens).split() == offline.text.split()
    ids = iter(offline.token_ids)
    assert all(t["id"] in ids for t in tokens)  # the same ids, in order (control tokens left out)
    assert all(abs(t["start"] / 0.08 - round(t["start"] / 0.08)) < 1e-6 for t in tokens)


def test_several_files_go_into_a_folder_and_unreadable_ones_are_reported(tiny_realtime, audio_files, tmp_path,
                                                                         capsys) -> None:
    folder, out = str(tiny_realtime.folder), tmp_path / "transcripts"
    files = [audio_files["wav"], audio_files["broken"], audio_files["flac"], audio_files["empty"],
             tmp_path / "gone.wav"]
    assert run("transcribe", *files, "--model", folder, "--format", "srt", "-o", out) == 3
    err = capsys.readouterr().err
    assert f"{audio_files['broken']}: cannot read this file (" in err and "): is it an audio file?" in err
    assert f"{audio_files['empty']}: cannot read this file (" in err
    assert f"{tmp_path / 'gone.wav'}: no such file." in err
    assert sorted(p.name for p in out.iterdir()) == ["speech.flac.srt", "speech.wav.srt"]  # same stem: full names
    for name in ("wav", "flac"):
        text = (out / f"speech.{name}.srt").read_text(encoding="utf-8")
        assert text == expected(tiny_realtime.model, folder, audio_files[name], "srt")
        assert list(srt.parse(text))


def test_one_file_to_an_output_file(tiny_realtime, audio_files, tmp_path, capsys) -> None:
    folder, target = str(tiny_realtime.folder), tmp_path / "talk.vtt"
    assert run("transcribe", audio_files["wav"], "--model", folder, "--format", "vtt", "-o", target) == 0
    assert capsys.readouterr().out == ""
    assert target.read_text(encoding="utf-8") == expected(tiny_realtime.model, folder, audio_files["wav"], "vtt")


def test_stream_prints_the_captions_of_the_file_read_in_blocks(tiny_realtime, audio_files, capsys) -> None:
    assert run("stream", audio_files["flac"], "--model", tiny_realtime.folder, "--fast", "--delay-ms", "240") == 0
    samples, rate = soundfile.read(str(audio_files["flac"]), dtype="float32", always_2d=True)
    session = tiny_realtime.model.stream(delay_ms=240)
    tokens = session.feed(samples.mean(axis=1), sample_rate=rate) + session.finish()
    assert capsys.readouterr().out == "".join(t.text for t in tokens) + "\n"
    assert run("stream", audio_files["broken"], "--model", tiny_realtime.folder, "--fast") == 3
    assert "cannot read this file" in capsys.readouterr().err


def test_only_unreadable_files_fail_before_the_model_is_touched(audio_files, tmp_path, capsys) -> None:
    assert run("transcribe", audio_files["broken"], "--model", tmp_path / "no-model") == 3
    assert "cannot load the model" not in capsys.readouterr().err


@pytest.mark.parametrize("delay", ["100", "0", "2480", "soon"])
def test_a_bad_delay_is_a_usage_error(delay, tiny_realtime, audio_files, capsys) -> None:
    assert run("transcribe", audio_files["wav"], "--model", tiny_realtime.folder, "--delay-ms", delay) == 2
    assert "--delay-ms" in capsys.readouterr().err


def test_a_missing_model_folder_is_a_model_error(audio_files, tmp_path, capsys) -> None:
    assert run("transcribe", audio_files["wav"], "--model", tmp_path / "missing-model") == 4
    assert "cannot load the model" in capsys.readouterr().err


def test_language_is_refused_for_the_realtime_model(tiny_realtime, audio_files, capsys) -> None:
    assert run("transcribe", audio_files["wav"], "--model", tiny_realtime.folder, "--language", "en") == 2
    assert "detects the language itself" in capsys.readouterr().err


def test_runs_without_a_display_and_without_qt(tiny_realtime, audio_files) -> None:
    """A subprocess with no display variables; stderr is a terminal, so the progress bar shows."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    script = ("import sys; from app.cli import main; rc = main(sys.argv[1:]); "
              "print('qt loaded' if any(m.startswith('PySide6') for m in sys.modules) else 'qt free'); sys.exit(rc)")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "transcribe", str(audio_files["wav"]), "--model", str(tiny_realtime.folder),
         "--device", "cpu"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=slave,
    )
    os.close(slave)
    terminal = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        try:
            chunk = os.read(master, 4096) if ready else b""
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, terminal
    assert stdout.decode().splitlines()[-1] == "qt free"
    duration = soundfile.info(str(audio_files["wav"])).duration
    assert f"speech.wav [{'#' * 30}]" in terminal.decode() and f"/ {duration:.1f} s" in terminal.decode()


@pytest.fixture(scope="module")
def tiny_voxtral(tmp_path_factory: pytest.TempPathFactory):
    from model import load_voxtral
    from tests.fixtures.voxtral_checkpoint import VoxtralDims, make_reference, write_native

    folder = write_native(make_reference(VoxtralDims(), seed=0), tmp_path_factory.mktemp("voxtral") / "native")
    return folder, load_voxtral(folder, device="cpu")


def test_the_model_kind_is_read_from_the_checkpoint(tiny_realtime, tiny_voxtral) -> None:
    assert model_kind(tiny_realtime.folder) == REALTIME
    assert model_kind(tiny_voxtral[0]) == VOXTRAL


def test_voxtral_takes_a_language_and_estimates_times(tiny_voxtral, audio_files, capsys) -> None:
    folder, model = tiny_voxtral
    argv = ["transcribe", audio_files["wav"], "--model", folder, "--language", "en", "--format", "json"]
    assert run(*argv) == 0
    doc = json.loads(capsys.readouterr().out)
    samples, rate = soundfile.read(str(audio_files["wav"]), dtype="float32")
    limit = int(len(samples) / rate * VOXTRAL_TOKENS_PER_S) + 64
    text = model.transcribe(samples, rate, language="en", max_new_tokens=limit).text
    assert doc["timing"] == "estimated"
    assert [w["text"] for s in doc["segments"] for w in s["words"]] == text.split()
    ends = [w["end"] for s in doc["segments"] for w in s["words"]]
    assert ends == sorted(ends) and ends[-1] == pytest.approx(len(samples) / rate, abs=1e-3)


def test_voxtral_refuses_a_delay(tiny_voxtral, audio_files, capsys) -> None:
    assert run("transcribe", audio_files["wav"], "--model", tiny_voxtral[0], "--delay-ms", "480") == 2
    assert "--delay-ms is for the realtime model" in capsys.readouterr().err


def test_the_format_list_matches_the_exporter() -> None:
    import app.cli

    assert app.cli.FORMATS == FORMATS  # the command lists them itself so that --help imports no exporter


def test_version_and_a_description_for_every_subcommand(capsys) -> None:
    from importlib.metadata import version

    from app.cli import build_parser

    assert run("--version") == 0
    assert capsys.readouterr().out == f"captionist {version('captionist')}\n"
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices and all(p.description for p in sub.choices.values())


def test_model_given_before_the_subcommand_holds_for_it(tiny_realtime, audio_files, tmp_path, capsys) -> None:
    assert run("--model", tmp_path / "missing-model", "transcribe", audio_files["wav"]) == 4
    assert "missing-model" in capsys.readouterr().err
    assert run("--model", tmp_path / "missing-model", "transcribe", audio_files["wav"], "--model",
               tiny_realtime.folder) == 0  # after the subcommand it is the subcommand's own
    assert capsys.readouterr().out.strip()


def test_every_option_of_the_subcommands_may_come_before_them(tiny_realtime, audio_files, capsys) -> None:
    wav = audio_files["wav"]
    assert run("transcribe", wav, "--model", tiny_realtime.folder, "--device", "cpu", "--precision", "full",
               "--delay-ms", "480") == 0
    after = capsys.readouterr().out
    assert run("--device", "cpu", "--precision", "full", "--delay-ms", "480", "transcribe", wav, "--model",
               tiny_realtime.folder) == 0
    assert capsys.readouterr().out == after and after.strip()
    # checked as after the subcommand; given on both sides, the one after holds
    assert run("--delay-ms", "100", "transcribe", wav, "--model", tiny_realtime.folder) == 2
    assert "--delay-ms must be a multiple of 80" in capsys.readouterr().err
    assert run("--delay-ms", "100", "transcribe", wav, "--model", tiny_realtime.folder, "--delay-ms", "480") == 0
    assert capsys.readouterr().out == after
    assert run("--precision", "fp8", "transcribe", wav) == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
    assert run("--api-key-file", "key.txt", "transcribe", wav, "--model", tiny_realtime.folder) == 2
    assert "--api-key-file goes with --server" in capsys.readouterr().err
    # the window takes these from its settings: said, not ignored
    assert run("--device", "cpu") == 2
    assert "--device goes with transcribe or stream" in capsys.readouterr().err


def test_without_model_the_one_saved_in_the_settings_is_used(tiny_realtime, audio_files, tmp_path, capsys) -> None:
    from app.settings import ModelSettings, Settings, SettingsStore, default_path

    assert str(default_path()).startswith(os.environ["XDG_CONFIG_HOME"])  # this test's own, not the user's
    store = SettingsStore(default_path())
    store.save(Settings(model=ModelSettings(source=str(tiny_realtime.folder), offline=True)))
    assert run("transcribe", audio_files["wav"]) == 0
    saved_model = capsys.readouterr().out
    assert run("transcribe", audio_files["wav"], "--model", tiny_realtime.folder) == 0
    assert capsys.readouterr().out == saved_model and saved_model.strip()
    assert run("--model", tmp_path / "missing-model", "transcribe", audio_files["wav"]) == 4  # given wins
    capsys.readouterr()

    # A damaged file is neither changed nor set aside by the command line: the program reports it when it starts.
    default_path().write_text('{"model": {"source": 5}, "captions": []}', encoding="utf-8")
    before = default_path().read_bytes()
    assert run("transcribe", audio_files["wav"], "--model", tiny_realtime.folder) == 0
    assert default_path().read_bytes() == before
    assert sorted(p.name for p in default_path().parent.iterdir()) == ["settings.json"]


def test_help_says_which_model_is_used() -> None:
    from app.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "else the one chosen in the program's settings, else" in text
