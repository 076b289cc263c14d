"""Keeping count of how fast the engine runs compared with the audio it is given."""

from __future__ import annotations

from collections import deque


class RealtimeMeter:
    """Compute time over audio time across the last ``window_s`` seconds of audio (< 1 keeps up with live)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._spans: deque[tuple[float, float]] = deque()  # (compute seconds, audio seconds)
        self._compute = 0.0
        self._audio = 0.0

    def add(self, compute_s: float, audio_s: float) -> None:
        self._spans.append((compute_s, audio_s))
        self._compute += compute_s
        self._audio += audio_s
        while len(self._spans) > 1 and self._audio - self._spans[0][1] >= self._window_s:
            c, a = self._spans.popleft()
            self._compute -= c
            self._audio -= a

    @property
    def factor(self) -> float:
        return self._compute / self._audio if self._audio > 0 else 0.0

    def reset(self) -> None:
        self._spans.clear()
        self._compute = self._audio = 0.0


def should_skip_to_live(lag_s: float, ceiling_s: float) -> bool:
    """Past the ceiling, captions of old audio are no use to a reader: restart at the newest audio instead."""
    return lag_s > ceiling_s
