"""Recorded sessions: the library index with search, corrections and versions, and audio playback."""

from app.library.folder import LIVE, SourceInfo
from app.library.index import Library, LibraryError, Line, SearchHit, SessionSummary, default_data_dir
from app.library.playback import PlaybackError, Player

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
