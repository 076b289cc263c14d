"""Finds sessions that a crash interrupted and repairs them (run at start-up; plain Python).

A session left in state "recording" whose recording.lock nobody holds has no live writer: its WAV headers are set
from the files' lengths, a transcript line cut short is dropped, and it becomes "recovered". Sessions being recorded
by another running instance hold their lock and are left alone. Nothing is ever deleted: a session that cannot be
read or repaired is reported with its problem and left as it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from app.recording.session_folder import (
    SESSION_FILE,
    TRANSCRIPT_FILE,
    SessionError,
    SessionInfo,
    SessionState,
    member,
    read_session,
    read_transcript,
    sessions_dir,
    try_lock,
    unlock,
    write_session,
)
from app.recording.wav_writer import repair_wav


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery found in one session folder; ``message`` is for the user."""

    folder: Path
    message: str
    info: SessionInfo | None  # the session as it is now; None when session.json could not be read
    problem: str | None = None


def duration_words(seconds: float) -> str:
    """``14 min 3 s``, ``1 h 2 min 5 s``, ``40 s``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h"] if hours else []
    if hours or minutes:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _drop_partial_line(folder: Path) -> bool:
    """Cut the transcript after its last newline (a line without one was being written when the process died);
    whether anything was cut."""
    try:
        fd = os.open(member(folder, TRANSCRIPT_FILE), os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return False
    with os.fdopen(fd, "r+b") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end == len(data):
            return False
        f.truncate(end)
        f.flush()
        os.fsync(f.fileno())
    return True


def _last_modified(folder: Path, info: SessionInfo) -> datetime:
    times = []
    for rel in (TRANSCRIPT_FILE, *(s.audio for s in info.sources)):
        with contextlib.suppress(OSError, SessionError):
            times.append(member(folder, rel).stat(follow_symlinks=False).st_mtime)
    return datetime.fromtimestamp(max(times), timezone.utc) if times else info.started_at


def _repair(folder: Path, info: SessionInfo) -> RecoveryReport:
    problems = []
    duration = 0.0
    for source in info.sources:
        try:
            duration = max(duration, repair_wav(member(folder, source.audio), source.sample_rate))
        except FileNotFoundError:
            problems.append(f"the audio of {source.name} ({source.audio}) is missing")
        except (OSError, ValueError, SessionError) as exc:
            problems.append(f"the audio of {source.name} could not be repaired: {exc}")
    lines, cut = 0, False
    try:
        cut = _drop_partial_line(folder)
        lines = len(read_transcript(folder))
    except (OSError, SessionError) as exc:
        problems.append(f"the transcript could not be repaired: {exc}")
    problem = "; ".join(problems) or None
    found = (f"{duration_words(duration)} of audio from {_plural(len(info.sources), 'source')} and "
             f"{_plural(lines, 'caption line')}")
    if cut:
        found += " (a caption line cut off by the crash was dropped)"
    recovered = dataclasses.replace(info, state=SessionState.RECOVERED, ended_at=_last_modified(folder, info),
                                    duration_s=duration, problem=problem)
    try:
        write_session(folder, recovered)
    except OSError as exc:
        message = (f"The interrupted recording '{info.title}' in {folder} was repaired ({found}), but it could not "
                   f"be marked as recovered ({exc.strerror or exc}); it is checked again at the next start.")
        return RecoveryReport(folder, message, info, str(exc))
    message = f"Recovered '{info.title}': {found}."
    if problem:
        message += f" Problems: {problem}."
    return RecoveryReport(folder, message, recovered, problem)


def _recover(folder: Path) -> RecoveryReport | None:
    if not (folder / SESSION_FILE).exists() and not (folder / SESSION_FILE).is_symlink():
        # A recorder creates session.json (atomically) after taking the lock and before writing any audio: without
        # it the folder is still being set up, or holds nothing recorded.
        return None
    damage = ""
    try:
        info = read_session(folder)
    except SessionError as exc:
        info, damage = None, str(exc)
    if info is not None and info.state is not SessionState.RECORDING:
        return None
    lock = try_lock(folder)
    if lock is None:
        return None  # its recorder is alive (maybe in another instance of the program)
    try:
        if info is None:
            return RecoveryReport(folder, f"A recorded session in {folder} could not be recovered: {damage} Its "
                                          "files were left as they are.", None, damage)
        info = read_session(folder)  # again, now that no writer can change it: it may have just closed
        if info.state is not SessionState.RECORDING:
            return None
        report = _repair(folder, info)
    except SessionError as exc:
        return RecoveryReport(folder, f"A recorded session in {folder} could not be recovered: {exc} Its files "
                                      "were left as they are.", None, str(exc))
    finally:
        unlock(lock, remove=True)
    return report


def recover_sessions(data_dir: Path | str | None = None) -> list[RecoveryReport]:
    """Repair every interrupted session under ``data_dir`` (None: the per-user data folder); one report for each."""
    root = sessions_dir(data_dir)
    if not root.is_dir():
        return []
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())  # a link is no session
    except OSError as exc:
        return [RecoveryReport(root, f"The recordings in {root} could not be checked for interrupted sessions "
                                     f"({exc.strerror or exc}).", None, str(exc))]
    reports = []
    for folder in folders:
        try:
            report = _recover(folder)
        except OSError as exc:  # e.g. a folder we may not write the lock file into
            report = RecoveryReport(folder, f"A recorded session in {folder} could not be checked: {exc}.", None,
                                    str(exc))
        if report is not None:
            reports.append(report)
    return reports
