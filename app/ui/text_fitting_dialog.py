"""A dialog whose least height follows its word-wrapped texts."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QDialog


class TextFittingDialog(QDialog):
    """A layout's least height counts one line per word-wrapped label, so a message of several lines (an error, a
    result) would be clipped and the controls squeezed. Here the least height is what the texts take at the
    dialog's width, measured again whenever a text or the width changes."""

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:  # a text changed: it may need more lines
            self._fit_text()
        return handled

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 — Qt's name
        super().resizeEvent(event)
        self._fit_text()

    def _fit_text(self) -> None:
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth():
            self.setMinimumHeight(layout.totalMinimumHeightForWidth(self.width()))
