"""Help → About: the version, the licences, and where this program's data is; opened from the main window's menu."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel

from app.application import Captionist
from app.identity import version
from app.settings import SettingsStore
from app.ui.about_dialog import AboutDialog, data_places
from app.ui.main_window import MainWindow
from tests.app.ui.accessibility import unnamed_controls, unreachable_by_tab
from tests.app.ui.layout_check import crushed


def texts(dialog: AboutDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel))


def test_the_dialog_shows_the_version_the_licences_and_the_data_folders(qtbot, tmp_path: Path) -> None:
    dialog = AboutDialog(data_places(tmp_path / "config" / "settings.json", tmp_path / "data"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    shown = texts(dialog)
    assert f"Captionist {version()}" in shown
    for model in ("Voxtral Mini 4B Realtime", "Voxtral Mini 3B"):
        assert f"{model}:" in shown
    assert shown.count("Apache-2.0 licence") == 3  # the program's and both models'
    fields = {what: field.text() for what, field in dialog.place_fields.items()}
    assert fields["Settings file"] == str(tmp_path / "config" / "settings.json")
    assert fields["Recordings"] == str(tmp_path / "data" / "sessions")
    assert fields["Downloaded models"].endswith("hub")  # the Hugging Face cache the models are downloaded into
    assert all(field.isReadOnly() for field in dialog.place_fields.values())
    assert unnamed_controls(dialog) == []
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    assert unreachable_by_tab(qtbot, dialog, dialog.place_fields["Settings file"]) == []
    assert crushed(dialog) == []


def test_help_about_is_in_the_main_windows_menu(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    menus = {action.text(): action.menu() for action in window.menuBar().actions()}
    assert window.about_action in menus["Help"].actions()
    assert list(menus)[-1] == "Help"  # the last menu, as on every desktop


def test_about_shows_the_running_programs_own_paths(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application outlives the program
    program = Captionist(SettingsStore(tmp_path / "mine.json"), measure_seconds=None, data_dir=tmp_path / "lib")
    qtbot.addWidget(program.window)
    seen: list[dict[str, str]] = []

    def read_and_close() -> None:
        dialog = QApplication.activeModalWidget()
        seen.append({what: field.text() for what, field in dialog.place_fields.items()})
        dialog.reject()

    try:
        QTimer.singleShot(0, read_and_close)
        program.window.about_action.trigger()
    finally:
        program.quit()
    assert seen and seen[0]["Settings file"] == str(tmp_path / "mine.json")
    assert seen[0]["Recordings"] == str(tmp_path / "lib" / "sessions")
