"""A damaged, unwritable or foreign index file: set aside and built again from the session folders, or kept in memory
with a problem that says why; never an exception other than LibraryError.

Each damage is done for real to the file SQLite uses: garbage pages, truncation, a folder in its place, tables
dropped and rows updated to impossible values through sqlite3, a read-only bind mount and a full tmpfs.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from app.library import Library, LibraryError
from app.library.index import INDEX_FILE
from tests.app.library.sessions import START, event, make_session
from tests.fixtures.mounts import fill, read_only, tmpfs

PAGE = 4096  # SQLite's default page size


def make_library_folders(data_dir: Path, count: int = 12) -> list[Path]:
    """Sessions with enough lines that the index spans many pages."""
    return [
        make_session(data_dir, f"Session {n}", [
            event("mic", f"Line {n}-{i} about topic{i % 7}, and some more words to fill it.", i * 2.0, i * 2.0 + 1)
            for i in range(30)
        ], started_at=START + timedelta(hours=n))
        for n in range(count)
    ]


def view_of(library: Library) -> tuple:
    """What a user sees: the listed sessions and a search's hits."""
    return library.sessions(), [(h.session_id, h.line_index, h.snippet, h.marks) for h in library.search("TOPIC3")]


def damaged_copies(data_dir: Path) -> list[Path]:
    """The damaged index files set aside (their -wal and -shm beside them are not counted)."""
    return sorted(p for p in data_dir.iterdir()
                  if p.name.startswith(f"{INDEX_FILE}.damaged-") and not p.name.endswith(("-wal", "-shm")))


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, tuple]:
    """A data folder with sessions and a complete index (closed), and what the library shows for it."""
    make_library_folders(tmp_path)
    library = Library(tmp_path)
    library.scan()
    expected = view_of(library)
    library.close()
    assert not Path(f"{tmp_path / INDEX_FILE}-wal").exists()  # all of it is in the file now
    assert len(expected[0]) == 12 and len(expected[1]) == 12 * 4
    return tmp_path, expected


def reopened(data_dir: Path) -> Library:
    library = Library(data_dir)
    library.scan()
    return library


@pytest.mark.parametrize("seed", range(8))
def test_garbage_pages_anywhere_in_the_file_are_found_at_start_and_the_index_is_built_again(built, seed):
    data_dir, expected = built
    index = data_dir / INDEX_FILE
    original = index.read_bytes()
    rng = random.Random(seed)
    pages = len(original) // PAGE
    chosen = [0] if seed == 0 else rng.sample(range(1, pages), 1 + seed % 3)
    with open(index, "r+b") as f:
        for page in chosen:
            f.seek(page * PAGE)
            f.write(rng.randbytes(PAGE))
    library = Library(data_dir)
    try:
        (kept,) = damaged_copies(data_dir)  # found when opening, before any query
        assert library.sessions() == []  # the new index starts empty...
        library.scan()
        assert view_of(library) == expected  # ...and is built again from the folders
        assert library.problem is None
        kept_bytes = kept.read_bytes()
        assert kept_bytes != original and len(kept_bytes) == len(original)  # the damaged file, kept as it was
    finally:
        library.close()


def test_a_truncated_index_is_set_aside(built):
    data_dir, expected = built
    index = data_dir / INDEX_FILE
    size = index.stat().st_size
    with open(index, "r+b") as f:
        f.truncate(size // 2 + 100)
    library = reopened(data_dir)
    try:
        assert view_of(library) == expected
        (kept,) = damaged_copies(data_dir)
        assert kept.stat().st_size == size // 2 + 100
    finally:
        library.close()


def test_garbage_pages_written_while_the_library_runs_are_an_error_message_at_worst(built):
    data_dir, expected = built
    index = data_dir / INDEX_FILE
    library = Library(data_dir)
    try:
        rng = random.Random(7)
        with open(index, "r+b") as f:
            for page in rng.sample(range(1, index.stat().st_size // PAGE), 5):
                f.seek(page * PAGE)
                f.write(rng.randbytes(PAGE))
        other = sqlite3.connect(index)  # another writer: our connection must read the pages again
        other.execute("PRAGMA user_version = 7")
        other.commit()
        other.close()
        assert view_of(library) == expected  # noticed, set aside, built again, asked again
        assert len(damaged_copies(data_dir)) == 1
    finally:
        library.close()


def test_a_folder_where_the_index_belongs_is_set_aside(built):
    data_dir, expected = built
    index = data_dir / INDEX_FILE
    index.unlink()
    (index / "inside").mkdir(parents=True)
    library = reopened(data_dir)
    try:
        assert view_of(library) == expected
        assert index.is_file() and library.problem is None
        (kept,) = damaged_copies(data_dir)
        assert (kept / "inside").is_dir()
    finally:
        library.close()


def test_a_link_where_the_index_belongs_is_set_aside_and_its_target_left_alone(built, tmp_path_factory):
    data_dir, expected = built
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "precious.db"
    elsewhere.write_bytes(b"not yours")
    before = (elsewhere.read_bytes(), elsewhere.stat().st_mtime_ns)
    index = data_dir / INDEX_FILE
    index.unlink()
    index.symlink_to(elsewhere)
    Path(f"{index}-wal").symlink_to(elsewhere)
    library = reopened(data_dir)
    try:
        assert view_of(library) == expected
        assert not index.is_symlink() and not Path(f"{index}-wal").is_symlink()
        assert (elsewhere.read_bytes(), elsewhere.stat().st_mtime_ns) == before
    finally:
        library.close()


@pytest.mark.parametrize("sql", [
    "DROP TABLE lines",
    "DROP TABLE sessions",
    "DROP TABLE schema",
    "DROP TRIGGER lines_ai",
    "DROP INDEX lines_by_session",
    "DROP TABLE lines_fts",
    "DELETE FROM schema",
    "UPDATE schema SET full_text = 7",
])
def test_missing_or_changed_tables_are_found_at_start(built, sql):
    data_dir, expected = built
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        conn.execute(sql)
    conn.close()
    library = reopened(data_dir)
    try:
        assert view_of(library) == expected
        assert len(damaged_copies(data_dir)) == 1
    finally:
        library.close()


def test_a_table_dropped_while_the_library_runs_is_mended_and_the_action_tried_again(built):
    data_dir, expected = built
    library = Library(data_dir)
    try:
        with sqlite3.connect(data_dir / INDEX_FILE) as conn:
            conn.execute("DROP TABLE lines")
        conn.close()
        assert view_of(library) == expected
        assert len(damaged_copies(data_dir)) == 1
    finally:
        library.close()


@pytest.mark.parametrize("sql", [
    "UPDATE sessions SET duration_s = 'long' WHERE rowid = 3",
    "UPDATE sessions SET sources = 'not json' WHERE rowid = 2",
    "UPDATE sessions SET sources = '[{\"id\": 5}]'",
    "UPDATE sessions SET sources = '" + "[" * 100000 + "'",
    "UPDATE sessions SET state = 'exploded'",
    "UPDATE sessions SET versions = '[]'",
    "UPDATE sessions SET size_bytes = -1",
    "UPDATE sessions SET size_bytes = 'big'",
    "UPDATE sessions SET started_at = 'yesterday'",
    "UPDATE sessions SET started_at = 5",
    "UPDATE sessions SET title = x'00ff'",
    "UPDATE sessions SET stamps = 'nope'",
    "UPDATE sessions SET id = '../../etc' WHERE rowid = 1",
    "UPDATE lines SET line_index = 'first' WHERE text LIKE '%topic3%'",
    "UPDATE lines SET start_s = 'soon'",
    "UPDATE lines SET text = x'ff'",
    "UPDATE lines SET label = x'00'",
])
def test_rows_with_impossible_values_are_damage_and_the_index_is_built_again(built, sql):
    data_dir, expected = built
    library = Library(data_dir)
    try:
        with sqlite3.connect(data_dir / INDEX_FILE) as conn:
            assert conn.execute(sql).rowcount >= 1
        conn.close()
        assert view_of(library) == expected
        library.scan()  # the stamps are read only here
        assert view_of(library) == expected
        assert len(damaged_copies(data_dir)) == 1
    finally:
        library.close()


def test_an_index_of_another_schema_version_is_made_again_without_keeping_it(built):
    data_dir, expected = built
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        conn.execute("UPDATE schema SET version = 1")
    conn.close()
    library = reopened(data_dir)
    try:
        assert view_of(library) == expected
        assert damaged_copies(data_dir) == []
    finally:
        library.close()


def test_an_intact_index_is_used_as_it_is(built):
    data_dir, expected = built
    library = Library(data_dir)
    try:
        assert view_of(library) == expected  # no scan: the file held it
        assert library.scan() == []
        assert damaged_copies(data_dir) == [] and library.problem is None
    finally:
        library.close()


def test_the_index_is_private_whatever_the_umask(tmp_path):
    make_library_folders(tmp_path, 2)
    old = os.umask(0)
    try:
        library = reopened(tmp_path)
        index = tmp_path / INDEX_FILE
        files = [index, Path(f"{index}-wal"), Path(f"{index}-shm")]
        assert all(f.exists() for f in files)
        assert [stat.S_IMODE(f.stat().st_mode) for f in files] == [0o600] * 3
        library.close()
        index.chmod(0o644)  # as an earlier version left it
        library = Library(tmp_path)
        assert stat.S_IMODE(index.stat().st_mode) == 0o600
        library.close()
    finally:
        os.umask(old)


def test_a_sessions_folder_that_cannot_be_read_is_a_library_error(tmp_path):
    (tmp_path / "sessions").write_text("a file where the sessions folder belongs")
    with pytest.raises(LibraryError, match=r"The sessions folder .*sessions cannot be read \(Not a directory\)"):
        Library(tmp_path)


def test_a_read_only_data_folder_gives_a_library_in_memory_that_says_why(tmp_path):
    data_dir = tmp_path / "data"
    folders = make_library_folders(data_dir, 3)
    with read_only(data_dir):
        library = Library(data_dir)
        try:
            assert "cannot be written (Read-only file system)" in library.problem
            assert str(data_dir / INDEX_FILE) in library.problem and "in memory" in library.problem
            assert not (data_dir / INDEX_FILE).exists()
            assert sorted(library.scan()) == [f.name for f in folders]
            assert [s.title for s in library.sessions()] == ["Session 2", "Session 1", "Session 0"]
            assert len(library.search("topic3")) == 3 * 4
            with pytest.raises(LibraryError, match="Read-only file system"):
                library.rename(folders[0].name, "New title")
            with pytest.raises(LibraryError, match="Read-only file system"):
                library.correct(folders[0].name, "live", 0, "Changed")
            with pytest.raises(LibraryError):
                library.delete(folders[0].name)
            assert library.sessions()[2].title == "Session 0"
        finally:
            library.close()


def test_a_folder_in_place_of_the_index_that_cannot_be_moved_gives_a_library_in_memory(built):
    data_dir, expected = built
    index = data_dir / INDEX_FILE
    index.unlink()
    index.mkdir()
    with read_only(index):  # a mount point: rename() says "Device or resource busy"
        library = reopened(data_dir)
        try:
            assert view_of(library) == expected
            assert f"The library index {index} is damaged (index.sqlite3 is a folder) and cannot be set aside " \
                   "(Device or resource busy), so the library keeps its index in memory" in library.problem
            assert library.problem.endswith(f"Move or delete {index} to fix this.")
        finally:
            library.close()


def test_a_damaged_index_on_a_read_only_disk_is_left_as_it_is(built):
    data_dir, expected = built
    index = data_dir / INDEX_FILE
    index.write_bytes(b"garbage" * 1000)
    with read_only(data_dir):
        library = reopened(data_dir)
        try:
            assert view_of(library) == expected
            assert "cannot be written (Read-only file system)" in library.problem
        finally:
            library.close()
    assert index.read_bytes() == b"garbage" * 1000


def test_a_disk_that_fills_while_the_library_runs_gives_a_library_in_memory(tmp_path):
    with tmpfs(tmp_path / "disk", 2048) as disk:
        data_dir = disk / "data"
        first = make_library_folders(data_dir, 2)
        library = Library(data_dir)
        try:
            library.scan()
            events = [event("mic", "Written before the disk filled.", i * 2.0) for i in range(50)]
            later = make_session(data_dir, "Later", events, started_at=START + timedelta(days=3))
            fill(disk)
            assert library.scan() == sorted([*(f.name for f in first), later.name])  # built again, in memory
            assert "cannot be written (the disk is full)" in library.problem
            assert [h.session_id for h in library.search("disk filled")] == [later.name] * 50
            with pytest.raises(LibraryError, match="No space left on device"):
                library.correct(later.name, "live", 0, "Changed")
            assert [s.title for s in library.sessions()][0] == "Later"
        finally:
            library.close()


def test_a_full_disk_at_start_gives_a_library_in_memory(tmp_path):
    with tmpfs(tmp_path / "disk", 1024) as disk:
        data_dir = disk / "data"
        (folder,) = make_library_folders(data_dir, 1)
        fill(disk)
        library = reopened(data_dir)
        try:
            assert "cannot be written" in library.problem
            assert [s.id for s in library.sessions()] == [folder.name]
            assert len(library.search("topic3")) == 4
        finally:
            library.close()


def test_an_index_left_empty_by_a_full_disk_is_used_again_once_there_is_room(tmp_path):
    (tmp_path / INDEX_FILE).write_bytes(b"")  # what a start on a full disk leaves
    (folder,) = make_library_folders(tmp_path, 1)
    library = reopened(tmp_path)
    try:
        assert library.problem is None and damaged_copies(tmp_path) == []
        assert [s.id for s in library.sessions()] == [folder.name]
    finally:
        library.close()
    with sqlite3.connect(tmp_path / INDEX_FILE) as conn:
        assert json.loads(conn.execute("SELECT versions FROM sessions").fetchone()[0]) == ["live"]
    conn.close()
