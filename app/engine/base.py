"""What the live-caption worker needs from a speech engine.

The worker talks to this small interface, not to the model class, so a later engine that forwards audio to an
existing serving engine (vLLM's realtime endpoint) can stand beside the local one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from model import TokenEvent


class CaptionStream(Protocol):
    """One live stream: audio in, token events out (the model's StreamingSession satisfies it)."""

    def feed(self, samples: np.ndarray, sample_rate: int = 16000) -> Sequence[TokenEvent]: ...

    def finish(self) -> Sequence[TokenEvent]: ...

    @property
    def decoded_seconds(self) -> float: ...

    @property
    def text(self) -> str:
        """The text kept so far (all of it without the first ``dropped_chars`` characters: a stream keeps a bounded
        tail); after ``finish`` it may end with text no event carried (a flushed partial character)."""
        ...

    @property
    def dropped_chars(self) -> int: ...


class Engine(Protocol):
    @property
    def device_name(self) -> str: ...

    def open_stream(self, delay_ms: int) -> CaptionStream: ...

    def release_memory(self) -> None:
        """Give cached accelerator memory back after streams were dropped."""
        ...
