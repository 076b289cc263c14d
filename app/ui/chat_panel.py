"""The chat pane beside a session's transcript: questions about the recording, answered by the offline Voxtral model.

Audio goes with a question as clips: the whole recording (what a new conversation starts with), the lines selected in
the transcript, or a typed time range. Clips go with the next question only; follow-up questions use the audio that
is already in the conversation. Keys: Ctrl+Enter in the question field asks, Esc stops the answer being written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QListWidget,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.chat.actions import ACTIONS, LANGUAGE_NAMES, action_question, limits_text
from app.chat.model import ChatTurn, Clip, Conversation
from app.events import Notice, Severity
from app.library import Library, LibraryError
from app.transcript import format_timestamp
from app.ui.chat_answer_view import ChatAnswerView

if TYPE_CHECKING:
    from app.chat.controller import ChatController

TRANSLATE = "translate"  # the ready-made action that needs a language
NOTICE_STYLE = {  # as the main window shows notices
    Severity.INFO: "background:#e7f1ff;color:#0b3d91;",
    Severity.WARNING: "background:#fff4d6;color:#5c3b00;",
    Severity.ERROR: "background:#fde7e9;color:#8a0010;",
}
_TIME = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d+)?)")
_UNSAFE_IN_FILE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def parse_time(text: str) -> float:
    """Seconds from "mm:ss", "h:mm:ss" or a number of seconds; ValueError with a message for the user otherwise."""
    match = _TIME.fullmatch(text.strip())
    hours, minutes, seconds = match.groups() if match else (None, None, None)
    if seconds is None or (minutes is not None and float(seconds) >= 60) or (hours is not None and int(minutes) >= 60):
        raise ValueError(f"“{text.strip()}” is not a time: write it as mm:ss or h:mm:ss.")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)


def _label(text: str = "", name: str = "") -> QLabel:
    return QLabel(text, textFormat=Qt.TextFormat.PlainText, wordWrap=True, accessibleName=name)


def _button(text: str, name: str, slot: Callable[[], None] | None = None) -> QPushButton:
    button = QPushButton(text, accessibleName=name)
    if slot is not None:
        button.clicked.connect(lambda: slot())
    return button


def _box(layout: QBoxLayout, *items: QWidget | QLayout | int) -> QBoxLayout:
    """``layout`` with ``items`` added in order; a number adds a stretch of that factor."""
    for item in items:
        if isinstance(item, int):
            layout.addStretch(item)
        elif isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item)
    return layout


class ChatPanel(QWidget):
    """Questions about one recorded session through ``controller``; ``play(session_id, seconds)`` plays the
    recording from a time an answer points to."""

    def __init__(
        self,
        controller: ChatController,
        library: Library,
        play: Callable[[str, float], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._library = library
        self._play = play
        self._session_id = ""
        self._title = ""
        self._duration_s = 0.0
        self._clips: list[Clip] = []
        self._selection: Callable[[], tuple[float, float] | None] | None = None
        self._busy = False
        self._has_turns = False  # questions that follow get the audio already in the conversation
        self._reopening = False  # switched sessions mid-answer: the rest of that answer belongs to the other session

        self.title_label = _label()
        self.new_button = _button("&New conversation", "Start a new conversation", self.new_conversation)
        self.export_button = _button("Export as &Markdown…", "Export this conversation as Markdown", self.export)
        self.view = ChatAnswerView()
        # What the model can do is read before the first question, where the conversation will be.
        self.view.setPlaceholderText(limits_text(None))
        self.view.setAccessibleDescription(limits_text(None))
        self.progress_label = _label()
        self.progress_bar = QProgressBar(maximum=1000, accessibleName="Chat model progress")
        self.notice_label = _label(name="Chat notice")

        self.clip_list = QListWidget(accessibleName="Audio attached to the next question")
        self.clip_list.setMaximumHeight(self.clip_list.fontMetrics().height() * 4)
        self.whole_button = _button("&Whole recording", "Attach the whole recording", self.add_clip)
        self.selected_button = _button("Add selected l&ines", "Attach the selected lines", self.add_selected_lines)
        self.remove_button = _button("Remove", "Remove the selected clip", self.remove_selected_clip)
        self.start_field = QLineEdit(accessibleName="Range start (mm:ss or h:mm:ss)", placeholderText="mm:ss")
        self.end_field = QLineEdit(accessibleName="Range end (empty: to the end)", placeholderText="end")
        self.range_button = _button("Add ran&ge", "Attach the typed time range", self.add_range)
        self.clip_hint = _label()

        self.question_field = QPlainTextEdit(
            accessibleName="Question about the recording",
            placeholderText="Ask about the recording (Ctrl+Enter asks)",
            tabChangesFocus=True,
        )
        self.question_field.setMaximumHeight(self.question_field.fontMetrics().height() * 4)
        self.ask_button = _button("As&k", "Ask the question (Ctrl+Enter)", self.ask)
        self.stop_button = _button("Stop", "Stop the answer (Esc)", self.stop)
        self.action_buttons: list[QPushButton] = []
        for action_id, label in ACTIONS:
            if action_id == TRANSLATE:
                button = _button(label, f"{label.rstrip('…')} (choose a language)")
                button.setMenu(QMenu(button))
                for code, name in LANGUAGE_NAMES.items():
                    button.menu().addAction(name, lambda _=False, c=code: self.ask(action_question(TRANSLATE, c)))
            else:
                button = _button(label, label, lambda a=action_id: self.ask(action_question(a)))
            self.action_buttons.append(button)
        self.status_label = _label()

        self._lay_out()
        self.view.timeClicked.connect(lambda seconds: self._play(self._session_id, seconds))
        self.clip_list.currentRowChanged.connect(lambda _row: self._update_buttons())
        self.start_field.returnPressed.connect(self.add_range)
        self.end_field.returnPressed.connect(self.add_range)
        self.question_field.textChanged.connect(self._update_buttons)
        self.question_field.installEventFilter(self)
        QShortcut(QKeySequence("Esc"), self, self.stop, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        controller.turnAdded.connect(self._turn_added)
        controller.delta.connect(self._delta)
        controller.progress.connect(self._progress)
        controller.notice.connect(self.show_notice)
        controller.busyChanged.connect(self._busy_changed)
        for w in (self.progress_bar, self.progress_label, self.notice_label):
            w.hide()
        self.set_session("")

    def _lay_out(self) -> None:
        start_label, end_label, question_label = QLabel("From:"), QLabel("to:"), QLabel("&Question:")
        question_label.setBuddy(self.question_field)
        clip_buttons = _box(QVBoxLayout(), self.whole_button, self.selected_button, self.remove_button, 1)
        ask_buttons = _box(QVBoxLayout(), self.ask_button, self.stop_button, 1)
        clips = QGroupBox("Audio for the next question")
        _box(
            QVBoxLayout(clips),
            _box(QHBoxLayout(), self.clip_list, clip_buttons),
            _box(QHBoxLayout(), start_label, self.start_field, end_label, self.end_field, self.range_button, 1),
            self.clip_hint,
        )
        layout = _box(
            QVBoxLayout(self),
            _box(QHBoxLayout(), self.title_label, 1, self.new_button, self.export_button),
            self.view,
            _box(QHBoxLayout(), self.progress_label, self.progress_bar),
            self.notice_label,
            clips,
            _box(QHBoxLayout(), question_label, self.question_field, ask_buttons),
            _box(QHBoxLayout(), *self.action_buttons, 1),
            self.status_label,
        )
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setStretchFactor(self.view, 1)
        order = [
            self.new_button, self.export_button, self.view, self.clip_list, self.whole_button, self.selected_button,
            self.remove_button, self.start_field, self.end_field, self.range_button, self.question_field,
            self.ask_button, self.stop_button, *self.action_buttons,
        ]  # fmt: skip
        for first, second in pairwise(order):
            QWidget.setTabOrder(first, second)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 — Qt's name
        # A layout's minimum counts one line per word-wrapped label (the hints, a notice), but it gives such labels
        # all the lines they need first and crushes the buttons instead: count those lines, at the least width.
        size = super().minimumSizeHint()
        return size.expandedTo(QSize(size.width(), self.layout().totalMinimumHeightForWidth(size.width())))

    def set_selection_source(self, source: Callable[[], tuple[float, float] | None]) -> None:
        """Where "Add selected lines" gets its time range: (start_s, end_s) of the selected lines, or None."""
        self._selection = source
        self._update_buttons()

    def set_session(self, session_id: str) -> None:
        """Discuss another recording ("" for none): its latest saved conversation is shown, or a new one. An answer
        being written about the previous recording is stopped, and the conversation opens once it has stopped."""
        summary = next((s for s in self._library.sessions() if s.id == session_id), None) if session_id else None
        same = summary is not None and summary.id == self._session_id  # a rescan or a rename: the conversation goes on
        self._session_id = summary.id if summary else ""
        self._title = summary.title if summary else ""
        self._duration_s = summary.duration_s if summary else 0.0
        self.title_label.setText(f"Ask about “{self._title}”" if summary else "Choose a recording to ask about it.")
        if same:
            return
        if self._busy:  # the controller opens nothing while it answers
            self._reopening = True
            self._controller.stop()
            self._show(None)
        else:
            self._open()

    def ask(self, question: str | None = None) -> None:
        """Ask ``question`` (the question field's text when None) with the attached clips, which are then cleared."""
        text = (self.question_field.toPlainText() if question is None else question).strip()
        if not text or not self._session_id or self._busy:
            return
        clips, self._clips = self._clips, []
        self._controller.ask(text, clips)
        if question is None:
            self.question_field.clear()
        self._show_clips()

    def stop(self) -> None:
        """Stop the answer being written; what was written so far is kept."""
        if self._busy:
            self._controller.stop()

    def new_conversation(self) -> None:
        """Start a new, empty conversation about the recording (the one shown stays saved)."""
        if self._session_id and not self._busy:
            self._show(self._controller.new_conversation())

    def add_clip(self, clip: Clip | None = None) -> None:
        """Attach audio (the whole recording when None) to the next question; the whole recording replaces its parts,
        and a part replaces the whole."""
        clip = clip or Clip(self._session_id)
        self._clips = [*([] if clip.whole else [c for c in self._clips if not c.whole and c != clip]), clip]
        self._show_clips()

    def add_selected_lines(self) -> None:
        """Attach the time range of the lines selected in the transcript (see ``set_selection_source``)."""
        picked = self._selection() if self._selection is not None else None
        if picked is None:
            self.status_label.setText("Select lines in the transcript first.")
            return
        self.add_clip(Clip(self._session_id, picked[0], picked[1]))

    def add_range(self) -> None:
        """Attach the range typed in the start and end fields (empty start: the beginning, empty end: the end)."""
        try:
            start = parse_time(self.start_field.text()) if self.start_field.text().strip() else 0.0
            end = parse_time(self.end_field.text()) if self.end_field.text().strip() else None
        except ValueError as exc:
            self.status_label.setText(str(exc))
            return
        if end is not None and end <= start:
            self.status_label.setText("The end of the range must come after its start.")
            return
        if self._duration_s > 0 and start >= self._duration_s:
            self.status_label.setText(f"The recording is only {format_timestamp(self._duration_s)} long.")
            return
        self.start_field.clear()
        self.end_field.clear()
        self.add_clip(Clip(self._session_id, start, end))

    def remove_selected_clip(self) -> None:
        """Detach the clip selected in the list."""
        row = self.clip_list.currentRow()
        if 0 <= row < len(self._clips):
            del self._clips[row]
            self._show_clips()

    def export(self) -> None:
        """Ask where, then save the conversation as Markdown there."""
        from app.export.output_check import OutputRefused, fit_name

        name = _UNSAFE_IN_FILE_NAME.sub(" ", self._title).strip() or "Conversation"
        suggested = Path.home() / fit_name(name, ".md", Path.home(), tag=" chat")  # a long title still fits
        path, _filter = QFileDialog.getSaveFileName(self, "Export conversation", str(suggested), "Markdown (*.md)")
        if not path:
            return
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(".md")
        try:
            saved = self._controller.export_markdown(target)
        except OutputRefused as exc:  # its message names the path and says why
            QMessageBox.warning(self, "Export conversation", f"Not saved: {exc}")
            return
        except OSError as exc:
            QMessageBox.warning(self, "Export conversation", f"Could not save {target}: {exc}")
            return
        self.status_label.setText(f"Saved {saved}")

    def show_notice(self, notice: Notice) -> None:
        """Show what the chat model tells the user (CPU fallback, what was done with long audio) until the next."""
        self.notice_label.setText(notice.message)
        self.notice_label.setStyleSheet(f"QLabel{{{NOTICE_STYLE[notice.severity]}padding:6px;border-radius:4px;}}")
        self.notice_label.setAccessibleDescription(f"{notice.severity.value}: {notice.message}")
        self.notice_label.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 — Qt's name
        # Ctrl+Enter is also the main window's start shortcut: claim it (ShortcutOverride) while the question is typed.
        if (
            watched is self.question_field
            and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                self.ask()
            return True
        return super().eventFilter(watched, event)

    def _turn_added(self, turn: ChatTurn) -> None:
        if not self._reopening:
            self._has_turns = True
            self.view.add_turn(turn)
            self._show_clips()  # the hint differs once the conversation has turns

    def _delta(self, text: str) -> None:
        if not self._reopening:
            self.view.append_delta(text)

    def _progress(self, fraction: float, words: str) -> None:
        self.progress_bar.setValue(round(min(max(fraction, 0.0), 1.0) * self.progress_bar.maximum()))
        self.progress_label.setText(words)
        self.progress_bar.setAccessibleDescription(words)
        self.progress_bar.show()
        self.progress_label.show()

    def _busy_changed(self, busy: bool) -> None:
        self._busy = busy
        if not busy:
            self.progress_bar.hide()
            self.progress_label.hide()
        self._update_buttons()
        if not busy and self._reopening:
            self._reopening = False
            self._open()

    def _open(self) -> None:
        try:
            self._show(self._controller.open(self._session_id) if self._session_id else None)
        except LibraryError as exc:  # the session's folder went away since the list was read
            self._session_id = ""
            self._show(None)
            self.status_label.setText(str(exc))

    def _show(self, conversation: Conversation | None) -> None:
        turns = conversation.turns if conversation is not None else ()
        self._has_turns = bool(turns)
        self.view.show_turns(turns, self._duration_s or None)
        self._clips = [Clip(self._session_id)] if conversation is not None and not turns else []
        self._show_clips()

    def _show_clips(self) -> None:
        self.status_label.clear()  # what it said was about the clips or the conversation before this change
        self.clip_list.clear()
        self.clip_list.addItems([clip.describe() for clip in self._clips])
        if self._clips:
            self.clip_list.setCurrentRow(len(self._clips) - 1)
        if not self._session_id:
            hint = ""
        elif not self._has_turns:
            hint = "The audio goes with the first question and stays in the conversation for follow-up questions."
        elif self._clips:
            hint = "This audio goes with the next question only, added to the audio already in the conversation."
        else:
            hint = "No new audio: follow-up questions use the audio already in this conversation."
        self.clip_hint.setText(hint)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_session = bool(self._session_id)
        idle = has_session and not self._busy
        self.ask_button.setEnabled(idle and bool(self.question_field.toPlainText().strip()))
        self.stop_button.setEnabled(self._busy)
        for w in (*self.action_buttons, self.new_button):
            w.setEnabled(idle)
        self.export_button.setEnabled(idle and self._has_turns)
        for w in (self.whole_button, self.start_field, self.end_field, self.range_button, self.question_field):
            w.setEnabled(has_session)
        self.selected_button.setEnabled(has_session and self._selection is not None)
        self.remove_button.setEnabled(0 <= self.clip_list.currentRow() < len(self._clips))
