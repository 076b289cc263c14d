"""Log-mel spectrogram front end shared by both models (Whisper-style: periodic Hann window, power spectrum,
Slaney mel filters, log10, floor at max - 8, then (x + 4) / 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int
    n_mels: int
    hop_length: int
    window_size: int
    global_log_mel_max: float | None  # None: per-audio dynamic maximum (Whisper style)

    @property
    def n_fft(self) -> int:
        return self.window_size


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    # Slaney scale: linear below 1 kHz, logarithmic above.
    mels = 3.0 * freq / 200.0
    log_region = freq >= 1000.0
    mels[log_region] = 15.0 + np.log(freq[log_region] / 1000.0) * (27.0 / math.log(6.4))
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    freq = 200.0 * mels / 3.0
    log_region = mels >= 15.0
    freq[log_region] = 1000.0 * np.exp(math.log(6.4) / 27.0 * (mels[log_region] - 15.0))
    return freq


def mel_filter_bank(n_freq: int, n_mels: int, sample_rate: int) -> np.ndarray:
    """Slaney-normalised triangular filters [n_freq, n_mels] from 0 Hz to Nyquist, computed in float64."""
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_freq)
    mel_edges = np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sample_rate / 2]))[0], n_mels + 2)
    edges = _mel_to_hz(mel_edges)
    widths = np.diff(edges)
    slopes = edges[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    return filters * (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[None, :]


class LogMel:
    """Computes log-mel frames on a device; ``global_max`` None means the per-audio dynamic floor."""

    def __init__(self, cfg: MelConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.window = torch.hann_window(cfg.n_fft, device=device)
        bank = mel_filter_bank(cfg.n_fft // 2 + 1, cfg.n_mels, cfg.sample_rate)
        self.filters = torch.from_numpy(bank).to(device=device, dtype=torch.float32).T.contiguous()  # [M, F]

    def frames(self, samples: torch.Tensor) -> torch.Tensor:
        """[B, L] samples whose frame t spans samples [hop*t, hop*t + n_fft) -> log-mel [B, M, T] (fixed max only)."""
        return self._log_mel(self._power(samples, center=False), self.cfg.global_log_mel_max)

    def whole(self, samples: torch.Tensor) -> torch.Tensor:
        """[B, N] whole signals, centred frames with reflect padding, last frame dropped -> [B, M, N // hop]."""
        power = self._power(samples, center=True)[..., :-1]
        return self._log_mel(power, self.cfg.global_log_mel_max)

    def _power(self, samples: torch.Tensor, *, center: bool) -> torch.Tensor:
        spec = torch.stft(
            samples, self.cfg.n_fft, self.cfg.hop_length, window=self.window, center=center, return_complex=True
        )
        return spec.abs() ** 2  # [B, F, T]

    def _log_mel(self, power: torch.Tensor, global_max: float | None) -> torch.Tensor:
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10_()  # [B, M, T]
        if global_max is None:
            log_spec = torch.maximum(log_spec, log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0)
        else:
            log_spec = log_spec.clamp_min_(global_max - 8.0)
        return log_spec.add_(4.0).div_(4.0)
