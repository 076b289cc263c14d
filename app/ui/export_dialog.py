"""Choosing how and where to export a transcript."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.export import EXTENSIONS

FORMAT_NAMES = {"txt": "Plain text (.txt)", "srt": "SubRip subtitles (.srt)", "vtt": "WebVTT subtitles (.vtt)",
                "json": "JSON with word and token times (.json)", "md": "Markdown (.md)"}


class ExportDialog(QDialog):
    def __init__(self, title: str, versions: list[str], folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export “{title}”")
        self._stem = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "transcript"
        self.version = QComboBox()
        self.version.addItems(versions)
        self.version.setAccessibleName("Transcript version")
        self.format = QComboBox()
        for fmt, name in FORMAT_NAMES.items():
            self.format.addItem(name, fmt)
        self.format.setAccessibleName("File format")
        self.timestamps = QCheckBox("&Timestamps (plain text)")
        self.timestamps.setChecked(True)
        self.labels = QCheckBox("Speaker &labels")
        self.labels.setChecked(True)
        self.path = QLineEdit(str(folder / (self._stem + ".txt")))
        self.path.setAccessibleName("Export to file")
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Choose the export file")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("&Version:", self.version)
        form.addRow("&Format:", self.format)
        form.addRow(self.timestamps)
        form.addRow(self.labels)
        form.addRow("File:", row)
        form.addRow(buttons)
        self.format.currentIndexChanged.connect(self._format_changed)

    def chosen_format(self) -> str:
        return self.format.currentData()

    def chosen_path(self) -> Path:
        return Path(self.path.text()).expanduser()

    def _format_changed(self) -> None:
        fmt = self.chosen_format()
        self.timestamps.setEnabled(fmt == "txt")
        self.path.setText(str(self.chosen_path().with_suffix(EXTENSIONS[fmt])))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", str(self.chosen_path()))
        if path:
            self.path.setText(path)
