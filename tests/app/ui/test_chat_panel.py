"""The chat pane, offscreen, against ``ScriptedController``: a test double of app.chat.controller.ChatController that
records the panel's calls and emits what each test scripts (no model runs). The real controller is tested on its own.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence, QTextCursor
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QListWidget, QMessageBox

from app.chat.actions import ACTIONS, LANGUAGE_NAMES, action_question, limits_text
from app.chat.model import ChatTurn, Clip, Conversation
from app.events import MODEL_RATE, Notice, Severity
from app.export.output_check import check_output
from app.library import Library
from app.ui.chat_answer_view import time_href
from app.ui.chat_panel import ChatPanel, parse_time
from app.ui.library_view import LibraryView
from app.ui.session_transcript import SessionTranscript
from tests.app.library.sessions import MEETING, START, make_session
from tests.app.ui.accessibility import unnamed_controls, unreachable_by_tab


class ScriptedController(QObject):
    """Test double of ChatController: the same signals and methods, and its rules (nothing opens while an answer is
    being written; a vanished session folder is a LibraryError). ``ask`` echoes the user turn and goes busy, then the
    test streams text with ``stream`` and ends the answer with ``finish``; ``stop`` ends it as "stopped", at once
    unless ``stop_later`` (as the worker thread ends it a little later). Conversations are kept per session in
    ``saved``, as the real controller keeps them with the session."""

    turnAdded = Signal(object)
    delta = Signal(str)
    progress = Signal(float, str)
    notice = Signal(object)
    busyChanged = Signal(bool)

    def __init__(self, library: Library) -> None:
        super().__init__()
        self.library = library
        self.calls: list[tuple] = []
        self.saved: dict[str, Conversation] = {}
        self.conversation: Conversation | None = None
        self._answer: list[str] = []
        self._busy = False
        self.stop_later = False

    def open(self, session_id: str) -> Conversation:
        self.calls.append(("open", session_id))
        self._check_idle()
        self.library.folder(session_id)
        self.conversation = self.saved.get(session_id) or Conversation(f"c-{session_id}", session_id, "now")
        return self.conversation

    def new_conversation(self) -> Conversation:
        self.calls.append(("new_conversation",))
        self._check_idle()
        assert self.conversation is not None
        self.conversation = Conversation("c-new", self.conversation.session_id, "later")
        self.saved[self.conversation.session_id] = self.conversation
        return self.conversation

    def ask(self, question: str, clips) -> None:
        self.calls.append(("ask", question, tuple(clips)))
        self._check_idle()
        self._add(ChatTurn("user", question, tuple(clips)))
        self._busy, self._answer = True, []
        self.busyChanged.emit(True)

    def stream(self, *texts: str) -> None:
        for text in texts:
            self._answer.append(text)
            self.delta.emit(text)

    def finish(self, reason: str = "eos") -> None:
        self._add(ChatTurn("assistant", "".join(self._answer), finish_reason=reason))
        self._busy = False
        self.busyChanged.emit(False)

    def stop(self) -> None:
        self.calls.append(("stop",))
        if self._busy and not self.stop_later:
            self.finish("stopped")

    def export_markdown(self, path: Path) -> Path:
        self.calls.append(("export_markdown", path))
        return check_output(path, protected=[self.library.sessions_dir])  # the real controller's check

    def asked(self) -> list[tuple]:
        return [call[1:] for call in self.calls if call[0] == "ask"]

    def _check_idle(self) -> None:
        if self._busy:
            raise RuntimeError("A question is being answered: stop it first.")

    def _add(self, turn: ChatTurn) -> None:
        assert self.conversation is not None
        conversation = self.conversation
        self.conversation = Conversation(conversation.id, conversation.session_id, "now", (*conversation.turns, turn))
        self.saved[conversation.session_id] = self.conversation
        self.turnAdded.emit(turn)


class Setup:
    def __init__(self, qtbot, tmp_path: Path) -> None:
        long_audio = {"mic": np.zeros(90 * MODEL_RATE, dtype=np.float32)}  # 1:30, for typed ranges
        self.meeting = make_session(tmp_path, "Budget meeting", MEETING, long_audio).name
        self.standup = make_session(tmp_path, "Standup", started_at=START + timedelta(days=1)).name
        self.library = Library(tmp_path)
        self.library.scan()
        self.controller = ScriptedController(self.library)
        self.played: list[tuple[str, float]] = []
        self.panel = ChatPanel(self.controller, self.library, lambda sid, s: self.played.append((sid, s)))
        qtbot.addWidget(self.panel)

    def text(self) -> str:
        return self.panel.view.toPlainText()

    def clips(self) -> list[str]:
        return [self.panel.clip_list.item(i).text() for i in range(self.panel.clip_list.count())]

    def type_and_ask(self, qtbot, question: str) -> None:
        self.panel.question_field.setPlainText(question)
        qtbot.mouseClick(self.panel.ask_button, Qt.MouseButton.LeftButton)


@pytest.fixture
def setup(qtbot, tmp_path):
    s = Setup(qtbot, tmp_path)
    yield s
    s.library.close()


def show(qtbot, panel: ChatPanel) -> None:
    """Show the panel as the active window: shortcuts and Tab need one."""
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel)


def links(panel: ChatPanel) -> list[tuple[str, str]]:
    """(text, href) of each link in the conversation."""
    found = []
    block = panel.view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().isAnchor():
                found.append((fragment.text(), fragment.charFormat().anchorHref()))
            it += 1
        block = block.next()
    return found


def test_without_a_session_nothing_can_be_asked(setup):
    panel = setup.panel
    assert "Choose a recording" in panel.title_label.text()
    panel.question_field.setPlainText("What was decided?")
    panel.ask()
    assert setup.controller.asked() == []
    assert not panel.ask_button.isEnabled() and not panel.whole_button.isEnabled()


def test_set_session_shows_the_saved_conversation(setup):
    setup.controller.saved[setup.meeting] = Conversation(
        "c1",
        setup.meeting,
        "then",
        (
            ChatTurn("user", "What about the budget?", (Clip(setup.meeting),)),
            ChatTurn("assistant", "It was approved at [01:05].", finish_reason="eos", note="Asked in 2 parts."),
            ChatTurn("user", "And then?"),
            ChatTurn("assistant", "Then the", finish_reason="stopped"),
        ),
    )
    setup.panel.set_session(setup.meeting)
    assert ("open", setup.meeting) in setup.controller.calls
    assert "Budget meeting" in setup.panel.title_label.text()
    assert setup.text().splitlines() == [
        "Question: What about the budget?",
        f"Audio: {Clip(setup.meeting).describe()}",
        "Answer: It was approved at [01:05].",
        "Asked in 2 parts.",
        "Question: And then?",
        "Answer: Then the (stopped)",
    ]
    assert links(setup.panel) == [("[01:05]", time_href(65))]
    assert setup.clips() == []  # a conversation that goes on gets no audio unless some is attached
    assert "follow-up" in setup.panel.clip_hint.text()
    assert setup.panel.export_button.isEnabled()


def test_the_first_question_gets_the_whole_recording_and_a_follow_up_no_audio(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    assert setup.clips() == [Clip(setup.meeting).describe()]
    assert not setup.panel.export_button.isEnabled()  # nothing to export yet
    setup.type_and_ask(qtbot, "  What was decided?  ")
    assert setup.controller.asked() == [("What was decided?", (Clip(setup.meeting),))]
    assert setup.panel.question_field.toPlainText() == ""
    assert setup.clips() == []
    setup.controller.stream("Nothing.")
    setup.controller.finish()
    assert "follow-up questions use the audio already in this conversation" in setup.panel.clip_hint.text()

    setup.panel.question_field.setPlainText("Who spoke?")
    qtbot.keyClick(setup.panel.question_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert setup.controller.asked()[1] == ("Who spoke?", ())
    assert setup.text().splitlines()[-1] == "Question: Who spoke?"


def test_selected_lines_and_a_typed_range_go_with_the_question(qtbot, setup):
    panel = setup.panel
    panel.set_session(setup.meeting)
    assert not panel.selected_button.isEnabled()  # until the lead connects the transcript
    picked: list[tuple[float, float] | None] = [None]
    panel.set_selection_source(lambda: picked[0])
    qtbot.mouseClick(panel.selected_button, Qt.MouseButton.LeftButton)
    assert "Select lines" in panel.status_label.text()
    assert setup.clips() == [Clip(setup.meeting).describe()]

    picked[0] = (1.5, 4.0)
    qtbot.mouseClick(panel.selected_button, Qt.MouseButton.LeftButton)
    assert setup.clips() == [Clip(setup.meeting, 1.5, 4.0).describe()]  # a part replaces the whole recording
    for start, end, problem in (("1:70", "", "not a time"), ("0:30", "0:10", "after its start"), ("2:00", "", "long")):
        panel.start_field.setText(start)
        panel.end_field.setText(end)
        qtbot.keyClick(panel.end_field, Qt.Key.Key_Return)
        assert problem in panel.status_label.text()
        assert len(setup.clips()) == 1
    panel.start_field.setText("0:05")
    panel.end_field.setText("1:10")
    qtbot.mouseClick(panel.range_button, Qt.MouseButton.LeftButton)
    panel.start_field.setText("1:20")
    qtbot.mouseClick(panel.range_button, Qt.MouseButton.LeftButton)  # no end: to the end
    assert panel.status_label.text() == ""
    assert (panel.start_field.text(), panel.end_field.text()) == ("", "")
    assert panel.clip_list.currentRow() == 2
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)

    setup.type_and_ask(qtbot, "What was said here?")
    assert setup.controller.asked() == [
        ("What was said here?", (Clip(setup.meeting, 1.5, 4.0), Clip(setup.meeting, 5.0, 70.0)))
    ]
    assert setup.clips() == []
    assert setup.text().splitlines()[1] == "Audio: " + ", ".join(
        c.describe() for c in (Clip(setup.meeting, 1.5, 4.0), Clip(setup.meeting, 5.0, 70.0))
    )


def test_the_whole_recording_replaces_the_parts(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.panel.add_clip(Clip(setup.meeting, 3.0, 9.0))
    qtbot.mouseClick(setup.panel.whole_button, Qt.MouseButton.LeftButton)
    assert setup.clips() == [Clip(setup.meeting).describe()]


@pytest.mark.parametrize(
    ("text", "seconds"), [("12:03", 723.0), ("1:02:03", 3723.0), (" 90 ", 90.0), ("0:07.5", 7.5), ("59", 59.0)]
)
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "12:60", "1:60:00", "a:10", "1:2:3:4", "-5", "1,5"])
def test_parse_time_refuses(text):
    with pytest.raises(ValueError, match="mm:ss"):
        parse_time(text)


def test_the_answer_streams_in_and_times_become_links(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "When was the budget approved?")
    assert setup.panel.stop_button.isEnabled() and not setup.panel.ask_button.isEnabled()
    shown = []
    for piece in ("The budget ", "was approved\nat [00:0", "5] and ", "again at 01:20, not at 14:30."):
        setup.controller.stream(piece)
        shown.append(setup.text())
    assert [text.split("Answer: ", 1)[1] for text in shown] == [
        "The budget ",
        "The budget was approved\nat [00:0",
        "The budget was approved\nat [00:05] and ",
        "The budget was approved\nat [00:05] and again at 01:20, not at 14:30.",
    ]
    assert links(setup.panel) == []  # a time can still be growing while the answer streams in
    setup.controller.finish()
    assert setup.text().count("Answer:") == 1
    assert setup.text().endswith("Answer: The budget was approved\nat [00:05] and again at 01:20, not at 14:30.")
    assert links(setup.panel) == [("[00:05]", time_href(5)), ("01:20", time_href(80))]  # 14:30: past the end
    assert not setup.panel.stop_button.isEnabled()

    for _text, href in links(setup.panel):
        setup.panel.view.anchorClicked.emit(QUrl(href))
    setup.panel.view.anchorClicked.emit(QUrl("https://example.com/"))
    assert setup.played == [(setup.meeting, 5.0), (setup.meeting, 80.0)]
    assert setup.panel.view.source().isEmpty()  # links play; they never navigate


def test_stop_keeps_the_partial_answer_and_marks_it(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Summarise")
    setup.controller.stream("First, the")
    qtbot.mouseClick(setup.panel.stop_button, Qt.MouseButton.LeftButton)
    assert ("stop",) in setup.controller.calls
    assert setup.text().endswith("Answer: First, the (stopped)")
    assert not setup.panel.stop_button.isEnabled()

    setup.type_and_ask(qtbot, "Go on")
    setup.controller.stream("Then")
    show(qtbot, setup.panel)
    setup.panel.question_field.setFocus()
    qtbot.keyClick(setup.panel.question_field, Qt.Key.Key_Escape)
    assert setup.controller.calls.count(("stop",)) == 2
    assert setup.text().endswith("Answer: Then (stopped)")


def test_ctrl_enter_asks_instead_of_an_application_shortcut(qtbot, setup):
    start = QAction("Start captions", setup.panel)  # as the main window's start action
    start.setShortcut(QKeySequence("Ctrl+Return"))
    start.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    setup.panel.addAction(start)
    triggered = []
    start.triggered.connect(lambda: triggered.append(True))
    show(qtbot, setup.panel)
    qtbot.keyClick(setup.panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert triggered == [True]  # the shortcut works, but not while a question is typed
    setup.panel.set_session(setup.meeting)
    setup.panel.question_field.setFocus()
    setup.panel.question_field.setPlainText("Line one")
    setup.panel.question_field.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClick(setup.panel.question_field, Qt.Key.Key_Return)  # Enter alone starts a new line
    qtbot.keyClicks(setup.panel.question_field, "line two")
    qtbot.keyClick(setup.panel.question_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert setup.controller.asked() == [("Line one\nline two", (Clip(setup.meeting),))]
    assert triggered == [True]


def test_a_follow_up_after_reloading_the_conversation(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Who was there?")
    setup.controller.stream("Two people.")
    setup.controller.finish()
    before = setup.text()

    setup.panel.set_session(setup.standup)
    assert setup.text() == "" and setup.clips() == [Clip(setup.standup).describe()]
    setup.panel.set_session(setup.meeting)
    assert setup.text() == before
    setup.type_and_ask(qtbot, "Their names?")
    assert setup.controller.asked()[-1] == ("Their names?", ())


def test_switching_sessions_mid_answer_stops_it_and_keeps_it_out(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Summarise")
    setup.controller.stream("Half")
    setup.controller.stop_later = True
    setup.panel.set_session(setup.standup)
    assert ("stop",) in setup.controller.calls
    assert setup.text() == "" and "Standup" in setup.panel.title_label.text()
    setup.controller.stream(" and more")  # the old answer's text, still on its way
    assert setup.text() == ""
    setup.controller.finish("stopped")
    assert setup.controller.calls[-1] == ("open", setup.standup)  # once the answer has stopped
    assert setup.text() == ""
    assert setup.controller.saved[setup.meeting].turns[-1].text == "Half and more"
    setup.type_and_ask(qtbot, "Next")
    setup.controller.stream("Yes")
    assert setup.text().endswith("Question: Next\nAudio: whole recording\nAnswer: Yes")


def test_a_session_whose_folder_went_away(setup):
    shutil.rmtree(setup.library.folder(setup.standup))
    setup.panel.set_session(setup.standup)
    assert "no longer exists" in setup.panel.status_label.text()
    assert not setup.panel.whole_button.isEnabled() and setup.clips() == []


def test_the_same_session_again_keeps_the_answer_going(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Summarise")
    setup.controller.stream("Half")
    setup.panel.set_session(setup.meeting)  # a rescan selects it again
    assert ("stop",) not in setup.controller.calls
    setup.controller.stream(" and all")
    assert setup.text().endswith("Answer: Half and all")


def test_new_conversation(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Who?")
    setup.controller.finish()
    qtbot.mouseClick(setup.panel.new_button, Qt.MouseButton.LeftButton)
    assert setup.controller.calls[-1] == ("new_conversation",)
    assert setup.text() == ""
    assert setup.clips() == [Clip(setup.meeting).describe()]


def test_ready_made_actions_ask_their_questions(qtbot, setup):
    setup.panel.set_session(setup.meeting)
    by_id = dict(zip((a for a, _label in ACTIONS), setup.panel.action_buttons, strict=True))
    for action_id, button in by_id.items():
        if button.menu() is None:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            assert setup.controller.asked()[-1][0] == action_question(action_id)
            setup.controller.finish()
    translate = by_id["translate"].menu()
    assert [a.text() for a in translate.actions()] == list(LANGUAGE_NAMES.values())
    code, name = list(LANGUAGE_NAMES.items())[-1]
    next(a for a in translate.actions() if a.text() == name).trigger()
    assert setup.controller.asked()[-1] == (action_question("translate", code), ())
    assert not any(b.isEnabled() for b in setup.panel.action_buttons)  # busy
    assert setup.controller.asked()[0][1] == (Clip(setup.meeting),)


def test_progress_notices_and_limits(setup):
    panel = setup.panel
    panel.set_session(setup.meeting)
    assert not panel.progress_bar.isVisibleTo(panel) and not panel.notice_label.isVisibleTo(panel)
    setup.controller.busyChanged.emit(True)
    setup.controller.progress.emit(0.25, "Loading the chat model")
    assert panel.progress_bar.isVisibleTo(panel) and panel.progress_label.isVisibleTo(panel)
    assert (panel.progress_bar.value(), panel.progress_label.text()) == (250, "Loading the chat model")
    setup.controller.progress.emit(2 / 3, "Part 2 of 3")
    assert panel.progress_bar.value() == 667
    setup.controller.notice.emit(Notice(Severity.WARNING, "No usable GPU: the chat model runs on the CPU, slowly."))
    assert panel.notice_label.isVisibleTo(panel)
    assert panel.notice_label.text() == "No usable GPU: the chat model runs on the CPU, slowly."
    assert "#fff4d6" in panel.notice_label.styleSheet()
    assert panel.notice_label.accessibleDescription().startswith("warning:")
    setup.controller.busyChanged.emit(False)
    assert not panel.progress_bar.isVisibleTo(panel)
    assert panel.notice_label.isVisibleTo(panel)  # until the next notice
    # What the model can do is read where the conversation will be, before the first question, and by screen readers.
    assert panel.view.placeholderText() == limits_text(None) == panel.view.accessibleDescription()


def test_export_saves_markdown_where_chosen(qtbot, setup, tmp_path, monkeypatch):
    setup.panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Who?")
    setup.controller.finish()
    asked_for = []

    def choose(*args, **_kwargs):
        asked_for.append(args)
        return str(tmp_path / "notes"), "Markdown (*.md)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    qtbot.mouseClick(setup.panel.export_button, Qt.MouseButton.LeftButton)
    assert setup.controller.calls[-1] == ("export_markdown", tmp_path / "notes.md")
    assert Path(asked_for[0][2]).name == "Budget meeting chat.md"
    assert str(tmp_path / "notes.md") in setup.panel.status_label.text()

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *_a, **_k: ("", "")))
    qtbot.mouseClick(setup.panel.export_button, Qt.MouseButton.LeftButton)  # cancelled
    assert [c[0] for c in setup.controller.calls].count("export_markdown") == 1


def test_export_suggests_a_name_the_file_system_takes_and_says_why_it_refuses(qtbot, setup, tmp_path, monkeypatch):
    long_title = "Réunion budgétaire du trimestre " * 10  # about 340 bytes in UTF-8
    sid = make_session(tmp_path, long_title, started_at=START + timedelta(days=2)).name
    setup.library.scan()
    setup.panel.set_session(sid)
    setup.type_and_ask(qtbot, "Who?")
    setup.controller.finish()
    suggested, warnings = [], []
    refused_path = setup.library.folder(sid) / "transcript.jsonl"
    before = refused_path.read_bytes()

    def choose(*args, **_kwargs):
        suggested.append(Path(args[2]))
        return str(refused_path), "Markdown (*.md)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda _parent, _title, text: warnings.append(text)))
    qtbot.mouseClick(setup.panel.export_button, Qt.MouseButton.LeftButton)
    name = suggested[0].name
    assert name.endswith(" chat.md") and len(name.encode()) <= 255 and long_title.startswith(name[:40])
    (warning,) = warnings
    assert warning.startswith(f"Not saved: {refused_path} is inside the program's recordings folder")
    assert refused_path.read_bytes() == before


def test_controls_are_named_and_reachable_by_tab(qtbot, setup):
    panel = setup.panel
    panel.set_session(setup.meeting)
    setup.type_and_ask(qtbot, "Who?")
    setup.controller.finish()
    panel.question_field.setPlainText("And?")
    panel.resize(900, 800)
    show(qtbot, panel)
    assert unnamed_controls(panel) == []
    for widget in (panel.view, panel.clip_list):  # not buttons or fields, yet read by screen readers
        assert widget.accessibleName()
    assert unreachable_by_tab(qtbot, panel, panel.new_button) == []


def test_selected_range_of_the_session_transcript(qtbot, setup):
    class Silent:
        playing = False
        position_s = 0.0

    transcript = SessionTranscript(setup.library, Silent())
    qtbot.addWidget(transcript)
    assert transcript.selected_range() is None
    transcript.show_session(setup.meeting)
    lines = transcript.lines()
    transcript.list.setCurrentRow(1)
    assert transcript.selected_range() == (lines[1].start_s, lines[1].end_s)
    transcript.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
    for row in (2, 0):
        transcript.list.item(row).setSelected(True)
    assert transcript.selected_range() == (lines[0].start_s, lines[2].end_s)
    transcript.list.clearSelection()
    assert transcript.selected_range() is None


def test_the_header_follows_a_rename_in_the_library(qtbot, setup):
    class Silent:
        playing = False
        position_s = 0.0

    view = LibraryView(setup.library, Silent())
    qtbot.addWidget(view)
    view.sessions.sessionSelected.connect(setup.panel.set_session)  # as the program connects them
    view.refresh()
    assert view.sessions.select(setup.meeting)
    assert setup.panel.title_label.text() == "Ask about “Budget meeting”"
    opened = setup.controller.calls.count(("open", setup.meeting))
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is view)

    view.sessions.table.setFocus()
    qtbot.keyClick(view.sessions.table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "Budget review")
    qtbot.keyClick(editor, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: setup.panel.title_label.text() == "Ask about “Budget review”")
    assert setup.controller.calls.count(("open", setup.meeting)) == opened  # the same conversation goes on
    assert view.transcript.title_label.text() == "Budget review"
