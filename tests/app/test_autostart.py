"""Starting with the desktop session: the autostart entry written and removed in a private XDG_CONFIG_HOME, from
the settings dialog's checkbox through the program applying the settings."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app import autostart
from app.application import Captionist
from app.identity import APP_ID
from app.settings import Settings, SettingsStore, ShortcutSettings
from app.ui.settings_dialog import SettingsDialog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "resources" / "linux" / f"{APP_ID}.desktop"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def read_entry(path: Path) -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(path, encoding="utf-8")
    return entry["Desktop Entry"]


def exec_args(value: str) -> list[str]:
    """An Exec value read back as the desktop entry spec says: the string escapes first, then the arguments (in
    double quotes, a backslash takes the next of " ` $ \\ literally), then the doubled % of field codes."""
    text, i = "", 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            text += {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(value[i + 1], value[i + 1])
            i += 2
        else:
            text += value[i]
            i += 1
    args, arg, quoted, i = [], None, False, 0
    while i < len(text):
        c = text[i]
        if quoted and c == "\\" and text[i + 1] in '"`$\\':
            arg, i = arg + text[i + 1], i + 2
            continue
        if c == '"':
            quoted, arg = not quoted, arg or ""
        elif c == " " and not quoted:
            if arg is not None:
                args.append(arg)
            arg = None
        else:
            arg = (arg or "") + c
        i += 1
    assert not quoted
    return [a.replace("%%", "%") for a in [*args, *([arg] if arg is not None else [])]]


def test_the_entry_goes_to_the_autostart_folder_of_xdg_config_home(config: Path, monkeypatch) -> None:
    assert autostart.entry_path() == config / "autostart" / f"{APP_ID}.desktop"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")  # the spec says to ignore it
    monkeypatch.setenv("HOME", "/home/someone")
    assert autostart.entry_path() == Path("/home/someone/.config/autostart") / f"{APP_ID}.desktop"


def test_enabling_writes_the_desktop_entry_with_this_programs_command(config: Path) -> None:
    command = ["/opt/captionist/bin/captionist"]
    path = autostart.enable(command)
    assert path == autostart.entry_path() and autostart.enabled()
    written, template = read_entry(path), read_entry(TEMPLATE)
    assert written["Exec"] == "/opt/captionist/bin/captionist"
    assert written["X-GNOME-Autostart-enabled"] == "true"
    assert {k: v for k, v in written.items() if k not in ("Exec", "X-GNOME-Autostart-enabled")} == \
        {k: v for k, v in template.items() if k != "Exec"}


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="needs desktop-file-validate on PATH (apt: desktop-file-utils)")
def test_the_autostart_entry_is_a_valid_desktop_entry(config: Path) -> None:
    path = autostart.enable([sys.executable, "-m", "app.cli"])
    done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error:" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", [
    ["/home/ann/my programs/captionist"],
    ["/opt/a$b/python", "-m", "app.cli"],
    ['/tmp/say "hi"/python', "back\\slash", "100%", "`tick`"],
])
def test_commands_with_spaces_and_special_characters_survive_the_quoting(config: Path, command) -> None:
    assert exec_args(read_entry(autostart.enable(command))["Exec"]) == command


def test_disabling_removes_the_entry_and_is_harmless_twice(config: Path) -> None:
    autostart.enable(["captionist"])
    autostart.disable()
    assert not autostart.entry_path().exists() and not autostart.enabled()
    autostart.disable()
    assert (config / "autostart").is_dir()  # the folder is the desktop's: left where it was


def test_the_command_is_the_captionist_script_that_started_the_program(tmp_path: Path, monkeypatch) -> None:
    script = tmp_path / "bin" / "captionist"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script)])
    assert autostart.program_command() == [str(script)]
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/pytest"])  # any other start: this Python, the module
    assert autostart.program_command() == [sys.executable, "-m", "app.cli"]


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_are_told_it_is_not_supported_yet(config: Path, monkeypatch, platform: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert not autostart.supported()
    with pytest.raises(autostart.AutostartError, match="not supported on Windows and macOS yet"):
        autostart.enable(["captionist"])
    autostart.disable()  # nothing to remove: no error
    assert not autostart.entry_path().exists()


def test_a_missing_desktop_entry_is_explained(config: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(autostart, "RESOURCES", tmp_path / "no-checkout")
    monkeypatch.setattr(autostart, "installed_share_dirs", lambda: [])
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "share"))
    with pytest.raises(autostart.AutostartError, match="desktop entry .* was not found"):
        autostart.enable(["captionist"])
    (tmp_path / "share" / "applications").mkdir(parents=True)  # as the .deb installs it
    shutil.copy(TEMPLATE, tmp_path / "share" / "applications")
    assert read_entry(autostart.enable(["captionist"]))["Exec"] == "captionist"


def test_settings_saved_before_the_setting_existed_load_with_it_off(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"shortcuts": {"toggle_overlay": "Meta+F9"}}))
    settings, problems = SettingsStore(path).load()
    assert problems == [] and settings.shortcuts == ShortcutSettings(toggle_overlay="Meta+F9")
    path.write_text(json.dumps({"shortcuts": {"start_with_session": "yes"}}))
    settings, problems = SettingsStore(path).load()
    assert not settings.shortcuts.start_with_session and "shortcuts.start_with_session" in "".join(problems)


def test_the_checkbox_is_off_by_default_and_sets_the_setting(qtbot) -> None:
    dialog = SettingsDialog(Settings(), [], cuda_devices=[])
    qtbot.addWidget(dialog)
    box = dialog.shortcuts_page.session_box
    assert not box.isChecked() and box.isEnabled() and box.accessibleName()
    box.setChecked(True)
    assert dialog.result_settings().shortcuts == ShortcutSettings(start_with_session=True)


def test_the_checkbox_shows_an_entry_removed_elsewhere_as_off(qtbot, config: Path) -> None:
    on = Settings(shortcuts=ShortcutSettings(start_with_session=True))
    autostart.enable(["captionist"])
    dialog = SettingsDialog(on, [], cuda_devices=[])
    qtbot.addWidget(dialog)
    assert dialog.shortcuts_page.session_box.isChecked()
    autostart.disable()  # as a desktop's own autostart settings would
    dialog = SettingsDialog(on, [], cuda_devices=[])
    qtbot.addWidget(dialog)
    assert not dialog.shortcuts_page.session_box.isChecked()
    assert not dialog.result_settings().shortcuts.start_with_session


def test_the_program_writes_and_removes_the_entry_as_the_settings_say(qtbot, config: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application outlives the program
    store = SettingsStore(tmp_path / "settings.json")
    program = Captionist(store, measure_seconds=None, data_dir=tmp_path / "data")
    qtbot.addWidget(program.window)
    try:
        on = Settings(shortcuts=ShortcutSettings(start_with_session=True))
        program.apply_settings(on)
        assert autostart.enabled() and store.load()[0] == on
        assert exec_args(read_entry(autostart.entry_path())["Exec"]) == autostart.program_command()
        program.apply_settings(Settings())
        assert not autostart.enabled()
        monkeypatch.setattr(sys, "platform", "win32")
        program.apply_settings(on)  # said in a notice, nothing else
        assert "not supported on Windows and macOS yet" in program.window.notice_label.text()
    finally:
        program.quit()


def test_a_frozen_build_starts_its_own_executable(tmp_path: Path, monkeypatch) -> None:
    bundle = tmp_path / "Captionist" / "captionist"  # PyInstaller: sys.executable is the program itself
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle))
    monkeypatch.setattr(sys, "argv", ["captionist"])  # started through the PATH: no path in argv[0]
    assert autostart.program_command() == [str(bundle)]
