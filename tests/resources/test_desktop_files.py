"""The desktop entry and the AppStream metainfo: valid for the freedesktop tools, and agreeing with the program
(its id, name, licence, version, command) and with the screenshots the tests take."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from app.cli import build_parser
from app.identity import APP_ID, APP_NAME, LICENSE, version

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "resources" / "linux"
DESKTOP_ENTRY = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
SCREENSHOTS = ROOT / "resources" / "screenshots"
SCREENSHOT_URL = "https://captionist.org/screenshots/"  # where the site is to publish resources/screenshots/


def tool(name: str, package: str):
    return pytest.mark.skipif(shutil.which(name) is None,
                              reason=f"needs {name} on PATH (apt: {package}); CI installs it through test.sh")


def validate(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@tool("desktop-file-validate", "desktop-file-utils")
def test_the_desktop_entry_is_valid() -> None:
    found = validate("desktop-file-validate", str(DESKTOP_ENTRY))
    # Hints are allowed (it is listed under two main categories on purpose: sound and video, and accessories).
    assert not [line for line in found.splitlines() if "error:" in line or "warning:" in line], found


@tool("appstreamcli", "appstream")
def test_the_metainfo_is_valid() -> None:
    validate("appstreamcli", "validate", "--no-net", "--explain", str(METAINFO))


def desktop_entry() -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(DESKTOP_ENTRY, encoding="utf-8")
    return entry["Desktop Entry"]


def test_the_desktop_entry_starts_the_program_without_arguments() -> None:
    group = desktop_entry()
    assert group["Exec"] == "captionist"  # a %f would leave --play without its file when started from the menu
    assert build_parser().parse_args([]).command is None  # no subcommand: the window
    assert "Accessibility" in group["Categories"].split(";") and "AudioVideo" in group["Categories"].split(";")
    assert {"captions", "subtitles", "transcription", "deaf", "hearing"} <= set(group["Keywords"].split(";"))


def test_the_metainfo_agrees_with_the_program_and_the_desktop_entry() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == APP_NAME == desktop_entry()["Name"]
    assert root.findtext("project_license") == LICENSE
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.find("launchable").text == DESKTOP_ENTRY.name
    assert root.find("content_rating").get("type") == "oars-1.1"
    assert [binary.text for binary in root.iter("binary")] == ["captionist"]
    assert version() in [release.get("version") for release in root.iter("release")]
    categories = [c.text for c in root.iter("category")]
    assert categories == [c for c in desktop_entry()["Categories"].split(";") if c]
    assert [k.text for k in root.iter("keyword")] == [k for k in desktop_entry()["Keywords"].split(";") if k]


def test_each_screenshot_of_the_metainfo_is_a_committed_png_of_its_stated_size() -> None:
    images = list(ET.parse(METAINFO).getroot().iter("image"))
    assert images
    for image in images:
        assert image.text.startswith(SCREENSHOT_URL)
        path = SCREENSHOTS / image.text.removeprefix(SCREENSHOT_URL)
        shot = QImage(str(path))
        assert not shot.isNull(), f"{path} is missing: run tests/resources/test_screenshots.py (see its docstring)"
        assert (shot.width(), shot.height()) == (int(image.get("width")), int(image.get("height"))), path.name
