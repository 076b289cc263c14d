"""The library of recorded sessions: an SQLite index over the session folders with full-text search, and the changes
the user makes (title, corrections, deletion) or asks for (re-transcribed versions).

The folders (see ``app.recording.session_folder`` and ``app.library.folder``) are the truth;
``<data_dir>/index.sqlite3`` only caches them. ``scan`` brings it up to date by comparing the modification time and
size of each folder's text files with what was indexed (what the index holds per session: ``app.library.entry``).
Nothing here changes a session folder except the explicit actions: ``rename``, ``delete``, ``correct``,
``revert_correction``, ``add_version``. How search matches: ``app.library.search``.

Whatever goes wrong reaches the caller as LibraryError, with a message for the user. Since the index is only a
cache, an index found damaged while in use (an SQLite error, a row holding impossible values) is set aside, built
again from the folders and the action tried once more; when it can no longer be written (a full or read-only disk)
the library goes on with an index in memory, and ``problem`` says so (the file itself: ``app.library.index_file``).

Threads: one connection, shared and serialised by a lock; every method may be called from any thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from app.events import CaptionEvent, CaptionGap
from app.library.entry import (
    LINE_COLUMNS,
    SESSION_COLUMNS,
    SUMMARY_COLUMNS,
    Entry,
    IndexDamage,
    SessionSummary,
    hit_of,
    line_rows,
    read_entry,
    session_row,
    stamps_of,
    summary_of,
)
from app.library.folder import (
    CORRECTIONS_FILE,
    LIVE,
    VERSION_PATTERN,
    VERSIONS_DIR,
    DamagedFile,
    Line,
    being_recorded,
    build_lines,
    file_stamps,
    plain_file,
    read_json_object,
    read_meta,
    read_version,
    relative,
    stamp_of,
    storable,
    version_file,
    version_names,
    with_corrections,
)
from app.library.index_file import OpenedIndex, Trouble, damage, open_index, trouble, unwritable
from app.library.search import SearchHit, TooManyTerms, folded_text, query_terms, search_query
from app.recording.privacy import private_dirs
from app.recording.session_folder import (
    ID_PATTERN,
    MAX_TITLE,
    SESSION_FILE,
    SessionError,
    member,
    read_gaps,
    read_session,
    sessions_dir,
    write_json,
    write_session,
    write_transcript,
)

INDEX_FILE = "index.sqlite3"
_T = TypeVar("_T")


class LibraryError(Exception):
    """A library action failed; the message is meant for the user."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Library:
    """The sessions under ``data_dir/sessions`` and their index; see the module docstring.

    Raises LibraryError when the sessions folder cannot be read: then there is no library for this run. An index
    that cannot be written does not stop it: ``problem`` says so.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.sessions_dir = sessions_dir(self.data_dir)
        self.index_path = self.data_dir / INDEX_FILE
        self._lock = threading.RLock()
        self._problem: str | None = None
        with contextlib.suppress(OSError):  # a read-only data folder: what is in it is still listed
            private_dirs(self.sessions_dir, below=self.data_dir)
        self._session_folders()
        self._use(open_index(self.index_path))

    @property
    def problem(self) -> str | None:
        """Why the library runs on an index in memory (a message for the user: what and what to do), or None."""
        return self._problem

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- reading -------------------------------------------------------------------------------------------------

    def scan(self) -> list[str]:
        """Index new and changed session folders and forget vanished ones; the ids whose entries changed."""
        with self._lock:
            folders = self._session_folders()
            return self._db(lambda: self._scan(folders), refill=False)  # run again, it fills a new index itself

    def sessions(self) -> list[SessionSummary]:
        """The indexed sessions, newest first."""
        sql = f"SELECT {SUMMARY_COLUMNS} FROM sessions ORDER BY started_at DESC, id DESC"
        return self._db(lambda: [summary_of(row) for row in self._conn.execute(sql).fetchall()])

    def folder(self, session_id: str) -> Path:
        """The folder of a session; LibraryError when there is no such session (or it is not a plain folder)."""
        folder = self.sessions_dir / session_id
        try:
            mode = os.lstat(folder).st_mode if ID_PATTERN.fullmatch(session_id) else 0
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            raise LibraryError(f"The session folder {folder} is a symbolic link, which the library does not follow.")
        if not stat.S_ISDIR(mode):
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
            return read_json_object(self.folder(session_id), f"{VERSIONS_DIR}/{version}.json")
        except DamagedFile:
            return {}

    def lines(self, session_id: str, version: str = LIVE) -> list[Line]:
        """The transcript lines of a version, with the user's corrections applied."""
        folder = self.folder(session_id)
        if version not in version_names(folder):
            raise LibraryError(f"The session has no version {version!r}.")
        try:
            corrections = read_json_object(folder, CORRECTIONS_FILE)
        except DamagedFile:
            corrections = {}  # scan reports it as the session's problem
        model = build_lines(_events(folder, version, "The transcript cannot be shown"), read_meta(folder).sources)
        return with_corrections(model, corrections.get(version))

    def gaps(self, session_id: str) -> list[CaptionGap]:
        """The stretches of the recording that got no live captions (the caption server could not be reached, or
        captions skipped ahead); the audio of them was recorded."""
        folder = self.folder(session_id)
        try:
            return read_gaps(folder)
        except SessionError as exc:
            raise LibraryError(f"The transcript cannot be read: {relative(folder, exc)}") from None
        except OSError as exc:
            raise LibraryError(f"The transcript cannot be read ({exc.strerror or exc}).") from None

    def audio_path(self, session_id: str, source_id: str) -> Path:
        """The WAV file of one source of a session; LibraryError when it is not there (or not a plain file)."""
        folder = self.folder(session_id)
        for source in read_meta(folder).sources:
            if source.id != source_id:
                continue
            try:
                path = plain_file(folder, source.audio)
            except SessionError as exc:
                raise LibraryError(f"The recording of this source cannot be played: {relative(folder, exc)}") from None
            if path is not None:
                return path
        raise LibraryError(f"The recording of this source is missing from {folder}.")

    def search(
        self, query: str, session_id: str | None = None, version: str | None = None, limit: int = 1000
    ) -> list[SearchHit]:
        """Lines containing every word of ``query`` (corrected text where corrected), in all sessions or one, in
        every version or one; newest session first, then the live version, then by time. Any text is taken
        literally; LibraryError for more words than a search can hold.
        """
        try:
            terms = query_terms(query)
        except TooManyTerms as exc:
            raise LibraryError(f"The search is too long: {exc}.") from None
        if not terms:
            return []

        def work() -> list[SearchHit]:
            sql, params = search_query(terms, full_text=self.full_text, session_id=session_id, version=version)
            return [hit_of(row, terms) for row in self._conn.execute(sql, (*params, limit)).fetchall()]

        return self._db(work)

    # -- the user's actions --------------------------------------------------------------------------------------

    def rename(self, session_id: str, title: str) -> None:
        """Give a session a new title, in its ``session.json`` and in the index."""
        title = storable(" ".join(title.split()))
        if not title:
            raise LibraryError("A session needs a title.")
        if len(title) > MAX_TITLE:
            raise LibraryError(f"A title can be at most {MAX_TITLE} characters long.")
        with self._lock:
            folder = self.folder(session_id)
            try:
                info = read_session(folder)
            except SessionError as exc:
                raise LibraryError(f"Cannot rename the session: {SESSION_FILE} {exc.reason}.") from None
            self._write(lambda: write_session(folder, replace(info, title=title)), folder / SESSION_FILE)
            self._db(lambda: self._note_write(folder, SESSION_FILE, "UPDATE sessions SET title = ? WHERE id = ?",
                                              (title, session_id)))

    def delete(self, session_id: str) -> None:
        """Remove a session's folder (audio, transcripts, corrections) for good, and its index entries."""
        with self._lock:
            folder = self.folder(session_id)
            if _recording(folder, "Could not delete the session"):
                raise LibraryError("This session is still being recorded: stop the captions first, then delete it.")
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                if folder.exists():  # what could not be removed stays listed
                    self._db(lambda: self._reindex(folder))
                raise LibraryError(f"Could not delete all of {folder}: {exc.strerror or exc}") from None
            finally:
                if not folder.exists():
                    self._db(lambda: self._forget(session_id))

    def correct(self, session_id: str, version: str, line_index: int, text: str) -> Line:
        """Save the user's text for a line beside what the model wrote; the model's own text restores it.

        The newest line of a session still being recorded can still grow, which would make a correction of it stale
        (and so not shown): it cannot be corrected until the recording stops or the next line begins.
        """
        return self._save_correction(session_id, version, line_index, storable(text.strip()))

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
            try:
                path = member(folder, f"{VERSIONS_DIR}/{name}.json")
                member(folder, version_file(name))
            except SessionError as exc:
                raise LibraryError(f"Cannot store the version: {relative(folder, exc)}") from None
            self._write(lambda: private_dirs(path.parent, below=folder), path.parent)
            events = list(events)
            self._write(lambda: write_transcript(folder, events, version_file(name)), folder / version_file(name))
            record = {"created_at": _now(), **meta, "name": name}
            self._write(lambda: write_json(path, record), path)
            self._db(lambda: self._reindex(folder))

    # -- the index -----------------------------------------------------------------------------------------------

    def _use(self, opened: OpenedIndex) -> None:
        self._conn, self.full_text = opened.conn, opened.full_text
        self._problem = opened.problem or self._problem

    def _db(self, work: Callable[[], _T], *, refill: bool = True) -> _T:
        """``work()``, which uses the index; when the index fails it, the index is repaired (see the module
        docstring), filled from the folders unless not ``refill``, and ``work`` runs once more. LibraryError when
        that does not help."""
        with self._lock:
            try:
                return work()
            except (sqlite3.Error, IndexDamage) as exc:
                try:
                    self._recover(exc, refill)
                except (sqlite3.Error, IndexDamage) as again:
                    raise LibraryError(self._failed(again)) from None
            try:
                return work()
            except (sqlite3.Error, IndexDamage) as exc:
                raise LibraryError(self._failed(exc)) from None

    def _recover(self, exc: sqlite3.Error | IndexDamage, refill: bool) -> None:
        """Set a damaged index aside, or go on in memory when the file cannot be written, and fill the new index
        when ``refill``; LibraryError when ``exc`` is not the index's fault or nothing can be done about it."""
        kind = Trouble.DAMAGED if isinstance(exc, IndexDamage) else trouble(exc)
        if kind is Trouble.BUSY:
            raise LibraryError("The library index is busy: another program, perhaps a second Captionist, is using "
                               "it. Try again in a moment.") from None
        if self._problem is not None or isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            raise LibraryError(self._failed(exc)) from None  # in memory already, or not the file's fault
        found = str(exc) if kind is Trouble.DAMAGED else None
        if kind is Trouble.UNKNOWN:
            found = damage(self._conn)
            if found is None:  # the file is intact: this is no damage that building it again would mend
                raise LibraryError(self._failed(exc)) from None
        folders = self._session_folders()
        self._conn.close()
        self._use(unwritable(self.index_path, exc) if found is None else open_index(self.index_path, found))
        if refill:
            self._scan(folders)

    def _failed(self, exc: BaseException) -> str:
        if self._problem is not None:
            return f"The library's index in memory failed ({exc}). Restart Captionist to build it again."
        return (f"The library index {self.index_path} cannot be used ({exc}). Restart Captionist; if that does not "
                f"help, delete that file: it is built again from the session folders.")

    def _session_folders(self) -> dict[str, Path]:
        """The session folders by id; folders that are links are left out (they are not followed)."""
        try:
            with os.scandir(self.sessions_dir) as entries:
                return {e.name: Path(e.path) for e in entries
                        if ID_PATTERN.fullmatch(e.name) and e.is_dir(follow_symlinks=False)}
        except FileNotFoundError:  # nothing recorded yet, and the folder cannot be made
            return {}
        except OSError as exc:
            raise LibraryError(f"The sessions folder {self.sessions_dir} cannot be read ({exc.strerror or exc}). "
                               "Check that it is a folder you may read.") from None

    def _scan(self, folders: dict[str, Path]) -> list[str]:
        known = {sid: (stamps_of(stamps), size)
                 for sid, stamps, size in self._conn.execute("SELECT id, stamps, size_bytes FROM sessions")}
        changed = sorted(set(known) - set(folders))
        for session_id in changed:
            self._forget(session_id)
        for session_id, folder in sorted(folders.items()):
            files = file_stamps(folder)
            old = known.get(session_id)
            if old is None or old[0] != files.stamps:
                with self._conn:
                    self._store(read_entry(folder, files))
                changed.append(session_id)
            elif old[1] != files.size:  # only the audio grew (a recording in progress)
                with self._conn:
                    self._conn.execute("UPDATE sessions SET size_bytes = ? WHERE id = ?", (files.size, session_id))
        return changed

    def _forget(self, session_id: str) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM lines WHERE session_id = ?", (session_id,))
            self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def _reindex(self, folder: Path) -> None:
        with self._conn:
            self._store(read_entry(folder, file_stamps(folder)))

    def _store(self, entry: Entry) -> None:
        self._conn.execute("DELETE FROM lines WHERE session_id = ?", (entry.summary.id,))
        self._conn.executemany(f"INSERT INTO lines ({LINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", line_rows(entry))
        self._conn.execute(f"INSERT OR REPLACE INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           session_row(entry))

    def _note_write(self, folder: Path, rel: str, sql: str, params: tuple[Any, ...]) -> None:
        """Apply our own write to ``rel`` to the index (``sql``), and record its stamp so that the next scan does not
        index the session again for it."""
        with self._conn:
            self._conn.execute(sql, params)
            row = self._conn.execute("SELECT stamps FROM sessions WHERE id = ?", (folder.name,)).fetchone()
            if row is None:
                self._store(read_entry(folder, file_stamps(folder)))
                return
            stamps = stamps_of(row[0])
            stamps[rel] = stamp_of(folder, rel)
            self._conn.execute("UPDATE sessions SET stamps = ? WHERE id = ?", (json.dumps(stamps), folder.name))

    # -- the user's files ----------------------------------------------------------------------------------------

    def _write(self, write: Callable[[], None], path: Path) -> None:
        """``write()``, which writes ``path``; its OSError becomes a LibraryError."""
        try:
            write()
        except OSError as exc:
            raise LibraryError(f"Could not write {path}: {exc.strerror or exc}") from None

    def _save_correction(self, session_id: str, version: str, line_index: int, text: str | None) -> Line:
        with self._lock:
            folder = self.folder(session_id)
            if version not in version_names(folder):
                raise LibraryError(f"The session has no version {version!r}.")
            # Asked before the lines are read: once no recorder holds the lock, the transcript is whole.
            growing = version == LIVE and _recording(folder, "Cannot correct the line")
            model = build_lines(_events(folder, version, "Cannot correct the line"), read_meta(folder).sources)
            if not 0 <= line_index < len(model):
                raise LibraryError(f"The transcript has no line {line_index + 1}.")
            line = model[line_index]
            try:
                saved = read_json_object(folder, CORRECTIONS_FILE)
            except DamagedFile as exc:
                raise LibraryError(f"{exc} Nothing was saved, so that the corrections in it are kept.") from None
            entries = saved.get(version) if isinstance(saved.get(version), dict) else {}
            if text is None or text == line.text.strip():
                if str(line_index) not in entries:
                    return with_corrections([line], None)[0]  # nothing to undo: leave the file alone
                entries.pop(str(line_index))
            elif growing and line_index == len(model) - 1:
                raise LibraryError("This line is still being recorded, so its words can still change: correct it "
                                   "once the next line has begun or the recording has stopped.")
            else:
                entries[str(line_index)] = {"text": text, "model_text": line.text, "edited_at": _now()}
            if entries:
                saved[version] = entries
            else:
                saved.pop(version, None)
            path = folder / CORRECTIONS_FILE
            self._write(lambda: write_json(path, saved), path)
            result = with_corrections([line], {str(line_index): entries.get(str(line_index))})[0]
            self._db(lambda: self._note_write(
                folder, CORRECTIONS_FILE,
                "UPDATE lines SET text = ?, folded = ? WHERE session_id = ? AND version = ? AND line_index = ?",
                (result.text, folded_text(result.text), session_id, version, line_index)))
            return result


def _events(folder: Path, version: str, doing: str) -> list[CaptionEvent]:
    """The events of a version; LibraryError (beginning with ``doing``) when its file is a link or unreadable."""
    try:
        return read_version(folder, version)
    except SessionError as exc:
        raise LibraryError(f"{doing}: {relative(folder, exc)}") from None
    except OSError as exc:
        raise LibraryError(f"{doing}: {version_file(version)} cannot be read ({exc.strerror or exc}).") from None


def _recording(folder: Path, doing: str) -> bool:
    """Whether a recorder writes the session now; LibraryError (beginning with ``doing``) when that cannot be told."""
    try:
        return being_recorded(folder)
    except OSError as exc:
        raise LibraryError(f"{doing}: its recording.lock cannot be opened ({exc.strerror or exc}).") from None
