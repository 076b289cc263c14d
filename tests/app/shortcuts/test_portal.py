"""Wayland: the desktop portal's GlobalShortcuts interface on a real (private) D-Bus bus.

The desktop's part, the portal (a system service Captionist does not ship), is played by a stand-in process on that
bus: it owns org.freedesktop.portal.Desktop, answers CreateSession, BindShortcuts and Session.Close as the
xdg-desktop-portal documentation says (Request objects at the documented paths, Response signals with their real
signatures), emits Activated on command, and reports every call it received with its D-Bus signature as a JSON
line, so that the tests check what went over the bus, not what the backend meant to send.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication

from app.shortcuts.keys import parse
from app.shortcuts.portal import PortalShortcuts, portal_version, wayland_availability, xdg_trigger

ROOT = Path(__file__).resolve().parents[3]

STAND_IN_PORTAL = """
import json, select, sys
from app.shortcuts.dbus_wire import ERROR, METHOD_CALL, METHOD_RETURN, SIGNAL, DBusConnection, Variant
from app.shortcuts.portal import GLOBAL_SHORTCUTS, PORTAL_PATH, PORTAL_SERVICE, REQUEST, request_path

bind_response = int(sys.argv[1])  # the Response code BindShortcuts gets: 0 bound, 1 the user refused
bus = DBusConnection()
sessions = []


def report(**fields):
    print(json.dumps(fields), flush=True)


def answer(call, signature="", args=()):
    bus.send(METHOD_RETURN, destination=call.sender, reply_to=call.serial, signature=signature, args=args)


def respond(path, code, results):
    bus.send(SIGNAL, path=path, interface=REQUEST, member="Response", signature="ua{sv}", args=[code, results])


def handle(call):
    report(member=call.member, interface=call.interface, path=call.path, signature=call.signature, args=call.args)
    if call.member == "Get":
        answer(call, "v", [Variant("u", 2)])
    elif call.member == "CreateSession":
        request = request_path(call.sender, call.args[0]["handle_token"])
        session = PORTAL_PATH + "/session/" + call.sender[1:].replace(".", "_") + "/"
        session += call.args[0]["session_handle_token"]
        sessions.append(session)
        answer(call, "o", [request])
        respond(request, 0, {"session_handle": Variant("s", session)})  # "s", as the documentation admits
    elif call.member == "BindShortcuts":
        request = request_path(call.sender, call.args[3]["handle_token"])
        answer(call, "o", [request])
        bound = [(sid, {"description": info["description"], "trigger_description": "Desktop keys for " + sid})
                 for sid, info in call.args[1]]
        results = {"shortcuts": Variant("a(sa{sv})", bound)} if bind_response == 0 else {}
        respond(request, bind_response, results)
    elif call.member == "Close":
        answer(call)
    else:
        bus.send(ERROR, destination=call.sender, reply_to=call.serial, error_name="org.freedesktop.DBus.Error.Failed",
                 signature="s", args=["not in this stand-in"])


serial = bus.send(METHOD_CALL, destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                  interface="org.freedesktop.DBus", member="RequestName", signature="su", args=[PORTAL_SERVICE, 4])
while True:
    readable, _, _ = select.select([bus.fileno(), sys.stdin], [], [])
    if sys.stdin in readable:
        command = sys.stdin.readline().split()
        if not command:
            break
        # activate SHORTCUT_ID: as if the user pressed the keys the desktop bound to it
        bus.send(SIGNAL, path=PORTAL_PATH, interface=GLOBAL_SHORTCUTS, member="Activated", signature="osta{sv}",
                 args=[sessions[-1], command[1], 1234, {}])
    if bus.fileno() in readable:
        for message in bus.receive():
            if message.kind == METHOD_RETURN and message.reply_serial == serial:
                report(ready=message.args[0] == 1)  # 1: the primary owner of the portal's name
            elif message.kind == METHOD_CALL:
                handle(message)
"""


class StandInPortal:
    """The stand-in portal process; ``next_call()`` waits (running Qt's events meanwhile) for its next report."""

    def __init__(self, bus_address: str, tmp_path: Path, bind_response: int = 0) -> None:
        script = tmp_path / "stand_in_portal.py"
        script.write_text(STAND_IN_PORTAL)
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus_address, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen([sys.executable, str(script), str(bind_response)], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._buffer = b""
        assert self._report() == {"ready": True}

    def _report(self, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            QCoreApplication.processEvents()  # the backend under test runs on this thread's events
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail("no report from the stand-in portal")
            ready, _, _ = select.select([self.process.stdout], [], [], 0.02)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    pytest.fail("the stand-in portal ended")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def next_call(self) -> dict:
        return self._report()

    def activate(self, shortcut_id: str) -> None:
        self.process.stdin.write(f"activate {shortcut_id}\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=20)


def _line(stream, process: subprocess.Popen, timeout_s: float = 30.0) -> str:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    if not ready:
        process.kill()
        pytest.fail("no answer from the child process")
    return stream.readline().strip()


@pytest.fixture
def bus_address():
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (apt: dbus)")
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield _line(daemon.stdout, daemon)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


@pytest.fixture
def portal(bus_address, tmp_path: Path):
    stand_in = StandInPortal(bus_address, tmp_path)
    yield stand_in
    stand_in.stop()


def test_a_bus_without_the_portal_gives_none_and_a_stand_in_portal_its_version(qapp, bus_address, tmp_path: Path):
    assert portal_version(bus_address) is None
    stand_in = StandInPortal(bus_address, tmp_path)
    try:
        assert portal_version(bus_address) == 2
        call = stand_in.next_call()
        assert (call["member"], call["signature"], call["args"]) == ("Get", "ss", ["org.freedesktop.portal."
                                                                                  "GlobalShortcuts", "version"])
    finally:
        stand_in.stop()


def test_no_bus_gives_none(qapp, tmp_path: Path):
    assert portal_version(f"unix:path={tmp_path / 'no-bus-here'}") is None


def test_the_shortcuts_are_proposed_bound_activated_and_closed_over_the_bus(qtbot, bus_address, portal):
    shortcuts = PortalShortcuts(2, bus_address=bus_address)
    try:
        with qtbot.waitSignal(shortcuts.problemsChanged, timeout=30000) as answered:
            problems = shortcuts.register({"toggle_overlay": "Ctrl+Alt+Shift+L", "click_through": "Meta+F9",
                                           "toggle_captions": ""})
            assert problems == []  # nothing is known yet: the desktop answers later
            create = portal.next_call()
            bind = portal.next_call()
        assert answered.args == [[]]
        assert (create["member"], create["signature"]) == ("CreateSession", "a{sv}")
        assert set(create["args"][0]) == {"handle_token", "session_handle_token"}
        assert (bind["member"], bind["signature"]) == ("BindShortcuts", "oa(sa{sv})sa{sv}")
        session, proposed, parent_window, options = bind["args"]
        assert session.endswith("/" + create["args"][0]["session_handle_token"])
        assert proposed == [
            ["toggle_overlay", {"description": "Show or hide the captions", "preferred_trigger": "CTRL+ALT+SHIFT+l"}],
            ["click_through", {"description": "Turn click-through on or off", "preferred_trigger": "LOGO+F9"}],
        ]
        assert parent_window == "" and set(options) == {"handle_token"}
        assert shortcuts.bound == {"toggle_overlay": "Desktop keys for toggle_overlay",
                                   "click_through": "Desktop keys for click_through"}

        with qtbot.waitSignal(shortcuts.activated, timeout=30000) as pressed:
            portal.activate("toggle_overlay")
        assert pressed.args == ["toggle_overlay"]

        # Registering again: the old session is closed and a new one proposes the new keys.
        with qtbot.waitSignal(shortcuts.problemsChanged, timeout=30000):
            shortcuts.register({"toggle_captions": "Ctrl+Alt+C"})
            close = portal.next_call()
            create_again = portal.next_call()
            bind_again = portal.next_call()
        assert (close["member"], close["interface"], close["path"]) == ("Close", "org.freedesktop.portal.Session",
                                                                         session)
        assert create_again["member"] == "CreateSession" and bind_again["args"][0] != session
        assert bind_again["args"][1] == [["toggle_captions", {"description": "Start or stop captions",
                                                              "preferred_trigger": "CTRL+ALT+c"}]]
        new_session = bind_again["args"][0]
    finally:
        shortcuts.close()
    close = portal.next_call()
    assert (close["member"], close["signature"], close["path"]) == ("Close", "", new_session)


def test_a_refusal_is_reported_in_plain_words_and_nothing_is_bound(qtbot, bus_address, tmp_path: Path):
    portal = StandInPortal(bus_address, tmp_path, bind_response=1)
    shortcuts = PortalShortcuts(1, bus_address=bus_address)
    try:
        with qtbot.waitSignal(shortcuts.problemsChanged, timeout=30000) as answered:
            assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+O", "click_through": "O"}) == [
                "Turn click-through on or off: O: a system-wide shortcut needs Ctrl, Alt or Meta, so that typing is "
                "never taken"]
            assert portal.next_call()["member"] == "CreateSession"
            assert portal.next_call()["member"] == "BindShortcuts"
        problems = answered.args[0]
        assert problems[0].startswith("Turn click-through on or off")  # the key that did not parse stays listed
        assert "refused" in problems[1] and "none are bound" in problems[1]
        assert shortcuts.bound == {}
    finally:
        shortcuts.close()
        portal.stop()


def test_an_error_from_the_bus_is_reported_and_the_backend_keeps_working(qtbot, bus_address):
    shortcuts = PortalShortcuts(1, bus_address=bus_address)  # no portal on this bus: the bus answers with an error
    try:
        with qtbot.waitSignal(shortcuts.problemsChanged, timeout=30000) as answered:
            assert shortcuts.register({"toggle_overlay": "Ctrl+Alt+O"}) == []
        [problem] = answered.args[0]
        assert problem.startswith("the desktop portal could not take the system-wide shortcuts (")
        assert shortcuts.bound == {}
    finally:
        shortcuts.close()


def test_triggers_are_written_as_the_xdg_shortcuts_specification_says():
    assert xdg_trigger(parse("Ctrl+Alt+Shift+L")) == "CTRL+ALT+SHIFT+l"
    assert xdg_trigger(parse("Meta+PgUp")) == "LOGO+Prior"
    assert xdg_trigger(parse("Ctrl+,")) == "CTRL+comma"
    assert xdg_trigger(parse("Alt+F12")) == "ALT+F12"


def test_the_settings_say_honestly_what_works():
    without = wayland_availability(None)
    assert "offers no system-wide shortcuts" in without and "no GlobalShortcuts" in without
    assert "only while one of its windows has the focus" in without
    offered = wayland_availability(1)
    assert "GlobalShortcuts version 1" in offered and "the desktop decides the final keys" in offered
    assert "may ask you to confirm them" in offered
