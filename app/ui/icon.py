"""The program's icon, drawn in code so it needs no image files: a caption box with two text lines."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        p = QPainter(pixmap)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#1b1f24"))
        p.drawRoundedRect(QRectF(0, size * 0.15, size, size * 0.7), size * 0.12, size * 0.12)
        p.setBrush(QColor("#ffffff"))
        p.drawRoundedRect(QRectF(size * 0.14, size * 0.32, size * 0.72, size * 0.12), size * 0.05, size * 0.05)
        p.setBrush(QColor("#ffd54a"))
        p.drawRoundedRect(QRectF(size * 0.14, size * 0.54, size * 0.48, size * 0.12), size * 0.05, size * 0.05)
        p.end()
        icon.addPixmap(pixmap)
    return icon
