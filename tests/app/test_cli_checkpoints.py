"""``captionist transcribe`` and ``captionist stream`` on damaged checkpoints: exit status 4 and one line saying what
is wrong with the model, never a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.cli import EXIT_MODEL, main
from tests.model.checkpoint_damage import DAMAGES, REALTIME, Damage, write_bases

PREFIX = "captionist: cannot load the model: "


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return write_bases(tmp_path_factory.mktemp("bases"))


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(16000) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return path


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # the stream command exits through SystemExit
        return int(exc.code)


def check(damage: Damage, bases, tmp_path: Path, argv: list[str], capsys) -> None:
    folder = Path(shutil.copytree(bases[damage.model, damage.layout], tmp_path / damage.id))
    damage.apply(folder)
    capsys.readouterr()
    status = run([argv[0], *argv[1:], "--model", str(folder), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert status == EXIT_MODEL, err
    assert "Traceback" not in out + err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), err
    assert re.search(damage.pattern, lines[0]), lines[0]
    assert out == ""


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.id for d in DAMAGES])
def test_transcribe_refuses_a_damaged_checkpoint(damage, bases, wav, tmp_path, capsys) -> None:
    check(damage, bases, tmp_path, ["transcribe", str(wav)], capsys)


REALTIME_DAMAGES = [d for d in DAMAGES if d.model == REALTIME]


@pytest.mark.parametrize("damage", REALTIME_DAMAGES, ids=[d.id for d in REALTIME_DAMAGES])
def test_stream_refuses_a_damaged_checkpoint(damage, bases, wav, tmp_path, capsys) -> None:
    check(damage, bases, tmp_path, ["stream", str(wav), "--fast"], capsys)


def test_the_undamaged_checkpoints_transcribe(bases, wav, capsys) -> None:
    for folder in bases.values():
        assert run(["transcribe", str(wav), "--model", str(folder), "--device", "cpu"]) == 0
    assert "Traceback" not in capsys.readouterr().err
