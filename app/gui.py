"""Starts the graphical program: one instance per user and settings file (app.single_instance)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.identity import APP_ID, APP_NAME, version
from app.settings import SettingsStore

if TYPE_CHECKING:
    from app.application import Captionist
    from app.single_instance import Activation, HandOver


def run(*, model: str | None = None, play: str | None = None, offline: bool = False,
        settings_path: Path | None = None) -> int:
    """Show the main window (and the overlay once captions start); returns the exit status.

    ``model`` and ``offline`` override (and are saved into) the settings; ``play`` starts captions of that file
    played as a live source as soon as the model is loaded. When Captionist already runs with these settings, its
    window comes to the front (and captions ``play``) instead, and this returns at once.
    """
    try:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:  # e.g. missing system libraries for Qt
        print(f"captionist: the window cannot open ({exc}). The headless subcommands still work.", file=sys.stderr)
        return 1
    # Imported before claiming the instance: a later start waits for an answer, which torch's import would delay.
    from app.application import Captionist
    from app.main_thread_gc import MainThreadGarbageCollector
    from app.single_instance import Activation, HandOver, InstanceError, claim, instance_address
    from app.ui.icon import app_icon

    # Before the first window: X11 takes WM_CLASS when a window is created, Wayland the app id.
    QGuiApplication.setDesktopFileName(APP_ID)  # the Wayland app id; on X11, _GTK_APPLICATION_ID and KDE's property
    QApplication.setApplicationName(APP_NAME)  # WM_CLASS's class part
    QApplication.setApplicationVersion(version())
    # -name: WM_CLASS's instance part, which the desktop entry's StartupWMClass names; other platforms ignore it.
    app = QApplication.instance() or QApplication([*sys.argv[:1], "-name", APP_ID])
    store = SettingsStore(settings_path)
    try:
        instance = claim(instance_address(store.path), Activation.from_command_line(play))
    except InstanceError as exc:  # captions matter more than the check: start, and say why it was skipped
        print(f"captionist: cannot check for a running Captionist ({exc}); starting anyway.", file=sys.stderr)
        instance = None
    if isinstance(instance, HandOver):
        return _report(instance, ignored=model is not None or offline)

    collector = MainThreadGarbageCollector(app)  # Qt objects must never be freed by a worker thread's collection
    app.setQuitOnLastWindowClosed(False)  # the overlay and tray outlive a hidden main window
    app.setWindowIcon(app_icon())  # the dialogs' and the overlay's, too
    program = Captionist(store)
    if instance is not None:
        # Queued: the request's socket is done with before the handler (which may open a dialog) runs.
        instance.activated.connect(lambda activation: bring_to_front(program, activation),
                                   Qt.ConnectionType.QueuedConnection)
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
        if instance is not None:
            instance.close()


def bring_to_front(program: Captionist, activation: Activation) -> None:
    """What a second start asks: the window shown, un-minimised and in front; a ``--play`` file captioned.

    The file becomes the selected source, as with ``--play`` at a first start. Captions that are running switch to
    it, as they do when the sources are changed by hand: the session so far ends and its recording is saved.
    """
    from PySide6.QtCore import Qt

    window = program.window
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
    if activation.play is not None:
        program.add_file_source(activation.play)
        program.start_captions()


def _report(handed: HandOver, *, ignored: bool) -> int:
    if not handed.delivered:
        print(f"captionist: {handed.message}", file=sys.stderr)
        return 1
    print(handed.message)
    if ignored:
        print("--model and --offline were not applied: change them in the running window's Settings.")
    return 0
