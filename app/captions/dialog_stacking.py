"""The program's own dialogs stay above the caption overlay.

The overlay stays on top of every window, so at large sizes it would cover a dialog, its OK button included. A dialog
shown while the overlay is visible joins it in the always-on-top layer; being newer, the window manager puts it above.
When the overlay appears while dialogs are open (the style preview of the settings dialog), they join that layer
and are raised above it once it is mapped.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget


class DialogsAboveOverlay(QObject):
    """Watches the application's windows being shown; install once, for one overlay."""

    def __init__(self, overlay: QWidget) -> None:
        super().__init__(overlay)
        self._overlay = overlay
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        # Show arrives before the window is mapped, so the window manager sees the flag from the start.
        if event.type() != QEvent.Type.Show:
            return False
        if watched is self._overlay:
            open_dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
            for dialog in open_dialogs:
                _keep_on_top(dialog)
            if open_dialogs:  # after the overlay is mapped, or the window manager stacks it above them again
                QTimer.singleShot(0, self._raise_dialogs)
        elif isinstance(watched, QDialog) and watched.isWindow() and self._overlay.isVisible():
            _keep_on_top(watched)
        return False

    def _raise_dialogs(self) -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.raise_()


def _keep_on_top(dialog: QDialog) -> None:
    handle = dialog.windowHandle()
    if handle is not None:
        handle.setFlag(Qt.WindowType.WindowStaysOnTopHint, True)
