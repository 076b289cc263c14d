"""The GPU checks, prepared as one command because GPU time is scarce:

    python -m model.bench.gpu_checks                      # on a CUDA (or MPS) machine; writes gpu-checks/*.json
    python -m model.bench.gpu_checks --device cpu --config tiny --seconds 2   # the same steps here, as a dry run

1. Parity on tiny random bf16 checkpoints: the accelerator in bf16 (the default there) and with int8 weights
   against fp32 on the CPU: greedy token agreement on the same audio and the decoder logits' relative error.
2. The streaming benchmark at ``--config`` (full by default) on the device: eager, torch.compile with CUDA graphs
   (``mode="reduce-overhead"``) and int8, with step p50/p95, bytes per step, share of the device's read bandwidth
   and peak memory (python -m model.bench prints the table and writes the JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from model.bench.int8 import logits, teacher_inputs
from model.bench.realtime import synthetic_audio

# The tiny sizes of the parity tests (tests/model/conftest.py), with their seeds.
TINY = {
    "gqa2": ({}, 0),
    "mqa_small_windows": (dict(n_layers=3, n_heads=6, n_kv_heads=1, head_dim=8, hidden_dim=64, sliding_window=16,
                               enc_n_layers=1, enc_n_heads=2, enc_head_dim=16, enc_hidden_dim=48,
                               enc_sliding_window=24), 1),
}


def parity(device: str, root: Path) -> list[dict]:
    from model import load_realtime
    from tests.fixtures.realtime_checkpoint import RealtimeDims, make_reference, write_native

    audio = synthetic_audio(6.0)
    rows = []
    for name, (sizes, seed) in TINY.items():
        folder = write_native(make_reference(RealtimeDims(**sizes), seed=seed), root / name, dtype=torch.bfloat16)
        reference = load_realtime(folder, device="cpu", precision="full")
        expected = reference.transcribe(audio, 16000).token_ids
        mel, tokens, scales = teacher_inputs(reference, audio[: 16000 * 4], seed=2)
        exact = logits(reference.net, mel, tokens, scales)
        for precision in (None, "int8"):
            model = load_realtime(folder, device=device, precision=precision)
            got = model.transcribe(audio, 16000).token_ids
            out = logits(model.net, mel, tokens, scales)
            rows.append({
                "checkpoint": name, "device": str(model.device), "dtype": str(model.dtype).removeprefix("torch."),
                "precision": model.precision,
                "token_agreement": float(np.mean([a == b for a, b in zip(got, expected, strict=False)])),
                "same_length": len(got) == len(expected),
                "logit_error": float((out - exact).pow(2).mean().sqrt() / exact.pow(2).mean().sqrt()),
            })
            print(json.dumps(rows[-1]))
    return rows


def main(argv: list[str] | None = None) -> None:
    from model import device as devices
    from model.bench.__main__ import main as bench

    parser = argparse.ArgumentParser(prog="python -m model.bench.gpu_checks", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=devices.best().type)
    parser.add_argument("--config", default="full")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("gpu-checks"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="captionist-gpu-checks-") as tmp:
        rows = parity(args.device, Path(tmp))
    (args.out / "parity.json").write_text(json.dumps(rows, indent=2))
    impls = "ours,ours-cudagraphs,ours-int8" if args.device.startswith("cuda") else "ours,ours-int8"
    bench(["--config", args.config, "--seconds", str(args.seconds), "--device", args.device, "--impl", impls,
           "--json", str(args.out / f"stream-{args.config}.json")])


if __name__ == "__main__":
    main()
