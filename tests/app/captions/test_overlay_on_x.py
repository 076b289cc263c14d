"""The overlay on a real X screen managed by openbox, moved by real pointer events (xdotool, through XTEST): dragged
far past the screen's edges it stays on the screen, the control strip shows while the pointer rests on it and its
buttons take real clicks, and docked it spans the screen's width at its edge and ignores drags. Shown for the first
time, it is where it was placed, though openbox maps a new window at the top left corner now and then."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.xvfb import XScreen, composited_xvfb, missing_tools

ROOT = Path(__file__).resolve().parents[3]
WIDTH, HEIGHT = 1280, 720
MISSING = missing_tools(window_manager=True) + ([] if shutil.which("xdotool") else ["xdotool"])
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (test.sh installs them)")

PROGRAM = """
import json, sys

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.captions.overlay import CaptionOverlay
from app.captions.style import CaptionStyle
from app.events import CaptionEvent

app = QApplication(sys.argv)
overlay = CaptionOverlay(CaptionStyle(font_size=28, fade_after_s=0), {}, False)
pause = QAction("&Pause captions", overlay, checkable=True)
overlay.set_controls([pause, QAction("&Settings…", overlay)])
overlay.show()
QTest.qWaitForWindowExposed(overlay)
overlay.add_caption(CaptionEvent("mic", "Captions that a person drags around the screen.", (), 0.0, 2.0))


def state():
    g, buttons = overlay.geometry(), overlay.controls()
    first = buttons[0].mapToGlobal(buttons[0].rect().center())
    print(json.dumps({"geometry": [g.x(), g.y(), g.width(), g.height()], "controls": overlay.controls_shown(),
                      "pause": pause.isChecked(), "button": [first.x(), first.y()]}), flush=True)


def command():
    line = sys.stdin.readline().strip()
    if line in ("", "quit"):
        app.quit()
    elif line.startswith("dock "):
        overlay.set_dock(line.split()[1])
        state()
    else:
        state()


QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read, overlay).activated.connect(command)
QTimer.singleShot(1000, state)  # once the window manager has mapped it where it was placed
app.exec()
"""


class Overlay:
    def __init__(self, screen: XScreen) -> None:
        self.screen = screen
        self.child = subprocess.Popen([sys.executable, "-c", PROGRAM], cwd=ROOT, env=screen.env(), text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.first = self._read()

    def _read(self) -> dict:
        line = self.child.stdout.readline()
        assert line, self.child.stderr.read() if self.child.poll() is not None else "no answer"
        return json.loads(line)

    def ask(self, command: str = "state") -> dict:
        self.child.stdin.write(command + "\n")
        self.child.stdin.flush()
        return self._read()

    def pointer(self, *steps: str) -> None:
        subprocess.run(["xdotool", *steps], env=self.screen.env(), check=True, timeout=30)
        time.sleep(0.3)  # the server's events reach the program and it redraws

    def drag(self, start: tuple[int, int], to: tuple[int, int]) -> None:
        self.pointer("mousemove", str(start[0]), str(start[1]))
        self.pointer("mousedown", "1")
        for i in range(1, 6):  # in steps, as a hand moves
            x = start[0] + (to[0] - start[0]) * i // 5
            y = start[1] + (to[1] - start[1]) * i // 5
            self.pointer("mousemove", "--", str(x), str(y))  # "--": a negative x is not an option
        self.pointer("mouseup", "1")

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.stdin.close()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()


def on_screen(geometry: list[int]) -> bool:
    x, y, w, h = geometry
    return x >= 0 and y >= 0 and x + w <= WIDTH and y + h <= HEIGHT


def test_real_pointer_drags_hover_and_docking(tmp_path: Path) -> None:
    with composited_xvfb(WIDTH, HEIGHT, window_manager=True) as screen:
        overlay = Overlay(screen)
        try:
            x, y, w, h = overlay.first["geometry"]
            assert on_screen(overlay.first["geometry"]) and not overlay.first["controls"]
            # where it was placed, at the bottom centre (the window manager may have mapped it elsewhere first)
            assert abs(x + w // 2 - WIDTH // 2) <= 1 and HEIGHT - 100 < y + h <= HEIGHT, overlay.first
            handle = (x + w // 2, y + 8)  # the strip along the top
            for to in ((WIDTH + 900, HEIGHT + 900), (-900, -900), (WIDTH + 900, -900)):
                overlay.drag(handle, to)
                found = overlay.ask()
                assert on_screen(found["geometry"]), (to, found)
                assert found["geometry"] != [x, y, w, h], (to, found, [x, y, w, h])  # it did move
                x, y, w, h = found["geometry"]
                handle = (x + w // 2, y + 8)

            overlay.pointer("mousemove", str(x + w // 2), str(y + h // 2))  # resting on it
            rested = overlay.ask()
            assert rested["controls"]
            overlay.pointer("mousemove", *map(str, rested["button"]), "click", "1")  # a real click on a button
            assert overlay.ask()["pause"]
            overlay.pointer("mousemove", "5", str(HEIGHT - 5) if y < HEIGHT // 2 else "5")  # away
            assert not overlay.ask()["controls"]

            for dock in ("bottom", "top"):
                docked = overlay.ask(f"dock {dock}")["geometry"]
                dx, dy, dw, dh = docked
                assert (dx, dw) == (0, WIDTH) and (dy == 0 if dock == "top" else dy + dh == HEIGHT), docked
                overlay.drag((WIDTH // 2, dy + 8), (WIDTH // 2 - 300, HEIGHT // 2))
                assert overlay.ask()["geometry"] == docked  # a docked overlay stays where it is docked
            screen.screenshot(tmp_path / "docked-top.png")
        finally:
            overlay.close()
