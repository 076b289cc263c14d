"""The program's identity: its version, and one application id on the desktop. The real program is started on a
virtual X screen and its main window's WM_CLASS, GTK application id and icon are read back with xprop."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest
import tomllib

from app import identity
from app.identity import APP_ID, APP_NAME
from tests.fixtures.xvfb import XScreen, composited_xvfb, missing_tools

ROOT = Path(__file__).resolve().parents[2]
DESKTOP_ENTRY = ROOT / "resources" / "linux" / f"{APP_ID}.desktop"
TIMEOUT_S = 90.0  # the program imports torch before its first window, slowly on a busy two-core machine
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # the shipped PNGs' (the old icon drawn in code stopped at 128)
X_TOOLS = [tool for tool in ("xdotool", "xprop") if shutil.which(tool) is None]


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_the_installed_distributions_which_is_pyprojects() -> None:
    assert identity.version() == pyproject_version()


def test_a_checkout_that_was_never_installed_reads_the_version_from_pyproject(monkeypatch) -> None:
    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(identity, "installed_version", not_installed)
    assert identity.version() == pyproject_version()
    monkeypatch.setattr(identity, "CHECKOUT", ROOT / "no-such-folder")
    assert identity.version() == "unknown"


def test_the_desktop_entry_names_the_application_id() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(DESKTOP_ENTRY, encoding="utf-8")
    group = entry["Desktop Entry"]
    assert (group["Name"], group["Icon"], group["StartupWMClass"]) == (APP_NAME, APP_ID, APP_ID)


def xprop(screen: XScreen, window: str, *properties: str) -> str:
    done = subprocess.run(["xprop", "-id", window, *properties], env=screen.env(), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def main_window(screen: XScreen, program: subprocess.Popen) -> str:
    """The X window id of the program's main window, once it is mapped."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        assert program.poll() is None, f"the program ended early: {program.communicate()[0][-3000:]}"
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{APP_NAME}$"], env=screen.env(),
                               capture_output=True, text=True, timeout=30)
        if found.returncode == 0 and found.stdout.split():
            return found.stdout.split()[0]
        time.sleep(0.5)
    pytest.fail(f"no window titled {APP_NAME} within {TIMEOUT_S:.0f} s")


@pytest.mark.skipif(bool(missing_tools() or X_TOOLS), reason=f"needs {', '.join(missing_tools() + X_TOOLS)} on PATH "
                    "(apt: xvfb xcompmgr imagemagick xdotool x11-utils)")
def test_the_main_window_carries_the_application_id_on_x11(tmp_path: Path) -> None:
    """As a desktop sees the window: WM_CLASS's instance is the id the desktop entry's StartupWMClass names, the
    GTK application id (GNOME's match on X11) is the id too, and the window has an icon."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "HF_HUB_OFFLINE": "1"}
    with composited_xvfb(1280, 720) as screen:
        env.update(screen.env())
        # The command as installed: `captionist` with no arguments (the first run opens the model setup too).
        program = subprocess.Popen([sys.executable, "-m", "app.cli"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            window = main_window(screen, program)
            found = xprop(screen, window, "WM_CLASS", "_GTK_APPLICATION_ID", "_KDE_NET_WM_DESKTOP_FILE")
            # The first icon's width and height only: all of them would be megabytes of text.
            icon = xprop(screen, window, "-notype", "-len", "16", "-f", "_NET_WM_ICON", "32c", "_NET_WM_ICON")
        finally:
            program.terminate()
            program.communicate(timeout=30)
    assert f'WM_CLASS(STRING) = "{APP_ID}", "{APP_NAME}"' in found
    assert f'_GTK_APPLICATION_ID(UTF8_STRING) = "{APP_ID}"' in found
    assert f'_KDE_NET_WM_DESKTOP_FILE(UTF8_STRING) = "{APP_ID}"' in found
    size = re.search(r"_NET_WM_ICON = (\d+), (\d+)", icon)
    assert size is not None and size[1] == size[2] and int(size[1]) in ICON_SIZES, icon[:200]
