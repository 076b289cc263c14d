"""Turning whatever audio a caller hands us into mono float32 at the model's sample rate.

Accepted: 1-D or 2-D numpy arrays / torch tensors / lists, float or integer PCM, mono or multi-channel, any sample
rate. A 2-D array's layout is never guessed where it is ambiguous: callers say ``channels_first`` (True: channels x
frames, as torchaudio gives it; False: frames x channels, as soundfile and sounddevice give it), or leave it None
when only one of the two readings has a plausible number of channels. Refused with a clear message: empty input
(where nothing can be done), NaN or infinite values, non-numeric data, an ambiguous or implausible layout,
nonsensical sample rates.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from model.errors import AudioInputError

_INT_SCALE = {np.dtype(np.int8): 128.0, np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000


def check_sample_rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real) or sample_rate != sample_rate:
        raise AudioInputError(f"sample_rate must be a number of samples per second, got {sample_rate!r}.")
    if sample_rate != int(sample_rate) or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioInputError(
            f"sample_rate={sample_rate!r} is not usable: give a whole number of Hz between "
            f"{MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} (16000, 44100 and 48000 are typical)."
        )
    return int(sample_rate)


GUESSABLE_CHANNELS = 8  # with channels_first=None, a dimension this small is read as channels (7.1 sound has 8)
MAX_CHANNELS = 64  # more channels than any capture device or file this program meets: the layout is wrong


def _channel_axis(shape: tuple[int, int], channels_first: bool | None, what: str) -> int:
    """Which axis of a 2-D block holds the channels; refuses ambiguous and implausible layouts."""
    if channels_first is None:
        plausible = [1 <= n <= GUESSABLE_CHANNELS for n in shape]
        if plausible[0] == plausible[1]:
            raise AudioInputError(
                f"{what} has shape {shape}, which is ambiguous: it could be (channels, frames) or (frames, "
                "channels). Pass channels_first=True for (channels, frames) or channels_first=False for "
                "(frames, channels)."
            )
        axis = 0 if plausible[0] else 1
    else:
        axis = 0 if channels_first else 1
    channels = shape[axis]
    layout = "(channels, frames)" if axis == 0 else "(frames, channels)"
    if channels == 0:
        raise AudioInputError(f"{what} has shape {shape}, read as {layout}: it has no channels.")
    if channels > MAX_CHANNELS:
        other = "channels_first=False" if axis == 0 else "channels_first=True"
        raise AudioInputError(
            f"{what} has shape {shape}, read as {layout}: {channels} channels is more than the {MAX_CHANNELS} "
            f"this program accepts. If the array is laid out the other way, pass {other}."
        )
    return axis


def as_mono_float32(audio: Any, *, what: str = "audio", channels_first: bool | None = None) -> np.ndarray:
    """Mono float32 samples in [-1, 1] scale from float or integer PCM, mono or multi-channel.

    1-D input is mono. 2-D input is (channels, frames) with ``channels_first=True``, (frames, channels) with
    False, and with None the layout is read from the shape only when exactly one dimension is a plausible channel
    count (1 to 8); otherwise an AudioInputError asks for ``channels_first``. Channels are averaged.
    """
    if hasattr(audio, "detach") and hasattr(audio, "cpu"):  # torch tensor, without importing torch here
        audio = audio.detach().cpu().numpy()
    try:
        arr = np.asarray(audio)
    except (ValueError, TypeError) as exc:
        raise AudioInputError(f"{what} is not an array of samples ({exc}).") from None
    if arr.dtype.kind in "iu" and arr.dtype != np.uint8 and arr.dtype not in _INT_SCALE:
        raise AudioInputError(f"{what} has integer samples of type {arr.dtype}; use int16, int32 or float32.")
    if arr.dtype.kind not in "iuf":
        raise AudioInputError(f"{what} must hold numbers, got an array of {arr.dtype}.")
    if arr.ndim not in (1, 2):
        raise AudioInputError(
            f"{what} has shape {arr.shape}; expected samples (1-D) or a 2-D block of frames and channels."
        )
    axis = _channel_axis(arr.shape, channels_first, what) if arr.ndim == 2 else None  # before any conversion
    if arr.dtype == np.uint8:
        arr = (arr.astype(np.float32) - 128.0) / 128.0
    elif arr.dtype in _INT_SCALE:
        arr = arr.astype(np.float32) / _INT_SCALE[arr.dtype]
    else:
        arr = arr.astype(np.float32, copy=False)
    if axis is not None:
        arr = arr.mean(axis=axis, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise AudioInputError(
            f"{what} contains NaN or infinite values (first at sample {bad}); the signal is corrupt. "
            "Check the decoder or capture device that produced it."
        )
    return np.ascontiguousarray(arr)


class StreamResampler:
    """Sample-rate conversion for a stream; its output is the same however the input is split into blocks."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        import soxr  # imported here: only needed when rates differ

        self.in_rate, self.out_rate = in_rate, out_rate
        self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def process(self, samples: np.ndarray, *, last: bool = False) -> np.ndarray:
        return self._stream.resample_chunk(samples, last=last)


def to_rate(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Whole-signal resampling, identical to streaming it through StreamResampler."""
    if in_rate == out_rate:
        return samples
    return StreamResampler(in_rate, out_rate).process(samples, last=True)


def prepare(
    audio: Any, sample_rate: Any, target_rate: int, *, what: str = "audio", channels_first: bool | None = None
) -> np.ndarray:
    """Validate, downmix and resample a whole signal for the model (``channels_first`` as in as_mono_float32)."""
    rate = check_sample_rate(sample_rate)
    samples = as_mono_float32(audio, what=what, channels_first=channels_first)
    if samples.size == 0:
        raise AudioInputError(f"{what} is empty (0 samples): there is nothing to transcribe.")
    return to_rate(samples, rate, target_rate)
