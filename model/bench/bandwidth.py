"""The machine's achievable memory bandwidth, the figure a CPU's decoding speed is bounded by."""

from __future__ import annotations

import time

import torch


def read_bandwidth(device: str = "cpu", size_bytes: int = 1 << 30, repeats: int = 5) -> float:
    """Bytes per second read from the memory of ``device``: the best of several sums over a buffer far larger than
    any cache (as STREAM does), on the threads the models use."""
    data = torch.ones(size_bytes // 4, device=device)
    data.sum()  # pages touched, threads started
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        data.sum().item()  # .item() waits for an accelerator
        best = min(best, time.perf_counter() - start)
    return data.numel() * 4 / best
