"""Bad or unusual audio input is either handled or refused with a message that says what to do."""

import numpy as np
import pytest
import torch

from model import AudioInputError
from model.audio import as_mono_float32, check_sample_rate, prepare


def test_integer_pcm_is_scaled() -> None:
    np.testing.assert_allclose(as_mono_float32(np.array([0, 16384, -32768], dtype=np.int16)), [0, 0.5, -1.0])
    np.testing.assert_allclose(as_mono_float32(np.array([2**30], dtype=np.int32)), [0.5])
    np.testing.assert_allclose(as_mono_float32(np.array([128, 192, 0], dtype=np.uint8)), [0, 0.5, -1.0])
    with pytest.raises(AudioInputError, match="int64"):
        as_mono_float32(np.array([1, 2], dtype=np.int64))


def test_stereo_both_orientations_and_tensors() -> None:
    left, right = np.linspace(-1, 1, 1000, dtype=np.float32), np.zeros(1000, dtype=np.float32)
    frames_first = np.stack([left, right], axis=1)  # (frames, channels), as soundfile gives it
    channels_first = frames_first.T.copy()  # (channels, frames), as torchaudio gives it
    expected = (left + right) / 2
    np.testing.assert_allclose(as_mono_float32(frames_first), expected)
    np.testing.assert_allclose(as_mono_float32(channels_first), expected)
    np.testing.assert_allclose(as_mono_float32(torch.from_numpy(channels_first)), expected)
    assert as_mono_float32([0.0, 0.5]).dtype == np.float32
    with pytest.raises(AudioInputError, match="shape"):
        as_mono_float32(np.zeros((2, 2, 2)))


def test_non_finite_and_non_numeric() -> None:
    for bad in (np.nan, np.inf, -np.inf):
        audio = np.zeros(100, dtype=np.float32)
        audio[42] = bad
        with pytest.raises(AudioInputError, match="sample 42"):
            as_mono_float32(audio)
    with pytest.raises(AudioInputError, match="numbers"):
        as_mono_float32(np.array(["a", "b"]))


@pytest.mark.parametrize("rate", [0, -16000, 999, 16000.5, float("nan"), "16k", None, True, 10**7])
def test_bad_sample_rates(rate) -> None:
    with pytest.raises(AudioInputError, match="sample_rate"):
        check_sample_rate(rate)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 96000])
def test_unusual_rates_are_resampled(rate) -> None:
    t = np.arange(rate) / rate
    out = prepare(np.sin(2 * np.pi * 440 * t).astype(np.float32), rate, 16000)
    assert abs(len(out) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 440) <= 1  # still a 440 Hz tone


def test_empty_refused_too_short_handled(tiny) -> None:
    with pytest.raises(AudioInputError, match="empty"):
        tiny.model.transcribe(np.zeros(0, dtype=np.float32), 16000)
    for n in (1, 10, 399, 1279):  # shorter than one STFT window or one 80 ms step
        result = tiny.model.transcribe(np.full(n, 0.1, dtype=np.float32), 16000)
        assert isinstance(result.text, str) and len(result.token_ids) <= 12
