"""ModelLoader's thread against FakeHub and local folders, and what the device line and the speed measurement say.

Timings are only reported (printed), never asserted: the machine running the tests decides them.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytestqt.qtbot import QtBot

from app.setup.device_info import SpeedReport, describe_device, measure_speed
from app.setup.loader import DOWNLOADING, LOADING, MEASURING, ModelLoader
from app.setup.model_source import OFFLINE_MISSING, DownloadStatus
from model import RealtimeModel, load_realtime
from tests.app.setup import KB, REPO, WEIGHTS
from tests.hub_server import FakeHub

WAIT_MS = 30_000


class Outcome:
    """Everything a loader emitted, in order."""

    def __init__(self, loader: ModelLoader) -> None:
        self.statuses: list[DownloadStatus] = []
        self.stages: list[str] = []
        self.events: list[tuple[str, object]] = []
        loader.progress.connect(self.statuses.append)
        loader.stage.connect(self.stages.append)
        loader.measured.connect(lambda r: self.events.append(("measured", r)))
        loader.loaded.connect(lambda m: self.events.append(("loaded", m)))
        loader.failed.connect(lambda msg: self.events.append(("failed", msg)))
        loader.cancelled.connect(lambda: self.events.append(("cancelled", None)))


def _run(qtbot, loader: ModelLoader) -> Outcome:
    outcome = Outcome(loader)
    with qtbot.waitSignal(loader.finished, timeout=WAIT_MS):
        loader.start()
    qtbot.waitUntil(lambda: bool(outcome.events), timeout=WAIT_MS)  # queued signals are delivered after finished
    return outcome


def test_downloads_loads_and_measures(qtbot: QtBot, hub: FakeHub, cache: Path, checkpoint: Path) -> None:
    hub.throttle(2048 * KB)
    loader = ModelLoader(REPO, cache_dir=cache, measure_seconds=0.4)

    outcome = _run(qtbot, loader)

    assert [kind for kind, _ in outcome.events] == ["measured", "loaded"]
    report, model = (value for _, value in outcome.events)
    assert isinstance(model, RealtimeModel) and model.device.type == "cpu"
    assert isinstance(report, SpeedReport) and report.step_s > 0 and report.real_time_factor > 0
    assert outcome.stages == [DOWNLOADING, LOADING, MEASURING]
    total = sum(p.stat().st_size for p in checkpoint.iterdir())
    assert outcome.statuses[-1].done_bytes == total == outcome.statuses[-1].total_bytes
    assert hub.files_downloaded(REPO) == {WEIGHTS, "params.json", "tekken.json"}


def test_cancel_stops_the_download_and_the_next_run_resumes(
    qtbot: QtBot, hub: FakeHub, cache: Path, checkpoint: Path
) -> None:
    hub.throttle(256 * KB, REPO, WEIGHTS)
    loader = ModelLoader(REPO, cache_dir=cache)
    loader.progress.connect(lambda s: loader.cancel() if s.done_bytes >= 32 * KB else None)

    outcome = _run(qtbot, loader)

    assert outcome.events == [("cancelled", None)]
    (partial,) = cache.rglob("*.incomplete")
    kept = partial.stat().st_size
    hub.throttle(None, REPO, WEIGHTS)
    hub.reset_log()

    outcome = _run(qtbot, ModelLoader(REPO, cache_dir=cache))

    assert outcome.events[0][0] == "loaded"
    (resumed,) = hub.downloads_of(REPO, WEIGHTS)
    assert resumed.range == f"bytes={kept}-"
    assert hub.bytes_served(REPO, WEIGHTS) == (checkpoint / WEIGHTS).stat().st_size - kept


def test_corrupted_download_fails_with_the_reason(qtbot: QtBot, hub: FakeHub, cache: Path) -> None:
    hub.corrupt(REPO, WEIGHTS)
    outcome = _run(qtbot, ModelLoader(REPO, cache_dir=cache))
    ((kind, message),) = outcome.events
    assert kind == "failed" and "arrived corrupted" in str(message)


def test_loads_a_local_folder_without_the_network(qtbot: QtBot, checkpoint: Path) -> None:
    outcome = _run(qtbot, ModelLoader(str(checkpoint)))
    ((kind, model),) = outcome.events
    assert kind == "loaded" and isinstance(model, RealtimeModel)
    assert outcome.stages == [LOADING] and outcome.statuses == []


def test_a_folder_without_the_tokenizer_fails_clearly(qtbot: QtBot, checkpoint: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(checkpoint, tmp_path / "copy")
    (folder / "tekken.json").unlink()
    outcome = _run(qtbot, ModelLoader(str(folder)))
    ((kind, message),) = outcome.events
    assert kind == "failed" and "lacks tekken.json (the tokenizer)" in str(message)


def test_a_source_that_is_neither_fails_clearly(qtbot: QtBot) -> None:
    for source, expected in [("", "No model is chosen"), ("not a model", "neither a folder on this computer")]:
        outcome = _run(qtbot, ModelLoader(source))
        ((kind, message),) = outcome.events
        assert kind == "failed" and expected in str(message)


def test_offline_loads_the_cached_copy_without_requests(qtbot: QtBot, hub: FakeHub, cache: Path) -> None:
    assert _run(qtbot, ModelLoader(REPO, cache_dir=cache)).events[0][0] == "loaded"
    hub.reset_log()

    outcome = _run(qtbot, ModelLoader(REPO, cache_dir=cache, offline=True))

    assert outcome.events[0][0] == "loaded"
    assert DOWNLOADING not in outcome.stages
    assert hub.requests == []


def test_offline_without_a_copy_says_what_to_do(qtbot: QtBot, hub: FakeHub, cache: Path) -> None:
    outcome = _run(qtbot, ModelLoader(REPO, cache_dir=cache, offline=True))
    assert outcome.events == [("failed", OFFLINE_MISSING)]
    assert hub.requests == []


# Device and speed ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without a CUDA GPU is told")
def test_this_cpu_only_machine_is_told_captions_will_lag() -> None:
    info = describe_device()
    assert info.kind == "cpu" and not info.suitable and info.memory_gb is None
    assert "live captions will lag" in info.reason and "16 GB" in info.reason
    assert info.summary().startswith(f"CPU only ({info.name}): No CUDA GPU was found")


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, gb: float) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    props = SimpleNamespace(name="NVIDIA Fake", total_memory=int(gb * 1e9))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)


def test_a_large_gpu_is_suitable_and_a_small_one_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpu(monkeypatch, 80)
    big = describe_device()
    assert (big.kind, big.suitable, big.summary()) == ("cuda", True, "GPU: NVIDIA Fake · 80 GB")
    assert describe_device("cpu").kind == "cpu"  # the settings can still ask for the CPU

    _fake_gpu(monkeypatch, 8)
    small = describe_device("cuda:0")
    assert small.kind == "cuda" and not small.suitable
    assert "8 GB" in small.reason and "live captions will lag" in small.reason


def test_a_gpu_asked_for_but_missing_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    info = describe_device("cuda")
    assert info.kind == "cpu" and "PyTorch sees none" in info.reason


def test_measure_speed_times_a_real_stream(checkpoint: Path) -> None:
    report = measure_speed(load_realtime(checkpoint, device="cpu"), seconds=0.4)

    assert report.device == "CPU" and report.steps == 5
    assert 0 < report.low_s <= report.step_s <= report.high_s and report.real_time_factor == report.step_s / 0.08
    assert report.message().startswith("Estimated on CPU: each 80 ms step takes ")
    print(report.message())  # the numbers are this machine's, reported only


def test_one_slow_step_does_not_decide_the_estimate(checkpoint: Path) -> None:
    """A step slowed by another program (here: one of ten takes a second more) moves the spread, not the median."""
    model = load_realtime(checkpoint, device="cpu")
    ticks = iter([t for i in range(10) for t in (10.0 * i, 10.0 * i + (1.01 if i == 3 else 0.01))])
    report = measure_speed(model, seconds=0.8, budget_s=100.0, clock=lambda: next(ticks))
    assert report.steps == 10
    assert report.step_s == pytest.approx(0.01) and report.keeps_up
    assert report.high_s > report.step_s  # the slow step shows in the spread


def test_measure_speed_stops_early_past_its_budget(checkpoint: Path) -> None:
    report = measure_speed(load_realtime(checkpoint, device="cpu"), seconds=10.0, budget_s=0.0)
    assert report.steps == 1 and report.step_s > 0


def test_speed_messages_in_plain_words() -> None:
    slow = SpeedReport(device="CPU", steps=25, step_s=0.23, real_time_factor=2.875, low_s=0.2, high_s=0.31)
    assert slow.message() == (
        "Estimated on CPU: each 80 ms step takes 230 ms (median of 25, 200–310 ms; 2.9× slower than real time): live "
        "captions will lag and skip ahead. int8 weights read 4× fewer bytes and may keep up (Settings → Model → "
        "Precision; its accuracy with int8 weights has not been measured on real speech); otherwise use a vLLM "
        "server on a computer with a GPU (Settings → Engine). The status bar shows the real step times once captions "
        "run."
    )
    half = dataclasses.replace(slow, precision="fp16")  # 2.9x slower: half the bytes is not enough
    assert "Use a vLLM server on a computer with a GPU (Settings → Engine). A CUDA GPU with 16 GB or more keeps up. " \
           "On a CPU the full model keeps up only with about 270 GB/s" in half.message()
    near = dataclasses.replace(half, real_time_factor=1.4)
    assert "int8 weights read 2× fewer bytes and may keep up" in near.message()
    assert "int8 weights" not in dataclasses.replace(slow, precision="int8").message()
    assert "int8" not in dataclasses.replace(slow, device="NVIDIA T4", on_cpu=False).message()
    quick_int8 = dataclasses.replace(slow, precision="int8", step_s=0.04, real_time_factor=0.5)
    assert "keep up. Its accuracy with int8 weights has not been measured on real speech" in quick_int8.message()
    fast = SpeedReport(device="NVIDIA H100", steps=25, step_s=0.02, real_time_factor=0.25, low_s=0.019, high_s=0.022)
    assert fast.message() == (
        "Estimated on NVIDIA H100: each 80 ms step takes 20 ms (median of 25, 19–22 ms; 4.0× faster than real time): "
        "live captions keep up. The status bar shows the real step times once captions run."
    )
