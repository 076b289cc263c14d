"""A small input level meter for one audio source, with a peak-hold marker."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.events import LevelReading

FLOOR_DB = -60.0
AMBER_DB = -18.0  # louder than this is amber
RED_DB = -6.0  # louder than this is red: close to clipping
HOLD_S = 1.5  # the peak marker stays put this long
DECAY_DB_PER_S = 20.0  # then falls at this rate

# Zone colours chosen for at least 3:1 against the dark trough (WCAG 1.4.11, non-text contrast).
TROUGH = QColor("#1c1c1c")
GREEN = QColor("#3fb950")
AMBER = QColor("#f2b600")
RED = QColor("#ff5c5c")
MARKER = QColor("#ffffff")


def dbfs_to_fraction(db: float, floor_db: float = FLOOR_DB) -> float:
    """Where ``db`` falls on a meter from ``floor_db`` (0.0) to 0 dBFS (1.0), clamped; -inf and NaN give 0."""
    if math.isnan(db) or db <= floor_db:
        return 0.0
    return min(1.0, (db - floor_db) / -floor_db)


def peak_to_dbfs(peak: float) -> float:
    """A 0..1 sample peak in dBFS (-inf for 0)."""
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


class PeakHold:
    """The peak-hold marker: jumps up to each new peak, holds for ``HOLD_S``, then decays."""

    def __init__(self) -> None:
        self.db = -math.inf
        self._since = 0.0  # when the held peak was set
        self._at = 0.0  # when ``db`` was last brought up to date

    def update(self, peak_db: float, now: float) -> float:
        """The marker level after a reading with ``peak_db`` at time ``now`` (seconds, monotonic)."""
        decay_start = max(self._since + HOLD_S, self._at)
        if now > decay_start:
            self.db -= DECAY_DB_PER_S * (now - decay_start)
        self._at = now
        if peak_db >= self.db:
            self.db = peak_db
            self._since = now
        return self.db


def describe_level(db: float) -> str:
    """The level in words for assistive technology, e.g. ``-23 dB``."""
    return "silent" if db <= FLOOR_DB or math.isnan(db) else f"{round(db)} dB"


class LevelMeter(QWidget):
    """Horizontal bar showing one source's RMS level in dBFS (-60..0) with green, amber and red zones."""

    def __init__(
        self, source_name: str, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._level_db = -math.inf
        self._peak = PeakHold()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.set_source_name(source_name)
        self.setAccessibleDescription(describe_level(self._level_db))

    def set_source_name(self, name: str) -> None:
        """Name the source this meter shows (used in the accessible name)."""
        self.setAccessibleName(f"Input level for {name}")

    def level_db(self) -> float:
        return self._level_db

    def peak_db(self) -> float:
        return self._peak.db

    def set_level(self, reading: LevelReading) -> None:
        """Show a new reading."""
        self._level_db = reading.rms_dbfs
        self._peak.update(peak_to_dbfs(reading.peak), self._clock())
        words = describe_level(reading.rms_dbfs)
        if words != self.accessibleDescription():  # 20 readings a second: tell assistive tech only of changes
            self.setAccessibleDescription(words)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(120, 14)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, 8)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.fillRect(rect, TROUGH)
        width = rect.width()
        level = dbfs_to_fraction(self._level_db)
        lo = rect.left()
        for zone_end_db, color in ((AMBER_DB, GREEN), (RED_DB, AMBER), (0.0, RED)):
            hi = rect.left() + width * min(level, dbfs_to_fraction(zone_end_db))
            if hi > lo:
                p.fillRect(QRectF(lo, rect.top(), hi - lo, rect.height()), color)
                lo = hi
        peak = dbfs_to_fraction(self._peak.db)
        if peak > 0:
            x = rect.left() + width * peak
            p.setPen(QPen(MARKER, 2))
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        p.setPen(QPen(self.palette().color(self.foregroundRole()), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        p.end()
