"""Guards against Qt binding builds that corrupt the interpreter during long sessions."""

import sys

from PySide6.QtWidgets import QWidget


def test_void_qt_calls_keep_the_reference_count_of_none(qtbot) -> None:
    # PySide6 6.12.0 with CPython < 3.12 released one reference to None per call of a method returning void; a live
    # session makes thousands of such calls a minute and the process died with "none_dealloc".
    widget = QWidget()
    qtbot.addWidget(widget)
    before = sys.getrefcount(None)
    for _ in range(2000):
        widget.setEnabled(True)
    assert abs(sys.getrefcount(None) - before) < 100
