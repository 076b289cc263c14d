"""Key combination texts: what may be a system-wide shortcut, the messages for what may not, and the key tables of
every backend covering exactly the keys the parser accepts."""

from __future__ import annotations

import pytest

from app.settings import ShortcutSettings
from app.shortcuts import NoShortcuts, backend_for, system_shortcuts
from app.shortcuts.keys import (
    ACTIONS,
    ALT,
    CTRL,
    KEYS,
    META,
    SHIFT,
    KeyCombination,
    ShortcutError,
    parse,
    parse_bindings,
)


@pytest.mark.parametrize(
    ("text", "modifiers", "key"),
    [
        ("Ctrl+Alt+Shift+L", {CTRL, ALT, SHIFT}, "L"),
        ("ctrl+alt+l", {CTRL, ALT}, "L"),  # Qt reads any case
        ("Meta+F5", {META}, "F5"),
        ("Shift+Alt+PgUp", {SHIFT, ALT}, "PgUp"),
        ("Ctrl+,", {CTRL}, ","),
        ("Ctrl+Alt+Space", {CTRL, ALT}, "Space"),
        (" Ctrl+Alt+F24 ", {CTRL, ALT}, "F24"),
    ],
)
def test_valid_combinations(text, modifiers, key):
    assert parse(text) == KeyCombination(frozenset(modifiers), key)


def test_text_is_written_in_qts_order():
    assert parse("shift+ctrl+alt+meta+x").text() == "Meta+Ctrl+Alt+Shift+X"
    assert parse("Alt+Ctrl+9").text() == "Ctrl+Alt+9"
    for default in (ShortcutSettings().toggle_overlay, ShortcutSettings().click_through):
        assert parse(default).text() == default


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no key combination"),
        ("L", "needs Ctrl, Alt or Meta"),
        ("Shift+L", "needs Ctrl, Alt or Meta"),  # Shift+L is typing a capital L
        ("Ctrl+A, Ctrl+B", "single key combination, not a sequence"),
        ("Hyper+L", "“Hyper” is not a modifier"),
        ("Ctrl+Alt", "a key is missing"),
        ("Ctrl+", "a key is missing"),
        ("Ctrl+Foo", "“Foo” cannot be a system-wide shortcut key"),
        ("Ctrl+Num+5", "“Num” is not a modifier"),
        ("Ctrl++", "“+” cannot be"),
        ("Ctrl+F25", "“F25” cannot be"),
        ("Ctrl+!", "“!” cannot be"),
    ],
)
def test_invalid_combinations_say_why(text, says):
    with pytest.raises(ShortcutError) as caught:
        parse(text)
    assert says in str(caught.value)
    if text:
        assert str(caught.value).startswith(text.strip()), "the message names what was typed"


def test_bindings_skip_empty_texts_and_report_problems_by_action():
    combos, problems = parse_bindings(
        {"toggle_overlay": "Ctrl+Alt+L", "click_through": "", "toggle_captions": "Shift+S"}
    )
    assert combos == {"toggle_overlay": KeyCombination(frozenset({CTRL, ALT}), "L")}
    assert problems == [f"{ACTIONS['toggle_captions']}: Shift+S: a system-wide shortcut needs Ctrl, Alt or Meta, "
                        "so that typing is never taken"]


def test_one_combination_for_two_actions_is_a_problem_and_the_first_keeps_it():
    combos, problems = parse_bindings({"toggle_overlay": "Ctrl+Alt+L", "click_through": "alt+ctrl+l"})
    assert list(combos) == ["toggle_overlay"]
    assert problems == [f"{ACTIONS['click_through']}: Ctrl+Alt+L is already the shortcut for "
                        f"“{ACTIONS['toggle_overlay']}”"]


def test_the_settings_defaults_are_valid_and_distinct():
    bindings = {action: getattr(ShortcutSettings(), action) for action in ACTIONS}
    combos, problems = parse_bindings(bindings)
    assert problems == [] and set(combos) == set(ACTIONS)


def test_every_key_maps_on_windows_to_its_virtual_key():
    from app.shortcuts.windows import VIRTUAL_KEYS

    assert set(VIRTUAL_KEYS) == set(KEYS)
    assert (VIRTUAL_KEYS["A"], VIRTUAL_KEYS["Z"], VIRTUAL_KEYS["0"], VIRTUAL_KEYS["F1"], VIRTUAL_KEYS["F24"]) == (
        0x41, 0x5A, 0x30, 0x70, 0x87)
    shared = {vk for vk in VIRTUAL_KEYS.values() if list(VIRTUAL_KEYS.values()).count(vk) > 1}
    assert shared == {0x0D}  # Return and keypad Enter are one virtual key


def test_mac_key_codes_are_distinct_and_cover_the_keys_macs_have():
    from app.shortcuts.macos import KEY_CODES

    assert set(KEY_CODES) <= set(KEYS)
    assert set(KEYS) - set(KEY_CODES) == {"Ins", "Pause", "Print", "F21", "F22", "F23", "F24"}
    assert len(set(KEY_CODES.values())) == len(KEY_CODES)
    assert (KEY_CODES["A"], KEY_CODES["L"], KEY_CODES["Space"], KEY_CODES["F1"]) == (0x00, 0x25, 0x31, 0x7A)


def test_every_key_has_an_x11_keysym():
    x11 = pytest.importorskip("app.shortcuts.x11")
    try:
        lib = x11.libx11()
    except OSError:
        pytest.skip("libX11 is not installed")
    for key in KEYS:
        name = x11.KEYSYM_NAMES.get(key, key.lower() if len(key) == 1 else key)
        assert lib.XStringToKeysym(name.encode()) != 0, key
    assert lib.XStringToKeysym(b"NoSuchKey") == 0  # the check above can fail


@pytest.mark.parametrize(
    ("system", "qt", "env", "expected"),
    [
        ("win32", "windows", {}, "windows"),
        ("darwin", "cocoa", {}, "macos"),
        ("linux", "xcb", {"DISPLAY": ":0"}, "x11"),
        ("linux", "offscreen", {"DISPLAY": ":0"}, "none"),  # tests, and other programs nobody sees
        ("win32", "minimal", {}, "none"),
        ("linux", "xcb", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "xwayland"),
        ("linux", "wayland", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "portal"),
        ("linux", "", {"WAYLAND_DISPLAY": "wayland-0"}, "portal"),
        ("linux", "", {}, "none"),
    ],
)
def test_backend_choice(system, qt, env, expected):
    assert backend_for(system, qt, env) == expected


def test_a_backend_that_cannot_start_is_replaced_by_one_that_says_why(qapp, monkeypatch):
    monkeypatch.setattr("app.shortcuts.backend_for", lambda *_: "x11")  # as on an X11 desktop, not offscreen
    monkeypatch.setenv("DISPLAY", ":65000")  # no X server there: the X11 backend cannot connect
    shortcuts = system_shortcuts()
    try:
        assert isinstance(shortcuts, NoShortcuts)
        assert shortcuts.availability.startswith("System-wide shortcuts could not be set up (")
        assert "only while one of its windows has the focus" in shortcuts.availability
        assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+L", "click_through": "Shift+K"}) == [
            "Turn click-through on or off: Shift+K: a system-wide shortcut needs Ctrl, Alt or Meta, so that typing is "
            "never taken"]
    finally:
        shortcuts.close()


def test_a_program_rendering_offscreen_takes_no_keys(qapp):
    shortcuts = system_shortcuts()
    try:
        assert isinstance(shortcuts, NoShortcuts)
        assert shortcuts.availability.startswith("This desktop offers no system-wide shortcuts")
    finally:
        shortcuts.close()
