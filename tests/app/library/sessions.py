"""Session folders in the recorder's format (see app/recording/session_folder.py), written with its writers."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import soundfile

from app.events import MODEL_RATE, CaptionEvent
from app.recording.session_folder import (
    AUDIO_DIR,
    SessionInfo,
    SessionState,
    SourceInfo,
    audio_name,
    write_session,
    write_transcript,
)

START = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)


def event(source_id: str, text: str, start_s: float, end_s: float | None = None, final: bool = False) -> CaptionEvent:
    return CaptionEvent(source_id, text, (1,), start_s, start_s + 0.08 if end_s is None else end_s, final)


# Two sources, three lines: "You" (line 0), "Others" (line 1), "You" again after a pause (line 2).
MEETING = [
    event("mic", "Hello everyone.", 0.0, 0.5),
    event("mic", " Let's talk about the budget.", 0.5, 1.5),
    event("sys", 'Sure, the "Q3" numbers look fine', 1.6, 2.4),
    event("mic", "Next item: C++ build times (slow).", 5.0, 6.0),
    event("mic", "", 6.0, 6.1, final=True),
]
STANDUP = [  # one unlabelled source, two lines
    event("mic", "Yesterday I fixed the budget report.", 0.0, 1.0),
    event("mic", "Today: reviews, is that ok?", 3.0, 4.0),
]


def make_session(
    data_dir: Path,
    title: str,
    events: Sequence[CaptionEvent] = (),
    audio: dict[str, np.ndarray] | None = None,
    *,
    labels: dict[str, str] | None = None,
    started_at: datetime = START,
    state: str = "complete",
    problem: str | None = None,
) -> Path:
    """A session folder under ``data_dir/sessions``; ``audio`` maps each source id to its mono float samples at
    16 kHz (default: one source ``mic`` with a second of silence), ``labels`` gives source labels."""
    audio = audio if audio is not None else {"mic": np.zeros(MODEL_RATE, dtype=np.float32)}
    labels = labels or {}
    session_id = f"{started_at:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    folder = data_dir / "sessions" / session_id
    (folder / AUDIO_DIR).mkdir(parents=True)
    sources = []
    for n, (source_id, samples) in enumerate(audio.items()):
        source = SourceInfo(source_id, f"Device {source_id}", "microphone", labels.get(source_id, ""),
                            audio_name(n, source_id), MODEL_RATE)
        soundfile.write(folder / source.audio, samples, MODEL_RATE, subtype="PCM_16")
        sources.append(source)
    duration = max(len(samples) for samples in audio.values()) / MODEL_RATE
    info = SessionInfo(
        id=session_id,
        title=title,
        started_at=started_at,
        ended_at=None if state == "recording" else started_at + timedelta(seconds=duration),
        state=SessionState(state),
        duration_s=duration,
        sources=tuple(sources),
        problem=problem,
    )
    write_session(folder, info)
    write_transcript(folder, events)
    return folder
