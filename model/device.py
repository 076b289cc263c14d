"""The one place that knows kinds of accelerator: which device to pick, and its memory and synchronisation.

CUDA first, then Apple's MPS, then the CPU. Everything else asks here instead of calling torch.cuda, so that "an
accelerator" never silently means "CUDA". Only the CPU and CUDA paths have run; MPS follows PyTorch's documented API.
"""

from __future__ import annotations

import torch

ACCELERATORS = ("cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available(kind: str) -> bool:
    """Whether PyTorch can use a device of this type here ("cpu" always)."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return mps_available()
    return kind == "cpu"


def best() -> torch.device:
    for kind in ACCELERATORS:
        if available(kind):
            return torch.device(kind)
    return torch.device("cpu")


def is_accelerator(device: torch.device | str) -> bool:
    return torch.device(device).type in ACCELERATORS


def supports_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "mps":
        try:  # macOS 14 and later
            (torch.ones(1, dtype=torch.bfloat16, device=device) + 1).cpu()
        except (RuntimeError, TypeError):
            return False
        return True
    return False


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timing); nothing to wait for on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def empty_cache(device: torch.device | str) -> None:
    """Hand the device's cached free memory back, after a model is dropped."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.empty_cache()  # a no-op while CUDA is not initialised
    elif kind == "mps" and mps_available():
        torch.mps.empty_cache()


def allocated_bytes(device: torch.device) -> int:
    """Memory tensors hold on the device now (0 on a CPU, where the process's memory is the measure)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    if device.type == "mps":
        return torch.mps.current_allocated_memory()
    return 0


def free_bytes(kind: str = "") -> int | None:
    """Free memory of the best (or the named) accelerator; None without one."""
    kind = kind or best().type
    if kind == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info()[0])
    if kind == "mps" and mps_available():
        return max(0, int(torch.mps.recommended_max_memory()) - int(torch.mps.driver_allocated_memory()))
    return None


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a device raises when its memory runs out (CUDA has its own type; MPS raises RuntimeError)."""
    return (torch.cuda.OutOfMemoryError, torch.OutOfMemoryError)


def name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU"
    return "CPU"
