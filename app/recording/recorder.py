"""Records a captioning session as it happens: each source's audio and the caption events, into a session folder.

Capture threads hand every block to ``listener`` before the model sees it. The listener only converts the block to
int16 and queues it; one writer thread writes the queue to disk and syncs every ``sync_interval_s``. A writer thread
rather than writing on the capture thread, because an fsync can stall for seconds on a busy, sleeping or network
disk, and a stalled capture thread would overflow its ring buffer and cost the captions their audio too. The queue
holds at most ``BACKLOG_S`` of audio per source (about 1 MB); a disk that falls that far behind stops the recording
with a message instead of filling memory. Nothing is kept once written, so memory does not grow with the session.

Any error while writing (a full disk, a folder that became unwritable, a disk unplugged) stops the recording: the
files are closed and their headers fixed so everything written stays readable, session.json records the problem
when it still can be written, and ``on_error`` gets a message for the user. Nothing is ever raised into a capture
thread. The layout of the folder is described in ``app.recording.session_folder``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import numpy as np

from app.events import MODEL_RATE, AudioBlock, AudioSource, CaptionEvent, CaptionGap
from app.recording.privacy import open_private, private_dirs
from app.recording.session_folder import (
    AUDIO_DIR,
    TRANSCRIPT_FILE,
    SessionError,
    SessionInfo,
    SessionState,
    SourceInfo,
    audio_name,
    caption_line,
    fsync_dir,
    gap_line,
    new_session_id,
    read_session,
    sessions_dir,
    try_lock,
    unlock,
    write_session,
)
from app.recording.wav_writer import GrowingWav, repair_wav, to_pcm16

BACKLOG_S = 30.0  # audio per source that may wait for a slow disk before recording stops
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class RecordingError(Exception):
    """Recording could not start; the message says why and what to do."""


class _BacklogOverflow(Exception):
    pass


def clock(seconds: float) -> str:
    """``12:34`` or ``1:02:03``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def default_title(started_at: datetime) -> str:
    return f"Meeting {started_at.astimezone():%Y-%m-%d %H:%M}"


def _start_message(exc: OSError, root: Path) -> str:
    if exc.errno in _DISK_FULL:
        return f"Recording cannot start: the disk that holds {root} is full. Free space on it, then start again."
    return (f"Recording cannot start: the folder {root} cannot be written ({exc.strerror or exc}). Check that it "
            "exists and that you may write to it, or choose another data folder.")


class SessionRecorder:
    """Writes one session; make it with ``start``, feed it from any thread, end it with ``close``."""

    def __init__(self, folder: Path, info: SessionInfo, wavs: list[GrowingWav], transcript: IO[str], lock: IO[bytes],
                 sync_interval_s: float, on_error: Callable[[str], None] | None) -> None:
        self._folder = folder
        self._info = info
        self._wavs = wavs
        self._transcript = transcript
        self._lock: IO[bytes] | None = lock
        self._sync_interval_s = sync_interval_s
        self._on_error = on_error
        self._index = {s.id: i for i, s in enumerate(info.sources)}
        self._cond = threading.Condition()
        self._items: deque[tuple[int, np.ndarray] | tuple[None, str]] = deque()
        self._backlog = [0] * len(wavs)  # queued samples per source
        self._backlog_limit = round(BACKLOG_S * MODEL_RATE)
        self._stopped = False  # no more input is accepted (closing, or failed)
        self._closing = False
        self._overflow = False
        self._problem: str | None = None
        self._transcript_dirty = False
        self._thread = threading.Thread(target=self._run, name=f"recorder {folder.name}", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, data_dir: Path | str | None, sources: Sequence[AudioSource], title: str = "", *,
              sync_interval_s: float = 0.5, on_error: Callable[[str], None] | None = None) -> SessionRecorder:
        """Create a session folder under ``data_dir`` (None: the per-user data folder) and start recording.

        ``on_error`` is called once, on the writer thread, when recording stops because of an error. Raises
        RecordingError (with a message for the user) when the folder or its files cannot be created.
        """
        if not sources:
            raise ValueError("a session records at least one source")
        now = datetime.now(timezone.utc)
        root = sessions_dir(data_dir)
        folder = root / new_session_id(now)
        infos = tuple(SourceInfo(s.id, s.name, s.kind.value, s.label, audio_name(i, s.name), MODEL_RATE)
                      for i, s in enumerate(sources))
        info = SessionInfo(id=folder.name, title=title or default_title(now), started_at=now,
                           state=SessionState.RECORDING, sources=infos)
        lock = transcript = None
        wavs: list[GrowingWav] = []
        try:
            private_dirs(folder / AUDIO_DIR, below=root.parent)  # root.parent: the data folder
            lock = try_lock(folder)
            if lock is None:  # a new folder: only a stranger could hold it
                raise OSError(errno.EBUSY, "the new session folder is locked by another program", str(folder))
            # session.json first: a crash from here on leaves a session that recovery finds.
            write_session(folder, info)
            transcript = open(folder / TRANSCRIPT_FILE, "a", encoding="utf-8", newline="\n",  # noqa: SIM115
                              opener=open_private)
            wavs.extend(GrowingWav(folder / s.audio, MODEL_RATE) for s in infos)
            fsync_dir(folder / AUDIO_DIR)
        except OSError as exc:
            for f in [*wavs, transcript]:
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
            if lock is not None:
                unlock(lock)
            shutil.rmtree(folder, ignore_errors=True)  # nothing was recorded yet
            raise RecordingError(_start_message(exc, root)) from exc
        return cls(folder, info, wavs, transcript, lock, sync_interval_s, on_error)

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def info(self) -> SessionInfo:
        """The session as session.json will describe it; ``duration_s`` is the audio written so far."""
        if self._info.state is SessionState.RECORDING:
            return dataclasses.replace(self._info, duration_s=self._position_s())
        return self._info

    @property
    def failed(self) -> bool:
        return self._problem is not None

    @property
    def problem(self) -> str | None:
        """Why recording stopped early (the message given to ``on_error``), or None."""
        return self._problem

    @property
    def backlog_s(self) -> float:
        """Audio waiting to be written, in seconds, for the source furthest behind."""
        return max(self._backlog) / MODEL_RATE

    def listener(self, block: AudioBlock) -> None:
        """Queue a block of captured audio (a Capture listener): quick, thread-safe, never raises.

        Blocks of each source must come in timeline order; blocks of sources not in the session are ignored.
        """
        index = self._index.get(block.source_id)
        if index is None or self._stopped:
            return
        pcm = to_pcm16(block.samples)
        with self._cond:
            if self._stopped:
                return
            if self._backlog[index] + pcm.size > self._backlog_limit:
                self._overflow = self._stopped = True
            else:
                self._items.append((index, pcm))
                self._backlog[index] += pcm.size
            self._cond.notify()

    def add_caption(self, event: CaptionEvent) -> None:
        """Queue a caption event for transcript.jsonl; any thread."""
        line = caption_line(event)
        with self._cond:
            if not self._stopped:
                self._items.append((None, line))
                self._cond.notify()

    def add_gap(self, gap: CaptionGap) -> None:
        """Queue a stretch without captions for transcript.jsonl (its audio is recorded all the same); any thread."""
        line = gap_line(gap)
        with self._cond:
            if not self._stopped:
                self._items.append((None, line))
                self._cond.notify()

    def close(self) -> SessionInfo:
        """Write what is queued, finish the files and mark the session complete; returns its final description.

        Blocks until the writer thread is done (the last half second of audio is written). Calling it again, or
        after a failure, only returns the description.
        """
        with self._cond:
            self._closing = self._stopped = True
            self._cond.notify()
        self._thread.join()
        return self._info

    def _position_s(self) -> float:
        return max(w.frames for w in self._wavs) / MODEL_RATE

    def _run(self) -> None:
        try:
            self._write_until_closed()
            self._finish()
        except Exception as exc:  # whatever stops the writing must reach the user, not end the thread silently
            self._fail(exc)

    def _write_until_closed(self) -> None:
        next_sync = time.monotonic() + self._sync_interval_s
        while True:
            with self._cond:
                while not (self._items or self._closing or self._overflow):
                    wait = next_sync - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                items, self._items = self._items, deque()
                self._backlog = [0] * len(self._wavs)
                closing, overflow = self._closing, self._overflow
            for index, item in items:
                if index is None:
                    self._transcript.write(item)
                    self._transcript_dirty = True
                else:
                    self._wavs[index].append(item)
            if overflow:
                raise _BacklogOverflow
            if closing:
                return
            if time.monotonic() >= next_sync:
                self._sync()
                next_sync = time.monotonic() + self._sync_interval_s

    def _sync(self) -> None:
        if self._transcript_dirty:
            self._transcript.flush()
            os.fsync(self._transcript.fileno())
            self._transcript_dirty = False
        for wav in self._wavs:
            wav.sync()

    def _finish(self) -> None:
        self._sync()
        self._transcript.close()
        for wav in self._wavs:
            wav.close()
        self._info = dataclasses.replace(self._user_changes(), state=SessionState.COMPLETE,
                                         ended_at=datetime.now(timezone.utc), duration_s=self._position_s())
        write_session(self._folder, self._info)
        self._release()

    def _user_changes(self) -> SessionInfo:
        """Our description with the title the user gave the session while it was recorded (the library renames
        it in session.json, which the recorder otherwise only writes at the start and the end)."""
        try:
            return dataclasses.replace(self._info, title=read_session(self._folder).title)
        except SessionError:
            return self._info

    def _fail(self, exc: Exception) -> None:
        message = self._message(exc)
        with self._cond:
            self._stopped = True
            self._items.clear()
            self._problem = message
        position = self._position_s()
        for f in [self._transcript, *self._wavs]:
            with contextlib.suppress(OSError):
                f.close()
        for source in self._info.sources:  # what reached the disk before the error stays readable
            with contextlib.suppress(OSError, ValueError):
                repair_wav(self._folder / source.audio)
        self._info = dataclasses.replace(self._user_changes(), state=SessionState.COMPLETE,
                                         ended_at=datetime.now(timezone.utc), duration_s=position, problem=message)
        with contextlib.suppress(OSError):  # if this fails too, the next start recovers the session
            write_session(self._folder, self._info)
        self._release()
        if self._on_error is not None:
            self._on_error(message)

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            with contextlib.suppress(OSError):
                unlock(lock, remove=True)

    def _message(self, exc: Exception) -> str:
        stopped = f"recording stopped at {clock(self._position_s())} of the session"
        kept = f"the audio recorded up to then is kept in {self._folder}."
        if isinstance(exc, _BacklogOverflow):
            return (f"The disk is too slow: more than {BACKLOG_S:.0f} s of audio waited to be written, so {stopped}. "
                    f"Record to a faster disk or close programs that keep it busy; {kept}")
        code = exc.errno if isinstance(exc, OSError) else None
        if code in _DISK_FULL:
            return (f"The disk is full: {stopped}. Free space on the disk that holds {self._folder}, then start "
                    f"again; {kept}")
        if code in _UNWRITABLE:
            return (f"The recording folder {self._folder} cannot be written any more ({exc.strerror}): {stopped}. "
                    "Check that its disk is still connected and writable, or choose another data folder; the audio "
                    "recorded up to then is kept there.")
        return f"Writing the recording to {self._folder} failed ({exc}): {stopped}. {kept[0].upper()}{kept[1:]}"
