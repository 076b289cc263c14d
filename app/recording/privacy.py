"""Recordings, transcripts, chats and the index are the user's private data: files 0600, folders 0700.

New files and folders get these modes whatever the process's umask (``private_file``, ``private_dirs``), and
``tighten`` brings what earlier versions wrote (with the umask's modes) down to them at start-up. Only plain files
and folders are changed: a symbolic link is never followed, so nothing outside the data folder is touched.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dirs(path: Path, *, below: Path | None = None) -> None:
    """Create ``path`` and its missing parents as folders 0700 (their modes are set after creation, so the umask
    cannot widen or narrow them). Parents above ``below`` are created but left as the umask makes them. Raises
    OSError."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        if below is None or folder == below or below in folder.parents:
            os.chmod(folder, DIR_MODE)


def open_private(path: str | Path, flags: int) -> int:
    """``os.open`` of ``path`` with ``flags`` (O_CREAT implied), the file made 0600 even when it existed; never
    follows a symbolic link at ``path``. Returns the descriptor; also usable as ``open(..., opener=open_private)``."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        if os.name != "nt":
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def tighten(root: Path) -> list[str]:
    """Make every file under ``root`` 0600 and every folder 0700 (``root`` included); what could not be changed.

    Symbolic links are neither followed nor changed. Returns messages for the user (empty when all went well).
    """
    if os.name == "nt":  # Windows keeps per-user data private through the folder's ACL, not mode bits
        return []
    problems: list[str] = []
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        return problems

    def fix(path: Path, mode: int, info: os.stat_result) -> None:
        if stat.S_IMODE(info.st_mode) != mode:
            try:
                os.chmod(path, mode, follow_symlinks=False)
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror or exc}")

    def walk(folder: Path) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            problems.append(f"{folder}: {exc.strerror or exc}")
            return
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we looked
            if stat.S_ISDIR(info.st_mode):
                fix(Path(entry.path), DIR_MODE, info)
                walk(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                fix(Path(entry.path), FILE_MODE, info)

    fix(root, DIR_MODE, root.stat())
    walk(root)
    return problems
