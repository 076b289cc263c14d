"""Errors raised by model/: each says what is wrong and what to do about it."""

from __future__ import annotations


class ModelError(Exception):
    """Base class of every error model/ raises on purpose."""


class CheckpointError(ModelError):
    """A checkpoint folder, file or hub repository cannot be used as it is."""


class DownloadCancelled(ModelError):
    """The caller cancelled a download; what was already fetched stays on disk for resuming."""


class AudioInputError(ModelError, ValueError):
    """Audio handed to the model is unusable (empty, not finite, wrong shape or rate)."""


class PromptTooLongError(ModelError, ValueError):
    """A prompt does not fit in the model's context."""


class ConversationError(ModelError, ValueError):
    """A chat conversation or transcription request cannot be turned into a prompt."""
