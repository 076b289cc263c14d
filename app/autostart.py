"""Starting with the desktop session (opt-in): an XDG autostart entry that Captionist writes and removes.

The entry is the program's own desktop entry (``resources/linux/org.captionist.Captionist.desktop``) with Exec
replaced by the command that started this very program, so that the installation the person uses is the one that
starts, and ``X-GNOME-Autostart-enabled=true`` added. Freedesktop desktops (Linux, the BSDs) read
``$XDG_CONFIG_HOME/autostart``; Windows and macOS are not supported yet: ``enable`` says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.identity import APP_ID, RESOURCES, installed_share_dirs

ENTRY_NAME = f"{APP_ID}.desktop"
GROUP = "[Desktop Entry]"
EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")  # characters that make an Exec argument need quotes (the spec's list)


class AutostartError(Exception):
    """Why the entry cannot be written; the message is for the person."""


def supported() -> bool:
    return sys.platform not in ("win32", "cygwin", "darwin")


def entry_path() -> Path:
    """Where the autostart entry goes: ``$XDG_CONFIG_HOME/autostart``, ``~/.config/autostart`` by default."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if os.path.isabs(config) else Path.home() / ".config"  # the spec ignores a relative one
    return base / "autostart" / ENTRY_NAME


def enabled() -> bool:
    return entry_path().is_file()


def program_command() -> list[str]:
    """The command that starts this program again: the ``captionist`` script it was started by, else this Python
    with ``-m app.cli``; a frozen build (PyInstaller), its own executable."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "captionist" and os.access(script, os.X_OK):
        return [str(script.absolute())]  # absolute: the session's PATH may not have a virtual environment's bin/
    return [sys.executable, "-m", "app.cli"]


def desktop_entry() -> Path:
    """The program's desktop entry: the checkout's, else an installed wheel's, else the system's (a .deb's)."""
    data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    system = [Path(d) for d in data_dirs.split(":") if os.path.isabs(d)]
    candidates = [RESOURCES / "linux", *(share / "applications" for share in [*installed_share_dirs(), *system])]
    for folder in candidates:
        if (folder / ENTRY_NAME).is_file():
            return folder / ENTRY_NAME
    raise AutostartError(f"the program's desktop entry {ENTRY_NAME} was not found (is Captionist installed?)")


def exec_line(command: list[str]) -> str:
    """``command`` as a desktop entry's Exec value: arguments quoted as the spec says, ``%`` doubled, then the
    string escaping of backslashes that every value gets."""
    args = []
    for arg in command:
        if arg and not EXEC_RESERVED.intersection(arg):
            quoted = arg
        else:
            quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
        args.append(quoted.replace("%", "%%"))
    return " ".join(args).replace("\\", "\\\\")


def autostart_entry(template: str, command: list[str]) -> str:
    """The autostart entry made from a desktop entry's text: its main group only, with ``command`` as Exec."""
    lines, in_group = [], False
    for line in template.splitlines():
        if line.startswith("["):
            in_group = line.strip() == GROUP
            if in_group:
                lines.append(line)
            continue
        if not in_group or line.startswith(("Exec=", "TryExec=", "X-GNOME-Autostart-enabled=")):
            continue
        lines.append(line)
    if not lines:
        raise AutostartError(f"the desktop entry has no {GROUP} group")
    lines[1:1] = ["# Written by Captionist for its setting 'Start with my desktop session', which removes it.",
                  f"Exec={exec_line(command)}"]
    return "\n".join([*lines, "X-GNOME-Autostart-enabled=true"]) + "\n"


def enable(command: list[str] | None = None) -> Path:
    """Write the autostart entry (again, for the current command); returns its path. Raises AutostartError, or
    OSError when the file cannot be written."""
    if not supported():
        raise AutostartError("starting with the desktop session is not supported on Windows and macOS yet")
    text = autostart_entry(desktop_entry().read_text(encoding="utf-8"), command or program_command())
    path = entry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a session starting meanwhile never reads half a file
    return path


def disable() -> None:
    """Remove the autostart entry, if there is one. Raises OSError when it cannot be removed."""
    entry_path().unlink(missing_ok=True)


def apply(on: bool) -> None:
    """Make the entry exist or not, as the setting says (see ``enable`` and ``disable`` for what it raises)."""
    if on:
        enable()
    else:
        disable()
