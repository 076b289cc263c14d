"""What the library adds to a session folder: re-transcribed versions and the user's corrections (no Qt, no database).

The recorder writes the folders, in the format that ``app.recording.session_folder`` describes and implements (it
also reads and writes session.json, transcripts and audio for the library). The library writes only what the user
changes: the title in ``session.json``, ``corrections.json`` and re-transcribed ``versions/``. Every write goes to a
temporary file in the same folder that then replaces the old file, so a crash leaves either the old or the new file,
never half of one.

Every file is reached through ``member`` and read only when it is a plain file: nothing a ``session.json`` says, and
no symbolic link in the folder, makes the library read or write anything outside the session's own folder.

Besides the recorder's files, ``<data_dir>/sessions/<YYYYmmdd-HHMMSS>-<6 hex>/`` holds::

    versions/<name>.jsonl, versions/<name>.json   re-transcriptions (the transcript's event format) and their metadata
    corrections.json    {version: {line index: {"text", "model_text", "edited_at"}}}
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from app.events import CaptionEvent
from app.recording.session_folder import (
    LOCK_FILE,
    SESSION_FILE,
    TRANSCRIPT_FILE,
    SessionError,
    SessionInfo,
    SourceInfo,
    id_time,
    member,
    read_session,
    read_transcript,
    try_lock,
    unlock,
)
from app.transcript import LiveTranscript, TranscriptLine

CORRECTIONS_FILE = "corrections.json"
VERSIONS_DIR = "versions"
LIVE = "live"
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DAMAGED = "damaged"
_SURROGATE = re.compile("[\ud800-\udfff]")


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


@dataclass(frozen=True)
class Line:
    """A transcript line; ``text`` is the user's correction when ``corrected``, else what the model wrote.

    ``stale_correction`` is a saved correction that was made for different model text (the line changed since): it
    is kept, but not shown in place of the model's text.
    """

    index: int
    source_id: str
    label: str
    start_s: float
    end_s: float
    model_text: str
    text: str
    corrected: bool
    stale_correction: str | None = None


@dataclass(frozen=True)
class FolderFiles:
    """What ``file_stamps`` found: ``{relative path: [mtime_ns, size]}`` of the files the index is built from, and
    the size of all plain files (links are not followed, so neither counted nor read)."""

    stamps: dict[str, list[int]]
    size: int


def storable(text: str) -> str:
    """``text`` with lone surrogates (which a JSON escape such as "\\ud800" makes) replaced by U+FFFD, the same
    length: SQLite and Qt take only real characters."""
    return _SURROGATE.sub("\ufffd", text)


def relative(folder: Path, exc: SessionError) -> str:
    """``exc`` as a sentence that names its file relative to the session folder."""
    try:
        name = exc.path.relative_to(folder).as_posix()
    except ValueError:
        name = exc.path.name
    return f"{name or '.'} {exc.reason}."


def plain_file(folder: Path, rel: str) -> Path | None:
    """The file ``rel`` of a session folder when it is a plain file inside it, None when there is none. SessionError
    when it, or a folder on its way, is a symbolic link, when it is something else (a folder, a pipe), or when it
    cannot be looked at."""
    path = member(folder, rel)
    try:
        mode = path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # e.g. a folder on its way that may not be searched
        raise SessionError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise SessionError(path, "is not a plain file")
    return path


def read_meta(folder: Path) -> SessionMeta:
    """The folder's ``session.json``; a missing or damaged file gives a "damaged" SessionMeta instead of raising."""
    try:
        return SessionMeta(folder.name, read_session(folder))
    except SessionError as exc:
        return SessionMeta(folder.name, None, f"{SESSION_FILE} {exc.reason}.")


def read_json_object(folder: Path, rel: str) -> dict[str, Any]:
    """The JSON object in the file ``rel`` of a session folder; {} when there is none, DamagedFile when it cannot be
    read or parsed (or is a link)."""
    try:
        path = plain_file(folder, rel)
        if path is None:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except SessionError as exc:
        raise DamagedFile(relative(folder, exc)) from None
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DamagedFile(f"{rel} cannot be read ({exc}).") from None
    if not isinstance(raw, dict):
        raise DamagedFile(f"{rel} does not hold a JSON object.")
    return raw


def version_file(version: str) -> str:
    """The events file of a version, relative to the session folder: the live transcript or versions/<name>.jsonl."""
    return TRANSCRIPT_FILE if version == LIVE else f"{VERSIONS_DIR}/{version}.jsonl"


def read_version(folder: Path, version: str) -> list[CaptionEvent]:
    """The events of a version ([] when its file does not exist); SessionError when it is a link or not a file,
    OSError when it cannot be read.

    Lines that do not parse are skipped: after a crash the last line can be cut off, and one bad line must not hide
    the rest of the transcript (events at times that are not finite are such lines).
    """
    path = plain_file(folder, version_file(version))
    if path is None:
        return []
    events = read_transcript(folder, version_file(version), skip_damaged=True)
    return [replace(e, text=storable(e.text)) for e in events]


def version_names(folder: Path) -> list[str]:
    """``live`` and then the stored re-transcriptions, oldest first (by their metadata's ``created_at``); only plain
    files in a plain ``versions`` folder count."""
    found = []
    try:
        entries = list(os.scandir(member(folder, VERSIONS_DIR)))
    except (SessionError, OSError):  # none, or a link: no versions
        entries = []
    for entry in entries:
        stem = entry.name.removesuffix(".jsonl")
        if stem == entry.name or not VERSION_PATTERN.fullmatch(stem) or stem == LIVE:
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            created = str(read_json_object(folder, f"{VERSIONS_DIR}/{stem}.json").get("created_at") or "")
        except DamagedFile:
            created = ""
        found.append((created, stem))
    return [LIVE, *(name for _, name in sorted(found))]


def build_lines(events: Iterable[CaptionEvent], sources: tuple[SourceInfo, ...]) -> list[TranscriptLine]:
    """The transcript lines of stored events, grouped as every version has grouped them (corrections are saved by
    line number, so the grouping of a stored session must not change).

    A source's label is shown when it has one; the device name stands in only when several sources were recorded.
    """
    labels = {s.id: s.label or (s.name if len(sources) > 1 else "") for s in sources}
    transcript = LiveTranscript(running_lines=False)
    for event in events:
        transcript.add(event, storable(labels.get(event.source_id, "")))
    return transcript.lines


def with_corrections(lines: list[TranscriptLine], saved: Any) -> list[Line]:
    """``lines`` with the corrections saved for their version (``corrections.json``'s entry for it) applied."""
    saved = saved if isinstance(saved, dict) else {}
    out = []
    for line in lines:
        entry = saved.get(str(line.index))
        text, corrected, stale = line.text, False, None
        if isinstance(entry, dict) and isinstance(entry.get("text"), str):
            if entry.get("model_text") == line.text:
                text, corrected = storable(entry["text"]), True
            else:
                stale = storable(entry["text"])
        out.append(
            Line(line.index, line.source_id, line.label, line.start_s, line.end_s, line.text, text, corrected, stale)
        )
    return out


def being_recorded(folder: Path) -> bool:
    """Whether a recorder holds the session's recording.lock now, so that its live transcript still grows. Raises
    OSError when the lock cannot be opened."""
    try:
        if plain_file(folder, LOCK_FILE) is None:
            return False
    except SessionError:  # a link or a folder: no recorder's lock, and not to be opened
        return False
    lock = try_lock(folder)
    if lock is None:
        return True
    unlock(lock)
    return False


def file_stamps(folder: Path) -> FolderFiles:
    """The stamps of the files that the index is built from, and the folder's size (see FolderFiles)."""
    stamps: dict[str, list[int]] = {}
    size = 0
    pending = [""]
    while pending:
        below = pending.pop()
        try:
            entries = list(os.scandir(folder / below if below else folder))
        except OSError:  # removed while we looked, or unreadable: nothing in it counts
            continue
        for entry in entries:
            rel = f"{below}/{entry.name}" if below else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # removed while we looked, e.g. the recorder's temporary files
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(rel)
            elif stat.S_ISREG(info.st_mode):
                size += info.st_size
                if rel in (SESSION_FILE, TRANSCRIPT_FILE, CORRECTIONS_FILE) or rel.startswith(f"{VERSIONS_DIR}/"):
                    stamps[rel] = [info.st_mtime_ns, info.st_size]
    return FolderFiles(stamps, size)


def stamp_of(folder: Path, rel: str) -> list[int] | None:
    """``[mtime_ns, size]`` of a plain file of the folder, None when there is none (or something else is there)."""
    try:
        info = os.lstat(folder / rel)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size] if stat.S_ISREG(info.st_mode) else None
