"""Where weights come from and where they go: source resolution (folder or hub id) and device/dtype choice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from model import device as devices
from model.errors import CheckpointError, ModelError


def resolve_source(
    source: str | Path,
    *,
    offline: bool = False,
    progress: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """A local checkpoint folder for ``source``: an existing folder as is, a hub repo id downloaded (or cached).

    ``offline``: never contact the hub (whatever ``HF_HUB_OFFLINE`` says); a repo id must be complete in the cache.
    """
    path = Path(source).expanduser()
    if path.exists():
        return path
    from model.hub import fetch_checkpoint, looks_like_repo_id

    if looks_like_repo_id(str(source)):
        if offline:
            return _cached(str(source))
        return fetch_checkpoint(str(source), progress=progress, cancel=cancel)
    raise CheckpointError(
        f"'{source}' is neither an existing folder nor a hub repository id such as "
        "'mistralai/Voxtral-Mini-4B-Realtime-2602'."
    )


def _cached(repo_id: str) -> Path:
    """The complete copy of ``repo_id`` in the hub cache, found without a request."""
    from huggingface_hub import constants

    from model.hub.cache import cached_snapshot

    cache = Path(constants.HF_HUB_CACHE).expanduser().resolve()
    found = cached_snapshot(repo_id, constants.DEFAULT_REVISION, cache)
    if found is None:
        raise CheckpointError(
            f"Offline mode is on and the model '{repo_id}' is not on this computer (no complete copy in {cache}). "
            "Turn offline mode off to download it once, or use a folder that contains the model."
        )
    return found


def pick_device(device: str | torch.device | None, dtype: str | torch.dtype | None) -> tuple[torch.device, torch.dtype]:
    """None picks an accelerator (CUDA, then Apple's MPS) with bf16 where it has bf16, else the CPU with fp32 (bf16
    is very slow on most CPUs; the CPU's half-size weights are model.precision's business)."""
    dev = devices.best() if device is None else None
    if dev is None:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ModelError(f"'{device}' is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'.") from None
    if dev.type == "cuda" and not devices.available("cuda"):
        raise ModelError("A CUDA device was asked for, but PyTorch sees no usable CUDA GPU; use device='cpu'.")
    if dev.type == "mps" and not devices.available("mps"):
        raise ModelError("An Apple GPU (mps) was asked for, but PyTorch sees none here; use device='cpu'.")
    if dev.type not in ("cpu", *devices.ACCELERATORS):
        raise ModelError(f"'{device}' is not a device this program runs on; use 'cpu', 'cuda', 'cuda:N' or 'mps'.")
    if dtype is None:
        if devices.is_accelerator(dev) and devices.supports_bf16(dev):
            return dev, torch.bfloat16
        return dev, torch.float32
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(resolved, torch.dtype):
            raise ModelError(f"'{dtype}' is not a torch dtype; use 'float32', 'bfloat16' or 'float16'.")
        dtype = resolved
    if not dtype.is_floating_point:
        raise ModelError(f"{dtype} is not a floating-point dtype.")
    return dev, dtype
