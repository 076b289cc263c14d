"""Garbage collection on the GUI thread only.

Python's cycle collector runs in whichever thread happens to allocate when a threshold is crossed. Capture, the
inference worker and the recorder allocate all the time, so a cycle holding Qt widgets (a closed dialog and the
lambdas connected to it) could be destroyed on one of those threads while the GUI thread paints: Qt objects must be
destroyed on their own thread, and that crashes. So automatic collection is switched off and the GUI thread runs the
same generational collections itself from a timer, with the interpreter's own thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 200  # a check is a call to gc.get_count(); a collection only runs when a threshold is crossed


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self, interval=CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold, as the interpreter would."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        """Give collection back to the interpreter."""
        self._timer.stop()
        gc.enable()
