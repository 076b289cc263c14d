"""The main window and the dialogs at ordinary screen sizes, measured rather than looked at: no control smaller than
it needs or outside its parent, the window within the screen at its first size and keeping that size from tab to
tab, each mnemonic used once, one line at a time in the status bar, and the toolbar usable from the keyboard.

The screen sizes and the 200 % scale need a Qt platform set up before the application starts, so the program runs
in a child process for each (``tests.app.ui.layout_check``, on the offscreen platform with a screen of that size).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton, QToolBar

from app.events import Notice, Severity
from app.ui.main_window import MainWindow
from tests.app.ui.accessibility import tab_through
from tests.app.ui.layout_check import overlapping, status_texts

ROOT = Path(__file__).resolve().parents[3]
SCREENS = {  # physical size and scale factor -> the logical screen the program sees
    "1280x720": (1280, 720, 1),
    "1366x768": (1366, 768, 1),
    "2560x1440 at 200 %": (2560, 1440, 2),
}


@pytest.fixture(scope="module", params=list(SCREENS), ids=list(SCREENS))
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What ``layout_check`` finds on one screen (see its ``main``)."""
    width, height, scale = SCREENS[request.param]
    config = tmp_path_factory.mktemp("screen") / "screen.json"
    screen = {"name": "Screen", "x": 0, "y": 0, "width": width, "height": height, "logicalDpi": 96, "dpr": 1}
    config.write_text(json.dumps({"screens": [screen]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_SCALE_FACTOR": str(scale),
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "tests.app.ui.layout_check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["screen"] == [width // scale, height // scale]  # the platform took the screen asked for
    return found


def test_the_status_bar_of_the_program_shows_one_line(report: dict) -> None:
    assert report["status bar"] == []


def test_nothing_is_crushed_in_any_tab(report: dict) -> None:
    assert {tab: found["crushed"] for tab, found in report["tabs"].items()} == {tab: [] for tab in report["tabs"]}


def test_the_window_fits_the_screen_at_its_first_size(report: dict) -> None:
    assert all(found["fits"] for found in report["tabs"].values()), report["tabs"]


def test_switching_tabs_keeps_the_window_size(report: dict) -> None:
    sizes = [tuple(found["size"]) for found in report["tabs"].values()]
    assert len(set(sizes)) == 1, sizes


def test_each_mnemonic_is_used_once_in_each_tab(report: dict) -> None:
    """Alt+letter opens the menu or focuses the control that letter is for: a second control with the same letter
    (Alt+T: the Tools menu or "Transcribe again") would take it or make Alt+T cycle between them."""
    twice = {tab: sorted(k for k, n in Counter(found["mnemonics"]).items() if n > 1)
             for tab, found in report["tabs"].items()}
    assert twice == {tab: [] for tab in report["tabs"]}
    assert {"c", "t"} <= set(report["tabs"]["Li&brary"]["mnemonics"])  # the menus are among those collected


def test_the_dialogs_show_all_they_hold(report: dict) -> None:
    assert {name: found["crushed"] for name, found in report["dialogs"].items()} == {
        name: [] for name in report["dialogs"]
    }
    assert all(found["fits"] for found in report["dialogs"].values())
    assert report["dialogs"]["export"]["path shown whole"]


def test_every_page_of_the_settings_shows_all_it_holds_with_one_control_per_mnemonic(report: dict) -> None:
    pages = report["settings"]
    assert len(pages) >= 5
    assert {page: found["crushed"] for page, found in pages.items()} == {page: [] for page in pages}
    assert all(found["fits"] for found in pages.values()), pages
    twice = {page: sorted(k for k, n in Counter(found["mnemonics"]).items() if n > 1) for page, found in pages.items()}
    assert twice == {page: [] for page in pages}


def _shown(qtbot, window: MainWindow) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def test_the_status_bar_shows_one_line_at_a_time(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.model_label.setText("Voxtral-Mini-4B-Realtime-2602 on CPU")
    # As at start-up, before the window is shown: a problem with the settings; a recording saved from the tray.
    window.show_notice(Notice(Severity.WARNING, "The settings file was damaged and set aside."))
    window.statusBar().showMessage("Saved the recording 'Standup' (12 s).", 10000)
    _shown(qtbot, window)
    bar = window.statusBar()

    assert overlapping(status_texts(bar)) == []
    assert [text for text, _ in status_texts(bar)] == ["Captions stopped", "Saved the recording 'Standup' (12 s)."]
    assert window.notice_label.isVisible()  # the notice is shown above the tabs, not a second time down here
    bar.clearMessage()
    assert overlapping(status_texts(bar)) == []
    assert window.model_label.isVisible()
    window.show_notice(Notice(Severity.ERROR, "No audio sources were found."))
    assert bar.currentMessage() == "" and overlapping(status_texts(bar)) == []


def test_tab_reaches_the_toolbar_and_space_uses_it(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    _shown(qtbot, window)
    toolbar = window.findChild(QToolBar)
    refresh = next(b for b in window.sources.findChildren(QPushButton) if "Refresh" in b.accessibleName())

    seen = tab_through(qtbot, window, refresh)
    buttons = [toolbar.widgetForAction(action) for action in toolbar.actions()]
    assert [b for b in buttons if b not in seen] == []

    start = toolbar.widgetForAction(window.start_action)
    for _ in range(seen.index(start)):  # from Refresh, Tab by Tab to "Start captions"
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is start
    with qtbot.waitSignal(window.start_action.toggled) as toggled:
        qtbot.keyClick(start, Qt.Key.Key_Space)
    assert toggled.args == [True]
