"""A sound file played as a live source: how demos and tests feed the live pipeline with known audio."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.audio import read_file


class FilePlayer:
    """Hands out a file's samples in blocks of ``block_ms``, each when it would have been heard.

    Due times come from the clock at the start (block k is due at start + its end time / ``speed``), so pacing does
    not drift however late one wait wakes. Raises AudioInputError (from model.audio) for an unreadable file.
    """

    def __init__(self, path: str | Path, *, block_ms: int = 40, speed: float = 1.0, loop: bool = False) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        samples, self.rate = read_file(path)
        if samples.ndim == 2:
            samples = samples.mean(axis=1, dtype=np.float32)
        self.samples: np.ndarray = np.ascontiguousarray(samples, dtype=np.float32)
        self.block_frames = max(1, round(self.rate * block_ms / 1000))
        self.speed = speed
        self.loop = loop

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.rate

    def blocks(self, stop: threading.Event) -> Iterator[np.ndarray]:
        """The blocks, paced in real time / ``speed``; ends at the end of the file or when ``stop`` is set."""
        start = time.monotonic()
        played = 0  # frames handed out so far, over all loops
        pos = 0
        while True:
            if pos >= self.samples.size:
                if not self.loop:
                    return
                pos = 0
            block = self.samples[pos : pos + self.block_frames]
            pos += block.size
            played += block.size
            due = start + played / self.rate / self.speed
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            yield block
