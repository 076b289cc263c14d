"""Cutting a clip out of a saved session: its audio, mixed to one mono signal, and its time-stamped transcript.

The audio of a clip is the samples ``[round(start_s * 16000), round(end_s * 16000))`` of every source's WAV (16
kHz mono; a source's timeline is the recording's, see ``app.recording.session_folder``). The sources are summed, so
that both sides of a meeting are heard, and the sum is scaled down only when it would clip: its peak is then brought
to full scale, so one source on its own keeps its level and a mix is never distorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.chat.model import Clip, clock
from app.events import MODEL_RATE
from app.library.index import Library, Line
from app.recording.session_folder import SessionError, SessionInfo, member, read_session


class ClipError(Exception):
    """A clip that cannot be cut (an empty range, a session without audio); the message is meant for the user."""


@dataclass(frozen=True)
class ClipRange:
    """A clip resolved against its session: the time range in seconds and the transcript lines overlapping it."""

    clip: Clip
    start_s: float
    end_s: float
    lines: tuple[Line, ...]

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def excerpt(self) -> str:
        return transcript_excerpt(self.lines)

    def span(self) -> str:
        """"12:03–15:40": the resolved range in recording time."""
        return f"{clock(self.start_s)}–{clock(self.end_s)}"


@dataclass(frozen=True, eq=False)
class ClipAudio:
    """A clip's range and its audio: mono float32 at 16 kHz."""

    range: ClipRange
    samples: np.ndarray


def overlapping(lines: Sequence[Line], start_s: float, end_s: float) -> list[Line]:
    """The non-empty lines that overlap ``[start_s, end_s)``, in time order."""
    hits = [ln for ln in lines if ln.text.strip() and ln.start_s < end_s
            and (ln.end_s > start_s or ln.start_s >= start_s)]
    return sorted(hits, key=lambda ln: ln.start_s)


def transcript_excerpt(lines: Sequence[Line]) -> str:
    """One "[mm:ss] Label: text" row per line (times from the recording's start; no label when it has none)."""
    rows = []
    for line in lines:
        who = f"{line.label}: " if line.label else ""
        rows.append(f"[{clock(line.start_s)}] {who}{line.text.strip()}")
    return "\n".join(rows)


def _audio_file(folder: Path, rel: str) -> Path | None:
    """A source's WAV when it is a plain file inside the session folder; None when missing (or a link elsewhere)."""
    try:
        path = member(folder, rel)
    except SessionError:
        return None
    return path if path.is_file() else None


def mix(signals: Sequence[np.ndarray]) -> np.ndarray:
    """The sum of ``signals`` (zero-padded to the longest), scaled to full scale only when its peak exceeds it."""
    out = np.zeros(max((s.size for s in signals), default=0), dtype=np.float32)
    for s in signals:
        out[: s.size] += s
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return out / np.float32(peak) if peak > 1.0 else out


class ClipSource:
    """Clips of one library's sessions; ranges and transcripts are cached, audio is read each time it is asked for.

    ``version`` None uses the newest transcript of each session (a re-transcription when there is one).
    """

    def __init__(self, library: Library, version: str | None = None) -> None:
        self.library = library
        self.version = version
        self._ranges: dict[Clip, ClipRange] = {}
        self._sessions: dict[str, tuple[Path, SessionInfo, list[Line], int]] = {}

    def _session(self, session_id: str) -> tuple[Path, SessionInfo, list[Line], int]:
        if session_id not in self._sessions:
            import soundfile

            folder = self.library.folder(session_id)
            info = read_session(folder)
            version = self.version or self.library.versions(session_id)[-1]
            frames = 0
            for source in info.sources:
                path = _audio_file(folder, source.audio)
                if path is not None:
                    frames = max(frames, soundfile.info(str(path)).frames)
            self._sessions[session_id] = (folder, info, self.library.lines(session_id, version), frames)
        return self._sessions[session_id]

    def duration_s(self, session_id: str) -> float:
        """The length of a session's recording (its longest source)."""
        return self._session(session_id)[3] / MODEL_RATE

    def range(self, clip: Clip) -> ClipRange:
        """``clip`` resolved: ``end_s`` None becomes the recording's end; the range is cut to the recording."""
        if clip not in self._ranges:
            _, _, lines, frames = self._session(clip.session_id)
            end = frames if clip.end_s is None else min(round(clip.end_s * MODEL_RATE), frames)
            start = max(0, round(clip.start_s * MODEL_RATE))
            if start >= end:
                raise ClipError(f"The clip {clip.describe()} holds no audio of the recording.")
            start_s, end_s = start / MODEL_RATE, end / MODEL_RATE
            self._ranges[clip] = ClipRange(clip, start_s, end_s, tuple(overlapping(lines, start_s, end_s)))
        return self._ranges[clip]

    def audio(self, clip: Clip) -> ClipAudio:
        """The clip's range and its audio, mixed from every source of the session."""
        import soundfile

        span = self.range(clip)
        folder, info, _, _ = self._session(clip.session_id)
        start, stop = round(span.start_s * MODEL_RATE), round(span.end_s * MODEL_RATE)
        signals = []
        for source in info.sources:
            path = _audio_file(folder, source.audio)
            if path is None:
                continue
            samples, _ = soundfile.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
            signals.append(samples[:, 0])
        if not signals:
            raise ClipError(f"The recording {info.title!r} has no audio files.")
        mixed = mix(signals)  # as long as the longest source's part; shorter ones were padded with silence
        return ClipAudio(span, np.pad(mixed, (0, stop - start - mixed.size)))
