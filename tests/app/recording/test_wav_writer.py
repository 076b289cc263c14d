"""GrowingWav: a valid WAV at every sync while it grows; repair_wav after a crash."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.recording import wav_writer
from app.recording.session_folder import read_audio
from app.recording.wav_writer import GrowingWav, repair_wav, to_pcm16


def _ramp(n: int) -> np.ndarray:
    return np.linspace(-1.5, 1.5, n, dtype=np.float32)  # past full scale at both ends


def test_closed_file_holds_the_exact_clipped_samples(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    wav = GrowingWav(path)
    samples = _ramp(16000)
    for start in range(0, samples.size, 640):
        wav.append(samples[start : start + 640])
    wav.close()
    recorded, rate = soundfile.read(path, dtype="int16")
    assert rate == 16000 and wav.frames == 16000
    np.testing.assert_array_equal(recorded, to_pcm16(samples))
    assert recorded.min() == -32768 and recorded.max() == 32767
    np.testing.assert_allclose(read_audio(path), np.clip(samples, -1, 1), atol=1e-4)


def test_file_is_valid_up_to_the_last_sync_while_growing(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    wav = GrowingWav(path)
    assert soundfile.info(path).frames == 0
    wav.append(_ramp(3000))
    wav.sync()
    wav.append(_ramp(500))
    wav._file.flush()  # what a writer killed between syncs leaves: data after the header's size
    recorded, _ = soundfile.read(path, dtype="int16")
    np.testing.assert_array_equal(recorded, to_pcm16(_ramp(3000)))
    assert repair_wav(path) == pytest.approx(3500 / 16000)
    assert soundfile.info(path).frames == 3500
    wav.close()


def test_repair_cuts_a_partial_sample(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    wav = GrowingWav(path)
    wav.append(_ramp(100))
    wav.close()
    with open(path, "ab") as f:
        f.write(b"\x07")
    assert repair_wav(path) == pytest.approx(100 / 16000)
    assert path.stat().st_size == 44 + 200
    np.testing.assert_array_equal(soundfile.read(path, dtype="int16")[0], to_pcm16(_ramp(100)))


def test_repair_gives_an_empty_file_a_header(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.touch()
    assert repair_wav(path) == 0.0
    assert soundfile.info(path).frames == 0


def test_repair_leaves_other_files_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    soundfile.write(path, np.zeros((10, 2), np.float32), 16000, subtype="PCM_16")  # stereo: not ours
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not a 16-bit mono WAV"):
        repair_wav(path)
    assert path.read_bytes() == before


def test_too_long_a_recording_is_an_os_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wav_writer, "MAX_DATA_BYTES", 1000)
    wav = GrowingWav(tmp_path / "a.wav")
    wav.append(_ramp(500))
    with pytest.raises(OSError) as info:
        wav.append(_ramp(1))
    assert info.value.errno == errno.EFBIG
    wav.close()
    assert soundfile.info(tmp_path / "a.wav").frames == 500
