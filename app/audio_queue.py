"""A bounded, thread-safe queue of audio blocks between capture and the inference worker.

The producer (capture) never blocks: when the consumer has fallen so far behind that the queue is full, the oldest
blocks are dropped and counted (the worker then restarts at the live edge anyway). The consumer blocks on a
condition variable, so nothing polls, and ``close()`` wakes it at once.
"""

from __future__ import annotations

import threading
from collections import deque

from app.events import AudioBlock


class QueueClosed(Exception):
    """Raised by ``get_all`` once the queue is closed and empty."""


class AudioQueue:
    def __init__(self, max_seconds: float = 30.0) -> None:
        self._max_seconds = max_seconds
        self._blocks: deque[AudioBlock] = deque()
        self._seconds = 0.0
        self._cond = threading.Condition()
        self._closed = False
        self._dropped_s: dict[str, float] = {}
        self._captured_s: dict[str, float] = {}  # end of the newest block put, per source

    def put(self, block: AudioBlock) -> None:
        with self._cond:
            if self._closed:
                return
            self._blocks.append(block)
            self._seconds += block.end_s - block.start_s
            self._captured_s[block.source_id] = max(self._captured_s.get(block.source_id, 0.0), block.end_s)
            while self._seconds > self._max_seconds and len(self._blocks) > 1:
                old = self._blocks.popleft()
                self._seconds -= old.end_s - old.start_s
                self._dropped_s[old.source_id] = self._dropped_s.get(old.source_id, 0.0) + old.end_s - old.start_s
            self._cond.notify_all()

    def get_all(self, timeout: float | None = None) -> list[AudioBlock]:
        """Every pending block, waiting for one; ``[]`` on timeout; ``QueueClosed`` once closed and empty."""
        with self._cond:
            if not self._blocks and not self._closed:
                self._cond.wait(timeout)
            if not self._blocks:
                if self._closed:
                    raise QueueClosed
                return []
            blocks = list(self._blocks)
            self._blocks.clear()
            self._seconds = 0.0
            return blocks

    def captured_s(self, source_id: str) -> float:
        with self._cond:
            return self._captured_s.get(source_id, 0.0)

    def take_dropped(self, source_id: str) -> float:
        """Seconds of this source dropped because the queue was full since the last call."""
        with self._cond:
            return self._dropped_s.pop(source_id, 0.0)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed
