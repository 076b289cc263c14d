"""The AppStream screenshots, taken of the real program on a virtual X screen with a compositor
(``tests.resources.show_program``): the main window alone, and the whole screen with the caption overlay above it.

Each run takes them afresh into a temporary folder and checks them; the committed copies in resources/screenshots
are replaced only when asked, so that a test run leaves the checkout as it was:

    CAPTIONIST_UPDATE_SCREENSHOTS=1 python -m pytest -q tests/resources/test_screenshots.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from tests.fixtures.xvfb import composited_xvfb, missing_tools

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "resources" / "screenshots"
SCREEN = (1366, 768)  # a common laptop screen; the main window takes its preferred 1200 × 720 there
TIMEOUT_S = 90.0

pytestmark = pytest.mark.skipif(
    bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} on PATH (apt: xvfb xcompmgr imagemagick)"
)


def take(folder: Path) -> tuple[int, int, int, int]:
    """Take both screenshots into ``folder``; returns where the overlay's caption box is on the screen."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(folder / "config"), "XDG_DATA_HOME": str(folder / "data"),
           "HF_HUB_OFFLINE": "1"}
    with composited_xvfb(*SCREEN) as screen:
        env.update(screen.env())
        program = subprocess.Popen([sys.executable, "-m", "tests.resources.show_program", str(folder)], cwd=ROOT,
                                   env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = program.stdout.readline()  # READY, or nothing when it failed
            assert line.startswith("READY "), f"the program did not show itself: {line!r}"
            screen.screenshot(folder / "overlay.png")
            program.communicate("quit\n", timeout=TIMEOUT_S)
        finally:
            if program.poll() is None:
                program.kill()
                program.wait()
    assert program.returncode == 0
    return tuple(json.loads(line.removeprefix("READY ")))


def colours(image: QImage, x: int, y: int, width: int, height: int) -> list[QColor]:
    return [image.pixelColor(i, j) for i in range(x, x + width, 3) for j in range(y, y + height, 3)]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[int, int, int, int]]:
    folder = tmp_path_factory.mktemp("screenshots")
    return folder, take(folder)


def test_the_main_window_screenshot_shows_the_window_at_its_preferred_size(shots) -> None:
    folder, _ = shots
    image = QImage(str(folder / "main-window.png"))
    assert (image.width(), image.height()) == (1200, 720)
    assert len({c.rgb() for c in colours(image, 0, 0, 1200, 720)}) > 20  # text and controls, not an empty frame


def test_the_overlay_screenshot_shows_the_captions_above_the_main_window(shots) -> None:
    folder, (x, y, width, height) = shots
    image = QImage(str(folder / "overlay.png"))
    assert (image.width(), image.height()) == SCREEN
    inside = colours(image, x + 8, y + 8, width - 16, height - 16)
    # The box darkens what is below it (the window's light background) and holds white text.
    assert sum(c.lightness() < 100 for c in inside) > len(inside) / 2
    assert any(c.lightness() > 240 for c in inside)


def test_the_committed_screenshots_are_of_the_same_sizes(shots) -> None:
    folder, _ = shots
    for name in ("main-window.png", "overlay.png"):
        if os.environ.get("CAPTIONIST_UPDATE_SCREENSHOTS") == "1":
            COMMITTED.mkdir(exist_ok=True)
            shutil.copyfile(folder / name, COMMITTED / name)
        committed, taken = QImage(str(COMMITTED / name)), QImage(str(folder / name))
        assert not committed.isNull(), f"{name} is not committed: see this file's docstring"
        assert committed.size() == taken.size(), name
