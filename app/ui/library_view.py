"""The library pane of the main window: search across all sessions, the session list and the selected transcript.

The session list (``app.ui.session_list``) renames (F2), deletes (Del, after a confirmation) and opens folders; the
transcript (``app.ui.session_transcript``) plays from a line (Enter or double click) and saves corrections (F2).
Activating a search result opens that session at that line. What goes wrong in the library (a folder that cannot be
read, an index kept in memory because it cannot be written) is shown above the list, never raised.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.library import LIVE, Library, LibraryError, Player, SearchHit
from app.transcript import format_timestamp
from app.ui.plural import count
from app.ui.session_list import SessionList
from app.ui.session_transcript import SessionTranscript

HIT_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_DELAY_MS = 300  # search once typing pauses, not on every key


def hit_text(hit: SearchHit) -> str:
    """How a search result is listed: session title, version when not the live one, time, label and line."""
    version = "" if hit.version == LIVE else f" ({hit.version})"
    label = f"{hit.label}: " if hit.label else ""
    return f"{hit.title}{version} — [{format_timestamp(hit.start_s)}] {label}{hit.snippet}"


class LibraryView(QWidget):
    """Recorded sessions; the lead connects ``retranscribeRequested`` and ``exportRequested``."""

    retranscribeRequested = Signal(str)
    exportRequested = Signal(str, str)

    def __init__(self, library: Library, player: Player | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search all sessions")
        self.search_field.setAccessibleName("Search all sessions")
        self.search_field.setClearButtonEnabled(True)
        search_label = QLabel("Searc&h all:")
        search_label.setBuddy(self.search_field)
        self.results_label = QLabel()
        self.results_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label = QLabel()  # what is wrong with the library; hidden while nothing is
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        self.results = QListWidget()
        self.results.setAccessibleName("Search results in all sessions")
        self.results.setWordWrap(True)
        self.results.hide()
        self.sessions = SessionList(library)
        self.transcript = SessionTranscript(library, player if player is not None else Player())

        top = QHBoxLayout()
        for w in (search_label, self.search_field, self.results_label):
            top.addWidget(w)
        # The list above the transcript: beside them, the chat panel needs the width at ordinary screen sizes.
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.sessions)
        splitter.addWidget(self.transcript)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message_label)
        layout.addWidget(self.results, 1)
        layout.addWidget(splitter, 3)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.search)
        self.search_field.textChanged.connect(lambda _t: self._search_timer.start())
        self.search_field.returnPressed.connect(self.search)
        self.results.activated.connect(lambda index: self.open_hit(self.results.item(index.row()).data(HIT_ROLE)))
        self.sessions.sessionSelected.connect(self._show_session)
        self.sessions.sessionRenamed.connect(self._renamed)
        self.sessions.failed.connect(self.show_message)
        self.sessions.aboutToDelete.connect(lambda _id: self.transcript.stop())  # an open file cannot go on Windows
        self.transcript.retranscribeRequested.connect(self.retranscribeRequested)
        self.transcript.exportRequested.connect(self.exportRequested)

    def refresh(self) -> list[str]:
        """Index new and changed session folders and show them; the ids that changed (``Library.scan``). When the
        folders cannot be read, the sessions indexed before are shown, with the reason."""
        try:
            changed = self._library.scan()
        except LibraryError as exc:
            changed = []
            self.show_message(str(exc))
        else:
            self.show_message(self._library.problem or "")
        self.sessions.reload()
        if self.search_field.text():
            self.search()
        return changed

    def search(self) -> None:
        """List the lines of all sessions that match the search field (results hide while it is empty)."""
        self._search_timer.stop()
        query = self.search_field.text()
        try:
            hits = self._library.search(query) if query.strip() else []
        except LibraryError as exc:
            hits, failed = [], str(exc)
        else:
            failed = ""
        self.results.clear()
        for hit in hits:
            item = QListWidgetItem(hit_text(hit))
            item.setData(HIT_ROLE, hit)
            self.results.addItem(item)
        self.results.setVisible(bool(query.strip()))
        found = f"{count(len(hits), 'line')} found" if hits else "Nothing found"
        words = failed or (found if query.strip() else "")
        self.results_label.setText(words)
        self.search_field.setAccessibleDescription(words)
        if hits:
            self.results.setCurrentRow(0)

    def show_message(self, text: str) -> None:
        """Show what is wrong with the library ("" hides the message)."""
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def open_hit(self, hit: SearchHit) -> None:
        """Show the session of a search result with the cursor on its line."""
        if self.sessions.current_id() != hit.session_id and not self.sessions.select(hit.session_id):
            self.refresh()  # the result is from a session that changed or went away since
            if not self.sessions.select(hit.session_id):
                return
        self.transcript.select_line(hit.version, hit.line_index)

    def _show_session(self, session_id: str) -> None:
        summary = self.sessions.summary(session_id)
        self.transcript.show_session(session_id, summary.title if summary else "")

    def _renamed(self, _session_id: str, _title: str) -> None:
        # The transcript (and whatever else shows the session) hears of the new title through sessionSelected;
        # search results show titles too.
        if self.search_field.text():
            self.search()
