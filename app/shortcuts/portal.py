"""Wayland: system-wide shortcuts belong to the compositor, which offers them (where it does) through the desktop
portal's ``org.freedesktop.portal.GlobalShortcuts`` interface.

This version only detects that interface and says honestly what that means: binding keys through it (a session,
the desktop's own confirmation dialog, its choice of keys) is not done yet, so on Wayland nothing is registered.
"""

from __future__ import annotations

from app.shortcuts.base import WINDOW_ONLY

PORTAL_SERVICE = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
GLOBAL_SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
ASK_TIMEOUT_MS = 2000  # the portal may be started on demand by the bus; a missing one is answered at once


def portal_version(bus_address: str | None = None) -> int | None:
    """The version of the desktop's GlobalShortcuts portal on the session bus (or the bus at ``bus_address``), or
    None when there is no bus, no portal, or a portal without that interface."""
    try:
        from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage, QDBusVariant
    except ImportError:  # a PySide6 build without QtDBus
        return None
    if bus_address is None:
        bus = QDBusConnection.sessionBus()
    else:
        bus = QDBusConnection.connectToBus(bus_address, f"captionist-shortcuts-{bus_address}")
    if not bus.isConnected():
        return None
    ask = QDBusMessage.createMethodCall(PORTAL_SERVICE, PORTAL_PATH, "org.freedesktop.DBus.Properties", "Get")
    ask.setArguments([GLOBAL_SHORTCUTS, "version"])
    reply = bus.call(ask, QDBus.CallMode.Block, ASK_TIMEOUT_MS)
    if reply.type() != QDBusMessage.MessageType.ReplyMessage or not reply.arguments():
        return None
    value = reply.arguments()[0]
    value = value.variant() if isinstance(value, QDBusVariant) else value
    return value if isinstance(value, int) else None


def wayland_availability(version: int | None) -> str:
    """What the settings say on a Wayland desktop whose GlobalShortcuts portal has ``version`` (None: none)."""
    if version is None:
        return ("This Wayland desktop offers no system-wide shortcuts (its desktop portal has no GlobalShortcuts "
                f"interface), so these keys do nothing while another program has the focus; {WINDOW_ONLY}.")
    return (f"This Wayland desktop offers system-wide shortcuts through its portal (GlobalShortcuts version "
            f"{version}), but this version of Captionist cannot use them yet, so these keys do nothing while another "
            f"program has the focus; {WINDOW_ONLY}.")

