"""Starts the graphical program."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from app.settings import SettingsStore


def run(*, model: str | None = None, play: str | None = None, offline: bool = False,
        settings_path: Path | None = None) -> int:
    """Show the main window (and the overlay once captions start); returns the exit status.

    ``model`` and ``offline`` override (and are saved into) the settings; ``play`` starts captions of that file
    played as a live source as soon as the model is loaded.
    """
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:  # e.g. missing system libraries for Qt
        print(f"captionist: the window cannot open ({exc}). The headless subcommands still work.", file=sys.stderr)
        return 1
    from app.application import Captionist
    from app.main_thread_gc import MainThreadGarbageCollector

    app = QApplication.instance() or QApplication(sys.argv[:1])
    collector = MainThreadGarbageCollector(app)  # Qt objects must never be freed by a worker thread's collection
    app.setApplicationName("Captionist")
    app.setQuitOnLastWindowClosed(False)  # the overlay and tray outlive a hidden main window
    program = Captionist(SettingsStore(settings_path))
    if model is not None or offline:
        saved = program.settings.model
        chosen = dataclasses.replace(saved, source=model or saved.source, offline=offline or saved.offline)
        program.apply_settings(dataclasses.replace(program.settings, model=chosen))
    if play is not None:
        program.add_file_source(play)
    program.show()
    if play is not None:
        program.start_captions()
    try:
        return app.exec()
    finally:
        collector.stop()
