"""A cancel flag that can also abort a request at once: a network wait does not end at a flag check, so whoever
waits registers how to abort it, and ``set`` (from any thread) runs that."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Cancelled(Exception):
    """The user cancelled; nothing is stored."""


class Cancel(threading.Event):
    """A ``threading.Event`` (``is_set``/``wait`` work as usual) whose ``set`` also runs the aborts registered with
    ``aborting``."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._aborts: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            super().set()
            aborts = list(self._aborts)
        for abort in aborts:
            abort()

    @contextmanager
    def aborting(self, abort: Callable[[], None]) -> Iterator[None]:
        """Run ``abort()`` (which must work from any thread) if the flag is set while inside; at once if it is set
        already."""
        with self._lock:
            already = self.is_set()
            if not already:
                self._aborts.append(abort)
        if already:
            abort()
        try:
            yield
        finally:
            with self._lock:
                if abort in self._aborts:
                    self._aborts.remove(abort)
