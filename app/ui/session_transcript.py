"""The transcript of one recorded session: timestamped, labelled lines, a version picker, search within the session,
playback from a line and corrections.

Keys in the line list: Enter (or a double click) plays the recording from that line; F2 edits the line's text, and
Enter saves the edit as a correction (Escape cancels). Corrected lines are shown in italics; their tooltip shows what
the model wrote.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.library import LIVE, Library, LibraryError, Line, PlaybackError, Player
from app.transcript import format_timestamp, gaps_note

TEXT_ROLE = Qt.ItemDataRole.UserRole + 1  # the line's text alone, without time and label: what the editor edits
POLL_MS = 250  # how often the playback position is shown


def line_item_text(line: Line) -> str:
    """``[hh:mm:ss] Label: text`` as the live transcript shows lines."""
    stamp = f"[{format_timestamp(line.start_s)}] "
    return f"{stamp}{line.label}: {line.text}" if line.label else stamp + line.text


def _key_button(text: str, name: str, key: QKeySequence.StandardKey) -> QPushButton:
    """A button whose accessible name and tooltip say its shortcut."""
    shortcut = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
    button = QPushButton(text)
    button.setAccessibleName(f"{name} ({shortcut})" if shortcut else name)
    button.setToolTip(button.accessibleName())
    return button


class _LineEditor(QStyledItemDelegate):
    """Edits only the text of a line and hands the result to the transcript instead of the model."""

    def __init__(self, owner: SessionTranscript) -> None:
        super().__init__(owner)
        self._owner = owner

    def createEditor(self, parent: QWidget, _option: QStyleOptionViewItem, _index: QModelIndex) -> QWidget:  # noqa: N802
        editor = QLineEdit(parent)
        editor.setAccessibleName("Corrected text of the line")
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        editor.setText(index.data(TEXT_ROLE))

    def setModelData(self, editor: QWidget, _model: QAbstractItemModel, index: QModelIndex) -> None:  # noqa: N802
        self._owner.save_correction(index.row(), editor.text())


class SessionTranscript(QWidget):
    """One session's transcript; ``show_session("")`` shows nothing."""

    retranscribeRequested = Signal(str)
    exportRequested = Signal(str, str)

    def __init__(self, library: Library, player: Player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._player = player
        self._session_id = ""
        self._lines: list[Line] = []
        self._matches: list[int] = []

        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setWordWrap(True)  # a long title takes lines, not the width the buttons beside it need
        self.version_box = QComboBox()
        self.version_box.setAccessibleName("Transcript version")
        version_label = QLabel("&Version:")
        version_label.setBuddy(self.version_box)
        self.retranscribe_button = QPushButton("Transcribe &again…")  # Alt+T opens the Tools menu
        self.retranscribe_button.setAccessibleName("Transcribe this session again")
        self.export_button = QPushButton("E&xport…")
        self.export_button.setAccessibleName("Export this transcript version")

        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search this session")
        self.search_field.setAccessibleName("Search this session")
        self.search_field.setClearButtonEnabled(True)
        find_label = QLabel("&Find:")
        find_label.setBuddy(self.search_field)
        # No mnemonics: their letters serve the chat panel beside; the keys are the usual find keys (F3).
        find_previous, find_next = QKeySequence.StandardKey.FindPrevious, QKeySequence.StandardKey.FindNext
        self.previous_button = _key_button("Previous", "Previous match in this session", find_previous)
        self.next_button = _key_button("Next", "Next match in this session", find_next)
        self.match_label = QLabel()

        self.gaps_label = QLabel()  # the stretches of the recording without live captions, when there are any
        self.gaps_label.setTextFormat(Qt.TextFormat.PlainText)
        self.gaps_label.setWordWrap(True)
        self.gaps_label.setAccessibleName("Stretches without captions")

        self.list = QListWidget()
        self.list.setAccessibleName("Session transcript")
        self.list.setWordWrap(True)
        # Shift/Ctrl select a run of lines: the time range a question in the chat panel can be about.
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # F2 edits; a double click plays
        self.list.setItemDelegate(_LineEditor(self))
        self.edit_action = QAction("&Edit line", self.list)
        self.edit_action.setShortcut(QKeySequence("F2"))
        self.edit_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.edit_action.triggered.connect(self.edit_current)
        self.list.addAction(self.edit_action)

        self.play_button = QPushButton("&Play from line")
        self.play_button.setAccessibleName("Play the recording from the selected line")
        self.stop_button = QPushButton("&Stop")
        self.stop_button.setAccessibleName("Stop playback")
        self.edit_button = QPushButton(self.edit_action.text())
        self.edit_button.setAccessibleName("Correct the text of the selected line (F2)")
        self.revert_button = QPushButton("&Undo correction")
        self.revert_button.setAccessibleName("Show what the model wrote for the selected line again")
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)

        header = QHBoxLayout()
        for w in (self.title_label, version_label, self.version_box, self.retranscribe_button, self.export_button):
            header.addWidget(w)
        header.insertStretch(1, 1)
        find = QHBoxLayout()
        for w in (find_label, self.search_field, self.previous_button, self.next_button, self.match_label):
            find.addWidget(w)
        actions = QHBoxLayout()
        for w in (self.play_button, self.stop_button, self.edit_button, self.revert_button, self.status_label):
            actions.addWidget(w)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addLayout(find)
        layout.addWidget(self.gaps_label)
        layout.addWidget(self.list, 1)
        layout.addLayout(actions)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._show_playback)
        self.version_box.currentIndexChanged.connect(lambda _i: self._load_lines())
        self.retranscribe_button.clicked.connect(lambda: self.retranscribeRequested.emit(self._session_id))
        self.export_button.clicked.connect(lambda: self.exportRequested.emit(self._session_id, self.version()))
        self.search_field.textChanged.connect(lambda _t: self._search(0))
        self.search_field.returnPressed.connect(self.find_next)
        self.next_button.clicked.connect(self.find_next)
        self.previous_button.clicked.connect(self.find_previous)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence.StandardKey.FindNext, self, self.find_next, context=context)
        QShortcut(QKeySequence.StandardKey.FindPrevious, self, self.find_previous, context=context)
        self.list.activated.connect(lambda index: self.play_line(index.row()))
        self.list.currentRowChanged.connect(lambda _row: self._update_buttons())
        self.play_button.clicked.connect(lambda: self.play_line(self.list.currentRow()))
        self.stop_button.clicked.connect(self.stop)
        self.edit_button.clicked.connect(self.edit_current)
        self.revert_button.clicked.connect(self.revert_current)
        self.show_session("")

    def session_id(self) -> str:
        return self._session_id

    def version(self) -> str:
        """The version shown: ``"live"`` or a re-transcription's name."""
        return self.version_box.currentData() or LIVE

    def lines(self) -> list[Line]:
        return self._lines

    def selected_range(self) -> tuple[float, float] | None:
        """From the start of the first to the end of the last selected line, in seconds; None when none is selected."""
        rows = sorted(index.row() for index in self.list.selectedIndexes() if index.row() < len(self._lines))
        if not rows:
            return None
        start = self._lines[rows[0]].start_s
        return start, max(start, self._lines[rows[-1]].end_s)

    def show_session(self, session_id: str, title: str = "") -> None:
        """Show a session's live transcript (or nothing for ""), with its versions in the picker.

        Showing the session already shown again (after a rescan) keeps the version and line when they still exist.
        """
        same = session_id == self._session_id
        shown, row = self.version(), self.list.currentRow()
        self._session_id = session_id
        self.title_label.setText(title)
        try:
            versions = self._library.versions(session_id) if session_id else []
            metas = [self._library.version_meta(session_id, version) for version in versions]
        except LibraryError as exc:
            versions, metas = [], []  # deleted meanwhile; the list is reloaded next
            self.status_label.setText(str(exc))
        self.version_box.blockSignals(True)
        self.version_box.clear()
        for version, meta in zip(versions, metas, strict=True):
            text = "Live" if version == LIVE else version
            self.version_box.addItem(text + (" (incomplete)" if meta.get("complete") is False else ""), version)
        if same and shown in versions:
            self.version_box.setCurrentIndex(versions.index(shown))
        self.version_box.blockSignals(False)
        for w in (self.version_box, self.retranscribe_button, self.export_button, self.search_field):
            w.setEnabled(bool(versions))
        self._load_lines()
        if same and 0 <= row < self.list.count():
            self.list.setCurrentRow(row)

    def select_line(self, version: str, line_index: int) -> None:
        """Show ``version`` and put the cursor on one of its lines."""
        at = self.version_box.findData(version)
        if at >= 0:
            self.version_box.setCurrentIndex(at)
        if 0 <= line_index < self.list.count():
            self.list.setCurrentRow(line_index)
            self.list.scrollToItem(self.list.item(line_index), QAbstractItemView.ScrollHint.PositionAtCenter)
            self.list.setFocus()

    def play_line(self, row: int) -> None:
        """Play the recording of the line's source from where the line starts."""
        if not 0 <= row < len(self._lines):
            return
        line = self._lines[row]
        try:
            self._player.play(self._library.audio_path(self._session_id, line.source_id), line.start_s)
        except (LibraryError, PlaybackError) as exc:
            self.status_label.setText(str(exc))
            return
        self._timer.start()
        self._show_playback()

    def stop(self) -> None:
        self._player.stop()
        self._show_playback()

    def edit_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.setFocus()
            self.list.editItem(item)

    def save_correction(self, row: int, text: str) -> None:
        """Save ``text`` as the correction of line ``row`` (what the model wrote removes the correction)."""
        if 0 <= row < len(self._lines) and text.strip() == self._lines[row].text:
            return  # the editor closed without a change
        self._replace_line(row, lambda: self._library.correct(self._session_id, self.version(), row, text))

    def revert_current(self) -> None:
        row = self.list.currentRow()
        self._replace_line(row, lambda: self._library.revert_correction(self._session_id, self.version(), row))

    def find_next(self) -> None:
        self._search(1)

    def find_previous(self) -> None:
        self._search(-1)

    def _load_lines(self) -> None:
        self.list.clear()
        self._lines = []
        gaps = []
        if self._session_id:
            try:
                self._lines = self._library.lines(self._session_id, self.version())
                gaps = self._library.gaps(self._session_id) if self.version() == LIVE else []
            except LibraryError as exc:
                self.status_label.setText(str(exc))
        self.gaps_label.setText(gaps_note(gaps))
        self.gaps_label.setVisible(bool(gaps))
        for line in self._lines:
            item = QListWidgetItem()
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self._fill(item, line)
            self.list.addItem(item)
        if self._lines:
            self.list.setCurrentRow(0)
        self._search(0)
        self._update_buttons()

    def _fill(self, item: QListWidgetItem, line: Line) -> None:
        item.setText(line_item_text(line))
        item.setData(TEXT_ROLE, line.text)
        font = item.font()
        font.setItalic(line.corrected)
        item.setFont(font)
        if line.corrected:
            item.setToolTip(f"Corrected. The model wrote: {line.model_text}")
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, "Corrected")
        elif line.stale_correction is not None:
            item.setToolTip(f"A correction made for different text is not shown: {line.stale_correction}")
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, "Has an outdated correction")
        else:
            item.setToolTip("")
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, "")

    def _replace_line(self, row: int, save: object) -> None:
        if not 0 <= row < len(self._lines):
            return
        try:
            line = save()
        except LibraryError as exc:
            QMessageBox.warning(self, "Correct line", str(exc))
            return
        self._lines[row] = line
        self._fill(self.list.item(row), line)
        self._update_buttons()

    def _update_buttons(self) -> None:
        row = self.list.currentRow()
        has_line = 0 <= row < len(self._lines)
        for w in (self.play_button, self.edit_button, self.edit_action):
            w.setEnabled(has_line)
        corrected = has_line and (self._lines[row].corrected or self._lines[row].stale_correction is not None)
        self.revert_button.setEnabled(corrected)
        self.stop_button.setEnabled(self._player.playing)

    def _show_playback(self) -> None:
        playing = self._player.playing
        if not playing:
            self._timer.stop()
        self.stop_button.setEnabled(playing)
        self.status_label.setText(f"Playing {format_timestamp(self._player.position_s)}" if playing else "")

    def _search(self, step: int) -> None:
        """Go to a match of the search: the first one from the current line on (``step`` 0), the next or previous."""
        query = self.search_field.text()
        try:
            hits = self._library.search(query, self._session_id, self.version()) if self._session_id and query else []
        except LibraryError as exc:
            self._matches = []
            self._show_count(str(exc))
            return
        self._matches = sorted({h.line_index for h in hits if h.line_index < self.list.count()})
        if not self._matches:
            self._show_count("No matches" if query and self._session_id else "")
            return
        row = self.list.currentRow()
        if step > 0:
            current = next((i for i, m in enumerate(self._matches) if m > row), 0)
        elif step < 0:
            current = next((i for i in reversed(range(len(self._matches))) if self._matches[i] < row), -1)
            current %= len(self._matches)
        else:
            current = next((i for i, m in enumerate(self._matches) if m >= row), 0)
        self.list.setCurrentRow(self._matches[current])
        self._show_count(f"{current + 1} of {len(self._matches)}")

    def _show_count(self, words: str) -> None:
        self.match_label.setText(words)
        self.search_field.setAccessibleDescription(words)
