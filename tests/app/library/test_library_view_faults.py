"""The library pane on a read-only or full data folder, a damaged index and odd searches: it shows what is wrong and
never raises (pytest-qt fails a test on any exception inside a Qt slot or event handler)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from app.events import MODEL_RATE
from app.library import Library
from app.library.index import INDEX_FILE
from app.library.search import MAX_TERMS
from app.ui.library_view import LibraryView
from app.ui.session_list import ID_ROLE, TITLE
from tests.app.library.sessions import MEETING, STANDUP, START, make_session
from tests.app.library.test_library_view import RecordingPlayer, rows, select_session, shown_lines
from tests.fixtures.mounts import fill, read_only, tmpfs


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    """The texts of the warning boxes the view opened (answered at once instead of waiting for a click)."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    return shown


def make_folders(data_dir: Path) -> tuple[Path, Path]:
    audio = {"mic": np.zeros(2 * MODEL_RATE, dtype=np.float32), "sys": np.zeros(MODEL_RATE, dtype=np.float32)}
    meeting = make_session(data_dir, "Budget meeting", MEETING, audio, labels={"mic": "You", "sys": "Others"})
    standup = make_session(data_dir, "Standup", STANDUP, started_at=START + timedelta(days=1))
    return meeting, standup


def open_view(qtbot, library: Library) -> LibraryView:
    view = LibraryView(library, RecordingPlayer())
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    return view


def rename_in_place(view: LibraryView, session_id: str, title: str) -> None:
    """What the title editor does when it closes: set the title cell's text."""
    model = view.sessions.model
    row = next(r for r in range(model.rowCount()) if model.item(r, 0).data(ID_ROLE) == session_id)
    model.item(row, TITLE).setText(title)


def test_a_read_only_data_folder_lists_searches_and_says_what_cannot_be_done(qtbot, tmp_path, warnings):
    data_dir = tmp_path / "data"
    meeting, _ = make_folders(data_dir)
    with read_only(data_dir):
        library = Library(data_dir)
        try:
            view = open_view(qtbot, library)
            view.refresh()
            assert view.message_label.isVisible() and "cannot be written" in view.message_label.text()
            assert [r[2] for r in rows(view)] == ["Standup", "Budget meeting"]
            view.search_field.setText("budget")
            view.search()
            assert view.results_label.text() == "2 lines found"

            select_session(qtbot, view, meeting)
            rename_in_place(view, meeting.name, "New title")
            assert len(warnings) == 1
            assert "Read-only file system" in warnings[0]
            assert rows(view)[1][2] == "Budget meeting"  # the title as it still is

            view.transcript.save_correction(0, "Changed")
            assert "Read-only file system" in warnings[1]
            assert shown_lines(view)[0] == "[00:00:00] You: Hello everyone. Let's talk about the budget."

            view.refresh()  # again: nothing changed, nothing raised
            assert len(rows(view)) == 2
        finally:
            library.close()


def test_a_full_disk_while_the_view_is_open_keeps_it_working(qtbot, tmp_path, warnings):
    with tmpfs(tmp_path / "disk", 2048) as disk:
        data_dir = disk / "data"
        make_folders(data_dir)
        library = Library(data_dir)
        try:
            view = open_view(qtbot, library)
            view.refresh()
            assert not view.message_label.isVisible()
            later = make_session(data_dir, "Later", STANDUP, started_at=START + timedelta(days=2))
            fill(disk)
            assert later.name in view.refresh()
            assert "the disk is full" in view.message_label.text()
            assert [r[2] for r in rows(view)] == ["Later", "Standup", "Budget meeting"]
            select_session(qtbot, view, later)
            view.transcript.save_correction(0, "Changed")
            assert "No space left on device" in warnings[0]
        finally:
            library.close()


def test_a_sessions_folder_that_goes_away_is_a_message_not_an_exception(qtbot, tmp_path):
    make_folders(tmp_path)
    library = Library(tmp_path)
    try:
        view = open_view(qtbot, library)
        view.refresh()
        sessions = tmp_path / "sessions"
        sessions.rename(tmp_path / "moved")
        sessions.write_text("a file where the folder was")
        view.refresh()
        assert "The sessions folder" in view.message_label.text() and "cannot be read" in view.message_label.text()
        assert len(rows(view)) == 2  # what was indexed is still listed
        assert view.transcript.session_id() != ""
        assert "no longer exists" in view.transcript.status_label.text()
    finally:
        library.close()


def test_an_index_damaged_while_the_view_is_open_is_built_again_behind_it(qtbot, tmp_path):
    meeting, _ = make_folders(tmp_path)
    library = Library(tmp_path)
    try:
        view = open_view(qtbot, library)
        view.refresh()
        with sqlite3.connect(tmp_path / INDEX_FILE) as conn:
            conn.execute("DROP TABLE lines")
        conn.close()
        view.search_field.setText("budget")
        view.search()
        assert view.results_label.text() == "2 lines found"
        with sqlite3.connect(tmp_path / INDEX_FILE) as conn:
            conn.execute("UPDATE sessions SET state = 'exploded'")
        conn.close()
        view.refresh()
        assert [r[5] for r in rows(view)] == ["", ""]
        assert not view.message_label.isVisible()
    finally:
        library.close()


def test_odd_searches_show_a_message_or_nothing(qtbot, tmp_path):
    meeting, _ = make_folders(tmp_path)
    library = Library(tmp_path)
    try:
        view = open_view(qtbot, library)
        view.refresh()
        for query in ("\x00", "bud\x00get", '"', "NEAR(", "x" * 100_000):
            view.search_field.setText(query)
            view.search()
            assert view.results_label.text() in ("Nothing found", "2 lines found"), query
        view.search_field.setText(" ".join(f"w{n}" for n in range(MAX_TERMS + 1)))
        view.search()
        assert f"at most {MAX_TERMS} words" in view.results_label.text()
        assert view.search_field.accessibleDescription() == view.results_label.text()

        select_session(qtbot, view, meeting)
        t = view.transcript
        t.search_field.setText(" ".join(f"w{n}" for n in range(MAX_TERMS + 1)))
        assert f"at most {MAX_TERMS} words" in t.match_label.text()
        t.search_field.setText("STRASSE\x00")
        assert t.match_label.text() == "No matches"
    finally:
        library.close()
