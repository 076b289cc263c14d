"""The tray icon: the main actions without the main window, and the way out of click-through mode."""

from __future__ import annotations

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget


class Tray(QSystemTrayIcon):
    def __init__(self, icon: QIcon, actions: list[QAction | None], parent: QWidget | None = None) -> None:
        super().__init__(icon, parent)
        self.setToolTip("Captionist")
        self._menu = QMenu()
        self._menu.setAccessibleName("Captionist")
        for action in actions:
            if action is None:
                self._menu.addSeparator()
            else:
                self._menu.addAction(action)
        self.setContextMenu(self._menu)

    def menu_actions(self) -> list[QAction]:
        return [a for a in self._menu.actions() if not a.isSeparator()]
