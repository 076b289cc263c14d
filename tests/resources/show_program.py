"""The real program as its screenshots show it, on the X screen in $DISPLAY (run by ``test_screenshots``):

    python -m tests.resources.show_program FOLDER

A meeting is being captioned: two sources (the microphone and the computer's sound, each with its label), a live
transcript of what each said, the status line, and the caption overlay above the main window, all over a plain
desktop backdrop. The captions and the status come through the program's own widgets; only the model's work is
left out (no model is loaded). Saves the main window's own pixels as FOLDER/main-window.png, prints READY and
where the caption box is on the screen once everything is painted, and quits at a line on stdin.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSocketNotifier, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from app.application import Captionist
from app.events import AudioSource, CaptionEvent, LevelReading, SourceKind, WorkerStatus
from app.identity import APP_ID, APP_NAME
from app.settings import DEFAULT_REALTIME_MODEL, AudioSettings, ModelSettings, Settings, SettingsStore
from app.status_text import short_model_name, status_line

SOURCES = (AudioSource("mic", SourceKind.MICROPHONE, "Built-in microphone", label="You"),
           AudioSource("system", SourceKind.SYSTEM, "Speakers (what the computer plays)", label="Others"))
MEETING = (  # (source, what was said)
    ("system", "Good morning everyone, let's start with the budget for the second quarter."),
    ("mic", "Thanks. The numbers came in this morning, so I can share them now."),
    ("system", "Great. Could you also say where we stand on the hiring plan?"),
    ("mic", "Sure: two of the three positions are filled, and the last interviews are next week."),
    ("system", "That sounds good. Let's keep the rest of the meeting short, then."),
)


class Backdrop(QWidget):
    """A plain desktop behind the windows (Xvfb's own root is black)."""

    def paintEvent(self, event) -> None:  # noqa: N802 — Qt's name
        gradient = QLinearGradient(0, 0, 0, self.height())
        gradient.setColorAt(0, QColor("#3b5b7a"))
        gradient.setColorAt(1, QColor("#1d2f40"))
        QPainter(self).fillRect(self.rect(), gradient)


def captioned(program: Captionist) -> None:
    window = program.window
    window.sources.set_sources(SOURCES, [s.id for s in SOURCES])
    for source in SOURCES:
        window.sources.set_level(LevelReading(source.id, -24.0, 0.3))
    window.transcript.start_session(datetime(2026, 3, 12, 9, 30))
    labels = {s.id: s.label for s in SOURCES}
    at = 0.0
    for source_id, said in MEETING:
        for word in said.split():
            event = CaptionEvent(source_id, " " + word, (), at, at + 0.32)
            window.transcript.add_caption(event, labels[source_id])
            program.overlay.add_caption(event, labels[source_id])
            at += 0.32
        at += 1.0
    window.set_running(True)
    name = short_model_name(DEFAULT_REALTIME_MODEL)
    window.model_label.setText(f"{name} on CPU")
    window.live_label.setText(status_line(WorkerStatus("mic", at, at - 0.5, 38.0, 0.47, "CPU", 480), name, "You"))


def main(folder: Path) -> None:
    app = QApplication([sys.argv[0], "-name", APP_ID])
    app.setApplicationName(APP_NAME)
    screen = app.primaryScreen().geometry()
    backdrop = Backdrop()
    backdrop.setWindowFlag(Qt.WindowType.FramelessWindowHint)
    backdrop.setGeometry(screen)
    backdrop.show()
    QTest.qWaitForWindowExposed(backdrop)
    store = SettingsStore(folder / "settings.json")
    store.save(Settings(audio=AudioSettings(tuple(s.id for s in SOURCES)),
                        model=ModelSettings(source=DEFAULT_REALTIME_MODEL)))
    program = Captionist(store, measure_seconds=None, data_dir=folder / "data")
    window = program.window
    window.show()  # the window alone: Captionist.show would load the model
    window.move((screen.width() - window.width()) // 2, (screen.height() - window.height()) // 2)
    QTest.qWaitForWindowExposed(window)
    window.overlay_action.setChecked(True)
    captioned(program)
    QTest.qWaitForWindowExposed(program.overlay)
    QTest.qWait(500)  # the level meters' and the compositor's next frames
    window.grab().save(str(folder / "main-window.png"))
    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(app.quit)
    box = program.overlay.box_rect().translated(program.overlay.geometry().topLeft())
    print("READY", json.dumps([box.x(), box.y(), box.width(), box.height()]), flush=True)
    app.exec()
    program.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
