"""The library pane: the session list and its actions, search across sessions, the transcript with versions,
corrections and playback (through a Player stand-in that records what it was asked to play)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox

from app.events import MODEL_RATE
from app.library import Library, PlaybackError
from app.ui.library_view import LibraryView
from app.ui.session_list import COLUMNS, TITLE, size_text
from tests.app.library.sessions import MEETING, STANDUP, START, event, make_session
from tests.app.ui.accessibility import unnamed_controls, unreachable_by_tab


class RecordingPlayer:
    """Stands in for app.library.Player: remembers each call; ``playing`` until stopped."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.playing = False
        self.position_s = 0.0
        self.fail: Exception | None = None

    def play(self, path: Path, start_s: float = 0.0) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(("play", Path(path), start_s))
        self.playing, self.position_s = True, start_s

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.playing = False


@pytest.fixture
def setup(qtbot, tmp_path):
    audio = {"mic": np.zeros(2 * MODEL_RATE, dtype=np.float32), "sys": np.zeros(3 * MODEL_RATE, dtype=np.float32)}
    meeting = make_session(tmp_path, "Budget meeting", MEETING, audio, labels={"mic": "You", "sys": "Others"})
    standup = make_session(tmp_path, "Standup", STANDUP, started_at=START + timedelta(days=1))
    library = Library(tmp_path)
    player = RecordingPlayer()
    view = LibraryView(library, player)
    qtbot.addWidget(view)
    assert sorted(view.refresh()) == sorted([meeting.name, standup.name])
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    yield view, library, player, meeting, standup
    library.close()


def rows(view: LibraryView) -> list[list[str]]:
    model = view.sessions.model
    return [[model.item(r, c).text() for c in range(len(COLUMNS))] for r in range(model.rowCount())]


def shown_lines(view: LibraryView) -> list[str]:
    return [view.transcript.list.item(i).text() for i in range(view.transcript.list.count())]


def select_session(qtbot, view: LibraryView, folder: Path) -> None:
    assert view.sessions.select(folder.name)
    qtbot.waitUntil(lambda: view.transcript.session_id() == folder.name)


def test_the_list_shows_the_sessions_and_the_selected_transcript(qtbot, setup):
    view, library, _, meeting, standup = setup
    size = library.sessions()[1].size_bytes
    date = START.astimezone().strftime("%Y-%m-%d %H:%M")
    assert rows(view)[1] == [date, "00:00:03", "Budget meeting", "You, Others", size_text(size), ""]
    assert rows(view)[0][2] == "Standup"
    assert view.transcript.session_id() == view.sessions.current_id() != ""  # the newest is shown at once
    assert view.transcript.title_label.text() == "Standup"
    select_session(qtbot, view, meeting)
    assert view.transcript.title_label.text() == "Budget meeting"
    assert shown_lines(view) == [
        "[00:00:00] You: Hello everyone. Let's talk about the budget.",
        '[00:00:01] Others: Sure, the "Q3" numbers look fine',
        "[00:00:05] You: Next item: C++ build times (slow).",
    ]
    assert view.sessions.delete_button.isEnabled() and view.transcript.play_button.isEnabled()
    assert (size_text(999), size_text(12_345), size_text(250_000_000), size_text(3_400_000_000)) == (
        "999 B",
        "12.3 KB",
        "250 MB",
        "3.4 GB",
    )


def test_f2_renames_the_selected_session(qtbot, setup):
    view, library, _, meeting, _ = setup
    select_session(qtbot, view, meeting)
    view.sessions.table.setFocus()
    qtbot.keyClick(view.sessions.table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "Budget meeting"
    editor.selectAll()
    qtbot.keyClicks(editor, "  Budget review ")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: library.sessions()[1].title == "Budget review")
    assert json.loads((meeting / "session.json").read_text(encoding="utf-8"))["title"] == "Budget review"
    assert rows(view)[1][TITLE] == "Budget review"
    assert view.transcript.title_label.text() == "Budget review"


def test_delete_asks_naming_the_session_and_deletes_only_on_yes(qtbot, setup, monkeypatch):
    view, library, player, meeting, standup = setup
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def question(parent, title, text, *args):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    select_session(qtbot, view, meeting)
    view.sessions.table.setFocus()
    qtbot.keyClick(view.sessions.table, Qt.Key.Key_Delete)
    assert len(asked) == 1 and "“Budget meeting”" in asked[0]
    assert meeting.exists() and len(rows(view)) == 2
    answer[0] = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(view.sessions.delete_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 2
    assert ("stop",) in player.calls  # playback lets go of the files first
    assert not meeting.exists()
    assert [r[TITLE] for r in rows(view)] == ["Standup"]
    assert [s.id for s in library.sessions()] == [standup.name]
    assert view.transcript.session_id() != meeting.name


def test_search_across_sessions_opens_the_session_at_the_line(qtbot, setup):
    view, _, _, meeting, standup = setup
    select_session(qtbot, view, standup)
    qtbot.keyClicks(view.search_field, "build")
    qtbot.keyClick(view.search_field, Qt.Key.Key_Return)
    assert view.results.isVisible()
    assert [view.results.item(i).text() for i in range(view.results.count())] == [
        "Budget meeting — [00:00:05] You: Next item: C++ build times (slow)."
    ]
    assert view.results_label.text() == "1 line found"  # not "1 lines"
    view.results.setFocus()
    qtbot.keyClick(view.results, Qt.Key.Key_Return)
    assert view.sessions.current_id() == meeting.name
    assert view.transcript.session_id() == meeting.name
    assert view.transcript.list.currentRow() == 2
    view.search_field.clear()
    qtbot.waitUntil(lambda: not view.results.isVisible())


def test_search_within_the_session(qtbot, setup):
    view, _, _, meeting, _ = setup
    select_session(qtbot, view, meeting)
    t = view.transcript
    qtbot.keyClicks(t.search_field, "the")
    assert (t.match_label.text(), t.list.currentRow()) == ("1 of 2", 0)
    qtbot.keyClick(t.search_field, Qt.Key.Key_Return)
    assert (t.match_label.text(), t.list.currentRow()) == ("2 of 2", 1)
    qtbot.mouseClick(t.next_button, Qt.MouseButton.LeftButton)
    assert (t.match_label.text(), t.list.currentRow()) == ("1 of 2", 0)
    qtbot.mouseClick(t.previous_button, Qt.MouseButton.LeftButton)
    assert t.list.currentRow() == 1
    qtbot.keyClicks(t.search_field, "zzz")
    assert t.match_label.text() == "No matches"


def test_the_version_picker_and_the_signals_for_the_lead(qtbot, setup):
    view, library, _, meeting, _ = setup
    library.add_version(meeting.name, "v2", [event("mic", "Hello everybody.", 0.0)], {"model": "x", "complete": False})
    view.refresh()
    select_session(qtbot, view, meeting)
    box = view.transcript.version_box
    assert [box.itemText(i) for i in range(box.count())] == ["Live", "v2 (incomplete)"]
    box.setCurrentIndex(1)
    assert shown_lines(view) == ["[00:00:00] You: Hello everybody."]
    with qtbot.waitSignal(view.exportRequested) as exported:
        qtbot.mouseClick(view.transcript.export_button, Qt.MouseButton.LeftButton)
    assert exported.args == [meeting.name, "v2"]
    with qtbot.waitSignal(view.retranscribeRequested) as again:
        qtbot.mouseClick(view.transcript.retranscribe_button, Qt.MouseButton.LeftButton)
    assert again.args == [meeting.name]
    view.transcript.select_line("live", 2)
    assert box.currentIndex() == 0 and view.transcript.list.currentRow() == 2
    library.add_version(meeting.name, "v3", [event("mic", "Third.", 0.0)], {"model": "x", "complete": True})
    view.refresh()  # e.g. when a re-transcription has finished: the new version is offered, the place is kept
    assert [box.itemText(i) for i in range(box.count())] == ["Live", "v2 (incomplete)", "v3"]
    assert box.currentIndex() == 0 and view.transcript.list.currentRow() == 2
    box.setCurrentIndex(2)
    view.refresh()
    assert box.currentData() == "v3" and shown_lines(view) == ["[00:00:00] You: Third."]


def test_f2_on_a_line_saves_a_correction_shown_in_italics(qtbot, setup):
    view, library, _, meeting, _ = setup
    transcript = (meeting / "transcript.jsonl").read_bytes()
    select_session(qtbot, view, meeting)
    t = view.transcript
    t.list.setCurrentRow(2)
    t.list.setFocus()
    qtbot.keyClick(t.list, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "Next item: C++ build times (slow)."
    editor.selectAll()
    qtbot.keyClicks(editor, "Next item: C# build times.")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: t.lines()[2].corrected)
    saved = json.loads((meeting / "corrections.json").read_text(encoding="utf-8"))
    assert saved["live"]["2"]["text"] == "Next item: C# build times."
    assert (meeting / "transcript.jsonl").read_bytes() == transcript
    item = t.list.item(2)
    assert item.text() == "[00:00:05] You: Next item: C# build times."
    assert item.font().italic() and "The model wrote: Next item: C++ build times (slow)." in item.toolTip()
    assert not t.list.item(1).font().italic()
    assert [h.line_index for h in library.search("C#")] == [2]
    assert t.revert_button.isEnabled()
    qtbot.mouseClick(t.revert_button, Qt.MouseButton.LeftButton)
    assert item.text() == "[00:00:05] You: Next item: C++ build times (slow)." and not item.font().italic()
    assert not t.revert_button.isEnabled()


def test_enter_on_a_line_plays_its_source_from_its_start(qtbot, setup):
    view, library, player, meeting, _ = setup
    select_session(qtbot, view, meeting)
    t = view.transcript
    t.list.setCurrentRow(1)
    t.list.setFocus()
    qtbot.keyClick(t.list, Qt.Key.Key_Return)
    assert player.calls == [("play", library.audio_path(meeting.name, "sys"), pytest.approx(1.6))]
    assert t.stop_button.isEnabled() and t.status_label.text() == "Playing 00:00:01"
    t.list.setCurrentRow(2)
    qtbot.mouseClick(t.play_button, Qt.MouseButton.LeftButton)
    assert player.calls[-1] == ("play", library.audio_path(meeting.name, "mic"), pytest.approx(5.0))
    qtbot.mouseClick(t.stop_button, Qt.MouseButton.LeftButton)
    assert player.calls[-1] == ("stop",)
    assert not t.stop_button.isEnabled() and t.status_label.text() == ""
    player.fail = PlaybackError("No sound card.")
    qtbot.mouseClick(t.play_button, Qt.MouseButton.LeftButton)
    assert t.status_label.text() == "No sound card."


def test_every_control_is_named_and_reached_by_tab(qtbot, setup):
    view, _, _, meeting, _ = setup
    select_session(qtbot, view, meeting)
    view.search_field.setText("budget")
    view.search()
    assert unnamed_controls(view) == []
    assert unreachable_by_tab(qtbot, view, view.search_field) == []


def test_stretches_without_captions_are_named_above_the_live_transcript(qtbot, tmp_path) -> None:
    from app.events import CaptionEvent, CaptionGap
    from app.recording.recorder import SessionRecorder
    from tests.app.recording.test_recorder import MIC

    recorder = SessionRecorder.start(tmp_path, [MIC])
    recorder.add_caption(CaptionEvent("mic", " Before the outage.", (3,), 0.0, 1.0, final=True))
    recorder.add_gap(CaptionGap("mic", 1.0, 29.0, "server unreachable"))
    recorder.add_caption(CaptionEvent("mic", " After it.", (4,), 29.0, 30.0, final=True))
    recorder.close()
    library = Library(tmp_path)
    view = LibraryView(library, RecordingPlayer())
    qtbot.addWidget(view)
    (session_id,) = view.refresh()
    view.show()
    transcript = view.transcript
    transcript.show_session(session_id)
    assert library.gaps(session_id) == [CaptionGap("mic", 1.0, 29.0, "server unreachable")]
    assert transcript.gaps_label.isVisible()
    assert transcript.gaps_label.text() == ("No live captions for 1 stretch: 00:00:01–00:00:29 (server unreachable). "
                                            "The audio was recorded: Transcribe again fills them in.")
    assert [line.text for line in transcript.lines()] == ["Before the outage.", "After it."]  # the lines are as before
    transcript.show_session("")
    assert not transcript.gaps_label.isVisible()
    library.close()
