"""Reading audio files for headless transcription."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class AudioFileError(Exception):
    pass


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples (frames, or frames x channels) as float32 and the file's sample rate; WAV, FLAC, OGG, MP3."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file.")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path}: cannot read it as audio ({exc}). Supported: WAV, FLAC, OGG, MP3.") from None
    if samples.size == 0:
        raise AudioFileError(f"{path}: the file holds no audio.")
    return samples, rate
