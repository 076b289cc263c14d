"""The tables of the library's SQLite index, creating them, and telling whether a database holds them intact.

Each line is stored twice: ``text`` as shown and ``folded``, its Unicode case folding that search matches against
(``app.library.search.folded_text``: "strasse" finds "Straße"); the FTS5 trigram index, when SQLite has FTS5, covers
``folded``. Opening, checking and setting aside the file: ``app.library.index_file``.
"""

from __future__ import annotations

import functools
import sqlite3
from enum import Enum

SCHEMA_VERSION = 2  # 2: lines.folded, and the full-text index over it

_SCHEMA = """
CREATE TABLE schema (version INTEGER NOT NULL, full_text INTEGER NOT NULL);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, started_at TEXT, duration_s REAL NOT NULL, state TEXT NOT NULL,
    sources TEXT NOT NULL, versions TEXT NOT NULL, size_bytes INTEGER NOT NULL, problem TEXT, stamps TEXT NOT NULL
);
CREATE TABLE lines (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, version TEXT NOT NULL, line_index INTEGER NOT NULL,
    start_s REAL NOT NULL, label TEXT NOT NULL, text TEXT NOT NULL, folded TEXT NOT NULL
);
CREATE INDEX lines_by_session ON lines (session_id, version, line_index);
"""
_FULL_TEXT_SCHEMA = """
CREATE VIRTUAL TABLE lines_fts USING fts5 (
    folded, content='lines', content_rowid='id', tokenize='trigram case_sensitive 1'
);
CREATE TRIGGER lines_ai AFTER INSERT ON lines BEGIN
    INSERT INTO lines_fts (rowid, folded) VALUES (new.id, new.folded);
END;
CREATE TRIGGER lines_ad AFTER DELETE ON lines BEGIN
    INSERT INTO lines_fts (lines_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
END;
CREATE TRIGGER lines_au AFTER UPDATE OF folded ON lines BEGIN
    INSERT INTO lines_fts (lines_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
    INSERT INTO lines_fts (rowid, folded) VALUES (new.id, new.folded);
END;
"""
_SHADOW = "lines_fts_"  # FTS5's own tables; their SQL is FTS5's and may differ between SQLite versions


class Fit(str, Enum):
    """How a database relates to this schema."""

    NEW = "new"  # empty
    CURRENT = "current"  # this schema, intact
    OUTDATED = "outdated"  # another schema version, or made by an SQLite with(out) FTS5


def has_fts5(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5 (x, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.fts5_probe")
    return True


def create(conn: sqlite3.Connection, full_text: bool) -> None:
    """Create the tables in an empty database, in one transaction: a failure (a full disk) leaves it empty."""
    conn.executescript(
        "BEGIN;"
        + _SCHEMA
        + (_FULL_TEXT_SCHEMA if full_text else "")
        + f"INSERT INTO schema VALUES ({SCHEMA_VERSION}, {int(full_text)}); COMMIT;"
    )


def fit(conn: sqlite3.Connection) -> Fit | str:
    """The Fit of the database, or what is damaged in it (a missing or changed table, a damaged page).

    Reads every page (``PRAGMA quick_check``), so that damage shows now rather than at some later query. Raises
    sqlite3.Error, e.g. for a file that is not a database.
    """
    found = _objects(conn)
    if not found:
        return Fit.NEW
    try:
        rows = conn.execute("SELECT version, full_text FROM schema").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"its schema table cannot be read ({exc})"
    if len(rows) != 1 or not all(isinstance(v, int) for v in rows[0]) or rows[0][1] not in (0, 1):
        return "its schema table holds impossible values"
    version, full_text = rows[0]
    if version != SCHEMA_VERSION or bool(full_text) != has_fts5(conn):
        return Fit.OUTDATED
    if found != expected_objects(bool(full_text)):
        return "tables, indexes or triggers are missing or changed"
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        return f"its pages are damaged ({problems[0]})"
    return Fit.CURRENT


@functools.cache
def expected_objects(full_text: bool) -> frozenset[tuple[str, str, str | None]]:
    """What ``create`` makes, as ``_objects`` lists it."""
    conn = sqlite3.connect(":memory:")
    try:
        create(conn, full_text)
        return _objects(conn)
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> frozenset[tuple[str, str, str | None]]:
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return frozenset((kind, name, None if name.startswith(_SHADOW) else sql) for kind, name, sql in rows)
