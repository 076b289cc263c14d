"""System-wide shortcuts on Windows: ``RegisterHotKey`` (user32, through ctypes) for the GUI thread, whose
``WM_HOTKEY`` messages Qt's event dispatcher hands to a native event filter.

Only the parts that need no Windows (the key table, the message handling, through a stand-in for user32) are tested
on Linux.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QAbstractNativeEventFilter, QByteArray, QCoreApplication, QObject

from app.shortcuts.base import GlobalShortcuts
from app.shortcuts.keys import ALT, CTRL, DIGITS, LETTERS, META, SHIFT, KeyCombination

MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
MODIFIERS = {ALT: MOD_ALT, CTRL: MOD_CONTROL, SHIFT: MOD_SHIFT, META: MOD_WIN}  # Qt's Meta is the Windows key
WM_HOTKEY = 0x0312
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
MESSAGE_EVENT_TYPES = (b"windows_generic_MSG", b"windows_dispatcher_MSG")  # window and thread messages

VIRTUAL_KEYS = {
    **{k: ord(k) for k in LETTERS + DIGITS},  # VK_A..VK_Z and VK_0..VK_9 are their ASCII codes
    **{f"F{n}": 0x6F + n for n in range(1, 25)},  # VK_F1 = 0x70 .. VK_F24 = 0x87
    "Space": 0x20, "Esc": 0x1B, "Tab": 0x09, "Backspace": 0x08, "Return": 0x0D, "Enter": 0x0D, "Ins": 0x2D,
    "Del": 0x2E, "Pause": 0x13, "Print": 0x2C, "Home": 0x24, "End": 0x23, "Left": 0x25, "Up": 0x26,
    "Right": 0x27, "Down": 0x28, "PgUp": 0x21, "PgDown": 0x22,
    # VK_OEM_*: the keys that carry these characters on a US layout
    ",": 0xBC, ".": 0xBE, "/": 0xBF, ";": 0xBA, "'": 0xDE, "[": 0xDB, "]": 0xDD, "\\": 0xDC, "-": 0xBD,
    "=": 0xBB, "`": 0xC0,
}


class HotKeyApi(Protocol):
    def register(self, hotkey_id: int, modifiers: int, virtual_key: int) -> int:
        """0 when registered, else the Windows error code."""

    def unregister(self, hotkey_id: int) -> None: ...


class User32:
    """The two user32 calls, for the calling (GUI) thread's message queue."""

    def __init__(self) -> None:
        self._user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        self._user32.RegisterHotKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
        self._user32.UnregisterHotKey.argtypes = [ctypes.c_void_p, ctypes.c_int]

    def register(self, hotkey_id: int, modifiers: int, virtual_key: int) -> int:
        ok = self._user32.RegisterHotKey(None, hotkey_id, modifiers, virtual_key)
        return 0 if ok else ctypes.get_last_error() or -1  # type: ignore[attr-defined]

    def unregister(self, hotkey_id: int) -> None:
        self._user32.UnregisterHotKey(None, hotkey_id)


class Msg(ctypes.Structure):
    """Win32's MSG, with fixed-size fields so that the layout is Windows' on any system."""

    _fields_ = [("hwnd", ctypes.c_void_p), ("message", ctypes.c_uint32), ("wParam", ctypes.c_size_t),
                ("lParam", ctypes.c_ssize_t), ("time", ctypes.c_uint32), ("x", ctypes.c_int32),
                ("y", ctypes.c_int32)]


class _HotKeyFilter(QAbstractNativeEventFilter):
    def __init__(self, on_hotkey: Callable[[int], bool]) -> None:
        super().__init__()
        self._on_hotkey = on_hotkey

    def nativeEventFilter(self, event_type: QByteArray, message: int) -> tuple[bool, int]:  # noqa: N802 - Qt override
        if bytes(event_type) in MESSAGE_EVENT_TYPES:
            msg = Msg.from_address(int(message))
            if msg.message == WM_HOTKEY:
                return self._on_hotkey(msg.wParam), 0
        return False, 0


class WindowsShortcuts(GlobalShortcuts):
    def __init__(self, parent: QObject | None = None, *, api: HotKeyApi | None = None) -> None:
        """``api``: how hot keys are registered; user32 when None (on Windows only)."""
        super().__init__("System-wide shortcuts work through Windows: they work whichever program has the focus, "
                         "unless another program has registered the same keys.", parent)
        self._api = api if api is not None else User32()
        self._ids: dict[int, str] = {}  # hot key id -> action
        self.event_filter = _HotKeyFilter(self._hotkey)  # Qt hands it every message of the GUI thread
        QCoreApplication.instance().installNativeEventFilter(self.event_filter)

    def _hotkey(self, hotkey_id: int) -> bool:
        action = self._ids.get(hotkey_id)
        if action is not None:
            self.activated.emit(action)
        return action is not None  # another part of the program may register hot keys of its own

    def _grab(self, combos: dict[str, KeyCombination]) -> list[tuple[str, str]]:
        problems = []
        for hotkey_id, (action, combo) in enumerate(combos.items(), start=1):
            modifiers = combo.mask(MODIFIERS) | MOD_NOREPEAT  # holding the keys down must not toggle again and again
            error = self._api.register(hotkey_id, modifiers, VIRTUAL_KEYS[combo.key])
            if error == ERROR_HOTKEY_ALREADY_REGISTERED:
                problems.append((action, f"{combo.text()} is taken by another program"))
            elif error:
                problems.append((action, f"{combo.text()} was refused by Windows (error {error})"))
            else:
                self._ids[hotkey_id] = action
        return problems

    def _release(self) -> None:
        for hotkey_id in self._ids:
            self._api.unregister(hotkey_id)
        self._ids.clear()

    def close(self) -> None:
        super().close()
        QCoreApplication.instance().removeNativeEventFilter(self.event_filter)
