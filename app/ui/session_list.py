"""The list of recorded sessions (date, duration, title, sources, size, status) with rename, delete and open folder.

Keys while the table has focus: F2 renames the selected session in place, Del deletes it after a confirmation.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QMessageBox, QPushButton, QTreeView, QVBoxLayout, QWidget

from app.library import Library, LibraryError, SessionSummary
from app.transcript import format_timestamp

COLUMNS = ("Date", "Duration", "Title", "Sources", "Size", "Status")
TITLE = COLUMNS.index("Title")
ID_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2


def size_text(size: int) -> str:
    """``size`` bytes in the unit that keeps the number short: "512 B", "3.4 MB", "250 MB"."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def date_text(summary: SessionSummary) -> str:
    return summary.started_at.astimezone().strftime("%Y-%m-%d %H:%M") if summary.started_at else "Unknown date"


def _cell(text: str, sort_key: object, *, editable: bool = False, tip: str = "") -> QStandardItem:
    item = QStandardItem(text)
    item.setData(sort_key, SORT_ROLE)
    item.setEditable(editable)
    if tip:
        item.setToolTip(tip)
    return item


class SessionList(QWidget):
    """The sessions of a Library, newest first; emits ``sessionSelected`` with the id ("" when none is selected),
    and again for the selected session when it was renamed, so what shows it reads its new title."""

    sessionSelected = Signal(str)
    sessionRenamed = Signal(str, str)
    failed = Signal(str)  # the sessions could not be listed: why
    aboutToDelete = Signal(str)  # the user confirmed: stop using the session's files

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._summaries: dict[str, SessionSummary] = {}
        self._loading = False  # while the rows are filled, changes are not the user's: no rename, no selection
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.model.setSortRole(SORT_ROLE)
        self.table = QTreeView()  # a table without a tree: unlike QTableView, no unnamed corner button
        self.table.setModel(self.model)
        self.table.setRootIsDecorated(False)
        self.table.setItemsExpandable(False)
        self.table.setUniformRowHeights(True)
        self.table.setAllColumnsShowFocus(True)
        self.table.setAccessibleName("Recorded sessions")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # F2 and the button edit the title
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)

        self.rename_action = self._action("&Rename", "F2", self.rename_current)
        self.delete_action = self._action("&Delete…", QKeySequence.StandardKey.Delete, self.delete_current)
        self.rename_button = self._button(self.rename_action, "Rename the selected session (F2)")
        self.delete_button = self._button(self.delete_action, "Delete the selected session (Del)")
        self.open_button = QPushButton("&Open folder")
        self.open_button.setAccessibleName("Open the folder of the selected session")
        self.open_button.clicked.connect(self.open_current_folder)

        buttons = QHBoxLayout()
        for button in (self.rename_button, self.delete_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.model.itemChanged.connect(self._item_changed)
        self._selection_changed()

    def _action(self, text: str, key: QKeySequence.StandardKey | str, slot: object) -> QAction:
        action = QAction(text, self.table)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # not while the title editor has focus
        action.triggered.connect(slot)
        self.table.addAction(action)
        return action

    def _button(self, action: QAction, name: str) -> QPushButton:
        button = QPushButton(action.text())
        button.setAccessibleName(name)
        button.clicked.connect(action.trigger)
        return button

    def current_id(self) -> str:
        """The id of the selected session, "" when none is."""
        index = self.table.currentIndex()
        return str(self.model.item(index.row(), 0).data(ID_ROLE)) if index.isValid() else ""

    def summary(self, session_id: str) -> SessionSummary | None:
        return self._summaries.get(session_id)

    def reload(self) -> None:
        """Show the library's sessions again, keeping the selection when that session is still there."""
        selected = self.current_id()
        self._loading = True
        self.table.setSortingEnabled(False)
        self.model.removeRows(0, self.model.rowCount())
        self._summaries = self._listed()
        for s in self._summaries.values():
            status = {"complete": ""}.get(s.state, s.state.capitalize())
            row = [
                _cell(date_text(s), s.started_at.isoformat() if s.started_at else ""),
                _cell(format_timestamp(s.duration_s), s.duration_s),
                _cell(s.title, s.title.casefold(), editable=True, tip=s.problem or ""),
                _cell(", ".join(s.source_names), ", ".join(s.source_names)),
                _cell(size_text(s.size_bytes), s.size_bytes),
                _cell(status, status, tip=s.problem or ""),
            ]
            row[0].setData(s.id, ID_ROLE)
            self.model.appendRow(row)
        self.table.setSortingEnabled(True)
        for column in range(len(COLUMNS)):
            self.table.resizeColumnToContents(column)
        if not self.select(selected) and self.model.rowCount():
            self.select(str(self.model.item(0, 0).data(ID_ROLE)))  # the newest, so the transcript is not empty
        self._loading = False
        self._selection_changed()

    def _listed(self) -> dict[str, SessionSummary]:
        """The library's sessions by id; none (and ``failed``) when they cannot be listed."""
        try:
            return {s.id: s for s in self._library.sessions()}
        except LibraryError as exc:
            self.failed.emit(str(exc))
            return {}

    def select(self, session_id: str) -> bool:
        """Select a session by id; False when it is not listed."""
        for row in range(self.model.rowCount()):
            if self.model.item(row, 0).data(ID_ROLE) == session_id:
                self.table.selectionModel().setCurrentIndex(
                    self.model.index(row, TITLE),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.table.scrollTo(self.model.index(row, 0))
                return True
        return False

    def rename_current(self) -> None:
        """Edit the selected session's title in place; the change is saved when the editor closes."""
        index = self.table.currentIndex()
        if index.isValid():
            self.table.setFocus()
            self.table.edit(self.model.index(index.row(), TITLE))

    def delete_current(self) -> None:
        """Ask, naming the session, then delete it and everything in its folder."""
        summary = self._summaries.get(self.current_id())
        if summary is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete session",
            f"Delete “{summary.title}” ({date_text(summary)})?\n\nIts recording, transcripts and corrections are "
            "removed from this computer. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.aboutToDelete.emit(summary.id)
        try:
            self._library.delete(summary.id)
        except LibraryError as exc:
            QMessageBox.warning(self, "Delete session", str(exc))
        self.reload()

    def open_current_folder(self) -> None:
        session_id = self.current_id()
        try:
            folder = self._library.folder(session_id)
        except LibraryError as exc:
            QMessageBox.warning(self, "Open folder", str(exc))
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            QMessageBox.warning(self, "Open folder", f"No program could open {folder}.")

    def _current_changed(self, *_indexes: object) -> None:
        if not self._loading:
            self._selection_changed()

    def _selection_changed(self) -> None:
        has_session = bool(self.current_id())
        for widget in (
            self.rename_action,
            self.delete_action,
            self.rename_button,
            self.delete_button,
            self.open_button,
        ):
            widget.setEnabled(has_session)
        self.sessionSelected.emit(self.current_id())

    def _item_changed(self, item: QStandardItem) -> None:
        if self._loading or item.column() != TITLE:
            return
        session_id = str(self.model.item(item.row(), 0).data(ID_ROLE))
        try:
            self._library.rename(session_id, item.text())
        except LibraryError as exc:
            QMessageBox.warning(self, "Rename session", str(exc))
        self._summaries = self._listed()
        title = self._summaries[session_id].title if session_id in self._summaries else item.text()
        self._loading = True
        item.setText(title)  # as saved: trimmed, or the old title when the rename failed
        item.setData(title.casefold(), SORT_ROLE)
        self._loading = False
        self.sessionRenamed.emit(session_id, title)
        if session_id == self.current_id():
            self.sessionSelected.emit(session_id)
