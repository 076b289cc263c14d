"""The list of audio sources with a check box and a level meter each; at most two can be chosen at once."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.events import AudioSource, LevelReading
from app.ui.level_meter import LevelMeter

MAX_SOURCES = 2


class SourcePicker(QWidget):
    selectionChanged = Signal(tuple)  # ids of the checked sources
    refreshRequested = Signal()
    addFileRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Audio sources")
        self._grid = QGridLayout()
        self._boxes: dict[str, QCheckBox] = {}
        self._meters: dict[str, LevelMeter] = {}
        self._sources: dict[str, AudioSource] = {}
        title = QLabel("<b>Listen to</b> (up to two sources)")
        refresh = QPushButton("&Refresh")
        refresh.setAccessibleName("Refresh the list of audio sources")
        refresh.clicked.connect(self.refreshRequested)
        add_file = QPushButton("Pla&y a file…")  # Alt+F is the live transcript's Find
        add_file.setAccessibleName("Play an audio file as a live source")
        add_file.clicked.connect(self.addFileRequested)
        self._empty = QLabel("No audio sources found.")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self._empty)
        layout.addLayout(self._grid)
        buttons = QGridLayout()
        buttons.addWidget(refresh, 0, 0)
        buttons.addWidget(add_file, 0, 1)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def set_sources(self, sources: Sequence[AudioSource], selected: Sequence[str]) -> None:
        for widget in [*self._boxes.values(), *self._meters.values()]:
            widget.deleteLater()
        self._boxes.clear()
        self._meters.clear()
        self._sources = {s.id: s for s in sources}
        self._empty.setVisible(not sources)
        for row, source in enumerate(sources):
            box = QCheckBox(f"{source.name} ({source.kind.value})")
            box.setAccessibleName(f"Caption {source.name}")
            box.setChecked(source.id in selected)
            box.toggled.connect(self._toggled)
            meter = LevelMeter(source.name)
            self._grid.addWidget(box, row, 0)
            self._grid.addWidget(meter, row, 1, alignment=Qt.AlignmentFlag.AlignVCenter)
            self._boxes[source.id] = box
            self._meters[source.id] = meter
        self._limit()

    def selected(self) -> tuple[AudioSource, ...]:
        return tuple(self._sources[i] for i, box in self._boxes.items() if box.isChecked())

    def set_level(self, reading: LevelReading) -> None:
        meter = self._meters.get(reading.source_id)
        if meter is not None:
            meter.set_level(reading)

    def _toggled(self) -> None:
        self._limit()
        self.selectionChanged.emit(tuple(s.id for s in self.selected()))

    def _limit(self) -> None:
        full = sum(b.isChecked() for b in self._boxes.values()) >= MAX_SOURCES
        for box in self._boxes.values():
            box.setEnabled(box.isChecked() or not full)
