"""System-wide keyboard shortcuts: keys that control the captions while another program has the focus.

``system_shortcuts()`` picks the way this desktop offers them: key grabs on X11, the desktop portal on Wayland,
hot keys on Windows and macOS, or none (and then its ``availability`` says so).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from PySide6.QtCore import QObject
from PySide6.QtGui import QGuiApplication

from app.shortcuts.base import WINDOW_ONLY, GlobalShortcuts, NoShortcuts
from app.shortcuts.keys import ACTIONS

__all__ = ["ACTIONS", "GlobalShortcuts", "NoShortcuts", "backend_for", "system_shortcuts"]

HEADLESS_PLATFORMS = ("offscreen", "minimal")  # nobody sees such a program: it must not take the user's keys
XWAYLAND_NOTE = (" Captionist runs through XWayland here: many Wayland desktops pass these keys on only while an X11 "
                 "program has the focus.")


def backend_for(system: str, qt_platform: str, environ: Mapping[str, str]) -> str:
    """Which backend fits: "windows", "macos", "x11", "xwayland" (X11 grabs on a Wayland desktop), "portal" or
    "none", from ``sys.platform``, Qt's platform plugin name and the environment."""
    if qt_platform in HEADLESS_PLATFORMS:
        return "none"
    if system == "win32":
        return "windows"
    if system == "darwin":
        return "macos"
    wayland = bool(environ.get("WAYLAND_DISPLAY")) or qt_platform.startswith("wayland")
    if qt_platform == "xcb" or (environ.get("DISPLAY") and not wayland):
        return "xwayland" if wayland else "x11"
    return "portal" if wayland else "none"


def system_shortcuts(parent: QObject | None = None) -> GlobalShortcuts:
    """The backend for this desktop; one that cannot start is replaced by ``NoShortcuts`` saying why."""
    qt_platform = QGuiApplication.platformName() if QGuiApplication.instance() is not None else ""
    kind = backend_for(sys.platform, qt_platform, os.environ)
    try:
        if kind == "windows":
            from app.shortcuts.windows import WindowsShortcuts

            return WindowsShortcuts(parent)
        if kind == "macos":
            from app.shortcuts.macos import MacShortcuts

            return MacShortcuts(parent)
        if kind in ("x11", "xwayland"):
            from app.shortcuts.x11 import X11Shortcuts

            return X11Shortcuts(parent=parent, note=XWAYLAND_NOTE if kind == "xwayland" else "")
        if kind == "portal":
            from app.shortcuts.portal import PortalShortcuts, portal_version, wayland_availability

            version = portal_version()
            if version is None:
                return NoShortcuts(wayland_availability(None), parent)
            return PortalShortcuts(version, parent)
    except OSError as exc:
        return NoShortcuts(f"System-wide shortcuts could not be set up ({exc}), so these keys do nothing while "
                           f"another program has the focus; {WINDOW_ONLY}.", parent)
    return NoShortcuts(parent=parent)
