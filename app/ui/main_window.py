"""The main window: start/stop, sources with level meters, the live transcript, notices and the status bar.

It only lays out widgets and exposes actions; what the actions do is wired up in ``app.application``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.events import Notice, Severity
from app.ui.icon import app_icon
from app.ui.source_picker import SourcePicker
from app.ui.transcript_view import TranscriptView

_NOTICE_STYLE = {
    Severity.INFO: "background:#e7f1ff;color:#0b3d91;",
    Severity.WARNING: "background:#fff4d6;color:#5c3b00;",
    Severity.ERROR: "background:#fde7e9;color:#8a0010;",
}
_SEVERITY_ORDER = (Severity.INFO, Severity.WARNING, Severity.ERROR)
MAX_NOTICES = 6


def _action(parent: QWidget, text: str, shortcut: str, tip: str, *, checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    action.setShortcut(QKeySequence(shortcut))
    action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
    action.setStatusTip(tip)
    action.setCheckable(checkable)
    return action


class MainWindow(QMainWindow):
    closing = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Captionist")
        self.setWindowIcon(app_icon())
        self.setAccessibleName("Captionist main window")
        self.start_action = _action(self, "&Start captions", "Ctrl+Return", "Start or stop live captions",
                                    checkable=True)
        self.overlay_action = _action(self, "Show &overlay", "Ctrl+Shift+O", "Show or hide the caption overlay",
                                      checkable=True)
        self.click_through_action = _action(self, "&Click-through overlay", "Ctrl+Shift+K",
                                            "Let mouse clicks pass through the overlay", checkable=True)
        self.settings_action = _action(self, "Se&ttings…", "Ctrl+,", "Audio, caption, model and delay settings")
        self.model_action = _action(self, "&Model…", "Ctrl+M", "Choose or download the speech model")
        self.import_action = _action(self, "&Import audio file…", "Ctrl+I",
                                     "Add an audio file to the library to transcribe and export it")
        self.show_window_action = QAction("Show &window", self)
        self.quit_action = _action(self, "&Quit", "Ctrl+Q", "Stop captions and quit")

        toolbar = QToolBar("Main actions")
        toolbar.setAccessibleName("Main actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.start_action, self.overlay_action, self.click_through_action, self.settings_action,
                       self.model_action):
            toolbar.addAction(action)
        self.addToolBar(toolbar)
        menu = self.menuBar().addMenu("&Captions")
        for action in (self.start_action, self.overlay_action, self.click_through_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        tools = self.menuBar().addMenu("&Tools")
        tools.addAction(self.import_action)
        tools.addAction(self.settings_action)
        tools.addAction(self.model_action)

        self.sources = SourcePicker()
        self.transcript = TranscriptView()
        splitter = QSplitter()
        splitter.addWidget(self.sources)
        splitter.addWidget(self.transcript)
        splitter.setStretchFactor(1, 1)
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.notice_label.setAccessibleName("Notice")
        self.notice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice_label.hide()
        self._notices: list[Notice] = []
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Live captions and library")
        self.tabs.addTab(splitter, "&Live")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.notice_label)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.model_label = QLabel("No model loaded")
        self.model_label.setAccessibleName("Model and device")
        self.live_label = QLabel("Captions stopped")
        self.live_label.setAccessibleName("Caption status")
        self.statusBar().addWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.live_label)
        # Qt adds "more" buttons for items that do not fit; they need names for screen readers too.
        for bar, name in ((toolbar, "More toolbar actions"), (self.menuBar(), "More menus")):
            for button in bar.findChildren(QToolButton):
                if not button.accessibleName() and button.objectName().endswith("_ext_button"):
                    button.setAccessibleName(name)
        self.resize(960, 600)

    def add_library(self, view: QWidget) -> None:
        """The library of recorded sessions, in its own tab."""
        self.tabs.addTab(view, "Li&brary")

    def set_running(self, running: bool) -> None:
        self.start_action.setChecked(running)
        self.start_action.setText("&Stop captions" if running else "&Start captions")
        if not running:
            self.live_label.setText("Captions stopped")

    def show_notice(self, notice: Notice) -> None:
        """Add a notice to those shown; they stay until ``clear_notice`` (several problems found at start-up must
        all be read, not only the last one). The colour is that of the most severe."""
        self._notices = [n for n in self._notices if n.message != notice.message][-(MAX_NOTICES - 1):] + [notice]
        worst = max(self._notices, key=lambda n: _SEVERITY_ORDER.index(n.severity)).severity
        text = "\n".join(n.message for n in self._notices)
        self.notice_label.setText(text)
        self.notice_label.setStyleSheet(f"QLabel{{{_NOTICE_STYLE[worst]}padding:6px;border-radius:4px;}}")
        self.notice_label.setAccessibleDescription(
            "\n".join(f"{n.severity.value}: {n.message}" for n in self._notices))
        self.notice_label.show()
        self.statusBar().showMessage(notice.message, 10000)

    def clear_notice(self) -> None:
        self._notices = []
        self.notice_label.hide()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt's name
        self.closing.emit()
        super().closeEvent(event)
