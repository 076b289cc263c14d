"""Wayland: system-wide shortcuts belong to the compositor, which offers them (where it does) through the desktop
portal's ``org.freedesktop.portal.GlobalShortcuts`` interface.

The portal's way (xdg-desktop-portal documentation): ``CreateSession`` gives a session, ``BindShortcuts`` on it
proposes the shortcuts, and the desktop binds them, choosing the keys itself and perhaps asking the user first.
Each of these calls returns at once with a Request object; the answer comes later as that Request's ``Response``
signal. A pressed shortcut arrives as an ``Activated`` signal for the session.

PySide6's QtDBus cannot write BindShortcuts' ``a(sa{sv})`` argument: an array of structures needs an element type
registered in C++ (``QDBusArgument.beginArray``), and a structure written into an array of another type aborts the
process inside libdbus. So this backend talks to the bus through libdbus itself (ctypes), on a connection of its
own whose socket is watched on the GUI thread, as the X11 backend does with Xlib. Nothing waits for the desktop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

from PySide6.QtCore import QObject, QSocketNotifier

from app.shortcuts.base import WINDOW_ONLY, GlobalShortcuts
from app.shortcuts.dbus_wire import ERROR, METHOD_CALL, METHOD_RETURN, SIGNAL, DBusConnection, Message
from app.shortcuts.keys import ACTIONS, ALT, CTRL, META, SHIFT, KeyCombination
from app.shortcuts.x11 import KEYSYM_NAMES

PORTAL_SERVICE = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
GLOBAL_SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
ASK_TIMEOUT_MS = 2000  # the portal may be started on demand by the bus; a missing one is answered at once

# The shortcuts specification's modifier names (xkbcommon's), in the order this backend writes them.
XDG_MODIFIERS = ((CTRL, "CTRL"), (ALT, "ALT"), (SHIFT, "SHIFT"), (META, "LOGO"))

SUCCESS, CANCELLED = 0, 1  # Request.Response codes; anything else: "ended some other way"


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
    return (f"System-wide shortcuts go through this Wayland desktop's portal (GlobalShortcuts version {version}). "
            "The keys chosen here are only a suggestion: the desktop decides the final keys, may ask you to confirm "
            "them in a dialog of its own, and lets you change them in its own settings.")


def xdg_trigger(combo: KeyCombination) -> str:
    """``combo`` as the XDG shortcuts specification writes a trigger: xkbcommon modifier names and the keysym name
    of the unshifted key, joined by "+" ("CTRL+ALT+SHIFT+l")."""
    key = KEYSYM_NAMES.get(combo.key, combo.key.lower() if len(combo.key) == 1 else combo.key)
    return "+".join([name for modifier, name in XDG_MODIFIERS if modifier in combo.modifiers] + [key])


# -- the backend -----------------------------------------------------------------------------------------------------
def request_path(unique_name: str, token: str) -> str:
    """The path of the Request object the portal creates for a call with ``handle_token`` = ``token`` from
    ``unique_name`` (":1.42" -> "1_42"), as its documentation defines it."""
    return f"{PORTAL_PATH}/request/{unique_name.lstrip(':').replace('.', '_')}/{token}"


def refusal(code: int) -> str:
    """The problem, for the user, when the portal answers a request with ``code`` (not SUCCESS)."""
    if code == CANCELLED:
        return ("the desktop's request to allow the system-wide shortcuts was refused, so none are bound; saving "
                "the settings asks again")
    return "the desktop ended its request for the system-wide shortcuts without binding them"


class PortalShortcuts(GlobalShortcuts):
    """The desktop portal's GlobalShortcuts. ``register`` returns at once with the problems it can see itself
    (keys that do not parse); the desktop answers later, and then ``problemsChanged`` gives the whole list again,
    its problems added (refused, or a shortcut it did not bind). Each ``register`` closes the previous session
    and opens a new one, since a session's shortcuts can be bound only once."""


    def __init__(self, version: int, parent: QObject | None = None, *, bus_address: str | None = None) -> None:
        """``version``: the portal's (from ``portal_version``); ``bus_address``: None = the session bus. OSError
        when libdbus or the bus is missing."""
        super().__init__(wayland_availability(version), parent)
        self._bus = DBusConnection(bus_address)
        self._notifier = QSocketNotifier(self._bus.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._receive)
        self._bus.add_match(f"type='signal',sender='{PORTAL_SERVICE}',interface='{GLOBAL_SHORTCUTS}',"
                            f"member='Activated',path='{PORTAL_PATH}'")
        self._tokens = itertools.count(1)
        self._attempt = 0  # one per register(); answers to an earlier one are stale
        self._answers: dict[str, tuple[int, Callable[[int, dict], None]]] = {}  # request path -> attempt, handler
        self._calls: dict[int, tuple[int, str]] = {}  # serial of a call in flight -> attempt, its request path
        self._wanted: dict[str, KeyCombination] = {}
        self._session = ""
        self._bound: dict[str, str] = {}
        self._own_problems: list[str] = []  # from the last register() itself
        self._desktop_problems: list[str] = []

    @property
    def bound(self) -> dict[str, str]:
        """The shortcuts the desktop bound: action -> its description of the keys (it chooses them)."""
        return dict(self._bound)

    @property
    def problems(self) -> list[str]:
        return self._own_problems + self._desktop_problems

    def register(self, bindings: Mapping[str, str]) -> list[str]:
        self._desktop_problems = []
        self._own_problems = super().register(bindings)
        return self._own_problems

    def _grab(self, combos: dict[str, KeyCombination]) -> list[tuple[str, str]]:
        self._wanted = dict(combos)
        if combos:
            attempt = self._attempt
            self._request("CreateSession", "a{sv}", [{"session_handle_token": self._token()}],
                          lambda code, results: self._session_created(attempt, code, results))
        return []  # what the desktop thinks comes later, through problemsChanged

    def _release(self) -> None:
        self._attempt += 1
        if self._session:
            self._close_session(self._session)
            self._session = ""
        self._bound = {}

    def close(self) -> None:
        if self._bus is None:
            return
        super().close()
        self._notifier.setEnabled(False)
        self._bus.close()
        self._bus = None

    def _token(self) -> str:
        return f"captionist{next(self._tokens)}"

    def _request(self, member: str, signature: str, args: list, handler: Callable[[int, dict], None]) -> None:
        """Call ``member`` with a handle_token added to its options (the last argument); ``handler`` gets the
        Response. It is subscribed to before the call, at the path the portal will use, so no answer is missed."""
        token = self._token()
        args[-1]["handle_token"] = token
        path = request_path(self._bus.unique_name, token)
        self._expect(path, self._attempt, handler)
        serial = self._bus.send(METHOD_CALL, destination=PORTAL_SERVICE, path=PORTAL_PATH,
                                interface=GLOBAL_SHORTCUTS, member=member, signature=signature, args=args)
        self._calls[serial] = (self._attempt, path)

    def _expect(self, path: str, attempt: int, handler: Callable[[int, dict], None]) -> None:
        self._answers[path] = (attempt, handler)
        self._bus.add_match(_response_rule(path))

    def _close_session(self, session: str) -> None:
        self._bus.send(METHOD_CALL, destination=PORTAL_SERVICE, path=session, interface=SESSION, member="Close")

    def _receive(self) -> None:
        try:
            messages = self._bus.receive()
        except ConnectionError:
            self._notifier.setEnabled(False)  # its socket would stay readable (closed) forever
            self._session = ""
            self._report(["the connection to the desktop portal was lost, so the system-wide shortcuts stopped"])
            return
        for message in messages:
            self._handle(message)

    def _handle(self, message: Message) -> None:
        if message.kind in (METHOD_RETURN, ERROR) and message.reply_serial in self._calls:
            attempt, path = self._calls.pop(message.reply_serial)
            if message.kind == ERROR:
                self._answers.pop(path, None)
                self._bus.remove_match(_response_rule(path))
                if attempt == self._attempt:
                    why = message.args[0] if message.args else message.error_name
                    self._report([f"the desktop portal could not take the system-wide shortcuts ({why})"])
            elif message.args and message.args[0] != path and path in self._answers:
                # Portals older than the documented handle_token rule answer on a path of their own choosing.
                self._bus.remove_match(_response_rule(path))
                self._expect(message.args[0], *self._answers.pop(path))
        elif message.kind == SIGNAL and message.interface == REQUEST and message.member == "Response":
            if message.path in self._answers and len(message.args) == 2:
                _attempt, handler = self._answers.pop(message.path)
                self._bus.remove_match(_response_rule(message.path))
                handler(*message.args)
        elif message.kind == SIGNAL and message.interface == GLOBAL_SHORTCUTS and message.member == "Activated":
            session, action = (message.args + ["", ""])[:2]
            if self._session and session == self._session and action in self._bound:
                self.activated.emit(action)

    def _session_created(self, attempt: int, code: int, results: dict) -> None:
        session = str(results.get("session_handle", "")) if code == SUCCESS else ""
        if attempt != self._attempt:
            if session:  # register() or close() came meanwhile: this session is not wanted any more
                self._close_session(session)
            return
        if not session:
            self._report([refusal(code)])
            return
        self._session = session
        shortcuts = [(action, {"description": ACTIONS[action], "preferred_trigger": xdg_trigger(combo)})
                     for action, combo in self._wanted.items()]
        self._request("BindShortcuts", "oa(sa{sv})sa{sv}", [session, shortcuts, "", {}],
                      lambda code, results: self._shortcuts_bound(attempt, code, results))

    def _shortcuts_bound(self, attempt: int, code: int, results: dict) -> None:
        if attempt != self._attempt:
            return
        if code != SUCCESS:
            self._report([refusal(code)])
            return
        self._bound = {action: str(info.get("trigger_description", ""))
                       for action, info in results.get("shortcuts", []) if action in self._wanted}
        self._report([f"{ACTIONS[action]}: the desktop did not bind it" for action in self._wanted
                      if action not in self._bound])

    def _report(self, desktop_problems: list[str]) -> None:
        self._desktop_problems = desktop_problems
        self.problemsChanged.emit(self.problems)


def _response_rule(path: str) -> str:
    return f"type='signal',sender='{PORTAL_SERVICE}',interface='{REQUEST}',member='Response',path='{path}'"
