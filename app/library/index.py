"""The library of recorded sessions: an SQLite index over the session folders with full-text search, and the changes
the user makes (title, corrections, deletion) or asks for (re-transcribed versions).

The folders (see ``app.recording.session_folder`` and ``app.library.folder``) are the truth;
``<data_dir>/index.sqlite3`` only caches them. ``scan`` brings it up to date by comparing the modification time and
size of each folder's text files with what was indexed (the file itself: ``app.library.schema``). Nothing here
changes a session folder except the explicit actions: ``rename``, ``delete``, ``correct``, ``revert_correction``,
``add_version``. How search matches: ``app.library.search``.

Threads: one connection, shared and serialised by a lock; every method may be called from any thread.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.events import CaptionEvent
from app.library.folder import (
    CORRECTIONS_FILE,
    LIVE,
    VERSION_PATTERN,
    VERSIONS_DIR,
    DamagedFile,
    build_lines,
    file_stamps,
    read_json_object,
    read_meta,
    read_version,
    stamp_of,
    version_file,
    version_names,
)
from app.library.schema import open_index
from app.library.search import SearchHit, marks, query_terms, search_query
from app.recording.session_folder import (
    ID_PATTERN,
    SESSION_FILE,
    SessionError,
    SourceInfo,
    read_session,
    sessions_dir,
    try_lock,
    unlock,
    write_json,
    write_session,
    write_transcript,
)
from app.transcript import TranscriptLine

INDEX_FILE = "index.sqlite3"

class LibraryError(Exception):
    """A library action failed; the message is meant for the user."""


@dataclass(frozen=True)
class SessionSummary:
    """One session as the library list shows it; ``versions`` starts with ``"live"``."""

    id: str
    title: str
    started_at: datetime | None
    duration_s: float
    sources: tuple[SourceInfo, ...]
    size_bytes: int
    state: str  # "recording", "complete", "recovered", or "damaged" when session.json cannot be read
    versions: tuple[str, ...]
    problem: str | None

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s.display for s in self.sources)


@dataclass(frozen=True)
class Line:
    """A transcript line; ``text`` is the user's correction when ``corrected``, else what the model wrote.

    ``stale_correction`` is a saved correction that was made for different model text (the line changed since, e.g.
    it was still growing while recording): it is kept, but not shown in place of the model's text.
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _with_corrections(lines: list[TranscriptLine], saved: Any) -> list[Line]:
    saved = saved if isinstance(saved, dict) else {}
    out = []
    for line in lines:
        entry = saved.get(str(line.index))
        text, corrected, stale = line.text, False, None
        if isinstance(entry, dict) and isinstance(entry.get("text"), str):
            if entry.get("model_text") == line.text:
                text, corrected = entry["text"], True
            else:
                stale = entry["text"]
        out.append(
            Line(line.index, line.source_id, line.label, line.start_s, line.end_s, line.text, text, corrected, stale)
        )
    return out


class Library:
    """The sessions under ``data_dir/sessions`` and their index; see the module docstring."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.sessions_dir = sessions_dir(self.data_dir)
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn, self.full_text = open_index(self.data_dir / INDEX_FILE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- reading -------------------------------------------------------------------------------------------------

    def scan(self) -> list[str]:
        """Index new and changed session folders and forget vanished ones; the ids whose entries changed."""
        with self._lock:
            self.sessions_dir.mkdir(parents=True, exist_ok=True)
            known = {row[0]: row[1:] for row in self._conn.execute("SELECT id, stamps, size_bytes FROM sessions")}
            on_disk = {p.name: p for p in self.sessions_dir.iterdir() if ID_PATTERN.fullmatch(p.name) and p.is_dir()}
            changed = sorted(set(known) - set(on_disk))
            with self._conn:
                for session_id in changed:
                    self._forget(session_id)
            for session_id, folder in sorted(on_disk.items()):
                stamps, size = file_stamps(folder)
                old = known.get(session_id)
                if old is None or json.loads(old[0]) != stamps:
                    with self._conn:
                        self._index(folder, stamps, size)
                    changed.append(session_id)
                elif old[1] != size:  # only the audio grew (a recording in progress)
                    with self._conn:
                        self._conn.execute("UPDATE sessions SET size_bytes = ? WHERE id = ?", (size, session_id))
            return changed

    def sessions(self) -> list[SessionSummary]:
        """The indexed sessions, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, title, started_at, duration_s, sources, size_bytes, state, versions, problem "
                "FROM sessions ORDER BY started_at DESC, id DESC"
            ).fetchall()
        return [
            SessionSummary(
                sid,
                title,
                datetime.fromisoformat(started) if started else None,
                duration,
                tuple(SourceInfo(**s) for s in json.loads(src)),
                size,
                state,
                tuple(json.loads(versions)),
                problem,
            )
            for sid, title, started, duration, src, size, state, versions, problem in rows
        ]

    def folder(self, session_id: str) -> Path:
        """The folder of a session; LibraryError when there is no such session."""
        folder = self.sessions_dir / session_id
        if not ID_PATTERN.fullmatch(session_id) or not folder.is_dir():
            raise LibraryError(f"The session {session_id} no longer exists.")
        return folder

    def versions(self, session_id: str) -> list[str]:
        """``"live"`` and then the re-transcribed versions, oldest first."""
        return version_names(self.folder(session_id))

    def version_meta(self, session_id: str, version: str) -> dict[str, Any]:
        """The metadata stored with a re-transcribed version ({} for the live one or when it is unreadable)."""
        if version == LIVE or not VERSION_PATTERN.fullmatch(version):
            return {}
        try:
            return read_json_object(self.folder(session_id) / VERSIONS_DIR / f"{version}.json")
        except DamagedFile:
            return {}

    def lines(self, session_id: str, version: str = LIVE) -> list[Line]:
        """The transcript lines of a version, with the user's corrections applied."""
        folder = self.folder(session_id)
        if version not in version_names(folder):
            raise LibraryError(f"The session has no version {version!r}.")
        try:
            corrections = read_json_object(folder / CORRECTIONS_FILE)
        except DamagedFile:
            corrections = {}  # scan reports it as the session's problem
        model = build_lines(read_version(folder, version), read_meta(folder).sources)
        return _with_corrections(model, corrections.get(version))

    def audio_path(self, session_id: str, source_id: str) -> Path:
        """The WAV file of one source of a session; LibraryError when it is not there."""
        folder = self.folder(session_id)
        for source in read_meta(folder).sources:
            path = (folder / source.audio).resolve()
            if source.id == source_id and source.audio and path.is_relative_to(folder.resolve()) and path.is_file():
                return path
        raise LibraryError(f"The recording of this source is missing from {folder}.")

    def search(
        self, query: str, session_id: str | None = None, version: str | None = None, limit: int = 1000
    ) -> list[SearchHit]:
        """Lines containing every word of ``query`` (corrected text where corrected), in all sessions or one, in
        every version or one; newest session first, then the live version, then by time.
        """
        terms = query_terms(query)
        if not terms:
            return []
        sql, params = search_query(terms, full_text=self.full_text, session_id=session_id, version=version)
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [SearchHit(*row, marks(row[-1], terms)) for row in rows]

    # -- the user's actions --------------------------------------------------------------------------------------

    def rename(self, session_id: str, title: str) -> None:
        """Give a session a new title, in its ``session.json`` and in the index."""
        title = " ".join(title.split())
        if not title:
            raise LibraryError("A session needs a title.")
        with self._lock:
            folder = self.folder(session_id)
            try:
                info = read_session(folder)
            except SessionError as exc:
                raise LibraryError(f"Cannot rename the session: {SESSION_FILE} {exc.reason}.") from None
            self._write(lambda: write_session(folder, replace(info, title=title)), folder / SESSION_FILE)
            with self._conn:
                self._conn.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))
                self._restamp(folder, SESSION_FILE)

    def delete(self, session_id: str) -> None:
        """Remove a session's folder (audio, transcripts, corrections) for good, and its index entries."""
        with self._lock:
            folder = self.folder(session_id)
            lock = try_lock(folder)
            if lock is None:  # a recorder holds it: the session is being written right now
                raise LibraryError("This session is still being recorded: stop the captions first, then delete it.")
            unlock(lock)
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                if folder.exists():  # what could not be removed stays listed
                    self._reindex(folder)
                raise LibraryError(f"Could not delete all of {folder}: {exc}") from None
            finally:
                if not folder.exists():
                    with self._conn:
                        self._forget(session_id)

    def correct(self, session_id: str, version: str, line_index: int, text: str) -> Line:
        """Save the user's text for a line beside what the model wrote; the model's own text restores it."""
        return self._save_correction(session_id, version, line_index, text.strip())

    def revert_correction(self, session_id: str, version: str, line_index: int) -> Line:
        """Show what the model wrote for a line again (forgets the correction, also a stale one)."""
        return self._save_correction(session_id, version, line_index, None)

    def add_version(self, session_id: str, name: str, events: Iterable[CaptionEvent], meta: dict[str, Any]) -> None:
        """Store a re-transcription as ``versions/<name>.jsonl`` (replacing one of that name) and index it.

        ``meta`` holds ``model``, ``delay_ms`` or ``language`` and ``complete``; ``name`` and ``created_at`` are added.
        """
        if name == LIVE or not VERSION_PATTERN.fullmatch(name):
            raise LibraryError(f"{name!r} cannot name a version: use letters, digits, '.', '_' and '-'.")
        with self._lock:
            folder = self.folder(session_id)
            (folder / VERSIONS_DIR).mkdir(exist_ok=True)
            events = list(events)
            self._write(lambda: write_transcript(folder, events, version_file(name)), folder / version_file(name))
            record = {"created_at": _now(), **meta, "name": name}
            path = folder / VERSIONS_DIR / f"{name}.json"
            self._write(lambda: write_json(path, record), path)
            self._reindex(folder)

    # -- internals -----------------------------------------------------------------------------------------------

    def _write(self, write: Callable[[], None], path: Path) -> None:
        """``write()``, which writes ``path``; its OSError becomes a LibraryError."""
        try:
            write()
        except OSError as exc:
            raise LibraryError(f"Could not write {path}: {exc}") from None

    def _forget(self, session_id: str) -> None:
        self._conn.execute("DELETE FROM lines WHERE session_id = ?", (session_id,))
        self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def _reindex(self, folder: Path) -> None:
        stamps, size = file_stamps(folder)
        with self._conn:
            self._index(folder, stamps, size)

    def _index(self, folder: Path, stamps: dict[str, list[int]], size: int) -> None:
        meta = read_meta(folder)
        problems = [meta.problem] if meta.problem else []
        try:
            corrections = read_json_object(folder / CORRECTIONS_FILE)
        except DamagedFile as exc:
            corrections = {}
            problems.append(f"{exc} The corrections in it are not shown.")
        versions = version_names(folder)
        self._conn.execute("DELETE FROM lines WHERE session_id = ?", (folder.name,))
        end_s = 0.0
        for version in versions:
            events = read_version(folder, version)
            if version == LIVE:
                end_s = max((e.end_s for e in events), default=0.0)
            lines = _with_corrections(build_lines(events, meta.sources), corrections.get(version))
            self._conn.executemany(
                "INSERT INTO lines (session_id, version, line_index, start_s, label, text) VALUES (?, ?, ?, ?, ?, ?)",
                [(folder.name, version, x.index, x.start_s, x.label, x.text) for x in lines],
            )
        self._conn.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                folder.name,
                meta.title,
                meta.started_at.astimezone(timezone.utc).isoformat() if meta.started_at else None,
                meta.duration_s or end_s,
                meta.state,
                json.dumps([s.__dict__ for s in meta.sources]),
                json.dumps(versions),
                size,
                " ".join(problems) or None,
                json.dumps(stamps),
            ),
        )

    def _restamp(self, folder: Path, rel: str) -> None:
        """Record our own write to ``rel`` so that the next scan does not index the session again for it."""
        row = self._conn.execute("SELECT stamps FROM sessions WHERE id = ?", (folder.name,)).fetchone()
        if row is None:
            self._index(folder, *file_stamps(folder))
            return
        stamps = json.loads(row[0])
        stamps[rel] = stamp_of(folder, rel)
        self._conn.execute("UPDATE sessions SET stamps = ? WHERE id = ?", (json.dumps(stamps), folder.name))

    def _save_correction(self, session_id: str, version: str, line_index: int, text: str | None) -> Line:
        with self._lock:
            folder = self.folder(session_id)
            if version not in version_names(folder):
                raise LibraryError(f"The session has no version {version!r}.")
            model = build_lines(read_version(folder, version), read_meta(folder).sources)
            if not 0 <= line_index < len(model):
                raise LibraryError(f"The transcript has no line {line_index + 1}.")
            line = model[line_index]
            try:
                saved = read_json_object(folder / CORRECTIONS_FILE)
            except DamagedFile as exc:
                raise LibraryError(f"{exc} Nothing was saved, so that the corrections in it are kept.") from None
            entries = saved.get(version) if isinstance(saved.get(version), dict) else {}
            if text is None or text == line.text.strip():
                if str(line_index) not in entries:
                    return _with_corrections([line], None)[0]  # nothing to undo: leave the file alone
                entries.pop(str(line_index))
            else:
                entries[str(line_index)] = {"text": text, "model_text": line.text, "edited_at": _now()}
            if entries:
                saved[version] = entries
            else:
                saved.pop(version, None)
            self._write(lambda: write_json(folder / CORRECTIONS_FILE, saved), folder / CORRECTIONS_FILE)
            result = _with_corrections([line], {str(line_index): entries.get(str(line_index))})[0]
            with self._conn:
                self._conn.execute(
                    "UPDATE lines SET text = ? WHERE session_id = ? AND version = ? AND line_index = ?",
                    (result.text, session_id, version, line_index),
                )
                self._restamp(folder, CORRECTIONS_FILE)
            return result
