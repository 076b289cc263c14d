"""The resident-model policy under simulated GPU memory: live captions keep priority, the chat model goes where it
fits, leaves when idle or needed, and an out-of-memory error moves it to the CPU."""

from __future__ import annotations

import shutil
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from PySide6.QtCore import QCoreApplication

from app.audio_queue import AudioQueue
from app.chat.clips import ClipSource
from app.chat.model import ChatTurn, Clip
from app.chat.model_manager import ModelManager, checkpoint_bytes
from app.chat.worker import AnswerWorker
from app.engine.local import LocalEngine
from app.engine.worker import InferenceWorker
from app.events import MODEL_RATE, AudioBlock, Severity
from app.library.index import Library
from model import CheckpointError
from tests.app.library.sessions import MEETING, make_session

GB = 1_000_000_000


class Model:
    """Stands for a loaded chat model (answering with ``inner`` when given); the fake GPU counts its memory for as
    long as it is referenced."""

    def __init__(self, device: str, inner=None) -> None:
        self.device, self.inner = device, inner

    def __getattr__(self, name: str):
        return getattr(self.__dict__["inner"], name)


class FakeGpu:
    """A GPU of ``total`` bytes: the chat models alive on "cuda" and live captions' allocation take from it."""

    def __init__(self, total: int, model_bytes: int) -> None:
        self.total, self.model_bytes, self.live_used = total, model_bytes, 0
        self._models: weakref.WeakSet = weakref.WeakSet()
        self.loads: list[str] = []

    def free(self) -> int:
        return self.total - self.live_used - self.model_bytes * len([m for m in self._models if m.device == "cuda"])

    def load(self, source, device: str, inner=None):
        self.loads.append(device)
        model = Model(device, inner)
        self._models.add(model)
        return model


@pytest.fixture
def empty_cache(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(1))
    return calls


def manager_on(gpu: FakeGpu, **kwargs) -> ModelManager:
    return ModelManager("voxtral", loader=gpu.load, free_gpu_bytes=gpu.free, model_bytes=gpu.model_bytes,
                        margin_bytes=2 * GB, **kwargs)


def test_enough_free_memory_puts_the_chat_model_on_the_gpu() -> None:
    gpu = FakeGpu(80 * GB, int(7.4 * GB))
    manager, notices, progress = manager_on(gpu), [], []
    model = manager.acquire(progress=lambda f, w: progress.append((f, w)), notify=notices.append)
    assert gpu.loads == ["cuda"] and model.device == "cuda" and manager.device == "cuda"
    assert notices == []
    assert progress == [(0.0, "Loading Voxtral Mini 3B on the GPU…"), (1.0, "Voxtral Mini 3B is ready on the GPU.")]
    assert manager.acquire() is model and gpu.loads == ["cuda"]  # loaded once
    manager.release(model)
    manager.release(model)
    manager.close()


def test_too_little_free_memory_puts_it_on_the_cpu_with_a_warning() -> None:
    gpu = FakeGpu(16 * GB, int(7.4 * GB))
    gpu.live_used = int(12.9 * GB)
    manager, notices = manager_on(gpu), []
    model = manager.acquire(notify=notices.append)
    assert gpu.loads == ["cpu"] and model.device == "cpu"
    assert [(n.severity, n.message) for n in notices] == [(
        Severity.WARNING, "The GPU has 3.1 GB free and the chat model needs 9.4 GB: it runs on the CPU, which is "
                          "much slower. Live captions keep the GPU.")]
    manager.release(model)
    manager.close()


def test_without_cuda_it_runs_on_the_cpu() -> None:
    notices = []
    manager = ModelManager("voxtral", loader=lambda s, d: Model(d), free_gpu_bytes=lambda: None, model_bytes=GB)
    assert manager.acquire(notify=notices.append).device == "cpu"
    assert notices[0].severity is Severity.INFO and "no usable GPU" in notices[0].message
    assert manager.make_room(10 * GB)  # nothing to make room on
    manager.close()


def test_live_captions_reserving_memory_unload_the_chat_model(empty_cache) -> None:
    gpu = FakeGpu(16 * GB, int(7.4 * GB))
    manager = manager_on(gpu)
    evicted = []
    manager.add_evict_listener(lambda: evicted.append(1))
    manager.release(manager.acquire())
    assert manager.device == "cuda" and gpu.free() == int(8.6 * GB)
    manager.reserve_live(4 * GB)  # 8.6 GB free cover 4 GB and the margin: the chat model stays
    assert manager.loaded
    manager.reserve_live(8 * GB)  # they do not cover 8 GB: it goes
    assert not manager.loaded and gpu.free() == 16 * GB and empty_cache and evicted == []
    gpu.live_used = 8 * GB
    # While live captions hold their 8 GB, the chat model does not fit beside them.
    model = manager.acquire()
    assert model.device == "cpu"
    manager.release(model)
    manager.unload()
    manager.release_live()
    gpu.live_used = 0
    model = manager.acquire()
    assert model.device == "cuda" and gpu.loads == ["cuda", "cpu", "cuda"]
    manager.release(model)
    manager.close()


def test_making_room_stops_a_chat_in_progress(empty_cache) -> None:
    gpu = FakeGpu(16 * GB, int(7.4 * GB))
    manager = manager_on(gpu)
    evicted = []
    manager.add_evict_listener(lambda: evicted.append(1))
    model = manager.acquire()
    assert manager.make_room(8 * GB) is False  # unloaded, but the answer still holds the model
    assert evicted == [1] and not manager.loaded and empty_cache == []
    manager.release(model)
    assert empty_cache == [1]  # its memory goes as soon as the answer lets go
    del model
    assert gpu.free() == 16 * GB
    manager.close()


def test_a_gpu_load_interrupted_by_live_captions_is_redone_on_the_cpu(empty_cache) -> None:
    gpu = FakeGpu(16 * GB, int(7.4 * GB))
    manager = None

    def load(source, device):
        model = gpu.load(source, device)
        if device == "cuda":
            manager.make_room(10 * GB)  # live captions start while the chat model is loading
        return model

    manager, notices = ModelManager("v", loader=load, free_gpu_bytes=gpu.free, model_bytes=gpu.model_bytes,
                                    margin_bytes=2 * GB), []
    model = manager.acquire(notify=notices.append)
    assert model.device == "cpu" and gpu.loads == ["cuda", "cpu"] and gpu.free() == 16 * GB
    assert notices[-1].message.startswith("Live captions needed the GPU memory while the chat model was loading: "
                                          "it runs on the CPU")
    manager.release(model)
    manager.close()


def test_out_of_memory_while_loading_loads_on_the_cpu(empty_cache) -> None:
    devices = []

    def load(source, device):
        devices.append(device)
        if device == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return Model(device)

    manager, notices = ModelManager("v", loader=load, free_gpu_bytes=lambda: 80 * GB, model_bytes=GB), []
    assert manager.acquire(notify=notices.append).device == "cpu" and devices == ["cuda", "cpu"] and empty_cache
    assert notices[-1].message.startswith("The GPU ran out of memory while loading the chat model: it runs on the CPU")
    manager.close()


def test_a_failing_memory_probe_keeps_the_chat_model_off_the_gpu() -> None:
    def probe():
        raise RuntimeError("CUDA error: unspecified launch failure")

    manager = ModelManager("v", loader=lambda s, d: Model(d), free_gpu_bytes=probe, model_bytes=GB)
    assert manager.acquire().device == "cpu"
    assert manager.make_room(GB) is False
    manager.close()


def test_idle_unload_and_its_cancellation() -> None:
    gpu = FakeGpu(80 * GB, GB)
    manager = manager_on(gpu, idle_s=0.3)
    model = manager.acquire()
    manager.release(model)
    time.sleep(0.1)
    manager.release(manager.acquire())  # used again before the timer: it starts over
    time.sleep(0.25)
    assert manager.loaded
    deadline = time.monotonic() + 5
    while manager.loaded and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not manager.loaded and gpu.loads == ["cuda"]
    del model
    assert gpu.free() == 80 * GB
    manager.close()


def test_checkpoint_size_counts_one_layout(tmp_path) -> None:
    (tmp_path / "consolidated.safetensors").write_bytes(b"x" * 300)
    (tmp_path / "model-00001-of-00001.safetensors").write_bytes(b"x" * 200)
    assert checkpoint_bytes(tmp_path) == 300
    (tmp_path / "consolidated.safetensors").unlink()
    assert checkpoint_bytes(tmp_path) == 200
    assert ModelManager(tmp_path).model_bytes == 200


class OutOfMemoryOnGpu:
    """The tiny model, except that on "cuda" it runs out of memory (after ``after`` deltas)."""

    def __init__(self, model, after: int = 0) -> None:
        self.model, self.after, self.device = model, after, "cuda"
        self.tokenizer, self.max_audio_seconds = model.tokenizer, model.max_audio_seconds

    def stream_chat(self, messages, **kwargs):
        stream = self.model.stream_chat(messages, **kwargs)
        if self.after == 0:  # in the prefill, where a long recording needs the most memory
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        for n, delta in enumerate(stream, start=1):
            yield delta
            if n == self.after:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")


def answer(manager, tmp_path):
    noise = np.random.default_rng(2).uniform(-0.3, 0.3, 3 * MODEL_RATE).astype(np.float32)
    folder = make_session(tmp_path, "Budget", MEETING, {"mic": noise})
    worker = AnswerWorker(manager, ClipSource(Library(tmp_path)), [ChatTurn("user", "Budget?", (Clip(folder.name),))],
                          max_new_tokens=20)
    got = {"deltas": [], "notices": [], "turns": []}
    worker.delta.connect(got["deltas"].append)
    worker.notice.connect(got["notices"].append)
    worker.answered.connect(got["turns"].append)
    worker.run()  # on this thread: the signals arrive directly
    return got


@pytest.mark.parametrize("after", [0, 2])
def test_out_of_memory_while_answering(tiny_voxtral, tmp_path, empty_cache, after) -> None:
    devices = []

    def load(source, device):
        devices.append(device)
        return OutOfMemoryOnGpu(tiny_voxtral.model, after) if device == "cuda" else tiny_voxtral.model

    manager = ModelManager("v", loader=load, free_gpu_bytes=lambda: 80 * GB, model_bytes=GB)
    got = answer(manager, tmp_path)
    (turn,) = got["turns"]
    warnings = [n.message for n in got["notices"] if n.severity is Severity.WARNING]
    assert empty_cache
    if after == 0:  # nothing shown yet: asked again on the CPU
        assert devices == ["cuda", "cpu"] and manager.device == "cpu"
        assert warnings == ["The GPU ran out of memory while answering: Voxtral Mini 3B now runs on the CPU, which "
                            "is much slower. Live captions keep the GPU."]
        assert turn.finish_reason in {"eos", "length"} and turn.text == "".join(got["deltas"]) and turn.text
    else:  # two deltas shown: they stay, the answer ends, the GPU copy is gone
        assert devices == ["cuda"] and not manager.loaded
        assert turn.finish_reason == "error" and turn.text == "".join(got["deltas"]) and len(got["deltas"]) == 2
        assert "ran out of memory" in warnings[0]
    manager.close()


def test_live_captions_keep_running_while_the_chat_model_comes_and_goes(qtbot, tiny_realtime, tiny_voxtral) -> None:
    gpu = FakeGpu(16 * GB, int(7.4 * GB))
    manager = ModelManager("v", loader=lambda source, device: gpu.load(source, device, tiny_voxtral.model),
                           free_gpu_bytes=gpu.free, model_bytes=gpu.model_bytes, margin_bytes=2 * GB)
    queue = AudioQueue()
    worker = InferenceWorker(LocalEngine(tiny_realtime.model), queue, ["mic"], lag_ceiling_s=30.0)
    captions, notices = [], []
    worker.caption.connect(captions.append)
    worker.notice.connect(notices.append)
    stop_feeding = threading.Event()
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, 60 * MODEL_RATE).astype(np.float32)

    def feed() -> None:
        for i in range(0, audio.size, 640):
            if stop_feeding.wait(0.01):
                return
            queue.put(AudioBlock("mic", audio[i : i + 640], i / MODEL_RATE))

    feeder = threading.Thread(target=feed, daemon=True)
    worker.start()
    feeder.start()
    try:
        qtbot.waitUntil(lambda: len(captions) >= 3, timeout=20000)
        before = len(captions)
        model = manager.acquire()  # the chat model loads and answers while captions run
        clip = {"type": "audio", "audio": audio[: 5 * MODEL_RATE], "sample_rate": MODEL_RATE}
        chat = [{"role": "user", "content": [clip, {"type": "text", "text": "What was said?"}]}]
        assert "".join(model.stream_chat(chat, max_new_tokens=10))
        manager.release(model)
        del model
        assert manager.device == "cuda"
        qtbot.waitUntil(lambda: len(captions) > before, timeout=20000)
        manager.reserve_live(10 * GB)  # live captions want more memory: the chat model goes
        assert not manager.loaded and gpu.loads == ["cuda"]
        during = len(captions)
        qtbot.waitUntil(lambda: len(captions) > during + 2, timeout=20000)
        assert worker.isRunning()
    finally:
        stop_feeding.set()
        feeder.join(5)
        worker.stop(flush=False)
        worker.wait(20000)
        manager.close()
    QCoreApplication.processEvents()
    assert [n for n in notices if n.severity is not Severity.INFO] == []
    starts = [e.start_s for e in captions]
    assert starts == sorted(starts)  # one stream throughout: never restarted by a failure


def test_a_new_source_unloads_the_model_and_is_used_next(tmp_path) -> None:
    loads: list[tuple[str, str]] = []

    def loader(source, device):
        loads.append((str(source), device))
        return object()

    manager = ModelManager("first", loader=loader, free_gpu_bytes=lambda: None, model_bytes=1)
    manager.release(manager.acquire())
    manager.set_source("second")
    assert not manager.loaded
    manager.release(manager.acquire())
    assert loads == [("first", "cpu"), ("second", "cpu")]
    manager.close()


def copy_into_hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """``folder`` as huggingface_hub keeps a download: snapshots/<commit>/ and refs/main naming the commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_offline_a_repo_id_is_loaded_from_its_copy_on_disk(hub_cache, tiny_voxtral) -> None:
    snapshot = copy_into_hub_cache(hub_cache, "mistralai/Tiny-Voxtral", tiny_voxtral.folder)
    loads = []
    manager = ModelManager("mistralai/Tiny-Voxtral", offline=True, loader=lambda s, d: loads.append(s) or object(),
                           free_gpu_bytes=lambda: None)
    manager.release(manager.acquire())
    assert loads == [snapshot]  # the folder on disk, never the repo id a loader would download
    assert manager.model_bytes == (snapshot / "consolidated.safetensors").stat().st_size  # sized from the cache too
    manager.close()


def test_offline_a_repo_id_not_on_disk_fails_with_a_clear_message_and_loads_nothing(hub_cache) -> None:
    loads = []
    manager = ModelManager("mistralai/Not-Downloaded", offline=True, loader=lambda s, d: loads.append(s),
                           free_gpu_bytes=lambda: None)
    with pytest.raises(CheckpointError, match="Offline mode is on and the model 'mistralai/Not-Downloaded' is not on "
                                              "this computer"):
        manager.acquire()
    assert loads == [] and not manager.loaded and manager.model_bytes > 0  # the default size: nothing to measure
    manager.close()


def test_offline_mode_switched_on_applies_from_the_next_load(hub_cache) -> None:
    loads = []
    manager = ModelManager("mistralai/Not-Downloaded", loader=lambda s, d: loads.append(s) or object(),
                           free_gpu_bytes=lambda: None, model_bytes=GB)
    manager.release(manager.acquire())
    assert loads == ["mistralai/Not-Downloaded"]  # online, the loader may download it
    manager.set_offline(True)
    assert manager.loaded  # what is loaded is on disk already: it stays
    manager.unload()
    with pytest.raises(CheckpointError, match="not on this computer"):
        manager.acquire()
    manager.set_offline(False)
    manager.release(manager.acquire())
    assert loads == ["mistralai/Not-Downloaded"] * 2
    manager.close()
