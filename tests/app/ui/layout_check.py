"""Layout checks any widget test can reuse: nothing crushed below the size it needs, nothing outside its parent,
no two texts of the status bar on top of each other, no mnemonic used twice.

``python -m tests.app.ui.layout_check`` builds the whole program's main window (with the library tab and the chat
panel) at its default size on the screen the Qt platform gives it and prints what these checks find, as JSON: the
layout tests run it in a child process for each screen size and scale factor.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStatusBar,
    QStyle,
    QTabBar,
    QWidget,
)

if TYPE_CHECKING:
    from app.application import Captionist

_MNEMONIC = re.compile(r"&(?!&)(\w)")


def _needed(widget: QWidget) -> QSize:
    """The smallest size ``widget`` works at: its explicit minimum where set, else its minimum size hint, or its
    size hint where that is smaller (a header, a tab bar), no more than its maximum; 0 on an axis whose size policy
    tells layouts to ignore the hints."""
    least, preferred, policy = widget.minimumSizeHint(), widget.sizeHint(), widget.sizePolicy()
    if preferred.isValid():
        least = least.boundedTo(preferred)
    width = widget.minimumWidth() or max(least.width(), 0)
    height = widget.minimumHeight() or max(least.height(), 0)
    if policy.horizontalPolicy() == QSizePolicy.Policy.Ignored:
        width = widget.minimumWidth()
    if policy.verticalPolicy() == QSizePolicy.Policy.Ignored:
        height = widget.minimumHeight()
    return QSize(min(width, widget.maximumWidth()), min(height, widget.maximumHeight()))


def _scrolled(widget: QWidget, root: QWidget) -> bool:
    """True inside the viewport of a scroll area (an item editor, a scroll area's page): such widgets may be larger
    than what shows them, and are scrolled to."""
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        grand = parent.parentWidget()
        if isinstance(grand, QAbstractScrollArea) and parent is grand.viewport():
            return True
        parent = grand
    return False


def _laid_out(widget: QWidget) -> bool:
    """True when a layout or a splitter sizes ``widget``, unlike the parts a style places inside a composite widget
    (a spin box's line edit), which are as large as the style makes them."""
    parent = widget.parentWidget()
    if isinstance(parent, (QSplitter, QMainWindow)):
        return True
    layouts = [parent.layout()] if parent is not None and parent.layout() is not None else []
    while layouts:
        layout = layouts.pop()
        for index in range(layout.count()):
            item = layout.itemAt(index)
            if item.widget() is widget:
                return True
            if item.layout() is not None:
                layouts.append(item.layout())
    return False


def crushed(root: QWidget) -> list[str]:
    """The visible widgets under ``root`` (shown) that a layout made smaller than they need to be, or that stick out
    of their parent; a word-wrapped label also needs the height its text takes at its width ([] when nothing is)."""
    problems = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisible() or widget.isWindow() or _scrolled(widget, root):
            continue
        name = f"{type(widget).__name__} {widget.accessibleName() or widget.objectName() or _text(widget)!r}"
        needed, size = _needed(widget), widget.size()
        if _laid_out(widget) and (size.width() < needed.width() or size.height() < needed.height()):
            problems.append(f"{name} is {size.width()}×{size.height()}, needs {needed.width()}×{needed.height()}")
        if isinstance(widget, QLabel) and widget.wordWrap() and widget.text():
            text_height = widget.heightForWidth(widget.width())
            if size.height() < text_height:
                problems.append(f"{name} is {size.height()} high, its text {text_height}")
        parent = widget.parentWidget()
        if parent is not None and not parent.rect().contains(widget.geometry()):
            problems.append(f"{name} at {_rect(widget.geometry())} is outside its parent ({_rect(parent.rect())})")
    return problems


def status_texts(bar: QStatusBar) -> list[tuple[str, QRect]]:
    """The texts the status bar shows now and where: its temporary message (drawn left of the permanent widgets,
    as QStatusBar paints it) and its visible labels."""
    shown = [(label.text(), label.geometry()) for label in bar.findChildren(QLabel) if label.isVisible() and
             label.text()]
    if bar.currentMessage():
        right = min((label.x() for label in bar.findChildren(QWidget) if label.isVisible() and
                     label.parentWidget() is bar and label.x() > bar.width() // 2), default=bar.width() - 12) - 2
        shown.append((bar.currentMessage(), QRect(6, 0, right - 6, bar.height())))
    return shown


def overlapping(texts: list[tuple[str, QRect]]) -> list[str]:
    """The pairs of ``texts`` whose rectangles intersect."""
    return [f"{a!r} over {b!r}" for n, (a, ra) in enumerate(texts) for b, rb in texts[n + 1:] if ra.intersects(rb)]


def mnemonic(text: str) -> str:
    """The mnemonic letter of a text (the character after a single '&'), lower case; "" when it has none."""
    found = _MNEMONIC.search(text)
    return found.group(1).lower() if found else ""


def mnemonics(window: QMainWindow | QWidget) -> list[str]:
    """The mnemonic letters Alt reaches in ``window`` now: its menu bar's, and those of the visible buttons, labels
    with a buddy, group boxes and tabs."""
    texts = [action.text() for action in window.menuBar().actions()] if isinstance(window, QMainWindow) else []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible():
            continue
        if isinstance(widget, QTabBar):
            texts += [widget.tabText(i) for i in range(widget.count()) if widget.isTabVisible(i)]
        elif isinstance(widget, QAbstractButton) or (isinstance(widget, QLabel) and widget.buddy() is not None):
            texts.append(widget.text())
        elif isinstance(widget, QGroupBox):
            texts.append(widget.title())
    return [letter for text in texts if (letter := mnemonic(text))]


def shows_whole_text(edit: QLineEdit) -> bool:
    """True when ``edit`` is wide enough for all its text (inside its frame and Qt's 2-pixel margins)."""
    frame = edit.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, edit)
    margins = edit.textMargins()
    room = edit.width() - 2 * (frame + 2) - margins.left() - margins.right()
    return edit.fontMetrics().horizontalAdvance(edit.text()) <= room


def _text(widget: QWidget) -> str:
    text = getattr(widget, "text", None)
    return text() if callable(text) and isinstance(text(), str) else ""


def _rect(r: QRect) -> str:
    return f"{r.x()},{r.y()} {r.width()}×{r.height()}"


def _program(data_dir: Path) -> Captionist:
    """The program, with two recorded sessions in its library and two problems to tell at start."""
    from datetime import timedelta

    import numpy as np

    from app.application import Captionist
    from app.events import MODEL_RATE, Notice, Severity
    from app.settings import Settings, SettingsStore
    from tests.app.library.sessions import MEETING, START, make_session

    make_session(data_dir, "Budget meeting", MEETING, {"mic": np.zeros(3 * MODEL_RATE, dtype=np.float32)})
    make_session(data_dir, "Standup", started_at=START + timedelta(days=1))
    store = SettingsStore(data_dir / "settings.json")
    store.save(Settings())
    program = Captionist(store, measure_seconds=None, data_dir=data_dir)
    for problem in ("The settings file could not be read and was set aside; the defaults are used until you save.",
                    "3 of your saved files could not be made private (readable only by you)."):
        program.window.show_notice(Notice(Severity.WARNING, problem))
    return program


def _dialogs(folder: Path) -> dict[str, QWidget]:
    """The dialogs with the most text to fit, each in the state with the most: the model setup after an error,
    the export of a long title, transcribing again with a long progress line."""
    from app.settings import ModelSettings
    from app.ui.export_dialog import ExportDialog
    from app.ui.model_setup_dialog import ModelSetupDialog
    from app.ui.retranscribe_dialog import RetranscribeDialog

    setup = ModelSetupDialog(ModelSettings(source=str(folder)), cache_dir=folder / "cache", measure_seconds=None)
    export = ExportDialog("Budget meeting of the finance team, March", ["live", "realtime-1440ms"],
                          folder / "Documents")
    again = RetranscribeDialog("Budget meeting of the finance team, March")
    again.running(True)
    again.show_progress(0.4, "Transcribing part 2 of 3 with Voxtral Mini 3B on the CPU, which takes a while…")
    return {"model setup": setup, "export": export, "transcribe again": again}


def _settings_pages(program: Captionist) -> dict[str, object]:
    """Each page of the settings dialog, with the most it says: a shortcut another program holds, the Wayland
    note, the server's address."""
    from app.shortcuts.portal import wayland_availability
    from app.ui.settings_dialog import SettingsDialog

    app = QApplication.instance()
    dialog = SettingsDialog(program.settings, list(program._available), cuda_devices=["NVIDIA GeForce RTX 4060 Laptop"],
                            shortcut_availability=wayland_availability(None),
                            shortcut_problems=["Start or stop captions: Ctrl+Alt+Shift+S is taken by another program"])
    dialog.show()
    screen = dialog.screen().availableGeometry()
    pages = {}
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        for _ in range(3):
            app.processEvents()
        pages[dialog.tabs.tabText(index)] = {"crushed": crushed(dialog), "mnemonics": mnemonics(dialog),
                                              "fits": screen.contains(dialog.frameGeometry())}
    dialog.close()
    return pages


def main() -> None:
    """Show the program's window at its default size and print what the checks find in each tab, then the same for
    the dialogs (JSON)."""
    app = QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as folder:
        program = _program(Path(folder))
        window = program.window
        window.show()
        app.processEvents()
        screen = window.screen().availableGeometry()
        report: dict[str, object] = {
            "screen": [screen.width(), screen.height()],
            "status bar": overlapping(status_texts(window.statusBar())),
            "tabs": {},
            "dialogs": {},
        }
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            for _ in range(3):
                app.processEvents()
            report["tabs"][window.tabs.tabText(index)] = {
                "crushed": crushed(window),
                "fits": screen.contains(window.frameGeometry()),
                "size": [window.width(), window.height()],
                "mnemonics": mnemonics(window),
            }
        window.hide()
        for name, dialog in _dialogs(Path(folder)).items():
            dialog.show()
            app.processEvents()
            if name == "model setup":  # the folder holds no model: Start shows an error of several lines
                next(b for b in dialog.findChildren(QPushButton) if b.accessibleName() == "Start").click()
            for _ in range(3):
                app.processEvents()
            report["dialogs"][name] = {"crushed": crushed(dialog), "fits": screen.contains(dialog.frameGeometry())}
            if name == "export":
                report["dialogs"][name]["path shown whole"] = shows_whole_text(dialog.path)
            dialog.close()
        report["settings"] = _settings_pages(program)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
