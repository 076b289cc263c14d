"""The settings dialog: edits a copy of the settings and hands back the new ones; saving is the caller's job."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.events import AudioSource
from app.settings import (
    AUTO_PRECISION,
    DELAY_MS,
    FULL_PRECISION,
    INT8_PRECISION,
    LAG_CEILING_S,
    MAX_LABEL_CHARS,
    MAX_PATH_CHARS,
    MAX_SOURCES,
    AudioSettings,
    ModelSettings,
    Settings,
)
from app.ui.caption_settings_page import CaptionsPage
from app.ui.engine_settings_page import EnginePage, Tester
from app.ui.form_helpers import add_row, note, spin
from app.ui.shortcut_settings_page import ShortcutsPage
from app.ui.text_fitting_dialog import TextFittingDialog

DELAY_NOTE = ("Lower = faster captions, higher = more accurate; 480 ms recommended. With a vLLM server (the Engine "
              "page) the server fixes the delay.")
RECORD_NOTE = ("Unchecked, captions are shown but nothing of the session is kept: ask before recording people in a "
               "meeting. While captions run, the status bar says whether they are recorded.")
ECHO_NOTE = ("Without headphones the microphone also hears the meeting, and its words would show twice: the echo is "
             "taken out of what the model hears from the microphone, and microphone words that repeat the computer's "
             "sound are dropped. The recording keeps both sources as they were heard.")
ERROR_STYLE = "QLabel { background: #fde7e9; color: #7a1010; border: 1px solid #7a1010; padding: 6px; }"


def mps_available() -> bool:
    try:
        from model.device import mps_available as available
    except ImportError:
        return False
    return available()


def cuda_device_names() -> list[str]:
    """Names of the CUDA devices torch can use, in index order ([] without torch or without CUDA)."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


PRECISION_TEXTS = (  # (shown text, setting value); the note under the picker says more
    ("Automatic: half-size weights on a CPU, the same results", AUTO_PRECISION),
    ("Full: the weights as stored", FULL_PRECISION),
    ("int8: a quarter of the memory, faster on a CPU (accuracy not measured)", INT8_PRECISION),
)
PRECISION_NOTE = ("On a CPU, speed follows the bytes of weights read for every 80 ms of audio. int8's accuracy on "
                  "real speech has not been measured: compare its captions before relying on them. Applies to both "
                  "models from their next load.")


def device_choices(cuda_names: list[str], current: str, *, mps: bool = False) -> list[tuple[str, str]]:
    """(shown text, setting value) pairs for the device picker; ``current`` stays choosable even if not found."""
    choices = [("Automatic (GPU when available)", ""), ("CPU", "cpu")]
    choices += [(f"CUDA {i}: {name}", f"cuda:{i}") for i, name in enumerate(cuda_names)]
    if mps:
        choices.append(("Apple GPU (MPS)", "mps"))
    if current not in {value for _, value in choices}:
        found = current == "cuda" and cuda_names
        choices.append(("CUDA (first GPU)" if found else f"{current} (not found)", current))
    return choices


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
            edit.setMaxLength(MAX_LABEL_CHARS)  # what the settings file keeps
            edit.setPlaceholderText("e.g. You or Others")
            edit.setAccessibleName(f"Label for {name}")
            grid.addWidget(box, row, 0)
            grid.addWidget(edit, row, 1)
            box.toggled.connect(self._toggled)
            edit.textChanged.connect(self.changed)
        self.record_box = QCheckBox("&Record each session (its audio and captions go to the library)")
        self.record_box.setChecked(audio.record)
        self.record_box.setAccessibleName("Record each session")
        self.record_box.setAccessibleDescription(RECORD_NOTE)
        self.echo_box = QCheckBox("&Drop the echo of the computer's sound from the microphone's captions")
        self.echo_box.setChecked(audio.echo_suppression)
        self.echo_box.setAccessibleName("Drop the echo of the computer's sound from the microphone's captions")
        self.echo_box.setAccessibleDescription(ECHO_NOTE)
        layout = QVBoxLayout(self)
        if not rows:
            layout.addWidget(note("No audio sources were found."))
        layout.addLayout(grid)
        layout.addWidget(
            note(
                f"Check up to {MAX_SOURCES} sources. With none checked, the default microphone is used. "
                "Labels are shown before each source's captions when two sources run at once."
            )
        )
        layout.addWidget(self.echo_box)
        layout.addWidget(note(ECHO_NOTE))
        layout.addWidget(self.record_box)
        layout.addWidget(note(RECORD_NOTE))
        self.record_box.toggled.connect(self.changed)
        self.echo_box.toggled.connect(self.changed)
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
        return dataclasses.replace(self._audio, source_ids=ids, labels=labels, record=self.record_box.isChecked(),
                                   echo_suppression=self.echo_box.isChecked())


class _ModelPage(QWidget):
    changed = Signal()
    setup_requested = Signal()

    def __init__(self, model: ModelSettings, cuda_names: list[str]) -> None:
        super().__init__()
        self._model = model
        self.source_edit = QLineEdit(model.source)
        self.source_edit.setMaxLength(MAX_PATH_CHARS)
        self.source_edit.setPlaceholderText("A model repository id or a local folder")
        self.source_edit.setAccessibleName("Model source")
        self.setup_button = QPushButton("Set &up model…")
        self.setup_button.setAccessibleName("Set up model")
        self.offline_box = QCheckBox("&Offline mode: never download, use what is on this computer")
        self.offline_box.setChecked(model.offline)
        self.offline_box.setAccessibleName("Offline mode")
        self.device_combo = QComboBox()
        for text, value in device_choices(cuda_names, model.device, mps=mps_available()):
            self.device_combo.addItem(text, value)
        self.device_combo.setCurrentIndex(self.device_combo.findData(model.device))
        self.device_combo.setAccessibleName("Compute device")
        self.precision_combo = QComboBox()
        for text, value in PRECISION_TEXTS:
            self.precision_combo.addItem(text, value)
        self.precision_combo.setCurrentIndex(max(0, self.precision_combo.findData(model.precision)))
        self.precision_combo.setAccessibleName("Weight precision")
        self.precision_combo.setAccessibleDescription(PRECISION_NOTE)
        # Typed values off the 80 ms grid are accepted so that the dialog can name the problem.
        self.delay_spin = spin(QSpinBox(), DELAY_MS, model.delay_ms, " ms", "Caption delay in milliseconds")
        self.delay_spin.setAccessibleDescription(DELAY_NOTE)
        self.lag_spin = spin(QDoubleSpinBox(), LAG_CEILING_S, model.lag_ceiling_s, " s", "Lag ceiling in seconds")
        self.offline_edit = QLineEdit(model.offline_source)
        self.offline_edit.setMaxLength(MAX_PATH_CHARS)
        self.offline_edit.setPlaceholderText("Voxtral Mini 3B: a repository id or a local folder")
        self.offline_edit.setAccessibleName("Offline model source")

        source = QHBoxLayout()
        source.addWidget(self.source_edit, 1)
        source.addWidget(self.setup_button)
        form = QFormLayout(self)
        add_row(form, "Model &source:", source, self.source_edit)
        form.addRow("", self.offline_box)
        form.addRow("&Device:", self.device_combo)
        form.addRow("P&recision:", self.precision_combo)
        form.addRow("", note(PRECISION_NOTE))
        form.addRow("Caption de&lay:", self.delay_spin)
        form.addRow("", note(DELAY_NOTE))
        form.addRow("Lag &ceiling:", self.lag_spin)
        form.addRow("", note("When captions fall this far behind the audio, they skip ahead to live."))
        form.addRow("O&ffline model:", self.offline_edit)
        form.addRow("", note("For questions about recordings and for transcribing them again."))

        self.setup_button.clicked.connect(self.setup_requested)
        self.source_edit.textChanged.connect(self.changed)
        self.offline_box.toggled.connect(self.changed)
        self.device_combo.currentIndexChanged.connect(self.changed)
        self.precision_combo.currentIndexChanged.connect(self.changed)
        self.delay_spin.valueChanged.connect(self.changed)
        self.lag_spin.valueChanged.connect(self.changed)
        self.offline_edit.textChanged.connect(self.changed)

    def value(self) -> ModelSettings:
        return dataclasses.replace(
            self._model,
            source=self.source_edit.text().strip(),
            offline=self.offline_box.isChecked(),
            device=self.device_combo.currentData(),
            precision=self.precision_combo.currentData(),
            delay_ms=self.delay_spin.value(),
            lag_ceiling_s=self.lag_spin.value(),
            offline_source=self.offline_edit.text().strip() or self._model.offline_source,
        )


class SettingsDialog(TextFittingDialog):
    """Edits a copy of ``settings``; OK is enabled only while the edited settings are valid."""

    modelSetupRequested = Signal()  # the "Set up model…" button; the caller opens the setup dialog

    def __init__(
        self,
        settings: Settings,
        sources: list[AudioSource],
        parent: QWidget | None = None,
        *,
        cuda_devices: list[str] | None = None,
        api_key: str | None = None,
        tester: Tester | None = None,
        shortcut_availability: str = "",
        shortcut_problems: Sequence[str] = (),
    ) -> None:
        """``cuda_devices``: the CUDA device names to offer; asked of torch when None. ``api_key``: the server's
        saved key (kept apart from the settings); ``tester``: how *Test connection* asks a server.
        ``shortcut_availability`` and ``shortcut_problems``: what the system-wide shortcuts backend says."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self.audio_page = _AudioPage(settings.audio, sources)
        self.captions_page = CaptionsPage(settings.captions)
        self.model_page = _ModelPage(settings.model, cuda_device_names() if cuda_devices is None else cuda_devices)
        self.engine_page = EnginePage(settings.engine, api_key, **({"tester": tester} if tester else {}))
        self.shortcuts_page = ShortcutsPage(settings.shortcuts, shortcut_availability, shortcut_problems)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.audio_page, "&Audio")
        self.tabs.addTab(self.captions_page, "Ca&ptions")
        self.tabs.addTab(self.model_page, "&Model")
        self.tabs.addTab(self.engine_page, "&Engine")
        self.tabs.addTab(self.shortcuts_page, "S&hortcuts")
        self.problems_label = note("")
        self.problems_label.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.model_page.setup_requested.connect(self.modelSetupRequested)
        for page in (self.audio_page, self.captions_page, self.model_page, self.engine_page, self.shortcuts_page):
            page.changed.connect(self._validate)
        self.finished.connect(self.engine_page.wait)
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
            engine=self.engine_page.value(),
            shortcuts=self.shortcuts_page.value(),
        )

    def result_api_key(self) -> str | None:
        """The server's API key as edited (saved apart from the settings)."""
        return self.engine_page.api_key()

    def set_model_source(self, source: str) -> None:
        """Fill in the model source, e.g. with what the model setup dialog chose."""
        self.model_page.source_edit.setText(source)

    def _validate(self) -> None:
        problems = self.result_settings().problems() + self.engine_page.problems() + self.shortcuts_page.problems()
        self.problems_label.setText("Please fix: " + "; ".join(problems) if problems else "")
        self.problems_label.setVisible(bool(problems))
        self.ok_button().setEnabled(not problems)
