"""The Shortcuts page of the settings dialog: one key combination per action (pressed into a key sequence field),
what system-wide shortcuts can do on this desktop, what kept the current ones from being registered, and whether
Captionist starts with the desktop session (so that they work from login)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QKeySequenceEdit, QLineEdit, QPushButton, QWidget

from app import autostart
from app.settings import ShortcutSettings
from app.shortcuts.keys import ACTIONS, parse_bindings
from app.ui.caption_settings_page import WARNING_STYLE
from app.ui.form_helpers import add_row, note

PORTABLE = QKeySequence.SequenceFormat.PortableText  # what the settings file keeps, the same on every system
SESSION_NOTE = ("Captionist opens when you log in, so that the captions and these keys are ready. This adds an entry "
                "to your desktop's autostart folder and removes it when unchecked.")
UNSUPPORTED_NOTE = "Starting with the desktop session is not supported on Windows and macOS yet."
LABELS = {"toggle_overlay": "&Show or hide captions:", "click_through": "&Click-through on or off:",
          "toggle_captions": "S&tart or stop captions:"}


def _key_edit(text: str, name: str) -> QKeySequenceEdit:
    edit = QKeySequenceEdit(QKeySequence.fromString(text, PORTABLE))
    edit.setMaximumSequenceLength(1)  # one combination: the backends grab exactly one
    edit.setAccessibleName(name)
    inner = edit.findChild(QLineEdit)
    if inner is not None:  # the text field inside is what assistive technology reads
        inner.setAccessibleName(name)
    return edit


class ShortcutsPage(QWidget):
    changed = Signal()

    def __init__(self, shortcuts: ShortcutSettings, availability: str = "",
                 registration_problems: Sequence[str] = ()) -> None:
        """``availability``: what the desktop offers (GlobalShortcuts.availability); ``registration_problems``:
        what the last registration reported (keys taken by other programs)."""
        super().__init__()
        self._shortcuts = shortcuts
        self._edited: set[str] = set()  # untouched fields keep the saved text exactly, even one Qt cannot show
        self.edits: dict[str, QKeySequenceEdit] = {}
        self.clear_buttons: dict[str, QPushButton] = {}
        form = QFormLayout(self)
        form.addRow(note("Keys that control the captions whichever program has the focus. Click a field and press "
                         "the keys: Ctrl, Alt or Meta with a letter, digit or function key."))
        for action, description in ACTIONS.items():
            edit = self.edits[action] = _key_edit(getattr(shortcuts, action), f"Shortcut to {description.lower()}")
            clear = self.clear_buttons[action] = QPushButton("Clear")
            clear.setAccessibleName(f"Clear the shortcut to {description.lower()}")
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(clear)
            add_row(form, LABELS[action], row, edit)
            edit.keySequenceChanged.connect(lambda _sequence, a=action: self._edit(a))
            clear.clicked.connect(lambda _checked=False, a=action: self._clear(a))
        self.availability_label = note(availability)
        self.availability_label.setAccessibleName("What system-wide shortcuts can do on this desktop")
        self.availability_label.setVisible(bool(availability))
        self.registration_label = note("Not working now: " + "; ".join(registration_problems))
        self.registration_label.setStyleSheet(WARNING_STYLE)
        self.registration_label.setVisible(bool(registration_problems))
        form.addRow(self.availability_label)
        form.addRow(self.registration_label)
        self.session_box = QCheckBox("Start with my &desktop session")
        # What the desktop will do: an entry removed elsewhere (a desktop's own autostart settings) reads as off.
        self.session_box.setChecked(shortcuts.start_with_session and autostart.enabled())
        self.session_box.setAccessibleName("Start with my desktop session")
        self.session_box.setAccessibleDescription(SESSION_NOTE if autostart.supported() else UNSUPPORTED_NOTE)
        self.session_box.setEnabled(autostart.supported())
        self.session_box.toggled.connect(self.changed)
        form.addRow(self.session_box)
        form.addRow(note(self.session_box.accessibleDescription()))

    def _edit(self, action: str) -> None:
        self._edited.add(action)
        self.changed.emit()

    def _clear(self, action: str) -> None:
        self._edited.add(action)  # clearing an empty field emits nothing, yet drops a saved text Qt could not show
        self.edits[action].clear()
        self.changed.emit()

    def bindings(self) -> dict[str, str]:
        """Action name -> key combination text ("" = none), as edited."""
        saved = dataclasses.asdict(self._shortcuts)
        return {action: edit.keySequence().toString(PORTABLE) if action in self._edited else saved[action]
                for action, edit in self.edits.items()}

    def problems(self) -> list[str]:
        """What keeps the edited combinations from being usable system-wide."""
        return parse_bindings(self.bindings())[1]

    def value(self) -> ShortcutSettings:
        return dataclasses.replace(self._shortcuts, **self.bindings(), start_with_session=self.session_box.isChecked())
