"""Small immutable messages that travel between the capture thread, the inference worker and the GUI.

They are plain dataclasses, not Qt objects: the same events feed the overlay, the live transcript, tests and (later)
the transcript store and exporters. Times are seconds on the timeline of one source, counted from its first captured
sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

MODEL_RATE = 16000  # every block handed to the engine is mono float32 at this rate


class SourceKind(str, Enum):
    MICROPHONE = "microphone"
    SYSTEM = "system"  # what the computer plays (a monitor / loopback source)
    FILE = "file"  # a file played as a live source, paced in real time


@dataclass(frozen=True)
class AudioSource:
    """Something to listen to. ``id`` is stable across restarts and is what settings remember."""

    id: str
    kind: SourceKind
    name: str  # human-readable, shown in the source picker
    device: str | int | None = None  # what the capture backend opens (PortAudio device, pulse source, file path)
    label: str = ""  # shown before its captions when two sources run at once, e.g. "You" / "Others"


@dataclass(frozen=True, eq=False)
class AudioBlock:
    """A block of captured audio, already converted to mono float32 at ``MODEL_RATE``."""

    source_id: str
    samples: np.ndarray = field(repr=False)
    start_s: float  # where the block starts on the source's timeline

    @property
    def end_s(self) -> float:
        return self.start_s + self.samples.size / MODEL_RATE


@dataclass(frozen=True)
class LevelReading:
    """Input level of one source, for the level meters (about 20 per second)."""

    source_id: str
    rms_dbfs: float  # -inf for digital silence
    peak: float  # 0..1 (absolute sample value)


@dataclass(frozen=True)
class CaptionEvent:
    """Text the model added for one source; ``text`` may be empty for steps that only carry control tokens."""

    source_id: str
    text: str
    token_ids: tuple[int, ...]
    start_s: float
    end_s: float
    final: bool = False  # the last event of a stream (the stream was flushed and closed)


@dataclass(frozen=True)
class WorkerStatus:
    """How the live engine keeps up, reported after each processed batch."""

    source_id: str
    captured_s: float  # audio the capture side has delivered for this source
    decoded_s: float  # audio the model has turned into text
    step_ms: float  # average compute time per 80 ms step in the last batch
    realtime_factor: float  # compute time / audio time over the last few seconds (< 1 keeps up)
    device: str  # e.g. "NVIDIA H100 (cuda:0)" or "CPU"
    delay_ms: int

    @property
    def lag_s(self) -> float:
        return max(0.0, self.captured_s - self.decoded_s)


@dataclass(frozen=True)
class CaptionGap:
    """A stretch of a source's audio that got no captions, e.g. while the caption server could not be reached or
    when captions skipped ahead to the live edge. The audio itself was recorded and can be transcribed again.

    A transcript stores it as a line with ``source_id``, ``start_s``, ``end_s``, an empty ``text`` and a ``gap``
    key holding ``reason``: older readers take it for an empty caption.
    """

    source_id: str
    start_s: float
    end_s: float
    reason: str  # for people, e.g. "server unreachable"


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Notice:
    """Something the user should be told (a skipped stretch of audio, a lost device, a model error)."""

    severity: Severity
    message: str
    source_id: str = ""
