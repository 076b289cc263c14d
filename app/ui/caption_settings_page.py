"""The Captions page of the settings dialog: font, size, colours, opacity, outline, lines, line length, fade and the
contrast warning. Each valid edit is announced (``styleEdited``) so the overlay itself can preview it at its real size:
a preview inside the dialog could not show 160 pt captions."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDoubleSpinBox,
    QFontComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from app.captions.style import FADE_S, FONT_SIZE, LINE_CHARS, LINES, OPACITY, CaptionStyle, contrast_warning
from app.ui.form_helpers import add_row, note, spin

PREVIEW_NOTE = "The captions on the screen show these settings at their real size while this page is open."
WARNING_STYLE = "QLabel { background: #fff4ce; color: #4d3800; border: 1px solid #8a6d00; padding: 6px; }"


class _ColorField(QWidget):
    """A ``#rrggbb`` line edit with a button that opens the colour picker."""

    changed = Signal()

    def __init__(self, name: str, color: str) -> None:
        super().__init__()
        self._name = name
        self.edit = QLineEdit(color)
        self.edit.setMaxLength(7)
        self.edit.setAccessibleName(f"{name.capitalize()} as #rrggbb")
        self.button = QPushButton("Choose…")
        self.button.setAccessibleName(f"Choose the {name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(self.button)
        self.button.clicked.connect(self._pick)
        self.edit.textChanged.connect(self._edited)
        self._edited()

    def value(self) -> str:
        return self.edit.text().strip()

    def _pick(self) -> None:
        chosen = QColorDialog.getColor(QColor(self.value()), self, f"Choose the {self._name}")
        if chosen.isValid():
            self.edit.setText(chosen.name())

    def _edited(self) -> None:
        swatch = QPixmap(16, 16)
        swatch.fill(QColor(self.value()) if QColor.isValidColorName(self.value()) else Qt.GlobalColor.transparent)
        self.button.setIcon(swatch)
        self.changed.emit()


class CaptionsPage(QWidget):
    changed = Signal()
    styleEdited = Signal(object)  # CaptionStyle: each valid edit, for the overlay's preview

    def __init__(self, style: CaptionStyle) -> None:
        super().__init__()
        self._style = style
        self._family = style.font_family  # kept as saved unless the user picks a font (it may not be installed here)
        self.font_combo = QFontComboBox()
        self.font_combo.setCurrentFont(QFont(style.font_family))
        self.font_combo.setAccessibleName("Caption font")
        self.size_spin = spin(QSpinBox(), FONT_SIZE, style.font_size, " pt", "Caption font size")
        self.text_color = _ColorField("text colour", style.text_color)
        self.background_color = _ColorField("background colour", style.background_color)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(round(OPACITY.low * 100), round(OPACITY.high * 100))  # in percent
        self.opacity_slider.setPageStep(10)
        self.opacity_slider.setValue(round(style.background_opacity * 100))
        self.opacity_slider.setAccessibleName("Background opacity in percent")
        self.opacity_label = QLabel()
        self.outline_box = QCheckBox("Out&line around the letters")
        self.outline_box.setChecked(style.outline)
        self.outline_box.setAccessibleName("Outline around the letters")
        self.lines_spin = spin(QSpinBox(), LINES, style.lines, "", "Caption lines shown at once")
        self.length_spin = spin(QSpinBox(), LINE_CHARS, style.max_line_chars, " characters", "Caption line length")
        fade_name = "Hide captions after this much silence, 0 for never"
        self.fade_spin = spin(QDoubleSpinBox(), FADE_S, style.fade_after_s, " s", fade_name, step=0.5)
        self.fade_spin.setSpecialValueText("Never")
        self.contrast_label = note("")
        self.contrast_label.setStyleSheet(WARNING_STYLE)

        opacity = QHBoxLayout()
        opacity.addWidget(self.opacity_slider, 1)
        opacity.addWidget(self.opacity_label)
        form = QFormLayout(self)
        form.addRow("&Font:", self.font_combo)
        form.addRow("&Size:", self.size_spin)
        add_row(form, "&Text colour:", self.text_color, self.text_color.edit)
        add_row(form, "&Background colour:", self.background_color, self.background_color.edit)
        add_row(form, "Background opacit&y:", opacity, self.opacity_slider)
        form.addRow("", self.outline_box)
        form.addRow("Lines sho&wn:", self.lines_spin)
        form.addRow("Line le&ngth:", self.length_spin)
        form.addRow("Fa&de after silence:", self.fade_spin)
        form.addRow(note(PREVIEW_NOTE))
        form.addRow(self.contrast_label)

        self.font_combo.currentFontChanged.connect(self._font_picked)
        for signal in (
            self.size_spin.valueChanged,
            self.text_color.changed,
            self.background_color.changed,
            self.opacity_slider.valueChanged,
            self.outline_box.toggled,
            self.lines_spin.valueChanged,
            self.length_spin.valueChanged,
            self.fade_spin.valueChanged,
        ):
            signal.connect(self._edited)
        self._edited()

    def _font_picked(self, font: QFont) -> None:
        self._family = font.family()
        self._edited()

    def _edited(self) -> None:
        self.opacity_label.setText(f"{self.opacity_slider.value()} %")
        style = self.value()
        warning = None
        if not style.problems():  # the contrast of a colour that is not yet a colour cannot be judged
            self.styleEdited.emit(style)
            warning = contrast_warning(style)
        self.contrast_label.setText(f"⚠ {warning}" if warning else "")
        self.contrast_label.setVisible(warning is not None)
        self.changed.emit()

    def value(self) -> CaptionStyle:
        return dataclasses.replace(
            self._style,
            font_family=self._family,
            font_size=self.size_spin.value(),
            text_color=self.text_color.value(),
            background_color=self.background_color.value(),
            background_opacity=self.opacity_slider.value() / 100,
            outline=self.outline_box.isChecked(),
            lines=self.lines_spin.value(),
            max_line_chars=self.length_spin.value(),
            fade_after_s=self.fade_spin.value(),
        )
