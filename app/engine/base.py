"""What the live-caption worker needs from a speech engine.

The worker talks to this small interface, not to the model class, so an engine that forwards audio to an existing
serving engine (vLLM's realtime endpoint) stands beside the local one. A stream of such an engine keeps itself going
through network trouble (``SupervisedStream``): it tells the worker what happened as reports, not exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from app.events import Severity
from model import TokenEvent

UNKNOWN_TOKEN_ID = -1  # the id of a step decoded by a server: it sends each step's text, not its token id


class EngineUnusable(Exception):
    """The engine cannot caption until the user changes a setting (a refused API key, a model the server does not
    serve): trying again is no use. ``str(error)`` is the message for the user."""


@dataclass(frozen=True)
class StreamNotice:
    """Something a stream wants the user told (the worker adds the source)."""

    severity: Severity
    message: str


@dataclass(frozen=True)
class StreamGap:
    """A stretch of the stream's audio that got no captions, in seconds from the stream's first sample."""

    start_s: float
    end_s: float
    reason: str  # for people, e.g. "server unreachable"


StreamReport = StreamNotice | StreamGap


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


@runtime_checkable
class SupervisedStream(CaptionStream, Protocol):
    """A stream that recovers by itself (reconnects, restarts): the worker drains its reports after every feed and
    finish, and closes it when it drops it."""

    def take_reports(self) -> Sequence[StreamReport]: ...

    def close(self) -> None:
        """Stop at once without finishing (threads end, sockets close); safe to call more than once."""
        ...


class Engine(Protocol):
    @property
    def device_name(self) -> str: ...

    def open_stream(self, delay_ms: int) -> CaptionStream: ...

    def release_memory(self) -> None:
        """Give cached accelerator memory back after streams were dropped."""
        ...


@runtime_checkable
class FixedDelayEngine(Engine, Protocol):
    """An engine whose delay is not the caller's to choose (a server fixes it): ``open_stream`` ignores its
    ``delay_ms``."""

    @property
    def fixed_delay_ms(self) -> int | None:
        """The delay the engine works with; None while it is not known yet."""
        ...
