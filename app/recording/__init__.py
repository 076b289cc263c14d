"""Recording: every captioning session written to its own folder as it happens, and repaired after a crash.

See ``session_folder`` for the folder layout (a contract), ``recorder`` for writing and ``recovery`` for repair.
"""

from app.recording.recorder import RecordingError, SessionRecorder
from app.recording.recovery import RecoveryReport, recover_sessions
from app.recording.session_folder import (
    SessionError,
    SessionInfo,
    SessionState,
    SourceInfo,
    read_audio,
    read_session,
    read_transcript,
    sessions_dir,
)

__all__ = [
    "RecordingError",
    "RecoveryReport",
    "SessionError",
    "SessionInfo",
    "SessionRecorder",
    "SessionState",
    "SourceInfo",
    "read_audio",
    "read_session",
    "read_transcript",
    "recover_sessions",
    "sessions_dir",
]
