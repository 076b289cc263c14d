"""What the library adds to a session folder: re-transcribed versions and the user's corrections (no Qt, no database).

The recorder writes the folders, in the format that ``app.recording.session_folder`` describes and implements (it
also reads and writes session.json, transcripts and audio for the library). The library writes only what the user
changes: the title in ``session.json``, ``corrections.json`` and re-transcribed ``versions/``. Every write goes to a
temporary file in the same folder that then replaces the old file, so a crash leaves either the old or the new file,
never half of one.

Besides the recorder's files, ``<data_dir>/sessions/<YYYYmmdd-HHMMSS>-<6 hex>/`` holds::

    versions/<name>.jsonl, versions/<name>.json   re-transcriptions (the transcript's event format) and their metadata
    corrections.json    {version: {line index: {"text", "model_text", "edited_at"}}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.events import CaptionEvent
from app.recording.session_folder import (
    SESSION_FILE,
    TRANSCRIPT_FILE,
    SessionError,
    SessionInfo,
    SourceInfo,
    id_time,
    read_session,
    read_transcript,
)
from app.transcript import LiveTranscript, TranscriptLine

CORRECTIONS_FILE = "corrections.json"
VERSIONS_DIR = "versions"
LIVE = "live"
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DAMAGED = "damaged"


class DamagedFile(Exception):
    """A file of a session folder exists but cannot be read or parsed; the message names it."""


@dataclass(frozen=True)
class SessionMeta:
    """A folder's ``session.json`` as the library lists it: ``info`` as ``read_session`` reads it, or None when the
    file is missing or damaged; then ``error`` says why, the title is the folder's name, the start time comes from
    that name and the state is "damaged".
    """

    id: str  # the folder's name
    info: SessionInfo | None
    error: str | None = None

    @property
    def title(self) -> str:
        return (self.info.title or self.id) if self.info else self.id

    @property
    def started_at(self) -> datetime | None:
        return self.info.started_at if self.info else id_time(self.id)

    @property
    def state(self) -> str:
        """"recording", "complete", "recovered", or "damaged"."""
        return self.info.state.value if self.info else DAMAGED

    @property
    def duration_s(self) -> float:
        return self.info.duration_s if self.info else 0.0

    @property
    def sources(self) -> tuple[SourceInfo, ...]:
        return self.info.sources if self.info else ()

    @property
    def problem(self) -> str | None:
        """The recorder's problem, or why session.json could not be read."""
        return (self.info.problem or None) if self.info else self.error


def read_meta(folder: Path) -> SessionMeta:
    """The folder's ``session.json``; a missing or damaged file gives a "damaged" SessionMeta instead of raising."""
    try:
        return SessionMeta(folder.name, read_session(folder))
    except SessionError as exc:
        return SessionMeta(folder.name, None, f"{SESSION_FILE} {exc.reason}.")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when the file does not exist, DamagedFile when it cannot be parsed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DamagedFile(f"{path.name} cannot be read ({exc}).") from None
    if not isinstance(raw, dict):
        raise DamagedFile(f"{path.name} does not hold a JSON object.")
    return raw


def version_file(version: str) -> str:
    """The events file of a version, relative to the session folder: the live transcript or versions/<name>.jsonl."""
    return TRANSCRIPT_FILE if version == LIVE else f"{VERSIONS_DIR}/{version}.jsonl"


def read_version(folder: Path, version: str) -> list[CaptionEvent]:
    """The events of a version ([] when its file does not exist).

    Lines that do not parse are skipped: after a crash the last line can be cut off, and one bad line must not hide
    the rest of the transcript.
    """
    return read_transcript(folder, version_file(version), skip_damaged=True)


def version_names(folder: Path) -> list[str]:
    """``live`` and then the stored re-transcriptions, oldest first (by their metadata's ``created_at``)."""
    found = []
    for path in (folder / VERSIONS_DIR).glob("*.jsonl"):
        if not VERSION_PATTERN.fullmatch(path.stem) or path.stem == LIVE:
            continue
        try:
            created = str(read_json_object(path.with_suffix(".json")).get("created_at") or "")
        except DamagedFile:
            created = ""
        found.append((created, path.stem))
    return [LIVE, *(name for _, name in sorted(found))]


def build_lines(events: Iterable[CaptionEvent], sources: tuple[SourceInfo, ...]) -> list[TranscriptLine]:
    """The transcript lines of stored events, grouped exactly as the live view grouped them.

    A source's label is shown when it has one; the device name stands in only when several sources were recorded.
    """
    labels = {s.id: s.label or (s.name if len(sources) > 1 else "") for s in sources}
    transcript = LiveTranscript()
    for event in events:
        transcript.add(event, labels.get(event.source_id, ""))
    return transcript.lines


def file_stamps(folder: Path) -> tuple[dict[str, list[int]], int]:
    """``{relative path: [mtime_ns, size]}`` of the text files that the index is built from, and the folder's size."""
    stamps: dict[str, list[int]] = {}
    size = 0
    for path in folder.rglob("*"):
        try:
            info = path.stat()
        except FileNotFoundError:  # removed while we looked, e.g. the recorder's temporary files
            continue
        if not path.is_file():
            continue
        size += info.st_size
        rel = path.relative_to(folder).as_posix()
        if rel in (SESSION_FILE, TRANSCRIPT_FILE, CORRECTIONS_FILE) or rel.startswith(f"{VERSIONS_DIR}/"):
            stamps[rel] = [info.st_mtime_ns, info.st_size]
    return stamps, size


def stamp_of(folder: Path, rel: str) -> list[int] | None:
    try:
        info = (folder / rel).stat()
    except FileNotFoundError:
        return None
    return [info.st_mtime_ns, info.st_size]
