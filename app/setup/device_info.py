"""Which device the model will run on, whether it can keep up with live speech there, and a measurement of it.

Plain Python (no Qt): the setup dialog shows :func:`describe_device` before anything is loaded, and the loader runs
:func:`measure_speed` on the loaded model so that the program can say what it measured, not only what it guesses.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from model import device as devices

if TYPE_CHECKING:
    from model.realtime.model import RealtimeModel

# The full-size realtime model in bf16 takes about 9 GB for its weights; with the caches of a live stream and room for
# other programs, 16 GB is what keeps a GPU from running short.
MIN_GPU_MEMORY_GB = 16.0
_STEP_S = 0.08  # one decoder position of the realtime model
_KEEPS_UP = "A CUDA GPU with 16 GB or more keeps up."
_WARM_UP_STEPS = 5  # untimed steps after the prompt
INT8_CAVEAT = "Its accuracy with int8 weights has not been measured on real speech"
# From the full-size streaming step on the 2-core build machine (python -m model.bench --config full): a step
# reads 8.9 GB with fp16 weights and 4.5 GB with int8, at 41 % and 51 % of the machine's read bandwidth; keeping up
# means doing that every 80 ms.
CPU_BANDWIDTH_NOTE = ("On a CPU the full model keeps up only with about 270 GB/s of memory bandwidth (fp16 "
                      "weights) or 110 GB/s (int8), more than desktops and laptops have.")


@dataclass(frozen=True)
class DeviceInfo:
    """Where the model runs. ``suitable`` means live captions at full model size can keep up with speech there."""

    kind: Literal["cuda", "mps", "cpu"]
    name: str
    memory_gb: float | None  # GPU memory; None on the CPU
    suitable: bool
    reason: str  # one or two plain sentences on what this means for live captions

    def summary(self) -> str:
        """One line for the setup dialog: 'GPU: NVIDIA … · 80 GB' or 'CPU only: live captions will lag …'."""
        if self.kind == "cuda":
            line = f"GPU: {self.name} · {self.memory_gb:.0f} GB"
            return line if self.suitable else f"{line}. {self.reason}"
        if self.kind == "mps":
            return f"GPU: {self.name} (MPS). {self.reason}"
        return f"CPU only ({self.name}): {self.reason}"


def describe_device(device: str = "") -> DeviceInfo:
    """The device that ``device`` ("" for the best available, "cpu", "cuda", "cuda:N") picks, as the loader picks it."""
    wants_cuda = device == "" or device.startswith("cuda")
    if wants_cuda and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device or "cuda").index or 0)
        memory = props.total_memory / 1e9
        if memory >= MIN_GPU_MEMORY_GB:
            return DeviceInfo("cuda", props.name, memory, True, "Live captions keep up with speech on this GPU.")
        reason = (
            f"This GPU has {memory:.0f} GB of memory; the full model needs about {MIN_GPU_MEMORY_GB:.0f} GB to run "
            "live, so live captions will lag on this machine (or the model may not fit)."
        )
        return DeviceInfo("cuda", props.name, memory, False, reason)
    if device in ("", "mps") and devices.available("mps"):
        return DeviceInfo("mps", devices.name(torch.device("mps")), None, False,
                          "Whether live captions keep up on it has not been measured yet: the speed check says.")
    if device.startswith("cuda"):
        why = "A CUDA GPU is set in the settings, but PyTorch sees none, so the model runs on the CPU"
    elif device == "mps":
        why = "An Apple GPU is set in the settings, but PyTorch sees none, so the model runs on the CPU"
    elif device == "":
        why = "No CUDA GPU was found, so the model runs on the CPU"
    else:
        why = "The settings say to run on the CPU"
    reason = f"{why}, where live captions will lag behind speech and skip ahead. {_KEEPS_UP}"
    return DeviceInfo("cpu", _cpu_name(), None, False, reason)


@dataclass(frozen=True)
class SpeedReport:
    """What a timed live stream measured, step by step after a warm-up. ``step_s`` is the median compute time of
    one 80 ms step, ``low_s`` and ``high_s`` the fastest and slowest tenth (the spread: a busy machine shows in it);
    ``real_time_factor`` is the median step / 80 ms (below 1 keeps up)."""

    device: str  # "CPU" or the GPU's name
    steps: int
    step_s: float
    real_time_factor: float
    low_s: float = 0.0
    high_s: float = 0.0
    precision: str = "full"  # how the measured model kept its weights (model.precision)
    on_cpu: bool = True

    @property
    def keeps_up(self) -> bool:
        return self.real_time_factor < 1.0

    def message(self) -> str:
        """The estimate in plain words, with what it means for live captions."""
        spread = f", {self.low_s * 1000:.0f}–{self.high_s * 1000:.0f} ms" if self.steps > 1 else ""
        head = (f"Estimated on {self.device}: each {_STEP_S * 1000:.0f} ms step takes {self.step_s * 1000:.0f} ms "
                f"(median of {self.steps}{spread}")
        live = "The status bar shows the real step times once captions run."
        if self.keeps_up:
            caveat = f" {INT8_CAVEAT}" if self.precision == "int8" else ""
            return (f"{head}; {1 / self.real_time_factor:.1f}× faster than real time): live captions keep up.{caveat} "
                    f"{live}")
        return (f"{head}; {self.real_time_factor:.1f}× slower than real time): live captions will lag and skip "
                f"ahead. {self.advice()} {live}")

    def advice(self) -> str:
        """What would keep up instead: int8 on a CPU that is not using it yet, else a server or a GPU."""
        server = "a vLLM server on a computer with a GPU (Settings → Engine)"
        if self.on_cpu and self.precision != "int8":
            # int8 reads half the bytes of fp16 (a quarter of fp32) per step, and a CPU's step is paced by bytes.
            factor = 2 if self.precision == "fp16" else 4
            if self.real_time_factor < factor * 0.8:
                return (f"int8 weights read {factor}× fewer bytes and may keep up (Settings → Model → Precision; "
                        f"{INT8_CAVEAT.lower()}); otherwise use {server}.")
            return f"Use {server}. {_KEEPS_UP} {CPU_BANDWIDTH_NOTE}"
        return f"Use {server}. {_KEEPS_UP}" + (f" {CPU_BANDWIDTH_NOTE}" if self.on_cpu else "")


def measure_speed(model: RealtimeModel, seconds: float = 2.0, budget_s: float = 15.0, *,
                  clock: Callable[[], float] = time.perf_counter) -> SpeedReport:
    """Time a real live stream of ``seconds`` of quiet noise, fed in 80 ms blocks as the microphone delivers it.

    The first blocks, until the decoder has filled its prompt and produces a token per block, and a few more are fed
    untimed: they cost more once (allocation, caches) and are not what a running stream costs. Then each step is
    timed on its own and the median reported with the spread, so one step slowed by another program does not decide.
    Timing stops early once the timed steps have taken ``budget_s`` (a slow CPU): a few steps already show how slow
    it is, and the user is waiting.
    """
    stream = model.stream(delay_ms=480)
    block = model.config.samples_per_token
    rng = np.random.default_rng(0)
    for _ in range(model.config.delay_tokens(480) + 2 + _WARM_UP_STEPS):
        stream.feed(_noise(rng, block))
    devices.synchronize(model.device)
    planned = max(1, round(seconds / _STEP_S))
    times: list[float] = []
    while not times or (len(times) < planned and sum(times) < budget_s):
        audio = _noise(rng, block)
        start = clock()
        stream.feed(audio)
        devices.synchronize(model.device)
        times.append(clock() - start)
    median = float(np.median(times))
    low, high = (float(v) for v in np.percentile(times, [10, 90]))
    return SpeedReport(device=devices.name(model.device), steps=len(times), step_s=median,
                       real_time_factor=median / _STEP_S, low_s=low, high_s=high, precision=model.precision,
                       on_cpu=model.device.type == "cpu")


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.standard_normal(n) * 1e-3).astype(np.float32)  # a quiet room rather than digital silence


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"
