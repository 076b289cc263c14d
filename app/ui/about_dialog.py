"""Help → About: the version, the program's and the models' licences, and where the program keeps its data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.identity import APP_NAME, LICENSE, version
from app.ui.form_helpers import note
from app.ui.icon import app_icon
from app.ui.text_fitting_dialog import TextFittingDialog

SUMMARY = "Live captions, meeting transcripts and questions about recordings, all on your own machine."
MODELS = (  # (model, what the program uses it for, its licence)
    ("Voxtral Mini 4B Realtime", "live captions", "Apache-2.0"),
    ("Voxtral Mini 3B", "questions about recordings, transcribing again", "Apache-2.0"),
)


def data_places(settings_path: Path, data_dir: Path) -> list[tuple[str, Path]]:
    """(what, where) for the files the program keeps: those of this running program, not the defaults."""
    from huggingface_hub import constants

    from app.recording.session_folder import sessions_dir

    return [("Settings file", settings_path), ("Recordings", sessions_dir(data_dir)),
            ("Downloaded models", Path(constants.HF_HUB_CACHE))]


class AboutDialog(TextFittingDialog):
    def __init__(self, places: Sequence[tuple[str, Path]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        icon.setAccessibleName(f"{APP_NAME} icon")
        title = QLabel(f"{APP_NAME} {version()}")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        title.setAccessibleName(f"{APP_NAME} version {version()}")
        heading = QVBoxLayout()
        heading.addWidget(title)
        heading.addWidget(note(SUMMARY))
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(heading, 1)

        licences = QFormLayout()
        for what, text in ((APP_NAME, f"{LICENSE} licence"),
                           *((model, f"{licence} licence ({use})") for model, use, licence in MODELS)):
            licences.addRow(f"{what}:", self._text(text, f"{what}: {text}"))
        self.place_fields: dict[str, QLineEdit] = {}
        places_form = QFormLayout()
        for what, path in places:
            field = self.place_fields[what] = QLineEdit(str(path))
            field.setReadOnly(True)  # selectable and copyable, reached with Tab
            field.setAccessibleName(what)
            field.setCursorPosition(0)
            places_form.addRow(f"{what}:", field)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("<b>Licences</b>"))
        layout.addLayout(licences)
        layout.addWidget(QLabel("<b>Where your data is kept</b>"))
        layout.addLayout(places_form)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)  # room for a path under the home folder

    @staticmethod
    def _text(text: str, name: str) -> QLabel:
        label = note(text)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAccessibleName(name)
        return label
