"""System-wide shortcuts on macOS: Carbon hot keys (``RegisterEventHotKey``, through ctypes), whose events the
Cocoa event loop that Qt runs delivers to a handler on the application's event target.

Only the parts that need no Mac (the key table, the registration logic, through a stand-in for Carbon) are tested on
Linux.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from ctypes import POINTER, Structure, byref, c_int32, c_uint32, c_ulong, c_void_p
from typing import Protocol

from PySide6.QtCore import QObject

from app.shortcuts.base import GlobalShortcuts
from app.shortcuts.keys import ALT, CTRL, META, SHIFT, KeyCombination


def four_char_code(text: str) -> int:
    """Carbon's OSType: four ASCII characters as a big-endian 32-bit number."""
    return int.from_bytes(text.encode("ascii"), "big")


CMD_KEY, SHIFT_KEY, OPTION_KEY, CONTROL_KEY = 0x0100, 0x0200, 0x0800, 0x1000
# Qt names the Command key Ctrl and the Control key Meta on macOS, so the same settings mean the usual Mac keys.
MODIFIERS = {CTRL: CMD_KEY, SHIFT: SHIFT_KEY, ALT: OPTION_KEY, META: CONTROL_KEY}
EVENT_CLASS_KEYBOARD, EVENT_HOT_KEY_PRESSED = four_char_code("keyb"), 5
PARAM_DIRECT_OBJECT, TYPE_EVENT_HOT_KEY_ID = four_char_code("----"), four_char_code("hkid")
HOT_KEY_EXCLUSIVE = 1 << 0  # fail, rather than share, when another program has the same keys
HOT_KEY_EXISTS = -9878  # eventHotKeyExistsErr
SIGNATURE = four_char_code("Capt")  # marks this program's hot keys

# Virtual key codes (kVK_*) of the keys on a US ANSI Mac keyboard; keys.KEYS not here do not exist on a Mac.
KEY_CODES = {
    "A": 0x00, "S": 0x01, "D": 0x02, "F": 0x03, "H": 0x04, "G": 0x05, "Z": 0x06, "X": 0x07, "C": 0x08, "V": 0x09,
    "B": 0x0B, "Q": 0x0C, "W": 0x0D, "E": 0x0E, "R": 0x0F, "Y": 0x10, "T": 0x11, "1": 0x12, "2": 0x13, "3": 0x14,
    "4": 0x15, "6": 0x16, "5": 0x17, "=": 0x18, "9": 0x19, "7": 0x1A, "-": 0x1B, "8": 0x1C, "0": 0x1D, "]": 0x1E,
    "O": 0x1F, "U": 0x20, "[": 0x21, "I": 0x22, "P": 0x23, "Return": 0x24, "L": 0x25, "J": 0x26, "'": 0x27,
    "K": 0x28, ";": 0x29, "\\": 0x2A, ",": 0x2B, "/": 0x2C, "N": 0x2D, "M": 0x2E, ".": 0x2F, "Tab": 0x30,
    "Space": 0x31, "`": 0x32, "Backspace": 0x33, "Esc": 0x35, "Enter": 0x4C, "Del": 0x75,
    "Home": 0x73, "End": 0x77, "PgUp": 0x74, "PgDown": 0x79, "Left": 0x7B, "Right": 0x7C, "Down": 0x7D, "Up": 0x7E,
    "F1": 0x7A, "F2": 0x78, "F3": 0x63, "F4": 0x76, "F5": 0x60, "F6": 0x61, "F7": 0x62, "F8": 0x64, "F9": 0x65,
    "F10": 0x6D, "F11": 0x67, "F12": 0x6F, "F13": 0x69, "F14": 0x6B, "F15": 0x71, "F16": 0x6A, "F17": 0x40,
    "F18": 0x4F, "F19": 0x50, "F20": 0x5A,
}


class HotKeyApi(Protocol):
    def register(self, hotkey_id: int, modifiers: int, key_code: int) -> int:
        """0 (noErr) when registered, else the OSStatus."""

    def unregister(self, hotkey_id: int) -> None: ...


class _EventTypeSpec(Structure):
    _fields_ = [("eventClass", c_uint32), ("eventKind", c_uint32)]


class _EventHotKeyID(Structure):
    _fields_ = [("signature", c_uint32), ("id", c_uint32)]


_EventHandler = ctypes.CFUNCTYPE(c_int32, c_void_p, c_void_p, c_void_p)  # OSStatus (call ref, event, user data)


class Carbon:
    """RegisterEventHotKey and its handler on the application's event target."""

    def __init__(self, on_hotkey: Callable[[int], None]) -> None:
        self._lib = lib = ctypes.CDLL("/System/Library/Frameworks/Carbon.framework/Carbon")
        lib.GetApplicationEventTarget.restype = c_void_p
        lib.InstallEventHandler.argtypes = [c_void_p, _EventHandler, c_ulong, POINTER(_EventTypeSpec), c_void_p,
                                            POINTER(c_void_p)]
        lib.GetEventParameter.argtypes = [c_void_p, c_uint32, c_uint32, c_void_p, c_ulong, c_void_p, c_void_p]
        lib.RegisterEventHotKey.argtypes = [c_uint32, c_uint32, _EventHotKeyID, c_void_p, c_uint32, POINTER(c_void_p)]
        lib.UnregisterEventHotKey.argtypes = [c_void_p]
        for name in ("InstallEventHandler", "GetEventParameter", "RegisterEventHotKey", "UnregisterEventHotKey"):
            getattr(lib, name).restype = c_int32
        self._on_hotkey = on_hotkey
        self._target = lib.GetApplicationEventTarget()
        self._refs: dict[int, c_void_p] = {}
        self._callback = _EventHandler(self._handle)  # kept referenced: Carbon calls it
        spec = _EventTypeSpec(EVENT_CLASS_KEYBOARD, EVENT_HOT_KEY_PRESSED)
        status = lib.InstallEventHandler(self._target, self._callback, 1, byref(spec), None, None)
        if status:
            raise OSError(f"Carbon refused the hot key handler (OSStatus {status})")

    def _handle(self, call_ref: int, event: int, user_data: int) -> int:
        hotkey = _EventHotKeyID()
        status = self._lib.GetEventParameter(event, PARAM_DIRECT_OBJECT, TYPE_EVENT_HOT_KEY_ID, None,
                                             ctypes.sizeof(hotkey), None, byref(hotkey))
        if status == 0 and hotkey.signature == SIGNATURE:
            self._on_hotkey(hotkey.id)
        return 0

    def register(self, hotkey_id: int, modifiers: int, key_code: int) -> int:
        ref = c_void_p()
        status = self._lib.RegisterEventHotKey(key_code, modifiers, _EventHotKeyID(SIGNATURE, hotkey_id),
                                               self._target, HOT_KEY_EXCLUSIVE, byref(ref))
        if status == 0:
            self._refs[hotkey_id] = ref
        return status

    def unregister(self, hotkey_id: int) -> None:
        ref = self._refs.pop(hotkey_id, None)
        if ref is not None:
            self._lib.UnregisterEventHotKey(ref)


class MacShortcuts(GlobalShortcuts):
    def __init__(self, parent: QObject | None = None, *, api: HotKeyApi | None = None) -> None:
        """``api``: how hot keys are registered; Carbon when None (OSError where it cannot be loaded)."""
        super().__init__("System-wide shortcuts work through macOS: they work whichever program has the focus, "
                         "unless another program has registered the same keys. Ctrl means ⌘ Command, Meta means "
                         "⌃ Control.", parent)
        self._api = api if api is not None else Carbon(self.hotkey_pressed)
        self._ids: dict[int, str] = {}  # hot key id -> action

    def hotkey_pressed(self, hotkey_id: int) -> None:
        """Carbon's handler calls this with the id a hot key was registered with."""
        action = self._ids.get(hotkey_id)
        if action is not None:
            self.activated.emit(action)

    def _grab(self, combos: dict[str, KeyCombination]) -> list[tuple[str, str]]:
        problems = []
        for hotkey_id, (action, combo) in enumerate(combos.items(), start=1):
            key_code = KEY_CODES.get(combo.key)
            if key_code is None:
                problems.append((action, f"{combo.text()}: Mac keyboards have no {combo.key} key"))
                continue
            status = self._api.register(hotkey_id, combo.mask(MODIFIERS), key_code)
            if status == HOT_KEY_EXISTS:
                problems.append((action, f"{combo.text()} is taken by another program"))
            elif status:
                problems.append((action, f"{combo.text()} was refused by macOS (OSStatus {status})"))
            else:
                self._ids[hotkey_id] = action
        return problems

    def _release(self) -> None:
        for hotkey_id in self._ids:
            self._api.unregister(hotkey_id)
        self._ids.clear()
