"""GUI tests run offscreen (no display needed); tests that need a real X display start their own in a subprocess."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="module", autouse=True)
def _collect_garbage_on_the_gui_thread(qapp):
    """As the program does (app.main_thread_gc): no cycle collection on capture or worker threads."""
    from app.main_thread_gc import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector()
    yield
    collector.stop()
    collector.deleteLater()
    gc.collect()


@pytest.fixture(autouse=True)
def _collect_after_each_qt_test(request):
    # The Qt objects a test made are freed right after it, on this thread, before the next test runs its own:
    # freeing many tests' windows at once, later, has crashed Qt's screen bookkeeping (QScreen::virtualSiblings).
    yield
    if "qtbot" in request.fixturenames:
        gc.collect()


class TinyRealtime:
    """A tiny random realtime checkpoint in the native layout, and the model loaded from it on the CPU."""

    def __init__(self, root: Path) -> None:
        from model import load_realtime
        from tests.fixtures.realtime_checkpoint import RealtimeDims, make_reference, write_native

        self.folder = write_native(make_reference(RealtimeDims(), seed=0), root / "realtime-native")
        self.model = load_realtime(self.folder, device="cpu")


@pytest.fixture(scope="session")
def tiny_realtime(tmp_path_factory: pytest.TempPathFactory) -> TinyRealtime:
    return TinyRealtime(tmp_path_factory.mktemp("app-realtime"))


class TinyOfflineVoxtral:
    """A tiny random Voxtral (offline) checkpoint in the native layout, and the model loaded from it on the CPU."""

    def __init__(self, root: Path) -> None:
        from model import load_voxtral
        from tests.fixtures.voxtral_checkpoint import VoxtralDims, make_reference, write_native

        self.folder = write_native(make_reference(VoxtralDims(), seed=0), root / "voxtral-native")
        self.model = load_voxtral(self.folder, device="cpu")


@pytest.fixture(scope="session")
def tiny_voxtral(tmp_path_factory: pytest.TempPathFactory) -> TinyOfflineVoxtral:
    return TinyOfflineVoxtral(tmp_path_factory.mktemp("app-voxtral"))
