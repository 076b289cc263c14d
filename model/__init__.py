"""Voxtral speech models in plain PyTorch. Public API: load_realtime (live and offline transcription) and
load_voxtral (transcription and chat about audio with Voxtral Mini 3B)."""

from model.errors import (
    AudioInputError,
    CheckpointError,
    ConversationError,
    DownloadCancelled,
    ModelError,
    PromptTooLongError,
)
from model.realtime.model import RealtimeModel, load_realtime
from model.realtime.session import StreamingSession
from model.results import Reply, TokenEvent, Transcription
from model.voxtral.model import VoxtralModel, load_voxtral

__all__ = [
    "AudioInputError", "CheckpointError", "ConversationError", "DownloadCancelled", "ModelError",
    "PromptTooLongError", "RealtimeModel", "Reply", "StreamingSession", "TokenEvent", "Transcription",
    "VoxtralModel", "load_realtime", "load_voxtral",
]
