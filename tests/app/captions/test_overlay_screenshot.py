"""The overlay on a real (virtual) X screen with a compositor, over another window, checked by its pixels.

The pytest process renders Qt offscreen, so the windows are shown by a separate Python process on Xvfb. It shows a
plain green window covering the screen and the overlay above it, reports where the caption box is, and obeys a few
commands on stdin. Clicks are real X pointer events, so click-through is checked the way the X server routes input.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage

from app.captions.style import blend
from tests.fixtures.xvfb import can_click, composited_xvfb, missing_tools

ROOT = Path(__file__).resolve().parents[3]
BACKDROP = "#00c000"
BOX_OPACITY = 0.6

CAPTION = "These captions stay readable over any window below them"

SHOW_OVERLAY = f"""
import json, sys

CAPTION = {CAPTION!r}

from PySide6.QtCore import QEvent, QObject, QSocketNotifier
from PySide6.QtGui import QColor, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from app.captions.overlay import CaptionOverlay
from app.captions.style import CaptionStyle
from app.events import CaptionEvent


class Backdrop(QWidget):
    def paintEvent(self, event):
        QPainter(self).fillRect(self.rect(), QColor("{BACKDROP}"))

    def mousePressEvent(self, event):
        print("PRESS backdrop", flush=True)


class PressSpy(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.MouseButtonPress:
            print("PRESS overlay", flush=True)
        return False


def ready():
    QTest.qWaitForWindowExposed(overlay)
    QTest.qWait(300)  # let the compositor paint the new window
    box = overlay.box_rect().translated(overlay.geometry().topLeft())
    info = {{"box": [box.x(), box.y(), box.width(), box.height()], "lines": overlay.visible_lines()}}
    print("READY", json.dumps(info), flush=True)


def command():
    line = sys.stdin.readline().strip()
    if line in ("", "quit"):
        app.quit()
    elif line.startswith("click-through "):
        overlay.set_click_through(line.endswith(" on"))
        ready()


app = QApplication(sys.argv)
screen = app.primaryScreen()
backdrop = Backdrop()
backdrop.setGeometry(screen.geometry())
backdrop.show()
QTest.qWaitForWindowExposed(backdrop)
style = CaptionStyle(
    text_color="#ffffff", background_color="#000000", background_opacity={BOX_OPACITY}, lines=2, fade_after_s=0
)
overlay = CaptionOverlay(style, placements={{screen.name(): (240, 420, 800, 0)}})
spy = PressSpy()
overlay.installEventFilter(spy)
overlay.show()
for word in CAPTION.split():
    overlay.add_caption(CaptionEvent("mic", " " + word, (), 0.0, 0.08), "You")
notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(command)
ready()
app.exec()
"""

pytestmark = pytest.mark.skipif(
    bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} on PATH (apt: xvfb xcompmgr imagemagick)"
)


class ShownOverlay:
    """The subprocess showing the overlay, with its stdout read line by line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, prefix: str, timeout_s: float = 30.0) -> str:
        """The next stdout line starting with ``prefix``; other lines in between fail the test."""
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"the overlay process did not print {prefix!r} within {timeout_s} s")
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
        return line

    def nothing_more(self, wait_s: float = 0.5) -> None:
        try:
            line = self.lines.get(timeout=wait_s)
        except queue.Empty:
            return
        pytest.fail(f"unexpected output from the overlay process: {line!r}")

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()


@pytest.fixture
def shown_overlay(tmp_path: Path):
    with composited_xvfb(1280, 720) as screen:
        script = tmp_path / "show_overlay.py"
        script.write_text(SHOW_OVERLAY)
        env = screen.env()
        env["PYTHONPATH"] = str(ROOT)
        with open(tmp_path / "stderr.txt", "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(script)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            try:
                yield screen, ShownOverlay(process)
            finally:
                if process.poll() is None:
                    process.stdin.close()
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()


def rgb(color: str) -> tuple[int, int, int]:
    q = QColor(color)
    return q.red(), q.green(), q.blue()


def near(pixel: QColor, expected: tuple[int, int, int], tolerance: int = 4) -> bool:
    return all(
        abs(a - b) <= tolerance for a, b in zip((pixel.red(), pixel.green(), pixel.blue()), expected, strict=True)
    )


def box_from(ready_line: str) -> QRect:
    return QRect(*json.loads(ready_line.split(" ", 1)[1])["box"])


def check_screen(image: QImage, box: QRect) -> None:
    green = rgb(BACKDROP)
    through_box = rgb(blend("#000000", BACKDROP, BOX_OPACITY))
    # Away from the text: the padding on each side of the box.
    probes = [
        (box.left() + 3, box.center().y()),
        (box.right() - 3, box.center().y()),
        (box.center().x(), box.top() + 2),
        (box.center().x(), box.bottom() - 2),
    ]
    for x, y in probes:
        assert near(image.pixelColor(x, y), through_box), f"box at {(x, y)}: {image.pixelColor(x, y).getRgb()}"
    for x, y in [(box.left() - 20, box.center().y()), (box.right() + 20, box.center().y()), (box.center().x(), 40)]:
        assert near(image.pixelColor(x, y), green, 2), f"backdrop at {(x, y)}: {image.pixelColor(x, y).getRgb()}"
    colours = Counter(
        (c.red(), c.green(), c.blue())
        for c in (
            image.pixelColor(x, y) for y in range(box.top(), box.bottom()) for x in range(box.left(), box.right())
        )
    )
    assert near(QColor(*colours.most_common(1)[0][0]), through_box)
    white = sum(n for (r, g, b), n in colours.items() if min(r, g, b) > 230)
    assert white > 300, f"only {white} near-white text pixels in the box"


def screenshot_until_shown(screen, tmp_path: Path, box: QRect, name: str) -> QImage:
    """Capture the screen; retried briefly, because the compositor paints a moment after a window appears."""
    expected = rgb(blend("#000000", BACKDROP, BOX_OPACITY))
    for attempt in range(10):
        image = QImage(str(screen.screenshot(tmp_path / f"{name}-{attempt}.png")))
        assert image.size().width() == screen.width and image.size().height() == screen.height
        if near(image.pixelColor(box.left() + 3, box.center().y()), expected):
            break
    return image


def test_overlay_blends_over_the_window_below(qapp, shown_overlay, tmp_path: Path) -> None:
    screen, overlay = shown_overlay
    ready = overlay.expect("READY")
    box = box_from(ready)
    lines = json.loads(ready.split(" ", 1)[1])["lines"]
    assert len(lines) == 2 and " ".join(lines) == "You: " + CAPTION
    assert QRect(0, 0, screen.width, screen.height).contains(box)
    check_screen(screenshot_until_shown(screen, tmp_path, box, "shown"), box)


@pytest.mark.skipif(not can_click(), reason="real clicks need libXtst")
def test_click_through_lets_real_clicks_reach_the_window_below(qapp, shown_overlay, tmp_path: Path) -> None:
    screen, overlay = shown_overlay
    box = box_from(overlay.expect("READY"))
    target = box.center()

    screen.click(target.x(), target.y())
    overlay.expect("PRESS overlay")
    overlay.nothing_more()

    overlay.send("click-through on")
    assert box_from(overlay.expect("READY")) == box
    screen.click(target.x(), target.y())
    overlay.expect("PRESS backdrop")
    overlay.nothing_more()
    check_screen(screenshot_until_shown(screen, tmp_path, box, "click-through"), box)  # still shown on top

    overlay.send("click-through off")
    overlay.expect("READY")
    screen.click(target.x(), target.y())
    overlay.expect("PRESS overlay")
