"""Importing an audio file as a session: all of it (even past a header a crash left behind), private, nothing left
behind on failure."""

from __future__ import annotations

import stat
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.recording.importer import import_audio
from app.recording.session_folder import read_audio, read_session, sessions_dir
from model import AudioInputError


def test_a_wav_whose_header_counts_too_little_is_imported_whole(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    stereo = rng.uniform(-0.5, 0.5, (48000 * 5, 2)).astype(np.float32)
    path = tmp_path / "interrupted.wav"
    soundfile.write(path, stereo, 48000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 48000 * 2 * 2)  # the header says 1 s; the file holds 5 s
    data[4:8] = struct.pack("<I", len(data) - 8 - 4 * 48000 * 2 * 2)
    path.write_bytes(bytes(data))
    assert soundfile.info(str(path)).frames == 48000  # what a plain reader would have taken

    folder = import_audio(tmp_path / "data", path)
    info = read_session(folder)
    assert info.duration_s == pytest.approx(5.0)
    assert read_audio(folder / info.sources[0].audio).size == 5 * 16000
    for p in [folder, *folder.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_an_unreadable_file_leaves_no_session_behind(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt nothing else")
    with pytest.raises(AudioInputError):
        import_audio(tmp_path / "data", broken)
    assert not sessions_dir(tmp_path / "data").exists() or list(sessions_dir(tmp_path / "data").iterdir()) == []
