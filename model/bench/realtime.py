"""Measuring one implementation of Voxtral Realtime streaming; each runs in a fresh process of its own.

Both implementations load the same checkpoint folder (transformers layout) and stream the same audio in 80 ms
blocks as fast as they can. A step is one 80 ms block: mel frames, four encoder frames and one decoder token.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch


def synthetic_audio(seconds: float, rate: int = 16000) -> np.ndarray:
    """Deterministic speech-like audio (syllable-rate bursts of harmonics); the cost of a step does not depend on
    what is said, so any signal measures the same."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 2
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.4 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    noise = np.random.default_rng(0).standard_normal(len(t)) * 0.02
    return (0.2 * envelope * voice + noise).astype(np.float32)


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    with open("/proc/self/status") as status:  # VmHWM: this process's high-water mark (Linux)
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def sync(device: torch.device) -> None:
    from model.device import synchronize

    synchronize(device)


class StepClock:
    """A transformers streamer that only notes when each piece of output arrives."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []

    def put(self, value) -> None:
        sync(self.device)
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def _summary(step_s: list[float], total_s: float, audio_s: float, load_s: float, device: torch.device) -> dict:
    ms = np.array(step_s) * 1000
    return {
        "steps": len(ms),
        "step_p50_ms": float(np.percentile(ms, 50)),
        "step_p95_ms": float(np.percentile(ms, 95)),
        "rtf": total_s / audio_s,
        "load_s": load_s,
        "peak_bytes": peak_memory(device),
    }


def step_bytes(net: torch.nn.Module, lookup_tables: list[torch.Tensor]) -> int:
    """Weight bytes one streaming step reads: every weight once (encoder, adapter, decoder, head), except tables
    that are only looked up (a row each). Key/value reads, a few per cent, are not counted."""
    from model.precision import weight_bytes

    return weight_bytes(net) - sum(t.numel() * t.element_size() for t in lookup_tables)


def run_ours(folder: Path, audio: np.ndarray, device: torch.device, dtype: torch.dtype, compile: str | None,
             precision: str | None) -> dict:
    """``compile``: None (eager), "default" or a torch.compile mode such as "reduce-overhead" (CUDA graphs)."""
    from model import load_realtime

    t = time.perf_counter()
    model = load_realtime(folder, device=device, dtype=dtype, precision=precision)
    sync(device)
    load_s = time.perf_counter() - t
    decoder = model.net.decoder
    lookups = [decoder.tok_embeddings] if decoder.output_projection is not None else []
    compile_s = model.compile(None if compile == "default" else compile) if compile else 0.0
    session = model.stream()
    step = model.config.samples_per_token
    steps: list[float] = []
    start = time.perf_counter()
    for i in range(0, len(audio), step):
        t = time.perf_counter()
        events = session.feed(audio[i : i + step])
        sync(device)
        if events and len(session.token_ids) > 1:  # the first token comes with the prompt's prefill: excluded
            steps.append(time.perf_counter() - t)
    session.finish()
    sync(device)
    return {**_summary(steps, time.perf_counter() - start, len(audio) / 16000, load_s, device),
            "compile_s": compile_s, "step_bytes": step_bytes(model.net, lookups), "precision": model.precision}


def run_reference(folder: Path, audio: np.ndarray, device: torch.device, dtype: torch.dtype) -> dict:
    """The transformers streaming path as its documentation shows it: a generator of feature chunks fed to
    ``generate`` (first chunk with the left padding and prompt, then 8 mel frames per step)."""
    from transformers import VoxtralRealtimeFeatureExtractor, VoxtralRealtimeForConditionalGeneration

    t = time.perf_counter()
    model = VoxtralRealtimeForConditionalGeneration.from_pretrained(folder, dtype=dtype).to(device).eval()
    sync(device)
    load_s = time.perf_counter() - t
    fe = VoxtralRealtimeFeatureExtractor.from_pretrained(folder)
    n_delay, n_left, hop, win = 6, 32, fe.hop_length, fe.win_length
    first_frames = (n_delay + 1) * 8
    first = np.concatenate([np.zeros(n_left * 1280, np.float32), audio[: (first_frames - 1) * hop + win // 2]])

    def chunks():
        yield fe(first, sampling_rate=16000, return_tensors="pt").input_features.to(device, dtype)
        frame = first_frames
        while (start := frame * hop - win // 2) + 8 * hop + win <= len(audio):
            piece = audio[start : start + 8 * hop + win]
            yield fe(piece, sampling_rate=16000, center=False, return_tensors="pt").input_features.to(device, dtype)
            frame += 8

    clock = StepClock(device)
    prompt = torch.tensor([[1] + [32] * (n_left + n_delay)], device=device)
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(
            input_ids=prompt, input_features=chunks(), attention_mask=torch.ones_like(prompt),
            num_delay_tokens=n_delay, do_sample=False, streamer=clock,
        )
    total = time.perf_counter() - start
    steps = list(np.diff(clock.times[1:]))  # [0] is the prompt, [1] the first token (after the prefill)
    # Its head is tied to the token table: read once per step as the head.
    weights = {id(p): p.numel() * p.element_size() for p in model.parameters()}
    return {**_summary(steps, total, len(audio) / 16000, load_s, device), "step_bytes": sum(weights.values())}


def main() -> None:
    """Child-process entry: python -m model.bench.realtime IMPL FOLDER SECONDS DEVICE DTYPE -> one JSON line.
    IMPL: ours (eager, default precision), ours-fp32 / ours-int8 (that precision), ours-compiled
    (RealtimeModel.compile() first), ours-cudagraphs (compile(mode="reduce-overhead")) or reference."""
    impl, folder, seconds, device, dtype = sys.argv[1:6]
    torch.manual_seed(0)
    audio = synthetic_audio(float(seconds))
    folder, device, dtype = Path(folder), torch.device(device), getattr(torch, dtype)
    if impl == "reference":
        result = run_reference(folder, audio, device, dtype)
    else:
        precision = {"ours-fp32": "full", "ours-int8": "int8", "ours-compiled": "full",
                     "ours-cudagraphs": "full"}.get(impl)
        compile = {"ours-compiled": "default", "ours-cudagraphs": "reduce-overhead"}.get(impl)
        result = run_ours(folder, audio, device, dtype, compile=compile, precision=precision)
    result = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
