"""Choosing how to transcribe a recording again, and following the job (progress, cancel)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from app.retranscription.engines import Method
from app.settings import DELAY_MS
from app.ui.text_fitting_dialog import TextFittingDialog
from model.voxtral.prompt import SUPPORTED_LANGUAGES

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "hi": "Hindi",
                  "de": "German", "nl": "Dutch", "it": "Italian"}


class RetranscribeDialog(TextFittingDialog):
    """The user picks a method and presses Start; ``startRequested`` is handled by the caller, which then reports
    through ``show_progress`` / ``finish``."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Transcribe “{title}” again")
        self.realtime = QRadioButton("&Realtime model with a longer delay (more accurate, exact times)")
        self.realtime.setChecked(True)
        self.delay = QSpinBox()
        self.delay.setRange(DELAY_MS.low, DELAY_MS.high)
        self.delay.setSingleStep(DELAY_MS.step)
        self.delay.setValue(1440)
        self.delay.setSuffix(" ms")
        self.delay.setAccessibleName("Delay for transcribing again")
        self.voxtral = QRadioButton("&Voxtral Mini 3B (30-minute pieces, sentence times estimated)")
        self.language = QComboBox()
        self.language.addItem("Detect the language", None)
        for code in SUPPORTED_LANGUAGES:
            self.language.addItem(LANGUAGE_NAMES.get(code, code), code)
        self.language.setAccessibleName("Language of the recording")
        self.note = QLabel("Voxtral Mini 3B knows 8 languages: " + ", ".join(LANGUAGE_NAMES.values()) + ".")
        self.note.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setAccessibleName("Progress")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.start = QPushButton("&Start")
        self.start.setDefault(True)
        self.cancel = QPushButton("&Cancel")
        self.close_button = QPushButton("C&lose")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (self.start, self.cancel, self.close_button):
            buttons.addWidget(b)
        form = QFormLayout(self)
        form.addRow(self.realtime)
        form.addRow("&Delay:", self.delay)
        form.addRow(self.voxtral)
        form.addRow("&Language:", self.language)
        form.addRow(self.note)
        form.addRow(self.bar)
        form.addRow(self.status)
        form.addRow(buttons)
        self.realtime.toggled.connect(self._update)
        self.running(False)

    def method(self) -> Method:
        if self.realtime.isChecked():
            return Method("realtime", delay_ms=self.delay.value())
        return Method("voxtral", language=self.language.currentData())

    def running(self, on: bool) -> None:
        for w in (self.realtime, self.voxtral, self.start):
            w.setEnabled(not on)
        self.cancel.setEnabled(on)
        self._update()

    def show_progress(self, fraction: float, text: str) -> None:
        self.bar.setValue(round(fraction * 1000))
        self.status.setText(text)

    def _update(self) -> None:
        idle = self.start.isEnabled()
        self.delay.setEnabled(idle and self.realtime.isChecked())
        self.language.setEnabled(idle and not self.realtime.isChecked())
