"""The program's own dialogs open above the caption overlay.

The overlay stays on top of every window, so at large sizes it would cover a dialog, its OK button included. A dialog
shown while the overlay is visible joins it in the always-on-top layer; being newer, the window manager puts it above.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QDialog, QWidget


class DialogsAboveOverlay(QObject):
    """Watches the application's windows being shown; install once, for one overlay."""

    def __init__(self, overlay: QWidget) -> None:
        super().__init__(overlay)
        self._overlay = overlay
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        # Show arrives before the window is mapped, so the window manager sees the flag from the start.
        if event.type() == QEvent.Type.Show and isinstance(watched, QDialog) and watched.isWindow():
            handle = watched.windowHandle()
            if handle is not None and self._overlay.isVisible():
                handle.setFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        return False
