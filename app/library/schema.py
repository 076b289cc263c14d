"""The library's SQLite index file: its schema, and opening it (rebuilt from scratch when it does not fit).

The index only caches the session folders, so a file that is new, damaged or from another schema version is simply
deleted and created again; ``Library.scan`` then fills it from the folders. WAL mode lets readers and the writer
overlap; ``casefold`` is registered for case-insensitive matching in any script.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE schema (version INTEGER NOT NULL, full_text INTEGER NOT NULL);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, started_at TEXT, duration_s REAL NOT NULL, state TEXT NOT NULL,
    sources TEXT NOT NULL, versions TEXT NOT NULL, size_bytes INTEGER NOT NULL, problem TEXT, stamps TEXT NOT NULL
);
CREATE TABLE lines (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, version TEXT NOT NULL, line_index INTEGER NOT NULL,
    start_s REAL NOT NULL, label TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX lines_by_session ON lines (session_id, version, line_index);
"""
_FULL_TEXT_SCHEMA = """
CREATE VIRTUAL TABLE lines_fts USING fts5 (text, content='lines', content_rowid='id', tokenize='trigram');
CREATE TRIGGER lines_ai AFTER INSERT ON lines BEGIN
    INSERT INTO lines_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER lines_ad AFTER DELETE ON lines BEGIN
    INSERT INTO lines_fts (lines_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER lines_au AFTER UPDATE OF text ON lines BEGIN
    INSERT INTO lines_fts (lines_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO lines_fts (rowid, text) VALUES (new.id, new.text);
END;
"""


def has_fts5(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5 (x, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.fts5_probe")
    return True


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def open_index(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection to the index at ``path`` (shareable across threads under the caller's lock) and whether it has
    full-text search."""
    conn = None
    try:
        conn = _connect(path)
        row = conn.execute("SELECT version, full_text FROM schema").fetchone()
        if row is not None and row[0] == SCHEMA_VERSION and bool(row[1]) == has_fts5(conn):
            return conn, bool(row[1])
    except sqlite3.DatabaseError:
        pass  # new, from another schema version, or damaged: it only caches the folders, so build it again
    if conn is not None:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = _connect(path)
    full_text = has_fts5(conn)
    conn.executescript(_SCHEMA + (_FULL_TEXT_SCHEMA if full_text else ""))
    with conn:
        conn.execute("INSERT INTO schema VALUES (?, ?)", (SCHEMA_VERSION, int(full_text)))
    return conn, full_text


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    return conn
