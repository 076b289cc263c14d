"""Recorded sessions: the library index with search, corrections and versions, and audio playback."""

from app.library.entry import SessionSummary
from app.library.folder import LIVE, Line
from app.library.index import Library, LibraryError
from app.library.playback import PlaybackError, Player
from app.library.search import SearchHit
from app.recording.session_folder import SourceInfo, default_data_dir

__all__ = [
    "LIVE",
    "Library",
    "LibraryError",
    "Line",
    "PlaybackError",
    "Player",
    "SearchHit",
    "SessionSummary",
    "SourceInfo",
    "default_data_dir",
]
