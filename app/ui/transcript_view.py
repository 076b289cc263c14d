"""The live transcript pane: timestamped, labelled lines that follow the newest text, with search and copy."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QColor, QFont, QKeyEvent, QKeySequence, QShortcut, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.events import CaptionEvent, CaptionGap
from app.transcript import (
    ChangeKind,
    LineChange,
    LiveTranscript,
    format_timestamp,
    line_prefix,
    match_spans,
    utf16_length,
)

# Dark text on light marks: readable (well over 4.5:1) whatever the palette.
MATCH_COLORS = (QColor("#fff29e"), QColor("#000000"))
CURRENT_MATCH_COLORS = (QColor("#ff9d3d"), QColor("#000000"))
MAX_HIGHLIGHTS = 1000  # each extra selection is checked on every paint; mark only the matches near the current one


class TranscriptView(QWidget):
    """Read-only, selectable transcript that keeps the newest line in view unless the user has scrolled up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._transcript = LiveTranscript()
        self._following = True
        self._matches: list[tuple[int, int]] = []  # document positions (start, end) of the search matches

        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search the transcript")
        self.search_field.setAccessibleName("Search the transcript")
        self.search_field.setClearButtonEnabled(True)
        find_label = QLabel("&Find:")
        find_label.setBuddy(self.search_field)
        self.previous_button = QPushButton("&Previous")
        self.previous_button.setAccessibleName("Previous match")
        self.next_button = QPushButton("&Next")
        self.next_button.setAccessibleName("Next match")
        self.match_label = QLabel()
        self.copy_all_action = QAction("Copy &all", self)
        self.copy_all_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.copy_all_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_all_action.triggered.connect(self.copy_all)
        self.addAction(self.copy_all_action)
        self.copy_all_button = QPushButton(self.copy_all_action.text())
        self.copy_all_button.setAccessibleName("Copy the whole transcript with timestamps")
        self.copy_all_button.setToolTip("Copy the whole transcript with timestamps (Ctrl+Shift+C)")
        self.copy_all_button.clicked.connect(self.copy_all_action.trigger)

        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text.setAccessibleName("Live transcript")
        self.text.document().setUndoRedoEnabled(False)  # an undo history of every token would grow all session
        self.jump_button = QPushButton("&Jump to live")
        self.jump_button.setAccessibleName("Jump to the newest caption")
        self.jump_button.hide()

        top = QHBoxLayout()
        for w in (find_label, self.search_field, self.previous_button, self.next_button, self.match_label):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.copy_all_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.jump_button, 0, Qt.AlignmentFlag.AlignRight)

        self._label_format = QTextCharFormat()
        self._label_format.setFontWeight(QFont.Weight.Bold)
        self._plain_format = QTextCharFormat()

        bar = self.text.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)
        self.jump_button.clicked.connect(self.jump_to_live)
        self.search_field.textChanged.connect(lambda _text: self._search(0))
        self.search_field.returnPressed.connect(self.find_next)
        self.search_field.installEventFilter(self)
        self.next_button.clicked.connect(self.find_next)
        self.previous_button.clicked.connect(self.find_previous)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence.StandardKey.Find, self, self.focus_search, context=context)
        QShortcut(QKeySequence.StandardKey.FindNext, self, self.find_next, context=context)
        QShortcut(QKeySequence.StandardKey.FindPrevious, self, self.find_previous, context=context)

    def transcript(self) -> LiveTranscript:
        return self._transcript

    def is_following(self) -> bool:
        """Whether the view keeps the newest line in view."""
        return self._following

    def add_caption(self, event: CaptionEvent, label: str = "") -> None:
        """Add an event's text to the transcript and the view (only the newest line is touched)."""
        self._show(self._transcript.add(event, label))

    def add_gap(self, gap: CaptionGap, label: str = "") -> None:
        """Show that a stretch got no captions (e.g. the caption server was unreachable)."""
        self._show(self._transcript.add_gap(gap, label))

    def start_session(self, started: datetime) -> None:
        """Head the captions that follow with the date and time their session started."""
        self._show(self._transcript.start_session(started))

    def _show(self, changes: list[LineChange]) -> None:
        if not changes:
            return
        doc = self.text.document()
        cursor = QTextCursor(doc)
        for change in changes:
            if change.kind is ChangeKind.UPDATED:  # a running line: the newest, or another source's above it
                cursor = QTextCursor(doc.findBlockByNumber(change.index))
                cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
                cursor.insertText(change.text, self._plain_format)
                continue
            cursor.movePosition(QTextCursor.MoveOperation.End)
            if change.index > 0:  # the document's first block already exists
                cursor.insertBlock()
            line = self._transcript.lines[change.index]
            if line.header:
                cursor.insertText(change.text, self._label_format)
                continue
            cursor.insertText(f"[{format_timestamp(line.start_s)}] ", self._plain_format)
            if line.label:
                cursor.insertText(f"{line.label}:", self._label_format)
                cursor.insertText(" ", self._plain_format)
            cursor.insertText(change.text, self._plain_format)

    def clear(self) -> None:
        """Forget the transcript and show the empty view, following live."""
        self._transcript.clear()
        self.text.clear()
        self._matches = []
        self.text.setExtraSelections([])
        self._show_count("")
        self.jump_to_live()

    def jump_to_live(self) -> None:
        """Show the newest line and follow new ones again."""
        self._following = True
        self.jump_button.hide()
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())

    def copy_all(self) -> None:
        """Put the whole transcript, with timestamps and labels, on the clipboard."""
        QApplication.clipboard().setText(self._transcript.text_with_timestamps())

    def focus_search(self) -> None:
        self.search_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_field.selectAll()

    def find_next(self) -> None:
        self._search(1)

    def find_previous(self) -> None:
        self._search(-1)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.search_field
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.find_previous()
            return True
        return super().eventFilter(watched, event)

    def _scrolled(self, value: int) -> None:
        at_end = value >= self.text.verticalScrollBar().maximum()
        if at_end != self._following:
            self._following = at_end
            self.jump_button.setVisible(not at_end)

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._following:
            self.text.verticalScrollBar().setValue(maximum)

    def _search(self, step: int) -> None:
        """Select a match: from the cursor on (``step`` 0, while typing), the next one (1) or the previous one (-1)."""
        query = self.search_field.text()
        doc = self.text.document()
        self._matches = []
        for index in self._transcript.search(query):
            line = self._transcript.lines[index]
            at = doc.findBlockByNumber(index).position() + utf16_length(line_prefix(line))
            self._matches += [(at + utf16_length(line.text[:s]), at + utf16_length(line.text[:e]))
                              for s, e in match_spans(line.text, query)]
        if not self._matches:
            self.text.setExtraSelections([])
            self._show_count("No matches" if query else "")
            return
        cursor = self.text.textCursor()
        starts = [s for s, _ in self._matches]
        if step < 0:
            current = (bisect_left(starts, cursor.selectionStart()) - 1) % len(starts)
        else:
            after = cursor.selectionStart() + (1 if step and cursor.hasSelection() else 0)
            current = bisect_left(starts, after) % len(starts)
        start, end = self._matches[current]
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        self.text.setTextCursor(cursor)
        self.text.centerCursor()
        self._highlight(current)
        self._show_count(f"{current + 1} of {len(self._matches)}")

    def _highlight(self, current: int) -> None:
        first = max(0, current - MAX_HIGHLIGHTS // 2)
        selections = []
        for i in range(first, min(len(self._matches), first + MAX_HIGHLIGHTS)):
            sel = QTextEdit.ExtraSelection()
            sel.cursor = QTextCursor(self.text.document())
            sel.cursor.setPosition(self._matches[i][0])
            sel.cursor.setPosition(self._matches[i][1], QTextCursor.MoveMode.KeepAnchor)
            background, foreground = CURRENT_MATCH_COLORS if i == current else MATCH_COLORS
            sel.format.setBackground(background)
            sel.format.setForeground(foreground)
            selections.append(sel)
        self.text.setExtraSelections(selections)

    def _show_count(self, words: str) -> None:
        self.match_label.setText(words)
        self.search_field.setAccessibleDescription(words)
