"""System-wide shortcuts on X11: passive key grabs on the root windows, made through libX11 (ctypes) on a display
connection of this backend's own, whose socket is watched on the GUI thread.

The X server gives a grabbed key to the grabbing client whichever window has the focus, and refuses a grab another
client holds (BadAccess): that is how "taken by another program" is known.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_ubyte, c_uint, c_ulong, c_void_p

from PySide6.QtCore import QObject, QSocketNotifier

from app.shortcuts.base import GlobalShortcuts
from app.shortcuts.keys import ALT, CTRL, META, SHIFT, KeyCombination

# Qt key names (keys.KEYS) that are not their own keysym name; letters are their lower-case keysyms.
KEYSYM_NAMES = {
    "Space": "space", "Esc": "Escape", "Backspace": "BackSpace", "Enter": "KP_Enter", "Ins": "Insert",
    "Del": "Delete", "PgUp": "Prior", "PgDown": "Next",
    ",": "comma", ".": "period", "/": "slash", ";": "semicolon", "'": "apostrophe", "[": "bracketleft",
    "]": "bracketright", "\\": "backslash", "-": "minus", "=": "equal", "`": "grave",
}

SHIFT_MASK, LOCK_MASK, CONTROL_MASK = 1 << 0, 1 << 1, 1 << 2
MOD1_MASK, MOD2_MASK, MOD4_MASK = 1 << 3, 1 << 4, 1 << 6
KEY_PRESS, KEY_RELEASE = 2, 3
BAD_ACCESS = 10
GRAB_MODE_ASYNC = 1

# Which of Mod1..Mod5 a modifier key sits on depends on the keymap: found from it, with the usual one as fallback.
MODIFIER_KEYSYMS = {"alt": (("Alt_L", "Alt_R"), MOD1_MASK), "meta": (("Super_L", "Super_R"), MOD4_MASK),
                    "num_lock": (("Num_Lock",), MOD2_MASK), "scroll_lock": (("Scroll_Lock",), 0)}


class _XErrorEvent(ctypes.Structure):
    _fields_ = [("type", c_int), ("display", c_void_p), ("resourceid", c_ulong), ("serial", c_ulong),
                ("error_code", c_ubyte), ("request_code", c_ubyte), ("minor_code", c_ubyte)]


class _XKeyEvent(ctypes.Structure):
    _fields_ = [("type", c_int), ("serial", c_ulong), ("send_event", c_int), ("display", c_void_p),
                ("window", c_ulong), ("root", c_ulong), ("subwindow", c_ulong), ("time", c_ulong),
                ("x", c_int), ("y", c_int), ("x_root", c_int), ("y_root", c_int),
                ("state", c_uint), ("keycode", c_uint), ("same_screen", c_int)]


class _XEvent(ctypes.Union):
    _fields_ = [("type", c_int), ("xkey", _XKeyEvent), ("pad", c_long * 24)]  # Xlib's XEvent is 24 longs


class _XModifierKeymap(ctypes.Structure):
    _fields_ = [("max_keypermod", c_int), ("modifiermap", POINTER(c_ubyte))]


_ErrorHandler = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(_XErrorEvent))


@functools.cache
def libx11() -> ctypes.CDLL:
    """libX11 with the signatures used here; OSError when it is not installed."""
    x = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    signatures = {
        "XOpenDisplay": (c_void_p, [c_char_p]),
        "XCloseDisplay": (c_int, [c_void_p]),
        "XConnectionNumber": (c_int, [c_void_p]),
        "XScreenCount": (c_int, [c_void_p]),
        "XRootWindow": (c_ulong, [c_void_p, c_int]),
        "XStringToKeysym": (c_ulong, [c_char_p]),
        "XKeysymToKeycode": (c_ubyte, [c_void_p, c_ulong]),
        "XGetModifierMapping": (POINTER(_XModifierKeymap), [c_void_p]),
        "XFreeModifiermap": (c_int, [POINTER(_XModifierKeymap)]),
        "XGrabKey": (c_int, [c_void_p, c_int, c_uint, c_ulong, c_int, c_int, c_int]),
        "XUngrabKey": (c_int, [c_void_p, c_int, c_uint, c_ulong]),
        "XSync": (c_int, [c_void_p, c_int]),
        "XPending": (c_int, [c_void_p]),
        "XNextEvent": (c_int, [c_void_p, POINTER(_XEvent)]),
        "XSetErrorHandler": (c_void_p, [c_void_p]),
        "XkbSetDetectableAutoRepeat": (c_int, [c_void_p, c_int, POINTER(c_int)]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(x, name)
        function.restype, function.argtypes = restype, argtypes
    return x


def lock_variants(locks: list[int]) -> list[int]:
    """Every combination of the lock modifiers (Caps, Num, Scroll Lock), none included: a grab is for exact
    modifiers, and the shortcut must work whichever locks are on."""
    variants = [0]
    for lock in dict.fromkeys(m for m in locks if m):
        variants += [v | lock for v in variants]
    return variants


class X11Shortcuts(GlobalShortcuts):
    def __init__(self, display: str | None = None, parent: QObject | None = None, *, note: str = "") -> None:
        """``display``: the X display to use; None = $DISPLAY. ``note``: added to the availability text. OSError
        when libX11 is missing or the display cannot be opened."""
        super().__init__("System-wide shortcuts work through the X server: they work whichever program has the "
                         "focus, unless another program has taken the same keys." + note, parent)
        self._x = libx11()
        self._dpy = self._x.XOpenDisplay(display.encode() if display else None)
        if not self._dpy:
            raise OSError(f"cannot open the X display {display or '(DISPLAY is not set)'}")
        self._roots = [self._x.XRootWindow(self._dpy, i) for i in range(self._x.XScreenCount(self._dpy))]
        masks = self._modifier_masks()
        self._masks = {CTRL: CONTROL_MASK, SHIFT: SHIFT_MASK, ALT: masks["alt"], META: masks["meta"]}
        self._locks = lock_variants([LOCK_MASK, masks["num_lock"], masks["scroll_lock"]])
        self._ignored = LOCK_MASK | masks["num_lock"] | masks["scroll_lock"]
        self._grabbed: dict[tuple[int, int], str] = {}  # (keycode, modifiers) -> action
        self._held: set[int] = set()  # keycodes pressed and not yet released: auto-repeat does not toggle again
        self._errors: list[int] = []  # X error codes of the requests being checked
        self._previous_handler: int | None = None  # the error handler in place before those requests
        self._handler = _ErrorHandler(self._on_error)  # kept referenced: Xlib calls it
        # Held keys then repeat as presses alone, without releases in between, so repeats can be told apart.
        self._x.XkbSetDetectableAutoRepeat(self._dpy, 1, None)
        self._notifier = QSocketNotifier(self._x.XConnectionNumber(self._dpy), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read_events)

    def _modifier_masks(self) -> dict[str, int]:
        table = self._x.XGetModifierMapping(self._dpy)
        try:
            per = table.contents.max_keypermod
            rows = [{table.contents.modifiermap[i * per + j] for j in range(per)} - {0} for i in range(8)]
        finally:
            self._x.XFreeModifiermap(table)
        masks = {}
        for name, (keysyms, fallback) in MODIFIER_KEYSYMS.items():
            codes = {self._x.XKeysymToKeycode(self._dpy, self._x.XStringToKeysym(k.encode())) for k in keysyms} - {0}
            found = [1 << i for i in range(3, 8) if rows[i] & codes]
            masks[name] = found[0] if found else fallback
        return masks

    def _on_error(self, display: int, event: ctypes._Pointer) -> int:
        if display != self._dpy and self._previous_handler:  # another connection's error (Qt's): its own handler
            return _ErrorHandler(self._previous_handler)(display, event)
        self._errors.append(event.contents.error_code)
        return 0

    def _checked(self, requests: list[tuple]) -> list[int]:
        """Run (function, *args) Xlib requests and wait for the server's answer; the error codes it sent back."""
        self._errors = []
        self._previous_handler = self._x.XSetErrorHandler(ctypes.cast(self._handler, c_void_p))
        try:
            for function, *args in requests:
                function(self._dpy, *args)
            self._x.XSync(self._dpy, 0)
        finally:
            # Handlers are process-wide in Xlib: Qt's own (for its Xlib connection) is put back at once.
            self._x.XSetErrorHandler(self._previous_handler)
        return self._errors

    def _requests(self, function: object, keycode: int, modifiers: int) -> list[tuple]:
        extra = (0, GRAB_MODE_ASYNC, GRAB_MODE_ASYNC) if function is self._x.XGrabKey else ()
        return [(function, keycode, modifiers | lock, root, *extra) for root in self._roots for lock in self._locks]

    def _keycode(self, combo: KeyCombination) -> int:
        name = KEYSYM_NAMES.get(combo.key, combo.key.lower() if len(combo.key) == 1 else combo.key)
        keysym = self._x.XStringToKeysym(name.encode())
        return self._x.XKeysymToKeycode(self._dpy, keysym) if keysym else 0

    def _grab(self, combos: dict[str, KeyCombination]) -> list[tuple[str, str]]:
        problems = []
        for action, combo in combos.items():
            keycode = self._keycode(combo)
            if not keycode:
                problems.append((action, f"{combo.text()}: this keyboard has no {combo.key} key"))
                continue
            modifiers = combo.mask(self._masks)
            errors = self._checked(self._requests(self._x.XGrabKey, keycode, modifiers))
            if errors:
                # Some lock variants may have been granted: give them back, the shortcut is all or nothing.
                self._checked(self._requests(self._x.XUngrabKey, keycode, modifiers))
                why = "is taken by another program" if BAD_ACCESS in errors else f"was refused (X error {errors[0]})"
                problems.append((action, f"{combo.text()} {why}"))
                continue
            self._grabbed[keycode, modifiers] = action
        self._read_events()  # events that arrived while waiting for the answers are queued already
        return problems

    def _release(self) -> None:
        if self._dpy and self._grabbed:
            requests = [r for keycode, mods in self._grabbed for r in self._requests(self._x.XUngrabKey, keycode, mods)]
            self._checked(requests)
        self._grabbed.clear()
        self._held.clear()

    def _read_events(self) -> None:
        event = _XEvent()
        while self._dpy and self._x.XPending(self._dpy):
            self._x.XNextEvent(self._dpy, byref(event))
            if event.type == KEY_RELEASE:
                self._held.discard(event.xkey.keycode)
            elif event.type == KEY_PRESS and event.xkey.keycode not in self._held:
                action = self._grabbed.get((event.xkey.keycode, event.xkey.state & 0xFF & ~self._ignored))
                if action is not None:
                    self._held.add(event.xkey.keycode)
                    self.activated.emit(action)

    def close(self) -> None:
        if not self._dpy:
            return
        super().close()
        self._notifier.setEnabled(False)
        self._x.XCloseDisplay(self._dpy)
        self._dpy = None
