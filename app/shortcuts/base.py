"""What every system-wide shortcut backend offers the program: register key combinations for the actions, say when
one was pressed (whichever program has the focus), and say honestly what works on this desktop."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QObject, Signal

from app.shortcuts.keys import ACTIONS, KeyCombination, parse_bindings

WINDOW_ONLY = "the shortcuts in Captionist's own menus work only while one of its windows has the focus"
NO_SHORTCUTS = ("This desktop offers no system-wide shortcuts, so these keys do nothing while another program has the "
                f"focus; {WINDOW_ONLY}.")


class GlobalShortcuts(QObject):
    """A backend. Subclasses implement ``_grab`` and ``_release``, and set ``availability``."""

    activated = Signal(str)  # an action name of keys.ACTIONS, e.g. "toggle_overlay"
    # All current problems again, when the system answers after ``register`` returned (the Wayland portal does)
    problemsChanged = Signal(list)

    def __init__(self, availability: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._availability = availability

    @property
    def availability(self) -> str:
        """One or two sentences for the settings: what works on this desktop, and what does not."""
        return self._availability

    def register(self, bindings: Mapping[str, str]) -> list[str]:
        """Replace the registered shortcuts with ``bindings`` (action name -> Qt portable text, "" = none); returns
        the problems, in words for the user (a combination that is invalid, or taken by another program)."""
        self._release()
        combos, problems = parse_bindings(bindings)
        return problems + [f"{ACTIONS[action]}: {problem}" for action, problem in self._grab(combos)]

    def close(self) -> None:
        """Give every combination back to the system; the object is not used afterwards."""
        self._release()

    def _grab(self, combos: dict[str, KeyCombination]) -> list[tuple[str, str]]:
        """Register each action's combination; (action, problem) for those that could not be."""
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


class NoShortcuts(GlobalShortcuts):
    """For a desktop that offers no way to listen for keys while another program has the focus."""

    def __init__(self, availability: str = NO_SHORTCUTS, parent: QObject | None = None) -> None:
        super().__init__(availability, parent)

    def _grab(self, combos: dict[str, KeyCombination]) -> list[tuple[str, str]]:
        return []  # nothing can be registered; the availability text says so once, not per key

    def _release(self) -> None:
        pass
