"""System-wide key combinations as the settings write them (Qt's portable text, "Ctrl+Alt+Shift+L"), checked and
taken apart into modifiers and one key that each platform's backend can map to its own codes. Plain Python: no Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The actions a system-wide shortcut can trigger, with the words the settings and problems use for them.
ACTIONS: dict[str, str] = {
    "toggle_overlay": "Show or hide the captions",
    "click_through": "Turn click-through on or off",
    "toggle_captions": "Start or stop captions",
}

CTRL, ALT, SHIFT, META = "Ctrl", "Alt", "Shift", "Meta"
MODIFIER_ORDER = (META, CTRL, ALT, SHIFT)  # the order Qt writes them in
REQUIRED_MODIFIERS = {CTRL, ALT, META}  # one of these, so that ordinary typing (even with Shift) is never taken

# Keys every backend can map; each backend has its own table with exactly these names.
NAMED_KEYS = (
    "Space", "Esc", "Tab", "Backspace", "Return", "Enter", "Ins", "Del", "Pause", "Print",
    "Home", "End", "Left", "Up", "Right", "Down", "PgUp", "PgDown",
)
PUNCTUATION = (",", ".", "/", ";", "'", "[", "]", "\\", "-", "=", "`")  # unshifted on a US keyboard
FUNCTION_KEYS = tuple(f"F{n}" for n in range(1, 25))
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGITS = tuple("0123456789")
KEYS = LETTERS + DIGITS + FUNCTION_KEYS + NAMED_KEYS + PUNCTUATION
_BY_FOLDED_NAME = {key.casefold(): key for key in KEYS}
_MODIFIERS_BY_FOLDED_NAME = {m.casefold(): m for m in MODIFIER_ORDER}

SUPPORTED_KEYS_TEXT = ("a letter, a digit, F1–F24, Space, Esc, Tab, an arrow, Home, End, PgUp, PgDown, Ins, Del or "
                       "punctuation")


class ShortcutError(ValueError):
    """A key sequence text that cannot be a system-wide shortcut; the message says why, for the user."""


@dataclass(frozen=True)
class KeyCombination:
    modifiers: frozenset[str]  # some of CTRL, ALT, SHIFT, META
    key: str  # one of KEYS

    def text(self) -> str:
        """Qt's portable text for the combination, modifiers in Qt's order ("Ctrl+Alt+Shift+L")."""
        return "+".join([m for m in MODIFIER_ORDER if m in self.modifiers] + [self.key])

    def mask(self, bits: Mapping[str, int]) -> int:
        """The modifiers as a system's bit mask, given each modifier's bit there."""
        mask = 0
        for modifier in self.modifiers:
            mask |= bits[modifier]
        return mask


def _split(text: str) -> tuple[list[str], str]:
    """Modifier names and the key name; the "+" key itself is written "Ctrl++"."""
    if text.endswith("++") or text == "+":
        return text[:-2].split("+") if len(text) > 2 else [], "+"
    *modifiers, key = text.split("+")
    return modifiers, key


def parse(text: str) -> KeyCombination:
    """The combination that ``text`` (Qt portable text) names; ShortcutError says plainly what is wrong with it."""
    text = text.strip()
    if not text:
        raise ShortcutError("no key combination given")
    if ", " in text:  # how Qt separates the steps of a multi-key sequence
        raise ShortcutError(f"{text}: a system-wide shortcut must be a single key combination, not a sequence")
    names, key_name = _split(text)
    modifiers = set()
    for name in names:
        modifier = _MODIFIERS_BY_FOLDED_NAME.get(name.strip().casefold())
        if modifier is None:
            raise ShortcutError(f"{text}: “{name}” is not a modifier Captionist can use (Ctrl, Alt, Shift or Meta)")
        modifiers.add(modifier)
    key_name = key_name.strip()
    if not key_name or key_name.casefold() in _MODIFIERS_BY_FOLDED_NAME:
        raise ShortcutError(f"{text}: a key is missing after the modifiers")
    key = _BY_FOLDED_NAME.get(key_name.casefold())
    if key is None:
        raise ShortcutError(f"{text}: “{key_name}” cannot be a system-wide shortcut key; use {SUPPORTED_KEYS_TEXT}")
    if not modifiers & REQUIRED_MODIFIERS:
        raise ShortcutError(f"{text}: a system-wide shortcut needs Ctrl, Alt or Meta, so that typing is never taken")
    return KeyCombination(frozenset(modifiers), key)


def parse_bindings(bindings: Mapping[str, str]) -> tuple[dict[str, KeyCombination], list[str]]:
    """The combinations to register for ``bindings`` (action name -> text; "" = none), and the problems with the
    rest: texts that do not parse, and a combination given to two actions (the first keeps it)."""
    combos: dict[str, KeyCombination] = {}
    problems: list[str] = []
    owners: dict[KeyCombination, str] = {}
    for action, text in bindings.items():
        label = ACTIONS[action]  # an unknown action is a programming error, not the user's
        if not text.strip():
            continue
        try:
            combo = parse(text)
        except ShortcutError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if combo in owners:
            problems.append(f"{label}: {combo.text()} is already the shortcut for “{ACTIONS[owners[combo]]}”")
            continue
        owners[combo] = action
        combos[action] = combo
    return combos, problems
