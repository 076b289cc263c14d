"""System-wide shortcuts on a real (virtual) X server: keys sent to the server with xdotool (XTEST), as a keyboard
would send them, while another program's window has the input focus.

The pytest process renders Qt offscreen but opens its own X connections for the grab tests. The end-to-end test
runs two separate programs on the X screen: Captionist's overlay with the shortcuts registered, and a plain text
editor window that holds the focus and reports every key it is given.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.shortcuts.x11 import X11Shortcuts, libx11, lock_variants
from tests.fixtures.xvfb import XScreen, composited_xvfb, missing_tools

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT_S = 60.0  # Qt programs start slowly on a busy two-core machine

try:
    libx11()
    NO_X11 = ""
except OSError:
    NO_X11 = "libX11 is not installed"
MISSING = missing_tools() + ([] if shutil.which("xdotool") else ["xdotool"])
pytestmark = pytest.mark.skipif(
    bool(MISSING or NO_X11),
    reason=NO_X11 or f"needs {', '.join(MISSING)} on PATH (apt: xvfb xcompmgr imagemagick xdotool)",
)

OVERLAY_PROGRAM = """
import json, sys

from PySide6.QtCore import QSocketNotifier
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.captions.overlay import CaptionOverlay
from app.captions.style import CaptionStyle
from app.shortcuts import system_shortcuts

app = QApplication(sys.argv)
overlay = CaptionOverlay(CaptionStyle(), {}, False)
shortcuts = system_shortcuts(app)


def activated(action):
    if action == "toggle_overlay":
        overlay.setVisible(not overlay.isVisible())
    elif action == "click_through":
        overlay.set_click_through(not overlay.click_through())
    state = {"action": action, "visible": overlay.isVisible(), "click_through": overlay.click_through()}
    print("ACTIVATED", json.dumps(state), flush=True)


def command():
    if sys.stdin.readline().strip() in ("", "quit"):
        shortcuts.close()
        app.quit()


shortcuts.activated.connect(activated)
overlay.show()
QTest.qWaitForWindowExposed(overlay)
problems = shortcuts.register(json.loads(sys.argv[1]))
print("READY", json.dumps({"backend": type(shortcuts).__name__, "problems": problems}), flush=True)
notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(command)
app.exec()
"""

OTHER_PROGRAM = """
import sys

from PySide6.QtCore import QEvent, QObject, Qt, QSocketNotifier
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPlainTextEdit

MODIFIER_KEYS = {Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Shift, Qt.Key.Key_Meta}


class KeySpy(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.KeyPress and event.key() not in MODIFIER_KEYS:
            print("KEY", QKeySequence(event.keyCombination()).toString(), flush=True)
        return False


app = QApplication(sys.argv)
editor = QPlainTextEdit()
editor.setWindowTitle("Another program")
editor.setGeometry(100, 100, 600, 400)
spy = KeySpy()
editor.installEventFilter(spy)
app.focusWindowChanged.connect(lambda window: print("FOCUSED" if window else "UNFOCUSED", flush=True))
editor.show()
QTest.qWaitForWindowExposed(editor)
print("READY", int(editor.winId()), flush=True)
notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(lambda: app.quit() if sys.stdin.readline().strip() in ("", "quit") else None)
app.exec()
"""

BINDINGS = {"toggle_overlay": "Ctrl+Alt+Shift+L", "click_through": "Ctrl+Alt+Shift+K",
            "toggle_captions": "Ctrl+Alt+Shift+S"}


class Program:
    """A Python child process on the X screen, its stdout read line by line."""

    def __init__(self, screen: XScreen, script: Path, args: list[str], stderr: Path) -> None:
        env = screen.env()
        env["PYTHONPATH"] = str(ROOT)
        self._stderr_path = stderr
        with open(stderr, "w") as err:
            self.process = subprocess.Popen([sys.executable, str(script), *args], cwd=ROOT, env=env, text=True,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, prefix: str, timeout_s: float = TIMEOUT_S) -> str:
        """The next line, which must start with ``prefix``; the rest of it."""
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"no {prefix!r} within {timeout_s} s; stderr: {self._stderr_path.read_text()[-2000:]}")
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
        return line[len(prefix):].strip()

    def skip_until(self, prefix: str, timeout_s: float = TIMEOUT_S) -> None:
        """Wait for a line starting with ``prefix``, dropping the lines before it."""
        while True:
            try:
                line = self.lines.get(timeout=timeout_s)
            except queue.Empty:
                pytest.fail(f"no {prefix!r} within {timeout_s} s; stderr: {self._stderr_path.read_text()[-2000:]}")
            if line.startswith(prefix):
                return

    def nothing_more(self, wait_s: float = 1.0) -> None:
        try:
            line = self.lines.get(timeout=wait_s)
        except queue.Empty:
            return
        pytest.fail(f"unexpected output: {line!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def xdotool(screen: XScreen, *args: str) -> str:
    done = subprocess.run(["xdotool", *args], env=screen.env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def screen():
    with composited_xvfb(1024, 768) as screen:
        yield screen


@pytest.fixture
def connect(screen: XScreen):
    """Makes X11Shortcuts on the test screen (each its own X client); all closed after the test."""
    made: list[X11Shortcuts] = []

    def connect() -> X11Shortcuts:
        made.append(X11Shortcuts(screen.display))
        return made[-1]

    yield connect
    for shortcuts in made:
        shortcuts.close()


def press(qtbot, screen: XScreen, shortcuts: X11Shortcuts, keys: str) -> str:
    """Send ``keys`` through the X server; the action ``shortcuts`` reported for them."""
    with qtbot.waitSignal(shortcuts.activated, timeout=10_000) as signal:
        xdotool(screen, "key", keys)
    return signal.args[0]


def test_lock_variants_cover_every_combination_of_the_locks():
    assert lock_variants([2, 16, 0]) == [0, 2, 16, 18]
    assert lock_variants([2, 16, 16]) == [0, 2, 16, 18]  # a lock found twice in the keymap counts once
    assert sorted(lock_variants([2, 16, 32])) == [0, 2, 16, 18, 32, 34, 48, 50]


def test_a_grabbed_key_reaches_the_grabbing_client_with_and_without_num_lock(qapp, qtbot, screen, connect):
    shortcuts = connect()
    assert shortcuts.register(BINDINGS) == []
    assert press(qtbot, screen, shortcuts, "ctrl+alt+shift+l") == "toggle_overlay"
    assert press(qtbot, screen, shortcuts, "ctrl+alt+shift+k") == "click_through"
    xdotool(screen, "key", "Num_Lock")
    try:
        assert press(qtbot, screen, shortcuts, "ctrl+alt+shift+s") == "toggle_captions"
    finally:
        xdotool(screen, "key", "Num_Lock")
    with qtbot.assertNotEmitted(shortcuts.activated, wait=500):
        xdotool(screen, "key", "ctrl+alt+l")  # not the same combination: Shift is missing


def test_holding_the_keys_down_acts_once_although_the_server_repeats_them(qapp, qtbot, screen, connect):
    shortcuts = connect()
    assert shortcuts.register(BINDINGS) == []
    seen: list[str] = []
    shortcuts.activated.connect(seen.append)
    # The X server auto-repeats a held key (about 25 presses a second after 0.66 s).
    xdotool(screen, "keydown", "ctrl+alt+shift+l", "sleep", "1.5", "keyup", "ctrl+alt+shift+l")
    qtbot.wait(500)
    assert seen == ["toggle_overlay"]
    assert press(qtbot, screen, shortcuts, "ctrl+alt+shift+l") == "toggle_overlay"  # released: acts again


def test_a_key_another_client_holds_is_reported_taken_and_freed_keys_can_be_taken(qapp, connect):
    first, second = connect(), connect()
    assert first.register({"toggle_overlay": "Ctrl+Alt+Shift+L", "click_through": "Ctrl+Alt+Shift+K"}) == []
    assert second.register(BINDINGS) == [
        "Show or hide the captions: Ctrl+Alt+Shift+L is taken by another program",
        "Turn click-through on or off: Ctrl+Alt+Shift+K is taken by another program",
    ]
    assert first.register({"toggle_overlay": "Ctrl+Alt+Shift+M"}) == []  # re-registering lets the old keys go
    assert second.register(BINDINGS) == []
    first.close()
    assert connect().register({"toggle_overlay": "Ctrl+Alt+Shift+M"}) == []  # closing lets them go too


def test_an_invalid_or_duplicate_combination_is_a_problem_and_the_rest_still_work(qapp, qtbot, screen, connect):
    shortcuts = connect()
    problems = shortcuts.register({"toggle_overlay": "Shift+L", "click_through": "Ctrl+Alt+Hyper",
                                   "toggle_captions": "Ctrl+Alt+Shift+S"})
    assert problems == [
        "Show or hide the captions: Shift+L: a system-wide shortcut needs Ctrl, Alt or Meta, so that typing is "
        "never taken",
        "Turn click-through on or off: Ctrl+Alt+Hyper: “Hyper” cannot be a system-wide shortcut key; use a letter, a "
        "digit, F1–F24, Space, Esc, Tab, an arrow, Home, End, PgUp, PgDown, Ins, Del or punctuation",
    ]
    assert press(qtbot, screen, shortcuts, "ctrl+alt+shift+s") == "toggle_captions"
    assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+F4", "click_through": "Alt+Ctrl+F4"}) == [
        "Turn click-through on or off: Ctrl+Alt+F4 is already the shortcut for “Show or hide the captions”"]


def start(screen: XScreen, tmp_path: Path, name: str, source: str, *args: str) -> Program:
    script = tmp_path / f"{name}.py"
    script.write_text(source)
    return Program(screen, script, list(args), tmp_path / f"{name}-stderr.txt")


def test_the_shortcut_toggles_the_overlay_while_another_program_has_the_focus(qapp, qtbot, screen, connect,
                                                                            tmp_path: Path):
    holder = connect()  # another client holds one of the keys before Captionist starts
    assert holder.register({"toggle_captions": "Ctrl+Alt+Shift+S"}) == []
    programs: list[Program] = []
    try:
        overlay = start(screen, tmp_path, "overlay", OVERLAY_PROGRAM, json.dumps(BINDINGS))
        programs.append(overlay)
        ready = json.loads(overlay.next_line("READY"))
        assert ready == {"backend": "X11Shortcuts",
                         "problems": ["Start or stop captions: Ctrl+Alt+Shift+S is taken by another program"]}
        other = start(screen, tmp_path, "other", OTHER_PROGRAM)
        programs.append(other)
        window = int(other.next_line("READY"))

        xdotool(screen, "windowfocus", "--sync", str(window))
        other.skip_until("FOCUSED")
        assert int(xdotool(screen, "getwindowfocus")) == window
        xdotool(screen, "key", "x")
        assert other.next_line("KEY") == "X"  # typing reaches the other program: it has the focus

        def toggled(keys: str, expected: Callable[[dict], bool]) -> dict:
            xdotool(screen, "key", keys)
            state = json.loads(overlay.next_line("ACTIVATED"))
            assert expected(state), state
            return state

        toggled("ctrl+alt+shift+l", lambda s: s == {"action": "toggle_overlay", "visible": False,
                                                    "click_through": False})
        assert int(xdotool(screen, "getwindowfocus")) == window  # the focus stayed where it was
        toggled("ctrl+alt+shift+l", lambda s: s["visible"] is True)
        toggled("ctrl+alt+shift+k", lambda s: s == {"action": "click_through", "visible": True,
                                                    "click_through": True})
        assert press(qtbot, screen, holder, "ctrl+alt+shift+s") == "toggle_captions"  # the holder gets its key
        xdotool(screen, "key", "y")
        assert other.next_line("KEY") == "Y"  # the shortcuts were not typed into the focused program
        other.nothing_more()
        overlay.nothing_more()
    finally:
        for program in programs:
            program.stop()
    assert [p.process.returncode for p in programs] == [0, 0]
