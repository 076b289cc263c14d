"""The settings dialog: edits a copy of the settings and hands back the new ones; saving is the caller's job."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFontComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.captions.style import MAX_FONT_SIZE, MIN_FONT_SIZE, CaptionStyle, contrast_warning
from app.events import AudioSource
from app.settings import AudioSettings, ModelSettings, Settings

SpinBox = TypeVar("SpinBox", QSpinBox, QDoubleSpinBox)
MAX_SOURCES = 2
PREVIEW_MAX_PT = 40  # larger sizes are previewed at this size so the dialog stays on screen
DELAY_NOTE = "Lower = faster captions, higher = more accurate; 480 ms recommended."
WARNING_STYLE = "QLabel { background: #fff4ce; color: #4d3800; border: 1px solid #8a6d00; padding: 6px; }"
ERROR_STYLE = "QLabel { background: #fde7e9; color: #7a1010; border: 1px solid #7a1010; padding: 6px; }"


def cuda_device_names() -> list[str]:
    """Names of the CUDA devices torch can use, in index order ([] without torch or without CUDA)."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def device_choices(cuda_names: list[str], current: str) -> list[tuple[str, str]]:
    """(shown text, setting value) pairs for the device picker; ``current`` stays choosable even if not found."""
    choices = [("Automatic (GPU when available)", ""), ("CPU", "cpu")]
    choices += [(f"CUDA {i}: {name}", f"cuda:{i}") for i, name in enumerate(cuda_names)]
    if current not in {value for _, value in choices}:
        found = current == "cuda" and cuda_names
        choices.append(("CUDA (first GPU)" if found else f"{current} (not found)", current))
    return choices


def _add_row(form: QFormLayout, text: str, field: QWidget | QHBoxLayout, buddy: QWidget) -> None:
    """A form row whose label's mnemonic focuses ``buddy`` (a part of ``field`` when that is a compound)."""
    label = QLabel(text)
    label.setBuddy(buddy)
    form.addRow(label, field)


def _spin(spin: SpinBox, low: float, high: float, value: float, suffix: str, name: str, step: float = 1) -> SpinBox:
    """``spin`` set up with a range, step, unit and accessible name."""
    if isinstance(spin, QDoubleSpinBox):
        spin.setDecimals(1)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    spin.setValue(value)
    spin.setAccessibleName(name)
    return spin


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class _AudioPage(QWidget):
    changed = Signal()

    def __init__(self, audio: AudioSettings, sources: list[AudioSource]) -> None:
        super().__init__()
        self._audio = audio
        known = {s.id for s in sources}
        rows = [(s.id, f"{s.name} ({s.kind.value})", s.label) for s in sources]
        # A chosen source that is unplugged now stays listed, so the user can see it and uncheck it.
        rows += [(i, f"{i} (not available now)", "") for i in audio.source_ids if i not in known]
        self.boxes: dict[str, QCheckBox] = {}
        self.label_edits: dict[str, QLineEdit] = {}
        self._shown_labels: dict[str, str] = {}  # what each label field started with
        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Listen to</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Label before its captions</b>"), 0, 1)
        for row, (sid, name, default_label) in enumerate(rows, start=1):
            box = self.boxes[sid] = QCheckBox(name)
            box.setChecked(sid in audio.source_ids)
            box.setAccessibleName(f"Listen to {name}")
            self._shown_labels[sid] = audio.labels.get(sid, default_label)
            edit = self.label_edits[sid] = QLineEdit(self._shown_labels[sid])
            edit.setPlaceholderText("e.g. You or Others")
            edit.setAccessibleName(f"Label for {name}")
            grid.addWidget(box, row, 0)
            grid.addWidget(edit, row, 1)
            box.toggled.connect(self._toggled)
            edit.textChanged.connect(self.changed)
        layout = QVBoxLayout(self)
        if not rows:
            layout.addWidget(_note("No audio sources were found."))
        layout.addLayout(grid)
        layout.addWidget(
            _note(
                f"Check up to {MAX_SOURCES} sources. With none checked, the default microphone is used. "
                "Labels are shown before each source's captions when two sources run at once."
            )
        )
        layout.addStretch(1)
        self._limit()

    def _toggled(self) -> None:
        self._limit()
        self.changed.emit()

    def _limit(self) -> None:
        full = sum(box.isChecked() for box in self.boxes.values()) >= MAX_SOURCES
        for box in self.boxes.values():
            box.setEnabled(box.isChecked() or not full)

    def value(self) -> AudioSettings:
        labels = dict(self._audio.labels)
        for sid, edit in self.label_edits.items():
            text = edit.text().strip()
            if text == self._shown_labels[sid]:  # untouched: a source's own default label is not saved
                continue
            if text:
                labels[sid] = text
            else:
                labels.pop(sid, None)
        ids = tuple(sid for sid, box in self.boxes.items() if box.isChecked())
        return dataclasses.replace(self._audio, source_ids=ids, labels=labels)


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


class _Preview(QWidget):
    """A sample caption drawn with the style over black and white, the two extremes of what the box may cover."""

    def __init__(self, style: CaptionStyle) -> None:
        super().__init__()
        self._style = style
        self.setMinimumHeight(110)
        self.setAccessibleName("Caption preview")

    def shown_style(self) -> CaptionStyle:
        return self._style

    def set_style(self, style: CaptionStyle) -> None:
        self._style = style
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        s = self._style
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        half = self.width() // 2
        p.fillRect(0, 0, half, self.height(), Qt.GlobalColor.black)
        p.fillRect(half, 0, self.width() - half, self.height(), Qt.GlobalColor.white)
        font = QFont(s.font_family)
        font.setPointSizeF(min(s.font_size, PREVIEW_MAX_PT))
        text = "Sample caption text"
        metrics = QFontMetricsF(font)
        box = QRectF(0, 0, metrics.horizontalAdvance(text) + 24, metrics.height() + 12)
        box.moveCenter(QRectF(self.rect()).center())
        background = QColor(s.background_color)
        background.setAlphaF(s.background_opacity)
        p.fillRect(box, background)
        path = QPainterPath()
        path.addText(QPointF(box.left() + 12, box.top() + 6 + metrics.ascent()), font, text)
        if s.outline:
            p.strokePath(path, QPen(QColor("#000000"), max(2.0, font.pointSizeF() / 12)))
        p.fillPath(path, QColor(s.text_color))
        p.end()


class _CaptionsPage(QWidget):
    changed = Signal()

    def __init__(self, style: CaptionStyle) -> None:
        super().__init__()
        self._style = style
        self._family = style.font_family  # kept as saved unless the user picks a font (it may not be installed here)
        self.font_combo = QFontComboBox()
        self.font_combo.setCurrentFont(QFont(style.font_family))
        self.font_combo.setAccessibleName("Caption font")
        self.size_spin = _spin(QSpinBox(), MIN_FONT_SIZE, MAX_FONT_SIZE, style.font_size, " pt", "Caption font size")
        self.text_color = _ColorField("text colour", style.text_color)
        self.background_color = _ColorField("background colour", style.background_color)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setPageStep(10)
        self.opacity_slider.setValue(round(style.background_opacity * 100))
        self.opacity_slider.setAccessibleName("Background opacity in percent")
        self.opacity_label = QLabel()
        self.outline_box = QCheckBox("Out&line around the letters")
        self.outline_box.setChecked(style.outline)
        self.outline_box.setAccessibleName("Outline around the letters")
        self.lines_spin = _spin(QSpinBox(), 1, 3, style.lines, "", "Caption lines shown at once")
        self.length_spin = _spin(QSpinBox(), 16, 80, style.max_line_chars, " characters", "Caption line length")
        fade_name = "Hide captions after this much silence, 0 for never"
        self.fade_spin = _spin(QDoubleSpinBox(), 0.0, 600.0, style.fade_after_s, " s", fade_name, step=0.5)
        self.fade_spin.setSpecialValueText("Never")
        self.preview = _Preview(style)
        self.contrast_label = _note("")
        self.contrast_label.setStyleSheet(WARNING_STYLE)

        opacity = QHBoxLayout()
        opacity.addWidget(self.opacity_slider, 1)
        opacity.addWidget(self.opacity_label)
        form = QFormLayout(self)
        form.addRow("&Font:", self.font_combo)
        form.addRow("&Size:", self.size_spin)
        _add_row(form, "&Text colour:", self.text_color, self.text_color.edit)
        _add_row(form, "&Background colour:", self.background_color, self.background_color.edit)
        _add_row(form, "Background opacit&y:", opacity, self.opacity_slider)
        form.addRow("", self.outline_box)
        form.addRow("Lin&es shown:", self.lines_spin)
        form.addRow("Line le&ngth:", self.length_spin)
        form.addRow("Fa&de after silence:", self.fade_spin)
        form.addRow(self.preview)
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
            self.preview.set_style(style)
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


class _ModelPage(QWidget):
    changed = Signal()
    setup_requested = Signal()

    def __init__(self, model: ModelSettings, cuda_names: list[str]) -> None:
        super().__init__()
        self._model = model
        self.source_edit = QLineEdit(model.source)
        self.source_edit.setPlaceholderText("A model repository id or a local folder")
        self.source_edit.setAccessibleName("Model source")
        self.setup_button = QPushButton("Set &up model…")
        self.setup_button.setAccessibleName("Set up model")
        self.offline_box = QCheckBox("&Offline mode: never download, use what is on this computer")
        self.offline_box.setChecked(model.offline)
        self.offline_box.setAccessibleName("Offline mode")
        self.device_combo = QComboBox()
        for text, value in device_choices(cuda_names, model.device):
            self.device_combo.addItem(text, value)
        self.device_combo.setCurrentIndex(self.device_combo.findData(model.device))
        self.device_combo.setAccessibleName("Compute device")
        # Typed values off the 80 ms grid are accepted so that the dialog can name the problem.
        self.delay_spin = _spin(QSpinBox(), 80, 2400, model.delay_ms, " ms", "Caption delay in milliseconds", step=80)
        self.delay_spin.setAccessibleDescription(DELAY_NOTE)
        self.lag_spin = _spin(QDoubleSpinBox(), 1.0, 60.0, model.lag_ceiling_s, " s", "Lag ceiling in seconds")
        self.offline_edit = QLineEdit(model.offline_source)
        self.offline_edit.setPlaceholderText("Voxtral Mini 3B: a repository id or a local folder")
        self.offline_edit.setAccessibleName("Offline model source")

        source = QHBoxLayout()
        source.addWidget(self.source_edit, 1)
        source.addWidget(self.setup_button)
        form = QFormLayout(self)
        _add_row(form, "Model &source:", source, self.source_edit)
        form.addRow("", self.offline_box)
        form.addRow("&Device:", self.device_combo)
        form.addRow("Caption de&lay:", self.delay_spin)
        form.addRow("", _note(DELAY_NOTE))
        form.addRow("Lag &ceiling:", self.lag_spin)
        form.addRow("", _note("When captions fall this far behind the audio, they skip ahead to live."))
        form.addRow("O&ffline model:", self.offline_edit)
        form.addRow("", _note("For questions about recordings and for transcribing them again."))

        self.setup_button.clicked.connect(self.setup_requested)
        self.source_edit.textChanged.connect(self.changed)
        self.offline_box.toggled.connect(self.changed)
        self.device_combo.currentIndexChanged.connect(self.changed)
        self.delay_spin.valueChanged.connect(self.changed)
        self.lag_spin.valueChanged.connect(self.changed)
        self.offline_edit.textChanged.connect(self.changed)

    def value(self) -> ModelSettings:
        return dataclasses.replace(
            self._model,
            source=self.source_edit.text().strip(),
            offline=self.offline_box.isChecked(),
            device=self.device_combo.currentData(),
            delay_ms=self.delay_spin.value(),
            lag_ceiling_s=self.lag_spin.value(),
            offline_source=self.offline_edit.text().strip() or self._model.offline_source,
        )


class SettingsDialog(QDialog):
    """Edits a copy of ``settings``; OK is enabled only while the edited settings are valid."""

    modelSetupRequested = Signal()  # the "Set up model…" button; the caller opens the setup dialog

    def __init__(
        self,
        settings: Settings,
        sources: list[AudioSource],
        parent: QWidget | None = None,
        *,
        cuda_devices: list[str] | None = None,
    ) -> None:
        """``cuda_devices``: the CUDA device names to offer; asked of torch when None."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self.audio_page = _AudioPage(settings.audio, sources)
        self.captions_page = _CaptionsPage(settings.captions)
        self.model_page = _ModelPage(settings.model, cuda_device_names() if cuda_devices is None else cuda_devices)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.audio_page, "&Audio")
        self.tabs.addTab(self.captions_page, "Ca&ptions")
        self.tabs.addTab(self.model_page, "&Model")
        self.problems_label = _note("")
        self.problems_label.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.model_page.setup_requested.connect(self.modelSetupRequested)
        for page in (self.audio_page, self.captions_page, self.model_page):
            page.changed.connect(self._validate)
        self._validate()

    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def result_settings(self) -> Settings:
        """The settings as edited so far."""
        return dataclasses.replace(
            self._settings,
            audio=self.audio_page.value(),
            captions=self.captions_page.value(),
            model=self.model_page.value(),
        )

    def set_model_source(self, source: str) -> None:
        """Fill in the model source, e.g. with what the model setup dialog chose."""
        self.model_page.source_edit.setText(source)

    def _validate(self) -> None:
        problems = self.result_settings().problems()
        self.problems_label.setText("Please fix: " + "; ".join(problems) if problems else "")
        self.problems_label.setVisible(bool(problems))
        self.ok_button().setEnabled(not problems)
