import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.events import CaptionEvent
from app.transcript import line_prefix
from app.ui.transcript_view import TranscriptView
from tests.app.ui.accessibility import unnamed_controls, unreachable_by_tab


@pytest.fixture
def view(qtbot):
    v = TranscriptView()
    qtbot.addWidget(v)
    v.resize(500, 300)
    v.show()
    qtbot.waitExposed(v)
    v.activateWindow()
    qtbot.waitUntil(v.isActiveWindow)
    return v


def say(view: TranscriptView, text: str, start: float, source: str = "mic", label: str = "You") -> None:
    view.add_caption(CaptionEvent(source, text, (), start, start + 0.08), label)


def lines_of(view: TranscriptView) -> list[str]:
    return view.text.toPlainText().split("\n")


def fill(view: TranscriptView, n: int, start: float = 0.0) -> None:
    for i in range(n):
        say(view, f"sentence number {i}", start + 2.0 * i)


def test_tokens_show_as_lines_with_timestamps_and_labels(view):
    for i, tok in enumerate(["Hello", " every", "one"]):
        say(view, tok, 61.0 + 0.08 * i)
    say(view, " Hi", 61.5, "sys", "Others")
    say(view, "no label", 3725.0, "file", "")
    assert lines_of(view) == ["[00:01:01] You: Hello everyone", "[00:01:01] Others: Hi", "[01:02:05] no label"]
    assert [line_prefix(line) + line.text for line in view.transcript().lines] == lines_of(view)
    assert view.text.isReadOnly()
    assert view.text.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByKeyboard


def test_events_without_text_add_nothing(view):
    view.add_caption(CaptionEvent("mic", "", (1,), 0.0, 0.08))
    assert view.text.toPlainText() == ""
    assert view.transcript().lines == []


def test_follows_live_until_scrolled_up_then_jump_returns(view, qtbot):
    bar = view.text.verticalScrollBar()
    fill(view, 100)
    assert bar.maximum() > 0
    assert bar.value() == bar.maximum()
    assert view.is_following() and view.jump_button.isHidden()

    bar.setValue(0)  # the user scrolls up
    assert not view.is_following()
    assert view.jump_button.isVisible()
    say(view, "more while reading", 500.0)
    assert bar.value() == 0  # the view stays where the user is reading

    qtbot.mouseClick(view.jump_button, Qt.MouseButton.LeftButton)
    assert view.is_following() and view.jump_button.isHidden()
    assert bar.value() == bar.maximum()
    say(view, "and newer", 600.0)
    assert bar.value() == bar.maximum()


def test_scrolling_back_to_the_end_follows_again(view):
    bar = view.text.verticalScrollBar()
    fill(view, 100)
    bar.setValue(3)
    assert not view.is_following()
    bar.setValue(bar.maximum())
    assert view.is_following() and view.jump_button.isHidden()


def test_ctrl_f_search_counts_selects_and_steps_through_matches(view, qtbot):
    say(view, "Budget talk", 0.0)
    say(view, "the budget again", 10.0)
    say(view, "BUDGET", 20.0)
    fill(view, 60, 30.0)
    qtbot.keyClick(view.text, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is view.search_field

    qtbot.keyClicks(view.search_field, "budget")
    assert view.match_label.text() == "1 of 3"
    assert view.text.textCursor().selectedText() == "Budget"
    assert view.text.textCursor().block().blockNumber() == 0
    assert len(view.text.extraSelections()) == 3
    assert not view.is_following()  # scrolled up to the first match

    qtbot.keyClick(view.search_field, Qt.Key.Key_Return)
    assert view.match_label.text() == "2 of 3"
    assert view.text.textCursor().block().blockNumber() == 1
    qtbot.keyClick(view.search_field, Qt.Key.Key_F3)
    assert view.match_label.text() == "3 of 3"
    assert view.text.textCursor().selectedText() == "BUDGET"
    qtbot.keyClick(view.search_field, Qt.Key.Key_Return)
    assert view.match_label.text() == "1 of 3"  # wraps around
    qtbot.keyClick(view.search_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert view.match_label.text() == "3 of 3"
    qtbot.mouseClick(view.previous_button, Qt.MouseButton.LeftButton)
    assert view.match_label.text() == "2 of 3"
    assert view.search_field.accessibleDescription() == "2 of 3"


def test_search_without_matches_and_cleared_query(view, qtbot):
    fill(view, 5)
    view.focus_search()
    qtbot.keyClicks(view.search_field, "zebra")
    assert view.match_label.text() == "No matches"
    assert view.text.extraSelections() == []
    view.search_field.clear()
    assert view.match_label.text() == ""


def test_copy_all_puts_the_timestamped_transcript_on_the_clipboard(view, qtbot):
    say(view, "Hello", 62.0)
    say(view, "Hi", 63.0, "sys", "Others")
    QApplication.clipboard().clear()
    qtbot.mouseClick(view.copy_all_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == "[00:01:02] You: Hello\n[00:01:03] Others: Hi"
    QApplication.clipboard().clear()
    qtbot.keyClick(view.text, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.clipboard().text() == "[00:01:02] You: Hello\n[00:01:03] Others: Hi"


def test_ctrl_c_copies_the_selection(view, qtbot):
    say(view, "Hello there", 62.0)
    view.text.setFocus()
    view.text.selectAll()
    qtbot.keyClick(view.text, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == "[00:01:02] You: Hello there"


def test_clear_empties_view_and_transcript(view):
    fill(view, 50)
    view.text.verticalScrollBar().setValue(0)
    view.clear()
    assert view.text.toPlainText() == ""
    assert view.transcript().lines == []
    assert view.is_following()
    say(view, "fresh", 1.0)
    assert lines_of(view) == ["[00:00:01] You: fresh"]


def test_controls_are_named_and_reachable_by_tab(view, qtbot):
    fill(view, 100)
    view.text.verticalScrollBar().setValue(0)  # shows the jump button
    assert unnamed_controls(view) == []
    assert unreachable_by_tab(qtbot, view, view.search_field) == []


def test_search_follows_case_folding_and_selects_the_matching_characters(view, qtbot):
    say(view, "Die Straße ist lang", 0.0)
    say(view, "😀 Ein 🎉 STRASSE!", 10.0)  # characters that take two UTF-16 units in Qt's positions
    say(view, "İstanbul", 20.0)
    view.focus_search()
    qtbot.keyClicks(view.search_field, "strasse")
    assert view.match_label.text() == "1 of 2"
    assert view.text.textCursor().selectedText() == "Straße"
    qtbot.keyClick(view.search_field, Qt.Key.Key_Return)
    assert view.text.textCursor().selectedText() == "STRASSE"
    assert [s.cursor.selectedText() for s in view.text.extraSelections()] == ["Straße", "STRASSE"]
    view.search_field.setText("i̇stanbul")
    assert view.text.textCursor().selectedText() == "İstanbul"


def test_search_takes_any_text_typed(view, qtbot):
    say(view, "Budget talk", 0.0)
    for query in ("\x00", "bud\x00get", "(", "[a-z]+", "x" * 100_000):  # (Qt drops lone surrogates)
        view.search_field.setText(query)
        assert view.match_label.text() == "No matches"


def test_two_sources_grow_their_own_lines_and_sessions_have_headers(view, qtbot):
    from datetime import datetime

    view.start_session(datetime(2026, 12, 4, 9, 5))
    for i, (mine, theirs) in enumerate(zip(["can", "you", "hear", "me"], ["yes", "loud", "and", "clear"], strict=True)):
        say(view, " " + mine, 1.0 + 0.24 * i)
        say(view, " " + theirs, 1.04 + 0.24 * i, "sys", "Others")
    assert lines_of(view) == ["— Session of Friday 04 December 2026, 09:05 —", "[00:00:01] You: can you hear me",
                              "[00:00:01] Others: yes loud and clear"]
    view.start_session(datetime(2026, 12, 4, 10, 0))
    say(view, "again", 0.5)
    assert lines_of(view)[-2:] == ["— Session of Friday 04 December 2026, 10:00 —", "[00:00:00] You: again"]
    assert [line_prefix(line) + line.text for line in view.transcript().lines] == lines_of(view)
    view.search_field.setText("hear")  # searching still finds the words in a line above the newest
    assert view.text.textCursor().selectedText() == "hear"
