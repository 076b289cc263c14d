"""The Windows and macOS backends through their interfaces: a stand-in takes the place of user32 or Carbon and
records what would have been registered; hot key messages are handed in the way Qt or Carbon would."""

from __future__ import annotations

import ctypes

from PySide6.QtCore import QByteArray

from app.shortcuts.macos import CMD_KEY, CONTROL_KEY, HOT_KEY_EXISTS, KEY_CODES, OPTION_KEY, SHIFT_KEY, MacShortcuts
from app.shortcuts.windows import (
    ERROR_HOTKEY_ALREADY_REGISTERED,
    MOD_ALT,
    MOD_CONTROL,
    MOD_NOREPEAT,
    MOD_SHIFT,
    MOD_WIN,
    WM_HOTKEY,
    Msg,
    WindowsShortcuts,
)

BINDINGS = {"toggle_overlay": "Ctrl+Alt+Shift+L", "click_through": "Meta+K", "toggle_captions": "Ctrl+Alt+Shift+S"}


class FakeHotKeys:
    """Records registrations; refuses the key codes in ``taken`` with ``taken_error``."""

    def __init__(self, taken: set[int] = frozenset(), taken_error: int = 0) -> None:
        self.registered: dict[int, tuple[int, int]] = {}
        self.taken, self.taken_error = taken, taken_error

    def register(self, hotkey_id: int, modifiers: int, key: int) -> int:
        assert hotkey_id not in self.registered, "an id is registered twice"
        if key in self.taken:
            return self.taken_error
        self.registered[hotkey_id] = (modifiers, key)
        return 0

    def unregister(self, hotkey_id: int) -> None:
        del self.registered[hotkey_id]


def windows_message(shortcuts: WindowsShortcuts, message: int, hotkey_id: int) -> bool:
    msg = Msg(message=message, wParam=hotkey_id)
    handled, _ = shortcuts.event_filter.nativeEventFilter(QByteArray(b"windows_dispatcher_MSG"), ctypes.addressof(msg))
    return handled


def test_windows_registers_each_binding_and_emits_on_wm_hotkey(qapp, qtbot):
    api = FakeHotKeys(taken={ord("S")}, taken_error=ERROR_HOTKEY_ALREADY_REGISTERED)
    shortcuts = WindowsShortcuts(api=api)
    try:
        problems = shortcuts.register(BINDINGS)
        assert problems == ["Start or stop captions: Ctrl+Alt+Shift+S is taken by another program"]
        assert sorted(api.registered.values()) == sorted([(MOD_WIN | MOD_NOREPEAT, ord("K")),
                                                          (MOD_CONTROL | MOD_ALT | MOD_SHIFT | MOD_NOREPEAT, ord("L"))])
        ids = {key: hotkey_id for hotkey_id, (_, key) in api.registered.items()}
        with qtbot.waitSignal(shortcuts.activated, timeout=1000) as signal:
            assert windows_message(shortcuts, WM_HOTKEY, ids[ord("K")])
        assert signal.args == ["click_through"]
        with qtbot.assertNotEmitted(shortcuts.activated):
            assert not windows_message(shortcuts, WM_HOTKEY, 999)  # some other hot key of this thread
            assert not windows_message(shortcuts, 0x0100, ids[ord("K")])  # WM_KEYDOWN

        assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+O"}) == []
        assert list(api.registered.values()) == [(MOD_CONTROL | MOD_ALT | MOD_NOREPEAT, ord("O"))]
    finally:
        shortcuts.close()
    assert api.registered == {}


def test_windows_reports_other_errors_with_their_code(qapp):
    shortcuts = WindowsShortcuts(api=FakeHotKeys(taken={ord("L")}, taken_error=87))
    try:
        assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+L"}) == [
            "Show or hide the captions: Ctrl+Alt+L was refused by Windows (error 87)"]
    finally:
        shortcuts.close()


def test_macos_maps_qt_ctrl_to_command_and_emits_for_its_hot_keys(qapp, qtbot):
    api = FakeHotKeys(taken={KEY_CODES["S"]}, taken_error=HOT_KEY_EXISTS)
    shortcuts = MacShortcuts(api=api)
    try:
        problems = shortcuts.register(BINDINGS)
        assert problems == ["Start or stop captions: Ctrl+Alt+Shift+S is taken by another program"]
        assert sorted(api.registered.values()) == sorted([(CMD_KEY | OPTION_KEY | SHIFT_KEY, KEY_CODES["L"]),
                                                          (CONTROL_KEY, KEY_CODES["K"])])
        ids = {key: hotkey_id for hotkey_id, (_, key) in api.registered.items()}
        with qtbot.waitSignal(shortcuts.activated, timeout=1000) as signal:
            shortcuts.hotkey_pressed(ids[KEY_CODES["L"]])
        assert signal.args == ["toggle_overlay"]
        with qtbot.assertNotEmitted(shortcuts.activated):
            shortcuts.hotkey_pressed(999)
        assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+Print"}) == [
            "Show or hide the captions: Ctrl+Alt+Print: Mac keyboards have no Print key"]
        assert api.registered == {}
    finally:
        shortcuts.close()
