"""Whether recordings can be saved: the data folder checked at start-up, before anything is recorded into it.

A read-only or full data folder must not stop the program (live captions need no disk); the user is told at once
that recordings cannot be saved, where, and what to do, instead of finding out when a meeting was not kept.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from app.recording.privacy import open_private, private_dirs
from app.recording.session_folder import sessions_dir

PROBE_BYTES = 256 * 1024  # about 8 s of one source: less free space than this cannot hold a recording
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def storage_problem(data_dir: Path) -> str | None:
    """Why recordings cannot be saved under ``data_dir`` (a message for the user), or None when they can.

    Creates the sessions folder if needed and writes, syncs and removes a small probe file there.
    """
    root = sessions_dir(data_dir)
    probe = root / f".write-test-{os.getpid()}"
    try:
        private_dirs(root, below=Path(data_dir))
        fd = open_private(probe, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, bytes(PROBE_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return message(exc, Path(data_dir))
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    return None


def message(exc: OSError, data_dir: Path) -> str:
    """What a failed write into the data folder means for the user."""
    if exc.errno in _DISK_FULL:
        return (f"Recordings cannot be saved: the disk that holds {data_dir} is full. Live captions work, but "
                "nothing is recorded until you free space on that disk.")
    return (f"Recordings cannot be saved: the folder {data_dir} cannot be written ({exc.strerror or exc}). Live "
            "captions work, but nothing is recorded until the folder is writable again (check its permissions "
            "and that its disk is mounted read-write).")
