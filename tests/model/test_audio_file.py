"""Audio files read in blocks (model.audio_file) on real WAV, FLAC and OGG files written with soundfile: the same
samples as reading the whole file, whatever the block size; resampling as model.audio does it; WAV headers that
count less than the file holds read to the true length, or reported."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from model import AudioInputError
from model.audio import to_rate
from model.audio_file import AudioFile, read_file

RATE = 48000
WIDTH = {"PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}  # bytes per sample


def stereo(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    left = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(t.size)
    return np.clip(np.stack([left, -0.5 * left], axis=1), -1, 1).astype(np.float32)


def whole_mono(path: Path) -> np.ndarray:
    samples, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    return samples.mean(axis=1, dtype=np.float32)


def undercount(path: Path, data_bytes: int) -> None:
    """Make ``path``'s header count only ``data_bytes`` of its data chunk, as a recorder that stopped before its
    last header update leaves it (both the RIFF and the data size fields)."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", data_bytes)
    raw[4:8] = struct.pack("<I", at + 8 + data_bytes - 8)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_blocks_are_the_whole_file_mono_whatever_their_size(tmp_path, fmt) -> None:
    path = tmp_path / f"talk.{fmt.lower()}"
    soundfile.write(str(path), stereo(3.3), RATE, format=fmt)
    expected = whole_mono(path)
    with AudioFile(path) as audio:
        assert (audio.rate, audio.channels, audio.frames) == (RATE, 2, soundfile.info(str(path)).frames)
        assert audio.duration_s == pytest.approx(expected.size / RATE)
        for size in (1000, 48000, 200_000):
            blocks = list(audio.blocks(size))
            assert all(b.size == size for b in blocks[:-1]) and 0 < blocks[-1].size <= size
            assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
            np.testing.assert_array_equal(np.concatenate(blocks), expected)


def test_resampled_blocks_equal_resampling_the_whole_signal(tmp_path) -> None:
    path = tmp_path / "talk.flac"
    soundfile.write(str(path), stereo(2.7, seed=1), RATE)
    expected = to_rate(whole_mono(path), RATE, 16000)
    with AudioFile(path, target_rate=16000) as audio:
        assert audio.rate == 16000 and audio.source_rate == RATE
        for size in (777, 16000, 100_000):
            np.testing.assert_array_equal(np.concatenate(list(audio.blocks(size))), expected)
    samples, rate = read_file(path, target_rate=16000)
    assert rate == 16000
    np.testing.assert_array_equal(samples, expected)


@pytest.mark.parametrize("subtype", list(WIDTH))
def test_a_wav_whose_header_counts_too_little_is_read_to_its_true_length(tmp_path, subtype) -> None:
    path = tmp_path / "crashed.wav"
    soundfile.write(str(path), stereo(2.0), RATE, subtype=subtype)
    full = whole_mono(path)
    undercount(path, 1000 * 2 * WIDTH[subtype])
    assert soundfile.info(str(path)).frames == 1000  # what a plain reader would stop at
    with AudioFile(path) as audio:
        assert (audio.frames, audio.stated_frames) == (full.size, 1000)
        assert audio.duration_s == pytest.approx(2.0)
        np.testing.assert_array_equal(np.concatenate(list(audio.blocks(30000))), full)
    samples, rate = read_file(path)
    assert rate == RATE
    np.testing.assert_array_equal(samples, full)


def test_a_header_counting_nothing_and_an_extensible_header_are_read_whole(tmp_path) -> None:
    path = tmp_path / "surround.wav"
    audio = np.random.default_rng(2).uniform(-0.9, 0.9, (RATE, 3)).astype(np.float32)
    soundfile.write(str(path), audio, RATE, format="WAVEX", subtype="PCM_24")
    full = whole_mono(path)
    undercount(path, 0)
    samples, _ = read_file(path)
    np.testing.assert_array_equal(samples, full)


def test_chunks_after_the_data_are_not_taken_for_audio(tmp_path) -> None:
    path = tmp_path / "tagged.wav"
    soundfile.write(str(path), stereo(0.5), RATE, subtype="PCM_16")
    full = whole_mono(path)
    with open(path, "ab") as f:  # a LIST chunk after the data, as tagging programs add
        info = b"INFO" + b"INAM" + struct.pack("<I", 5) + b"abcd\x00\x00"  # the name, padded to an even size
        f.write(b"LIST" + struct.pack("<I", len(info)) + info)
    raw = bytearray(path.read_bytes())
    raw[4:8] = struct.pack("<I", len(raw) - 8)
    path.write_bytes(bytes(raw))
    with AudioFile(path) as audio:
        assert audio.frames == audio.stated_frames == full.size
    np.testing.assert_array_equal(read_file(path)[0], full)


def test_an_inconsistent_header_it_cannot_decode_is_reported(tmp_path) -> None:
    path = tmp_path / "adpcm.wav"
    soundfile.write(str(path), stereo(1.0)[:, 0], RATE, subtype="IMA_ADPCM")
    undercount(path, 512)
    with pytest.raises(AudioInputError, match="the WAV header is inconsistent: it counts 512 bytes"):
        AudioFile(path)


def test_unusable_files_are_refused_with_the_reason(tmp_path) -> None:
    with pytest.raises(AudioInputError, match="no such file"):
        AudioFile(tmp_path / "missing.wav")
    with pytest.raises(AudioInputError, match="is a folder"):
        AudioFile(tmp_path)
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioInputError, match=r"cannot read this file \(.*\): is it an audio file\?"):
        AudioFile(tmp_path / "junk.wav")
    soundfile.write(str(tmp_path / "empty.wav"), np.zeros((0, 1), dtype=np.float32), RATE)
    with pytest.raises(AudioInputError, match="holds no audio"):
        AudioFile(tmp_path / "empty.wav")
    broken = stereo(0.2)
    broken[5000, 1] = np.nan
    soundfile.write(str(tmp_path / "nan.wav"), broken, RATE, subtype="FLOAT")
    with AudioFile(tmp_path / "nan.wav") as audio, pytest.raises(AudioInputError, match="first at frame 5000"):
        list(audio.blocks(1024))
    with AudioFile(tmp_path / "nan.wav") as audio, pytest.raises(ValueError, match="at least 1"):
        next(audio.blocks(0))
