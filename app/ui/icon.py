"""The program's icon: the desktop icon theme's under the application id when it has one (the .deb installs it into
the system's hicolor theme), else the PNGs shipped with the program. Both come from
``resources/icons/org.captionist.Captionist.svg`` (rendered by ``resources/icons/build_icons.py``).

Where the shipped PNGs are found, first that exists:

- in a checkout (and an editable install, which runs from it): ``resources/icons/hicolor/`` beside the ``app``
  package;
- in an installed wheel: pyproject.toml's ``[tool.setuptools.data-files]`` installs the same files into the
  environment's ``share/icons/hicolor/`` (``<venv>/share/...``; ``~/.local/share/...`` with ``pip install --user``),
  found through ``sysconfig`` (``app.identity.installed_share_dirs``).

They are not package data inside ``app/``, which would need a second copy of every file in the repository.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from app.identity import APP_ID, RESOURCES, installed_share_dirs


def icon_folders() -> list[Path]:
    """The hicolor folders that may hold the shipped PNGs, in the order they are tried."""
    return [RESOURCES / "icons" / "hicolor", *(share / "icons" / "hicolor" for share in installed_share_dirs())]


def shipped_icon() -> QIcon:
    """The icon from the first folder of ``icon_folders`` that has it, one file per size (null when none has)."""
    icon = QIcon()
    for folder in icon_folders():
        found = False
        for path in folder.glob(f"*/apps/{APP_ID}.png"):
            side = path.parent.parent.name.partition("x")[0]  # the folder is named <N>x<N>
            if side.isdigit():
                icon.addFile(str(path), QSize(int(side), int(side)))
                found = True
        if found:
            break
    return icon


def app_icon() -> QIcon:
    """The icon of the program's windows and tray."""
    if QIcon.hasThemeIcon(APP_ID):  # installed for the desktop: the very files its menus and task bar show
        return QIcon.fromTheme(APP_ID)
    return shipped_icon()


RECORDING_RED = "#d32f2f"


def recording_icon(icon: QIcon) -> QIcon:
    """``icon`` with a red dot in its lower right corner, as recorders mark that they are recording: the tray shows
    it while a session is being recorded, when the main window's status bar may be hidden."""
    marked = QIcon()
    for side in (16, 22, 24, 32, 48, 64):
        pixmap = icon.pixmap(side, side)
        if pixmap.isNull():
            pixmap = QPixmap(side, side)
            pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("white"), max(1.0, side / 16)))  # a white ring keeps it visible on any panel
        painter.setBrush(QColor(RECORDING_RED))
        dot = side * 0.45
        painter.drawEllipse(QRectF(side - dot - 0.5, side - dot - 0.5, dot, dot))
        painter.end()
        marked.addPixmap(pixmap)
    return marked
