"""A sound file played as a live source: how demos and tests feed the live pipeline with known audio."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.audio_file import AudioFile


class FilePlayer:
    """Hands out a file's samples (mono, at the file's rate) in blocks of ``block_ms``, each when it would have been
    heard.

    Due times come from the clock at the start (block k is due at start + its end time / ``speed``), so pacing does
    not drift however late one wait wakes. The file is read as it plays, so a long one takes little memory. Raises
    AudioInputError (from model.audio_file) for an unreadable file, here or (a file damaged further on) in blocks().
    """

    def __init__(self, path: str | Path, *, block_ms: int = 40, speed: float = 1.0, loop: bool = False) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.path = Path(path)
        with AudioFile(self.path) as audio:  # the header only: the file is readable, and its rate and length
            self.rate = audio.rate
            self._duration_s = audio.duration_s
        self.block_frames = max(1, round(self.rate * block_ms / 1000))
        self.speed = speed
        self.loop = loop

    @property
    def duration_s(self) -> float:
        return self._duration_s

    def blocks(self, stop: threading.Event) -> Iterator[np.ndarray]:
        """The blocks, paced in real time / ``speed``; ends at the end of the file or when ``stop`` is set."""
        start = time.monotonic()
        played = 0  # frames handed out so far, over all loops
        with AudioFile(self.path) as audio:
            while True:
                for block in audio.blocks(self.block_frames):
                    played += block.size
                    due = start + played / self.rate / self.speed
                    if stop.wait(max(0.0, due - time.monotonic())):
                        return
                    yield block
                if not self.loop:
                    return
