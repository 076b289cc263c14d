"""The program's dialogs stay above the caption overlay, on a real X screen with a window manager that keeps
always-on-top windows above the others (openbox), checked by the pixels where the dialog's OK button is: a dialog
opened over the overlay, and the overlay appearing over an open dialog (the settings dialog's style preview)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from tests.fixtures.xvfb import composited_xvfb, missing_tools

ROOT = Path(__file__).resolve().parents[3]
OVERLAY_COLOUR = "#ff00ff"

SHOW = f"""
import json, sys

from PySide6.QtCore import QPoint, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QLabel, QVBoxLayout

from app.captions.dialog_stacking import DialogsAboveOverlay
from app.captions.overlay import CaptionOverlay
from app.captions.style import CaptionStyle

app = QApplication([])
# 160 pt in three lines: taller than the screen, so the overlay covers wherever the dialog opens.
style = CaptionStyle(font_size=160, lines=3, background_color="{OVERLAY_COLOUR}", background_opacity=1.0,
                     fade_after_s=0)
overlay = CaptionOverlay(style, {{}}, False)
if sys.argv[1] == "kept-above":
    DialogsAboveOverlay(overlay)
overlay_first = sys.argv[2] == "overlay-first"
if overlay_first:
    overlay.show()
dialog = QDialog()
dialog.setWindowTitle("Settings")
layout = QVBoxLayout(dialog)
layout.addWidget(QLabel("A dialog of the program"))
buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
layout.addWidget(buttons)


def report():
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    at = ok.mapToGlobal(QPoint(0, 0))
    print(json.dumps([at.x(), at.y(), ok.width(), ok.height()]), flush=True)


if overlay_first:
    QTimer.singleShot(800, dialog.show)
else:
    dialog.show()
    QTimer.singleShot(800, overlay.show)
QTimer.singleShot(2500, report)
done = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)  # the test closes stdin when it has looked
done.activated.connect(app.quit)
app.exec()
"""


def magenta_share(image: QImage, x: int, y: int, w: int, h: int) -> float:
    target = QColor(OVERLAY_COLOUR)
    points = [(px, py) for px in range(x + 2, x + w - 2, 2) for py in range(y + 2, y + h - 2, 2)]
    same = sum(1 for px, py in points if image.pixelColor(px, py) == target)
    return same / len(points)


@pytest.mark.skipif(bool(missing_tools(window_manager=True)),
                    reason=f"needs {', '.join(missing_tools(window_manager=True))} (test.sh installs them)")
@pytest.mark.parametrize("order", ["overlay-first", "dialog-first"])
def test_a_dialog_stays_above_a_large_overlay(tmp_path, order: str) -> None:
    shares = {}
    with composited_xvfb(1280, 720, window_manager=True) as screen:
        for mode in ("plain", "kept-above"):  # "plain": what the overlay does to a dialog without the filter
            child = subprocess.Popen([sys.executable, "-c", SHOW, mode, order], cwd=ROOT, env=screen.env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = child.stdout.readline()
                assert line, child.stderr.read() if child.poll() is not None else "no report"
                x, y, w, h = json.loads(line)
                shot = QImage(str(screen.screenshot(tmp_path / f"{mode}.png")))
                shares[mode] = magenta_share(shot, x, y, w, h)
            finally:
                child.stdin.close()
                child.wait(timeout=10)
    assert shares["plain"] > 0.9, "the window manager did not keep the overlay above: the check proves nothing"
    assert shares["kept-above"] < 0.05, shares  # the OK button is seen, not the overlay
