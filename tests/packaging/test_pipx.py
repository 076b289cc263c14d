"""The wheel with pipx, end to end: packaging/pipx/check-pipx.sh builds it, pipx-installs it (CPU torch preinstalled)
into a private PIPX_HOME, runs --version and a headless transcribe, and uninstalls it.

About a minute and 1.4 GB of disk for the environment, so it runs only with CAPTIONIST_CHECK_PIPX=1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "packaging" / "pipx" / "check-pipx.sh"


@pytest.mark.skipif(os.environ.get("CAPTIONIST_CHECK_PIPX") != "1",
                    reason="builds the wheel and installs it with pipx (about a minute): set CAPTIONIST_CHECK_PIPX=1")
@pytest.mark.timeout(1800)
def test_wheel_installs_and_runs_with_pipx() -> None:
    env = {**os.environ, "CAPTIONIST_TEST_PYTHON": sys.executable}
    check = subprocess.run(["bash", str(CHECK)], capture_output=True, text=True, env=env)
    out = "\n".join(check.stdout.splitlines()[-40:])
    print(out)
    assert check.returncode == 0, f"check-pipx.sh failed:\n{out}\n" + "\n".join(check.stderr.splitlines()[-40:])
    assert "check-pipx: passed" in check.stdout
