"""The library's index file, ``<data_dir>/index.sqlite3``: opened privately, checked, set aside when damaged, and
replaced by an index in memory when it cannot be written.

The index only caches the session folders, so nothing in it is precious: a file from another schema version is
deleted and made again; a damaged one (garbage pages, a folder in its place, missing tables, impossible values) is
renamed to ``index.sqlite3.damaged-<UTC time>`` (with its ``-wal`` and ``-shm``), kept for a look, and made again.
Either way ``Library.scan`` then fills the new file from the folders. When no file can be made there (a read-only
or full disk, a damaged file that cannot be moved), the index lives in memory for this run and ``problem`` says
why. The file and its ``-wal``/``-shm`` are private (0600) whatever the umask: SQLite gives the ``-wal`` and
``-shm`` files the mode of the database file, which is created 0600 before SQLite opens it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from app.library import schema  # schema.has_fts5 looked up at each use: tests stand in an SQLite without FTS5
from app.library.schema import Fit, create, fit
from app.recording.privacy import FILE_MODE, open_private

SIDE_FILES = ("-wal", "-shm")
DAMAGED_MARK = ".damaged-"
_UNWRITABLE_CODES = {"SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM"}
_BUSY_CODES = {"SQLITE_BUSY", "SQLITE_LOCKED"}
_DAMAGE_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_FORMAT", "SQLITE_MISMATCH"}


class Trouble(str, Enum):
    """What an error while using the index means for it."""

    BUSY = "busy"  # another program holds it for a moment
    UNWRITABLE = "unwritable"  # the disk refuses (full, read-only, failing): only an index in memory can go on
    DAMAGED = "damaged"  # the file is damaged: set it aside and build it again
    UNKNOWN = "unknown"  # check the file before deciding (SQLite reports a dropped table like any other mistake)


@dataclass(frozen=True)
class OpenedIndex:
    """A connection to the index (shareable across threads under the caller's lock), whether it has full-text search,
    and, when it is kept in memory for this run, why (a message for the user)."""

    conn: sqlite3.Connection
    full_text: bool
    problem: str | None = None

    @property
    def in_memory(self) -> bool:
        return self.problem is not None


def trouble(exc: sqlite3.Error) -> Trouble:
    """What ``exc``, raised while using the index, says about it."""
    code = (getattr(exc, "sqlite_errorname", "") or "").split("_")[:2]
    name = "_".join(code)  # SQLITE_IOERR_WRITE and the like count as their primary code
    if name in _BUSY_CODES:
        return Trouble.BUSY
    if name in _UNWRITABLE_CODES:
        return Trouble.UNWRITABLE
    if name in _DAMAGE_CODES:
        return Trouble.DAMAGED
    return Trouble.UNKNOWN


def damage(conn: sqlite3.Connection) -> str | None:
    """What is damaged in the open index, or None when its tables and pages are intact."""
    try:
        found = fit(conn)
    except sqlite3.Error as exc:
        return str(exc)
    return found if isinstance(found, str) else None


def open_index(path: Path, damaged: str | None = None) -> OpenedIndex:
    """The index at ``path``: the file as it is when it fits, else a new one; in memory when no file can be written.

    ``damaged`` says what is wrong with a file found damaged while in use: it is set aside without another look.
    """
    path = Path(path)
    try:
        if damaged is None:
            reused = _reuse(path)
            if isinstance(reused, OpenedIndex):
                return reused
            damaged = reused
        if damaged:
            try:
                set_aside(path)
            except OSError as exc:
                return in_memory(f"The library index {path} is damaged ({damaged}) and cannot be set aside "
                                 f"({reason(exc)})", f"Move or delete {path} to fix this.")
        return _fresh(path)
    except (OSError, sqlite3.Error) as exc:
        return unwritable(path, exc)


def unwritable(path: Path, exc: BaseException) -> OpenedIndex:
    """An index in memory, because the file at ``path`` cannot be written (``exc`` says why)."""
    return in_memory(f"The library index {path} cannot be written ({reason(exc)})",
                     f"Make room on the disk or make {path.parent} writable to fix this.")


def in_memory(cause: str, fix: str) -> OpenedIndex:
    """An empty index in memory; its problem is ``cause``, what that means, and ``fix``."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    full_text = schema.has_fts5(conn)
    create(conn, full_text)
    return OpenedIndex(conn, full_text, f"{cause}, so the library keeps its index in memory: it works, but is built "
                                        f"again from the session folders at each start, which takes longer. {fix}")


def set_aside(path: Path) -> Path:
    """Rename the file (or whatever is) at ``path``, and its -wal and -shm, to ``<name>.damaged-<UTC time>``; the
    new name of the file. Raises OSError when it cannot be moved."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}{DAMAGED_MARK}{stamp}")
    n = 1
    while any(os.path.lexists(f"{target}{s}") for s in ("", *SIDE_FILES)):  # twice in one second
        n += 1
        target = path.with_name(f"{path.name}{DAMAGED_MARK}{stamp}-{n}")
    for suffix in SIDE_FILES:  # first, so that what remains never pairs a new file with an old -wal
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
    return target


def _reuse(path: Path) -> OpenedIndex | str:
    """The existing file when it fits; else "" (new or outdated: made again) or what is damaged in it."""
    for suffix in ("", *SIDE_FILES):  # SQLite would follow a link, and write wherever it points
        odd = _not_a_file(Path(f"{path}{suffix}"))
        if odd:
            return f"{path.name}{suffix} {odd}"
    if not path.exists():
        return ""
    conn = None
    try:
        conn = _connect(path)
        found = fit(conn)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if trouble(exc) in (Trouble.UNWRITABLE, Trouble.BUSY):
            raise
        return str(exc)
    if found is Fit.CURRENT:
        return OpenedIndex(conn, bool(conn.execute("SELECT full_text FROM schema").fetchone()[0]))
    conn.close()
    if found is Fit.OUTDATED:
        for suffix in ("", *SIDE_FILES):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return "" if isinstance(found, Fit) else found


def _fresh(path: Path) -> OpenedIndex:
    conn = _connect(path)
    try:
        full_text = schema.has_fts5(conn)
        if fit(conn) is not Fit.NEW:  # left by a stranger between our look and now
            raise sqlite3.DatabaseError("a new index file is not empty")
        create(conn, full_text)
    except BaseException:
        conn.close()
        raise
    return OpenedIndex(conn, full_text)


def _connect(path: Path) -> sqlite3.Connection:
    os.close(open_private(path, os.O_RDWR))  # create it 0600 (or make it so) before SQLite opens it
    for suffix in SIDE_FILES:
        _make_private(Path(f"{path}{suffix}"))
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _not_a_file(path: Path) -> str:
    """"" for a plain file or nothing at ``path``, else what is there instead."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ""
    if stat.S_ISREG(mode):
        return ""
    return "is a symbolic link" if stat.S_ISLNK(mode) else "is a folder" if stat.S_ISDIR(mode) else "is not a file"


def _make_private(path: Path) -> None:
    """Make an existing plain file 0600 (earlier versions left the umask's mode); a link is not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return
    try:
        if os.name != "nt":
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def reason(exc: BaseException) -> str:
    """Why ``exc`` happened, in a few words for a message."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
        return "the disk is full"
    return str(exc)

