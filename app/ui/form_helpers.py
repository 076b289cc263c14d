"""Small helpers for the settings forms: labelled rows with mnemonics, set-up spin boxes, notes."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from app.captions.style import Range

SpinBox = TypeVar("SpinBox", QSpinBox, QDoubleSpinBox)


def add_row(form: QFormLayout, text: str, field: QWidget | QHBoxLayout, buddy: QWidget) -> None:
    """A form row whose label's mnemonic focuses ``buddy`` (a part of ``field`` when that is a compound)."""
    label = QLabel(text)
    label.setBuddy(buddy)
    form.addRow(label, field)


def spin(spin: SpinBox, allowed: Range, value: float, suffix: str, name: str, step: float | None = None) -> SpinBox:
    """``spin`` set up with the range the settings file allows, a step (the range's own, else ``step``, else 1), a
    unit and an accessible name."""
    if isinstance(spin, QDoubleSpinBox):
        spin.setDecimals(1)
    spin.setRange(allowed.low, allowed.high)
    spin.setSingleStep(allowed.step or step or 1)
    spin.setSuffix(suffix)
    spin.setValue(value)
    spin.setAccessibleName(name)
    return spin


def note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label
