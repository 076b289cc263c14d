"""The PyInstaller build (packaging/pyinstaller/captionist.spec), the one spec behind the Linux onedir build, the
Windows installer (packaging/windows) and the macOS .app (packaging/macos).

Only the Linux build can be made here: with CAPTIONIST_CHECK_PYINSTALLER=1, packaging/pyinstaller/build.sh builds it
(a fresh environment with the CPU build of torch, the project's wheel and PyInstaller; about 3 minutes on 2 cores and
3 GB of disk while it runs) and packaging/pyinstaller/smoke.sh runs the frozen program: --version, a headless
transcribe on a tiny checkpoint, and the window under Xvfb. CAPTIONIST_PYI_VENV names a build environment to keep
and reuse between runs (build.sh --venv). The cheap checks below run every time: the spec and the launcher are
valid Python, the spec says what macOS needs, and the files the spec bundles are where the program looks for them.
"""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import identity

ROOT = Path(__file__).resolve().parents[2]
PYI = ROOT / "packaging" / "pyinstaller"
SPEC = PYI / "captionist.spec"
LAUNCHER = PYI / "captionist_launcher.py"
ENTITLEMENTS = ROOT / "packaging" / "macos" / "entitlements.plist"
ISS = ROOT / "packaging" / "windows" / "captionist.iss"


def test_spec_and_launcher_are_python() -> None:
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")
    launcher = LAUNCHER.read_text(encoding="utf-8")
    compile(launcher, str(LAUNCHER), "exec")
    assert "from app.cli import main" in launcher  # the console script's entry point, app.cli:main


def test_spec_names_what_macos_needs() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    for key in ("NSMicrophoneUsageDescription", "NSHighResolutionCapable", "CFBundleShortVersionString"):
        assert f'"{key}"' in spec, key
    assert "bundle_identifier=APP_ID" in spec
    assert "from app.identity import APP_ID, APP_NAME, version" in spec
    assert 'packaging" / "macos" / "entitlements.plist"' in spec
    assert f"{identity.APP_ID}.icns" in spec.replace("{APP_ID}", identity.APP_ID)
    assert f"{identity.APP_ID}.ico" in spec.replace("{APP_ID}", identity.APP_ID)


def test_entitlements() -> None:
    entitlements = plistlib.loads(ENTITLEMENTS.read_bytes())
    assert entitlements["com.apple.security.device.audio-input"] is True
    assert entitlements["com.apple.security.cs.allow-unsigned-executable-memory"] is True
    assert all(value is True for value in entitlements.values()), entitlements


def test_bundled_icons_are_where_the_program_looks() -> None:
    """The spec puts resources/icons/hicolor at resources/icons/hicolor in the bundle's root (sys._MEIPASS), which is
    where app.ui.icon looks first when app.identity's file is <root>/app/identity.pyc, as it is in a onedir build."""
    from app.ui.icon import icon_folders

    spec = SPEC.read_text(encoding="utf-8")
    assert '"resources/icons/hicolor"' in spec
    assert Path(identity.__file__).resolve().parents[1] == identity.CHECKOUT
    assert icon_folders()[0] == identity.CHECKOUT / "resources" / "icons" / "hicolor"
    assert (ROOT / "resources" / "icons" / "hicolor" / "48x48" / "apps" / f"{identity.APP_ID}.png").is_file()


def test_inno_setup_script_installs_what_the_spec_builds() -> None:
    iss = ISS.read_text(encoding="utf-8")
    for name, value in re.findall(r'^#define (\w+) "([^"]*)"$', iss, re.MULTILINE):  # the preprocessor's constants
        iss = iss.replace("{#" + name + "}", value)
    spec = SPEC.read_text(encoding="utf-8")
    assert "executable(APP_NAME, console=False)" in spec and 'executable("captionist-cli", console=True)' in spec
    for needed in ("AppId={{", r"DefaultDirName={autopf}\Captionist", r"{app}\Captionist.exe",
                   f"{identity.APP_ID}.ico", "PrivilegesRequiredOverridesAllowed=", "desktopicon"):
        assert needed in iss, needed


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.skipif(os.environ.get("CAPTIONIST_CHECK_PYINSTALLER") != "1",
                    reason="builds the Linux PyInstaller bundle (about 3 minutes, 3 GB of disk) and runs it: "
                           "set CAPTIONIST_CHECK_PYINSTALLER=1")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the smoke test runs the Linux build")
@pytest.mark.timeout(3600)
def test_linux_build_runs(tmp_path: Path) -> None:
    command = ["bash", str(PYI / "build.sh"), "--out", str(tmp_path)]
    if os.environ.get("CAPTIONIST_PYI_VENV"):
        command += ["--venv", os.environ["CAPTIONIST_PYI_VENV"]]
    build = subprocess.run(command, capture_output=True, text=True)
    assert build.returncode == 0, f"build.sh failed:\n{_tail(build.stdout)}\n{_tail(build.stderr)}"
    bundle = Path(build.stdout.strip().splitlines()[-1])
    assert bundle == tmp_path / "captionist" and (bundle / "captionist").is_file(), build.stdout

    # The tiny checkpoint is written by this repository's fixtures, with the Python running the tests.
    env = {**os.environ, "CAPTIONIST_TEST_PYTHON": sys.executable}
    smoke = subprocess.run(["bash", str(PYI / "smoke.sh"), str(tmp_path)], capture_output=True, text=True, env=env)
    print(_tail(build.stdout, 8), _tail(smoke.stdout, 12), sep="\n")
    assert smoke.returncode == 0, f"smoke.sh failed:\n{_tail(smoke.stdout)}\n{_tail(smoke.stderr)}"
    assert "pyinstaller-smoke: passed" in smoke.stdout
