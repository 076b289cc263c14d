"""Accessibility checks any widget test can reuse: every control has a name, and Tab reaches every control."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSlider,
    QTabBar,
    QWidget,
)

INTERACTIVE = (QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox, QSlider, QPlainTextEdit, QKeySequenceEdit)


def controls(root: QWidget) -> list[QWidget]:
    """The interactive widgets under ``root``, leaving out the parts of composite widgets (a spin box's line edit,
    a line edit's clear button, a tab bar's scroll arrows), which assistive technology reaches through their owner.
    """
    out = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE):
            continue
        owner = widget.parentWidget()
        while owner is not None and owner is not root and not isinstance(owner, (*INTERACTIVE, QTabBar)):
            owner = owner.parentWidget()
        if owner is None or owner is root:
            out.append(widget)
    return out


def accessible_name(widget: QWidget) -> str:
    """The name assistive technology gets: the accessibleName, else a buddy label's text, else what Qt derives
    (a button's text). A combo box's derived name is its current value on Linux, so it does not count as a name.
    """
    if widget.accessibleName():
        return widget.accessibleName()
    for label in widget.window().findChildren(QLabel):
        if label.buddy() is widget and label.text():
            return label.text().replace("&", "")
    if isinstance(widget, QComboBox):
        return ""
    iface = QAccessible.queryAccessibleInterface(widget)
    return iface.text(QAccessible.Text.Name) if iface is not None else ""


def unnamed_controls(root: QWidget) -> list[str]:
    """Descriptions of the controls under ``root`` that have no accessible name ([] when all are named)."""
    return [f"{type(w).__name__} {w.objectName()!r}" for w in controls(root) if not accessible_name(w).strip()]


def tab_reachable(window: QWidget) -> list[QWidget]:
    """The controls under ``window`` that Tab must reach: all that are visible and enabled."""
    return [w for w in controls(window) if w.isVisibleTo(window) and w.isEnabled()]


def tab_through(qtbot, window: QWidget, start: QWidget) -> list[QWidget]:
    """Press Tab from ``start`` until focus comes back to it (or after enough presses); the widgets focused on the way.

    ``window`` must be shown and active.
    """
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start)
    seen = [start]
    for _ in range(len(window.findChildren(QWidget)) + 1):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        if focused is start or focused is None:
            break
        seen.append(focused)
    return seen


def unreachable_by_tab(qtbot, window: QWidget, start: QWidget) -> list[str]:
    """Descriptions of the visible controls that Tab from ``start`` never reaches ([] when it reaches all)."""
    seen = tab_through(qtbot, window, start)
    return [f"{type(w).__name__} {accessible_name(w)!r}" for w in tab_reachable(window) if w not in seen]
