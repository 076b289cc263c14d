"""Who the program is to the desktop, in one place: its reverse-DNS id, name, version and licence.

``APP_ID`` names the desktop entry, the icon and the AppStream metainfo (``resources/``), and is the window's
Wayland app id and X11 WM_CLASS (set in ``app.gui``). Nothing here imports Qt: the command line uses it too.
"""

from __future__ import annotations

import re
import sysconfig
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path

APP_ID = "org.captionist.Captionist"
APP_NAME = "Captionist"
LICENSE = "Apache-2.0"
DISTRIBUTION = "captionist"  # the name pip knows it by

CHECKOUT = Path(__file__).resolve().parents[1]
RESOURCES = CHECKOUT / "resources"  # present in a checkout (and an editable install), not in a wheel


def version() -> str:
    """The installed distribution's version; run from a checkout that was never installed, pyproject.toml's."""
    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        pass
    try:
        text = (CHECKOUT / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    # The [project] table's version line; tomllib would need Python 3.11, and the file is ours.
    found = re.search(r'^\[project\]$.*?^version\s*=\s*"([^"]+)"', text, re.MULTILINE | re.DOTALL)
    return found.group(1) if found else "unknown"


def installed_share_dirs() -> list[Path]:
    """Where an installed wheel's data files went (``share/`` under the environment, or the user's base with
    ``pip install --user``): pyproject.toml's ``[tool.setuptools.data-files]`` puts the icons and the desktop entry
    there."""
    roots = [sysconfig.get_path("data")]
    user_scheme = sysconfig.get_preferred_scheme("user")
    if user_scheme in sysconfig.get_scheme_names():
        roots.append(sysconfig.get_path("data", user_scheme))
    return [Path(root) / "share" for root in dict.fromkeys(roots) if root]
