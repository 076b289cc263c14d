"""Wayland: finding the desktop portal's GlobalShortcuts interface on a real (private) D-Bus session bus, with and
without a stand-in portal that exports it, and what the settings say in each case."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.shortcuts.portal import portal_version, wayland_availability

FAKE_PORTAL = """
from PySide6.QtCore import ClassInfo, Property, QCoreApplication, QObject, QSocketNotifier
from PySide6.QtDBus import QDBusAbstractAdaptor, QDBusConnection
import sys


@ClassInfo({"D-Bus Interface": "org.freedesktop.portal.GlobalShortcuts"})
class GlobalShortcuts(QDBusAbstractAdaptor):
    version = Property(int, lambda self: 2)


app = QCoreApplication(sys.argv)
bus = QDBusConnection.sessionBus()
portal = QObject()
GlobalShortcuts(portal)
assert bus.registerObject("/org/freedesktop/portal/desktop", portal, QDBusConnection.RegisterOption.ExportAdaptors)
assert bus.registerService("org.freedesktop.portal.Desktop")
print("READY", flush=True)
notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(app.quit)
app.exec()
"""


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


def test_a_bus_without_the_portal_gives_none_and_a_stand_in_portal_its_version(qapp, bus_address, tmp_path: Path):
    assert portal_version(bus_address) is None
    script = tmp_path / "fake_portal.py"
    script.write_text(FAKE_PORTAL)
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus_address, QT_QPA_PLATFORM="offscreen")
    portal = subprocess.Popen([sys.executable, str(script)], env=env, text=True, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert _line(portal.stdout, portal, 60.0) == "READY"
        assert portal_version(bus_address) == 2
    finally:
        portal.stdin.close()
        portal.wait(timeout=20)


def test_no_bus_gives_none(qapp, tmp_path: Path):
    assert portal_version(f"unix:path={tmp_path / 'no-bus-here'}") is None


def test_the_settings_say_honestly_what_works():
    without = wayland_availability(None)
    assert "offers no system-wide shortcuts" in without and "no GlobalShortcuts" in without
    assert "only while one of its windows has the focus" in without
    offered = wayland_availability(1)
    assert "GlobalShortcuts version 1" in offered and "cannot use them yet" in offered
    assert "do nothing while another program has the focus" in offered
