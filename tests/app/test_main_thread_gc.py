"""Cycle collection happens on the GUI thread, never on a worker thread that happens to allocate."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from app.main_thread_gc import MainThreadGarbageCollector


class Tracked(QObject):
    destroyed_on: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.cycle = self  # only the cycle collector can free it

    def __del__(self) -> None:
        Tracked.destroyed_on.append(threading.current_thread().name)


def test_garbage_made_anywhere_is_freed_by_the_gui_thread(qtbot) -> None:
    collector = MainThreadGarbageCollector()
    try:
        gc.collect()
        for _ in range(10):
            Tracked()  # cyclic garbage holding Qt objects
        assert not gc.isenabled()
        kept = []

        def allocate() -> None:  # what capture and inference threads do all day, far past every threshold
            kept.extend([None] for _ in range(3 * sum(gc.get_threshold())))

        worker = threading.Thread(target=allocate, name="worker")
        worker.start()
        worker.join()
        assert Tracked.destroyed_on == []  # the worker's allocations did not start a collection there
        qtbot.waitUntil(lambda: len(Tracked.destroyed_on) == 10, timeout=5000)
        assert set(Tracked.destroyed_on) == {"MainThread"}
    finally:
        collector.stop()
        collector.deleteLater()
    assert gc.isenabled()
