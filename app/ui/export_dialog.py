"""Choosing how and where to export a transcript."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.export import EXTENSIONS
from app.export.output_check import OutputRefused, check_output, fit_name

FORMAT_NAMES = {"txt": "Plain text (.txt)", "srt": "SubRip subtitles (.srt)", "vtt": "WebVTT subtitles (.vtt)",
                "json": "JSON with word and token times (.json)", "md": "Markdown (.md)"}


class ExportDialog(QDialog):
    """Save stays refused, with the reason shown, while the file is one an export must not replace (audio, a folder,
    a link, anything inside ``protected``) or cannot be written."""

    def __init__(self, title: str, versions: list[str], folder: Path, parent: QWidget | None = None, *,
                 protected: Sequence[Path] = ()) -> None:
        super().__init__(parent)
        self._protected = tuple(protected)
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
        self.path = QLineEdit(str(folder / fit_name(self._stem, ".txt", folder)))  # a long title still fits
        self.path.setAccessibleName("Export to file")
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Choose the export file")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        self.problem = QLabel(wordWrap=True, accessibleName="Why the file cannot be saved")
        self.problem.hide()
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)  # macOS's keeps the hint
        form.addRow("&Version:", self.version)
        form.addRow("&Format:", self.format)
        form.addRow(self.timestamps)
        form.addRow(self.labels)
        form.addRow("File:", row)
        form.addRow(self.problem)
        form.addRow(buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._fit_path()

    def chosen_format(self) -> str:
        return self.format.currentData()

    def chosen_path(self) -> Path:
        return Path(self.path.text()).expanduser()

    def _fit_path(self) -> None:
        # A line edit asks for the room of about 17 characters: a whole path needs more. As wide as the path and a
        # longer extension take, within the screen.
        metrics = self.path.fontMetrics()
        hint = self.path.sizeHint().width()
        needed = hint - 17 * metrics.horizontalAdvance("x") + metrics.horizontalAdvance(self.path.text() + "xxxx")
        room = self.screen().availableGeometry().width() * 9 // 10
        self.resize(min(self.sizeHint().width() + max(0, needed - hint), room), self.sizeHint().height())

    def _format_changed(self) -> None:
        fmt = self.chosen_format()
        self.timestamps.setEnabled(fmt == "txt")
        path = self.chosen_path()
        self.path.setText(str(path.parent / fit_name(path.stem, EXTENSIONS[fmt], path.parent)))

    def _save(self) -> None:
        try:
            check_output(self.chosen_path(), protected=self._protected)
        except OutputRefused as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return
        self.accept()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", str(self.chosen_path()))
        if path:
            self.path.setText(path)
