"""Progress and cancel of a download: the :class:`DownloadProgress` that :func:`~model.hub.fetch_checkpoint` hands
its ``progress`` callback, the counter that decides how often it does so, and the check of its ``cancel`` event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from model.errors import DownloadCancelled

# Progress is reported at most every this many bytes or seconds (plus at each file's end): a UI does not need a
# callback per network chunk, which can be thousands per second on a fast line.
_REPORT_EVERY_BYTES = 4 * 1024 * 1024
_REPORT_EVERY_S = 0.1


@dataclass(frozen=True)
class DownloadProgress:
    """Where a checkpoint download stands; handed to the ``progress`` callback of :func:`fetch_checkpoint`.

    ``done_bytes`` counts the bytes of all needed files that are on disk, including files that were complete before
    the call and the already-fetched part of a resumed file, so ``done_bytes / total_bytes`` is the whole job's
    progress. It only goes down if a server ignores a resume request and a file has to restart from zero.
    """

    filename: str  # file being fetched now; "" before the first and after the last
    done_bytes: int
    total_bytes: int
    files_done: int = 0
    files_total: int = 0

    @property
    def fraction(self) -> float:
        """Share of the bytes on disk, 0.0 to 1.0."""
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0


ProgressCallback = Callable[[DownloadProgress], None]


class ProgressCounter:
    """Counts the bytes and files of one download job that are on disk and reports them to a callback.

    It stays silent until :meth:`start`, which the job calls once it knows the total.
    """

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._reporting = False
        self._current = ""
        self._done = 0
        self._total = 0
        self._files_done = 0
        self._files_total = 0
        self._last_report = (0, 0.0)

    def start(self, *, total: int, done: int, files_total: int, files_done: int, current: str) -> None:
        self._reporting = True
        self._total = total
        self._done = done
        self._files_total = files_total
        self._files_done = files_done
        self._current = current
        self._report(force=True)

    def file_started(self, name: str) -> None:
        self._current = name

    def file_done(self) -> None:
        self._files_done += 1
        self._report(force=True)

    def finish(self) -> None:
        self._current = ""
        self._report(force=True)

    def advance(self, n: int) -> None:
        if not self._reporting:
            return
        self._done += n
        self._report()

    def _report(self, *, force: bool = False) -> None:
        if not self._reporting or self._callback is None:
            return
        last_done, last_time = self._last_report
        now = time.monotonic()
        if not force and abs(self._done - last_done) < _REPORT_EVERY_BYTES and now - last_time < _REPORT_EVERY_S:
            return
        self._last_report = (self._done, now)
        self._callback(
            DownloadProgress(
                filename=self._current,
                done_bytes=self._done,
                total_bytes=self._total,
                files_done=self._files_done,
                files_total=self._files_total,
            )
        )


def check_cancel(cancel: threading.Event | None, repo_id: str) -> None:
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled(f"Download of '{repo_id}' cancelled; the next download resumes where it stopped.")
