import math

import pytest
from PySide6.QtGui import QColor

from app.events import LevelReading
from app.ui.level_meter import (
    AMBER,
    DECAY_DB_PER_S,
    GREEN,
    HOLD_S,
    RED,
    TROUGH,
    LevelMeter,
    PeakHold,
    dbfs_to_fraction,
    describe_level,
    peak_to_dbfs,
)


@pytest.mark.parametrize(
    ("db", "fraction"),
    [(-60.0, 0.0), (-90.0, 0.0), (-math.inf, 0.0), (math.nan, 0.0), (-30.0, 0.5), (-15.0, 0.75), (0.0, 1.0), (6, 1.0)],
)
def test_dbfs_to_fraction(db, fraction):
    assert dbfs_to_fraction(db) == pytest.approx(fraction)


def test_peak_to_dbfs():
    assert peak_to_dbfs(1.0) == 0.0
    assert peak_to_dbfs(0.1) == pytest.approx(-20.0)
    assert peak_to_dbfs(0.0) == -math.inf


def test_peak_hold_holds_then_decays_and_jumps_to_new_peaks():
    hold = PeakHold()
    assert hold.update(-10.0, 0.0) == -10.0
    assert hold.update(-40.0, HOLD_S) == -10.0  # still held
    assert hold.update(-40.0, HOLD_S + 0.5) == pytest.approx(-10.0 - DECAY_DB_PER_S * 0.5)
    assert hold.update(-40.0, HOLD_S + 1.0) == pytest.approx(-10.0 - DECAY_DB_PER_S * 1.0)
    assert hold.update(-3.0, HOLD_S + 1.1) == -3.0  # a louder peak takes over and is held again
    assert hold.update(-40.0, HOLD_S + 2.0) == -3.0


def test_describe_level():
    assert describe_level(-23.4) == "-23 dB"
    assert describe_level(-math.inf) == "silent"
    assert describe_level(-75.0) == "silent"


def test_meter_names_itself_and_describes_the_level(qtbot):
    now = [0.0]
    meter = LevelMeter("Built-in Microphone", clock=lambda: now[0])
    qtbot.addWidget(meter)
    assert meter.accessibleName() == "Input level for Built-in Microphone"
    assert meter.accessibleDescription() == "silent"
    meter.set_level(LevelReading("mic", -23.2, 0.5))
    assert meter.accessibleDescription() == "-23 dB"
    assert meter.level_db() == -23.2
    assert meter.peak_db() == pytest.approx(peak_to_dbfs(0.5))
    meter.set_source_name("Headset")
    assert meter.accessibleName() == "Input level for Headset"
    assert meter.sizeHint().width() <= 160 and meter.sizeHint().height() <= 20


def test_meter_paints_zones_by_level(qtbot):
    meter = LevelMeter("mic", clock=lambda: 0.0)
    qtbot.addWidget(meter)
    meter.resize(200, 14)
    meter.set_level(LevelReading("mic", -30.0, 0.0))  # half way: green only
    img = meter.grab().toImage()
    y = 7
    assert QColor(img.pixel(20, y)) == GREEN
    assert QColor(img.pixel(150, y)) == TROUGH
    meter.set_level(LevelReading("mic", -1.0, 0.0))
    img = meter.grab().toImage()
    assert QColor(img.pixel(20, y)) == GREEN
    assert QColor(img.pixel(160, y)) == AMBER
    assert QColor(img.pixel(190, y)) == RED
