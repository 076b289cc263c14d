"""The main window: start/stop, sources with level meters, the live transcript, notices and the status bar.

It only lays out widgets and exposes actions; what the actions do is wired up in ``app.application``.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QLabel,
    QLayout,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.events import Notice, Severity
from app.settings import DOCK_BOTTOM, DOCK_TOP, FLOATING
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
PREFERRED_SIZE = QSize(1200, 760)  # the first size, where the screen has room for it
FRAME_ROOM = QSize(16, 48)  # what a window manager's frame and title bar may add around the window


def _action(parent: QWidget, text: str, shortcut: str, tip: str, *, checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    action.setShortcut(QKeySequence(shortcut))
    action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    keys = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip} ({keys})" if keys else tip)
    action.setStatusTip(tip)
    action.setCheckable(checkable)
    return action


PAUSE_TEXT, RESUME_TEXT = "P&ause captions", "Resu&me captions"


class MainWindow(QMainWindow):
    closing = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Captionist")
        self.setWindowIcon(app_icon())
        self.setAccessibleName("Captionist main window")
        self.start_action = _action(self, "&Start captions", "Ctrl+Return", "Start or stop live captions",
                                    checkable=True)
        self.pause_action = _action(self, PAUSE_TEXT, "Ctrl+Shift+P",
                                    "Pause live captions and the recording; the session goes on when resumed",
                                    checkable=True)
        self.pause_action.setEnabled(False)  # while captions run
        self.overlay_action = _action(self, "Show &overlay", "Ctrl+Shift+O", "Show or hide the caption overlay",
                                      checkable=True)
        self.click_through_action = _action(self, "&Click-through overlay", "Ctrl+Shift+K",
                                            "Let mouse clicks pass through the overlay", checkable=True)
        self.settings_action = _action(self, "Se&ttings…", "Ctrl+,", "Audio, caption, model and delay settings")
        self.model_action = _action(self, "&Model…", "Ctrl+M", "Choose or download the speech model")
        self.import_action = _action(self, "&Import audio file…", "Ctrl+I",
                                     "Add an audio file to the library to transcribe and export it")
        self.show_window_action = QAction("Show &window", self)
        self.overlay_buttons_action = _action(self, "Overlay b&uttons", "Ctrl+Shift+U",
                                              "Use the overlay's buttons from the keyboard (Escape gives it back)")
        self.reset_position_action = _action(self, "&Reset overlay position", "",
                                             "Bring the caption overlay back to its default place")
        # Where the overlay sits: as in Windows Live Captions, docked to an edge of the screen at full width, or
        # floating where it was put.
        self.dock_actions: dict[str, QAction] = {}
        dock_group = QActionGroup(self)
        for dock, text in ((FLOATING, "&Floating"), (DOCK_TOP, "Docked at the &top"),
                           (DOCK_BOTTOM, "Docked at the &bottom")):
            action = self.dock_actions[dock] = _action(self, text, "", f"Overlay position: {text.replace('&', '')}",
                                                       checkable=True)
            dock_group.addAction(action)
        self.quit_action = _action(self, "&Quit", "Ctrl+Q", "Stop captions and quit")
        self.about_action = _action(self, "&About Captionist", "", "The version, the licences and where your data is")

        toolbar = QToolBar("Main actions")
        toolbar.setAccessibleName("Main actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.start_action, self.overlay_action, self.click_through_action, self.settings_action,
                       self.model_action):
            toolbar.addAction(action)
        self.addToolBar(toolbar)
        for action in toolbar.actions():  # Tab reaches the toolbar too, not only the mouse and the shortcuts
            toolbar.widgetForAction(action).setFocusPolicy(Qt.FocusPolicy.TabFocus)
        menu = self.menuBar().addMenu("&Captions")
        for action in (self.start_action, self.pause_action, self.overlay_action, self.click_through_action):
            menu.addAction(action)
        menu.addAction(self.overlay_buttons_action)
        position = menu.addMenu("Overlay &position")
        for action in self.dock_actions.values():
            position.addAction(action)
        position.addSeparator()
        position.addAction(self.reset_position_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        tools = self.menuBar().addMenu("&Tools")
        tools.addAction(self.import_action)
        tools.addAction(self.settings_action)
        tools.addAction(self.model_action)
        # No Alt letter: H, E, L and P all belong to controls of the Library tab (Searc&h all…); Alt+C, then the
        # arrow keys, reach it.
        help_menu = self.menuBar().addMenu("Help")
        help_menu.addAction(self.about_action)

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
        central = _Central()
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
        # A temporary message (a status tip, "Saved the recording…") takes the model label's place. Qt hides that
        # label only when it is on screen at the time, so a message shown before the window would be drawn over it.
        self.statusBar().messageChanged.connect(lambda message: self.model_label.setVisible(not message))
        # Qt adds "more" buttons for items that do not fit; they need names for screen readers too.
        for bar, name in ((toolbar, "More toolbar actions"), (self.menuBar(), "More menus")):
            for button in bar.findChildren(QToolButton):
                if not button.accessibleName() and button.objectName().endswith("_ext_button"):
                    button.setAccessibleName(name)
        self._sized = False

    def add_library(self, view: QWidget) -> None:
        """The library of recorded sessions, in its own tab."""
        self.tabs.addTab(view, "Li&brary")

    def set_running(self, running: bool) -> None:
        self.start_action.setChecked(running)
        self.start_action.setText("&Stop captions" if running else "&Start captions")
        self.pause_action.setEnabled(running)
        if not running:
            self.set_paused(False)
        if not running:
            self.live_label.setText("Captions stopped")

    def set_paused(self, paused: bool) -> None:
        self.pause_action.setChecked(paused)
        self.pause_action.setText(RESUME_TEXT if paused else PAUSE_TEXT)
        if paused:
            self.live_label.setText("Captions paused: nothing is captioned or recorded until you resume")

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

    def clear_notice(self) -> None:
        self._notices = []
        self.notice_label.hide()

    def remove_notice(self, message: str) -> None:
        """Take back one notice that no longer applies; the others stay."""
        kept = [n for n in self._notices if n.message != message]
        if len(kept) == len(self._notices):
            return
        self.clear_notice()
        for notice in kept:
            self.show_notice(notice)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 — Qt's name
        if not self._sized:  # the first time only: later the size is the user's
            self._sized = True
            self._fit_screen()
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt's name
        self.closing.emit()
        super().closeEvent(event)

    def _fit_screen(self) -> None:
        # Sized when first shown, as the library tab is added after construction: the preferred size where the
        # screen's free area has room for it and a frame, never smaller than the controls need. The layouts of a tab
        # not shown yet missed the texts set since (a hidden widget does not tell its layout), and would grow when
        # the tab is first shown, the window with them: measure everything afresh first.
        for widget in self.findChildren(QWidget):
            widget.updateGeometry()
        for layout in self.findChildren(QLayout):
            layout.invalidate()
        free = self.screen().availableGeometry().size() - FRAME_ROOM
        self.resize(PREFERRED_SIZE.boundedTo(free).expandedTo(self.minimumSizeHint()))


class _Central(QWidget):
    """The notices above the tabs: their lines take room from the tabs, so the window's least height counts them."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 — Qt's name
        # A layout's minimum counts one line per word-wrapped label, but it gives such labels all the lines they
        # need first: without this, several notices would crush the controls in the tabs.
        size = super().minimumSizeHint()
        return size.expandedTo(QSize(size.width(), self.layout().totalMinimumHeightForWidth(size.width())))
