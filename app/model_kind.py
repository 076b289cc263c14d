"""Which model a checkpoint folder holds, read from its files before anything is loaded."""

from __future__ import annotations

from pathlib import Path

from model.config_files import read_tekken_audio

REALTIME = "realtime"  # Voxtral Mini 4B Realtime: live and offline transcription, token times
VOXTRAL = "voxtral"  # Voxtral Mini 3B (offline, also Small 24B): transcription with a language hint, no token times


def model_kind(folder: str | Path) -> str:
    """``REALTIME`` or ``VOXTRAL`` for a checkpoint folder (native or transformers layout).

    Both layouts ship tekken.json, and its audio block tells the two apart: the Realtime tokenizer says
    ``"transcription_format": "streaming"``, which load_realtime requires and load_voxtral refuses. Raises
    CheckpointError when tekken.json is missing or is not an audio model's tokenizer.
    """
    audio, _ = read_tekken_audio(Path(folder) / "tekken.json")
    return REALTIME if audio.get("transcription_format") == "streaming" else VOXTRAL
