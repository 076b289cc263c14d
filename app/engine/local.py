"""The engine that runs the realtime model in this process."""

from __future__ import annotations

import torch

from app.engine.base import CaptionStream
from model import RealtimeModel
from model import device as devices


def describe_torch_device(device: torch.device) -> str:
    if devices.is_accelerator(device):
        return f"{devices.name(device)} ({device})"
    return device.type.upper()


def describe_placement(model: RealtimeModel) -> str:
    """Where a loaded model runs and, unless they are as stored, how it keeps its weights: "CPU (int8 weights)"."""
    weights = "" if model.precision == "full" else f" ({model.precision} weights)"
    return describe_torch_device(model.device) + weights


class LocalEngine:
    def __init__(self, model: RealtimeModel) -> None:
        self.model = model
        self._device_name = describe_placement(model)

    @property
    def device_name(self) -> str:
        return self._device_name

    def open_stream(self, delay_ms: int) -> CaptionStream:
        return self.model.stream(delay_ms=delay_ms)

    def release_memory(self) -> None:
        devices.empty_cache(self.model.device)
