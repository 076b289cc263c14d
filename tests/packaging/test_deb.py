"""The Debian package, end to end: packaging/linux/build-deb.sh builds it, packaging/linux/check-deb.sh installs it with
apt, runs the command and the window, and purges it again leaving nothing behind.

The build and the check take a few minutes, need root (or sudo) and apt, and install and remove a package on the
machine, so they run only with CAPTIONIST_CHECK_DEB=1; the scripts' syntax is checked in every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "packaging").glob("**/*.sh"))
BUILD = ROOT / "packaging" / "linux" / "build-deb.sh"
CHECK = ROOT / "packaging" / "linux" / "check-deb.sh"


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(ROOT)) for s in SCRIPTS])
def test_script_syntax(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_build_deb_refuses_unknown_arguments() -> None:
    done = subprocess.run(["bash", str(BUILD), "--no-such-option"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "unknown argument: --no-such-option" in done.stderr


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.skipif(os.environ.get("CAPTIONIST_CHECK_DEB") != "1",
                    reason="builds, installs and purges the .deb (minutes, root): set CAPTIONIST_CHECK_DEB=1")
@pytest.mark.timeout(3600)
def test_deb_builds_installs_runs_and_purges(tmp_path: Path) -> None:
    # Asked for explicitly, so what it needs is a failure when missing, not a skip.
    assert shutil.which("dpkg-deb") and shutil.which("apt-get"), "needs a Debian/Ubuntu machine (dpkg-deb, apt-get)"
    assert os.geteuid() == 0 or shutil.which("sudo"), "needs root or sudo"
    build = subprocess.run(["bash", str(BUILD), "--out", str(tmp_path)], capture_output=True, text=True)
    assert build.returncode == 0, f"build-deb.sh failed:\n{_tail(build.stdout)}\n{_tail(build.stderr)}"
    deb = Path(build.stdout.strip().splitlines()[-1])
    assert deb.is_file() and deb.parent == tmp_path and deb.suffix == ".deb", build.stdout

    # The tiny checkpoint is written by this repository's fixtures, with the Python running the tests.
    env = {**os.environ, "CAPTIONIST_TEST_PYTHON": sys.executable}
    check = subprocess.run(["bash", str(CHECK), str(deb)], capture_output=True, text=True, env=env)
    print(_tail(build.stdout, 8), _tail(check.stdout, 30), sep="\n")
    assert check.returncode == 0, f"check-deb.sh failed:\n{_tail(check.stdout)}\n{_tail(check.stderr)}"
    assert "check-deb: passed" in check.stdout
