"""Voxtral speech models in plain PyTorch. Public API: load_realtime (live + offline transcription)."""

from model.errors import AudioInputError, CheckpointError, DownloadCancelled, ModelError, PromptTooLongError
from model.realtime.model import RealtimeModel, load_realtime
from model.realtime.session import StreamingSession
from model.results import TokenEvent, Transcription

__all__ = [
    "AudioInputError", "CheckpointError", "DownloadCancelled", "ModelError", "PromptTooLongError",
    "RealtimeModel", "StreamingSession", "TokenEvent", "Transcription", "load_realtime",
]
