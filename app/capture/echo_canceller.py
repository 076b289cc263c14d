"""An acoustic echo canceller: takes what the computer plays (the reference) out of the microphone's signal.

Without headphones the microphone hears the speakers, and its captions repeat the meeting. This removes most of that
echo from the audio the model hears; the recording keeps the raw audio (only the model's copy is changed).

- Where the echo lies: the two sources' timelines start at different moments and the sound takes time to come back,
  so the offset is found by cross-correlating the two signals (GCC-PHAT, up to ``MAX_DELAY_S`` either way) and used
  once two estimates in a row agree. Until then, and whenever no echo is found (headphones), the microphone's audio
  passes unchanged.
- The room: a partitioned-block frequency-domain NLMS filter (overlap-save) models ``TAIL_S`` of echo path from
  ``LEAD_S`` before the found offset. There are two: a background filter that always adapts and a foreground one
  that makes the output and is copied from the background when that removes more for ``BETTER_BLOCKS`` in a row.
  When someone in the room speaks over the echo, the background misadapts; it is then reset from the foreground, so
  the voice in the room is not cancelled with the echo.
- No added latency: every call returns as many samples as it got. A block not yet complete is filtered with the
  filters as they are; once complete it adapts them.

Two clocks that drift apart (a USB microphone beside the laptop's speakers) are followed only as fast as the filters
adapt, and not while someone speaks over the echo. Captured through PulseAudio (tests/app/test_echo_end_to_end.py),
the echo dropped by 21-30 dB (mean 27) alone and by 23-35 dB (mean 32) under a voice in the room with one clock, in
28 runs; through a loopback that adjusts its rate (~30 ppm), by 17-25 dB alone and 10-33 dB under the voice, in 8.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from app.events import MODEL_RATE

BLOCK = 256  # samples per filter block (16 ms)
TAIL_S = 0.192  # length of echo path the filters model
LEAD_S = 0.024  # the filters start this much before the found offset (an estimate is off by a little)
STEP = 1.0  # the background filter's NLMS step size
MAX_DELAY_S = 3.0  # how far apart the echo and the reference may be, either way (timelines start apart)
WINDOW_S = 3.0  # microphone audio correlated per delay estimate
ESTIMATE_EVERY_S = 0.5  # of microphone audio, while no offset is known; then every RECHECK_S
RECHECK_S = 5.0
AGREE_S = 0.002  # two estimates this close agree
PEAK_RATIO = 25.0  # a correlation peak this many standard deviations high is an echo (unrelated speech: ~12)
SILENT_MS = 1e-7  # mean square below which a signal carries nothing to learn from (-70 dBFS)
BACKLOG_S = 30.0  # the reference may come this far ahead of the microphone (a worker catching up: app.audio_queue)
SMOOTHING = 0.9  # per block, for the residual energies the two filters are compared by
TRUST_SMOOTHING = 0.99  # per block (1.6 s), for how much of the echo estimate the microphone holds: a voice in the
# room adds a term of zero mean that over a shorter span swings the ratio (and the echo left) widely
BETTER_BLOCKS = 8  # the background must take out more echo for this many blocks in a row before it is used: a
# background misadapting under a voice in the room can look better for a few blocks by cancelling part of the voice


class _History:
    """The newest ``size`` samples of a timeline, addressed by sample number on it; other samples read as zeros."""

    def __init__(self, size: int) -> None:
        self._buf = np.zeros(size, dtype=np.float32)
        self._size = size
        self.end = 0  # one past the newest sample written

    def write(self, start: int, samples: np.ndarray) -> None:
        if start > self.end:  # a stretch that never came is silence
            gap = min(start - self.end, self._size)
            self._put(start - gap, np.zeros(gap, dtype=np.float32))
        self._put(start, samples)
        self.end = max(self.end, start + samples.size)

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.float32)
        lo, hi = max(start, self.end - self._size), min(start + n, self.end)
        if hi > lo:
            i = lo % self._size
            first = min(hi - lo, self._size - i)
            out[lo - start : lo - start + first] = self._buf[i : i + first]
            out[lo - start + first : hi - start] = self._buf[: hi - lo - first]
        return out

    def _put(self, start: int, samples: np.ndarray) -> None:
        start += max(0, samples.size - self._size)
        samples = samples[-self._size :]
        i = start % self._size
        first = min(samples.size, self._size - i)
        self._buf[i : i + first] = samples[:first]
        self._buf[: samples.size - first] = samples[first:]


def estimate_offset(mic: np.ndarray, reference: np.ndarray, max_lag: int) -> int | None:
    """The lag ``L`` (samples) for which ``mic[n]`` best matches ``reference[n + max_lag - L]``, where ``reference``
    is ``2 * max_lag`` samples longer than ``mic``; None when no peak stands out. GCC-PHAT: the cross-spectrum is
    whitened, so the peak is sharp for speech too and a loud low band does not dominate."""
    size = 1 << (mic.size + reference.size - 1).bit_length()
    cross = np.conj(np.fft.rfft(mic, size)) * np.fft.rfft(reference, size)
    magnitude = np.abs(cross)
    cross /= magnitude + 1e-3 * magnitude.max() + 1e-30  # bins without signal must not become loud noise
    scores = np.fft.irfft(cross, size)[: 2 * max_lag + 1]
    best = int(np.argmax(scores))
    if scores[best] < PEAK_RATIO * scores.std():
        return None
    return max_lag - best


class EchoCanceller:
    """Removes the echo of a reference source (the computer's sound) from a microphone source; one per pair.

    Both are given as blocks on their own timelines (``start_s`` as in ``AudioBlock``); give the reference's blocks
    first when both arrive together. Not thread-safe: one thread (the inference worker) calls it.
    """

    def __init__(self, rate: int = MODEL_RATE) -> None:
        self._rate = rate
        self._parts = max(1, round(TAIL_S * rate / BLOCK))
        self._reference = _History(round((BACKLOG_S + WINDOW_S + 2 * MAX_DELAY_S + TAIL_S) * rate))
        self._mic = _History(round(WINDOW_S * rate) + BLOCK)
        self._block = np.zeros(BLOCK, dtype=np.float32)
        self._block_start = 0  # where the block in progress starts on the microphone's timeline
        self._filled = 0  # samples of it received
        self._emitted = 0  # samples of it already returned (filtered as it was then)
        self._next_estimate = round(ESTIMATE_EVERY_S * rate)
        self._candidate: int | None = None  # an estimate waiting for a second one that agrees
        self._lag: int | None = None  # the echo's offset in use: mic[n] echoes reference[n - lag]
        self._reset_filters()

    @property
    def delay_s(self) -> float | None:
        """The offset of the echo in use (microphone timeline minus reference timeline); None while none is found."""
        return None if self._lag is None else self._lag / self._rate

    def add_reference(self, start_s: float, samples: np.ndarray) -> None:
        self._reference.write(round(start_s * self._rate), samples)

    def process(self, start_s: float, samples: np.ndarray) -> np.ndarray:
        """The microphone's ``samples`` with the echo taken out: as many samples, float32."""
        start = round(start_s * self._rate)
        if start != self._block_start + self._filled:  # a jump on the timeline: start a fresh block there
            self._block_start, self._filled, self._emitted = start, 0, 0
        out: list[np.ndarray] = []
        pos = 0
        while pos < samples.size:  # block by block, so a long batch (catching up) is estimated on its way too
            take = min(BLOCK - self._filled, samples.size - pos)
            self._mic.write(start + pos, samples[pos : pos + take])
            if self._mic.end >= self._next_estimate:
                self._estimate()
            self._block[self._filled : self._filled + take] = samples[pos : pos + take]
            self._filled += take
            pos += take
            complete = self._filled == BLOCK
            cleaned = self._filter(complete)
            out.append(cleaned[self._emitted : self._filled])
            if complete:
                self._block_start += BLOCK
                self._filled = self._emitted = 0
            else:
                self._emitted = self._filled
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    # -- the offset ------------------------------------------------------------------------------------------------
    def _estimate(self) -> None:
        end = self._mic.end
        window, max_lag = round(WINDOW_S * self._rate), round(MAX_DELAY_S * self._rate)
        mic = self._mic.read(end - window, window)
        reference = self._reference.read(end - window - max_lag, window + 2 * max_lag)
        found = None
        if _mean_square(mic) > SILENT_MS and _mean_square(reference) > SILENT_MS:
            found = estimate_offset(mic, reference, max_lag)
        agreed = (found is not None and self._candidate is not None
                  and abs(found - self._candidate) <= AGREE_S * self._rate)
        self._candidate = found
        if agreed and (self._lag is None or abs(found - self._lag) > BLOCK // 4):
            self._lag = found  # the echo moved (or was found): what the filters learnt no longer fits
            self._reset_filters()
        self._next_estimate = end + round((RECHECK_S if self._lag is not None else ESTIMATE_EVERY_S) * self._rate)

    # -- the filters -----------------------------------------------------------------------------------------------
    def _reset_filters(self) -> None:
        bins = BLOCK + 1
        self._power = np.zeros(bins)  # smoothed power of the reference per bin
        self._foreground = np.zeros((self._parts, bins), dtype=np.complex128)
        self._background = np.zeros((self._parts, bins), dtype=np.complex128)
        self._residual_fg = self._residual_bg = self._input_energy = 0.0
        self._better = 0  # blocks in a row in which the background took out more
        self._echo_in_mic = self._echo_energy = 0.0  # smoothed <mic, echo estimate> and <estimate, estimate>

    def _filter(self, complete: bool) -> np.ndarray:
        """The cleaned block in progress (its first ``_filled`` samples are meaningful); adapts when ``complete``."""
        if self._lag is None:
            return self._block.copy()
        # The reference blocks the filters apply to, newest first, read afresh each time: reference audio that came
        # late is used as soon as it is there.
        end = self._block_start - (self._lag - round(LEAD_S * self._rate)) + BLOCK
        span = self._reference.read(end - (self._parts + 1) * BLOCK, (self._parts + 1) * BLOCK)
        spectra = np.fft.rfft(sliding_window_view(span, 2 * BLOCK)[::BLOCK][::-1], axis=1)
        mic = self._block.astype(np.float64)
        estimate = _echo(self._foreground, spectra)
        cleaned = mic - self._trust() * estimate
        if not complete:
            return cleaned.astype(np.float32)
        a = TRUST_SMOOTHING
        self._echo_in_mic = a * self._echo_in_mic + (1 - a) * float(mic @ estimate)
        self._echo_energy = a * self._echo_energy + (1 - a) * float(estimate @ estimate)
        residual_bg = mic - _echo(self._background, spectra)
        self._adapt(spectra, residual_bg)
        self._compare(float(mic @ mic), float(cleaned @ cleaned), float(residual_bg @ residual_bg))
        return cleaned.astype(np.float32)

    def _trust(self) -> float:
        """How much of the foreground's echo estimate is really in the microphone's signal (0..1). A voice in the
        room does not correlate with the estimate, so this holds while someone speaks, when the residual energies
        say nothing: a filter gone stale (the echo path moved meanwhile) is trusted less instead of adding echo."""
        if self._echo_energy <= 0.0:
            return 1.0
        return min(1.0, max(0.0, self._echo_in_mic / self._echo_energy))

    def _adapt(self, spectra: np.ndarray, residual: np.ndarray) -> None:
        power = np.abs(spectra[0]) ** 2
        self._power = SMOOTHING * self._power + (1 - SMOOTHING) * power
        if power.sum() < SILENT_MS * (2 * BLOCK) ** 2:
            return  # the reference is silent: nothing to learn the echo path from
        error = np.fft.rfft(np.concatenate([np.zeros(BLOCK), residual]))
        regular = 1e-3 * self._power.mean() + 1e-12
        gradient = np.conj(spectra) * (error / (self._parts * self._power + regular))
        taps = np.fft.irfft(gradient, 2 * BLOCK, axis=1)
        taps[:, BLOCK:] = 0.0  # overlap-save: the filters stay BLOCK taps long per partition
        self._background += STEP * np.fft.rfft(taps, axis=1)

    def _compare(self, mic: float, residual_fg: float, residual_bg: float) -> None:
        a = SMOOTHING
        self._input_energy = a * self._input_energy + (1 - a) * mic
        self._residual_fg = a * self._residual_fg + (1 - a) * residual_fg
        self._residual_bg = a * self._residual_bg + (1 - a) * residual_bg
        self._better = self._better + 1 if self._residual_bg < 0.9 * self._residual_fg else 0
        if self._better >= BETTER_BLOCKS:  # the background takes out more echo: use it
            self._foreground = self._background.copy()
            self._residual_fg = self._residual_bg
            self._better = 0
        elif self._residual_bg > 2.0 * self._residual_fg:  # it misadapted (someone spoke over the echo)
            self._background = self._foreground.copy()
            self._residual_bg = self._residual_fg
        if self._residual_fg > 2.0 * self._input_energy:  # clearly worse than nothing (the room changed): start again
            self._foreground[:] = 0.0
            self._residual_fg = self._input_energy


def _echo(filters: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """The echo estimate for the block: the filters applied to the reference blocks (the last half of the
    overlap-save output)."""
    return np.fft.irfft(np.einsum("pk,pk->k", filters, spectra), 2 * BLOCK)[BLOCK:]


def _mean_square(samples: np.ndarray) -> float:
    return float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0
