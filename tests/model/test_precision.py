"""How weights are stored (model.precision): fp16 on the CPU gives the tokens of fp32 on 16-bit checkpoints, for both
models, offline and streaming; matrices fp16 cannot hold stay in fp32; int8 is an option, never the default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from model import ModelError, load_realtime, load_voxtral
from model.precision import HalfLinear, Int8Linear, fbgemm_available, weight_bytes
from tests.fixtures.realtime_checkpoint import NUM_SPECIAL_TOKENS, RealtimeDims, make_reference, write_hf, write_native
from tests.fixtures.speech import espeak_speech
from tests.model.conftest import DIMS, SEEDS

pytestmark = pytest.mark.skipif(not fbgemm_available(), reason="fbgemm (x86 CPUs) holds the fp16 and int8 kernels")


@pytest.fixture(scope="module")
def bf16_realtime(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bf16-realtime")
    folders = {}
    for name in ("gqa2", "mqa_small_windows"):
        ref = make_reference(DIMS[name], seed=SEEDS[name])
        folders[f"{name}-native"] = write_native(ref, root / f"{name}-native", dtype=torch.bfloat16)
        folders[f"{name}-hf"] = write_hf(ref, root / f"{name}-hf", dtype=torch.bfloat16)
    return folders


@pytest.fixture(scope="module")
def bf16_voxtral(tmp_path_factory) -> dict[str, Path]:
    from tests.fixtures.voxtral_checkpoint import VoxtralDims
    from tests.fixtures.voxtral_checkpoint import make_reference as make_voxtral
    from tests.fixtures.voxtral_checkpoint import write_hf as write_voxtral_hf
    from tests.fixtures.voxtral_checkpoint import write_native as write_voxtral_native

    root = tmp_path_factory.mktemp("bf16-voxtral")
    ref = make_voxtral(VoxtralDims(), seed=0)
    return {"native": write_voxtral_native(ref, root / "native", dtype=torch.bfloat16),
            "hf": write_voxtral_hf(ref, root / "hf", dtype=torch.bfloat16)}


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return espeak_speech("The quarterly numbers are in, and the new office opens in March.")[0]


@pytest.mark.parametrize("name", ["gqa2-native", "gqa2-hf", "mqa_small_windows-native"])
def test_realtime_fp16_weights_give_the_fp32_tokens_offline_and_streaming(bf16_realtime, speech, name) -> None:
    folder = bf16_realtime[name]
    full = load_realtime(folder, device="cpu", precision="full")
    half = load_realtime(folder, device="cpu")  # the default on a CPU for a bf16 checkpoint
    assert (full.precision, half.precision, half.kept_full) == ("full", "fp16", [])
    assert any(isinstance(m, HalfLinear) for m in half.net.modules())
    assert half.net.decoder.output_projection is not None and half.dtype == torch.float32
    # Matrices in half the bytes of fp32; the token table stays for lookups beside the packed head.
    matrices = sum(p.numel() for p in full.net.parameters() if p.dim() == 2)
    assert weight_bytes(half.net) < weight_bytes(full.net) - 2 * matrices + 2 * full.config.decoder.vocab_size * 48 + 1
    expected = full.transcribe(speech, 16000)
    assert len(expected.token_ids) > 20
    assert half.transcribe(speech, 16000).token_ids == expected.token_ids
    batch = half.transcribe([speech, speech[: len(speech) // 2]], 16000)
    assert batch[0].token_ids == expected.token_ids
    assert batch[1].token_ids == full.transcribe(speech[: len(speech) // 2], 16000).token_ids
    session = half.stream()
    for i in range(0, len(speech), 700):  # blocks that do not line up with 80 ms steps
        session.feed(speech[i : i + 700])
    session.finish()
    assert session.token_ids == expected.token_ids


def test_realtime_fp16_logits_match_fp32_closely(bf16_realtime) -> None:
    folder = bf16_realtime["gqa2-native"]
    logits = {}
    for precision in ("full", "fp16"):
        model = load_realtime(folder, device="cpu", precision=precision)
        decoder = model.net.decoder
        audio = torch.randn(1, 5, decoder.cfg.dim, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            state = decoder.new_state(1, torch.float32, torch.device("cpu"))
            logits[precision] = decoder(audio, torch.tensor([[1, 2, 3, 4, 5]]), state, decoder.delay_scales(6),
                                        all_logits=True)
    error = (logits["fp16"] - logits["full"]).abs().max() / logits["full"].abs().max()
    assert error < 1e-5  # the same weights, only the order of the fp32 sums differs


@pytest.mark.parametrize("layout", ["native", "hf"])
def test_voxtral_fp16_weights_give_the_fp32_tokens(bf16_voxtral, speech, layout) -> None:
    # (Its transcribe() would run to the 30 s chunk's token limit on random weights; chat covers the same path.)
    full = load_voxtral(bf16_voxtral[layout], device="cpu", precision="full")
    half = load_voxtral(bf16_voxtral[layout], device="cpu")
    assert (full.precision, half.precision) == ("full", "fp16")
    assert half.net.decoder.output is None and half.net.decoder.output_projection is not None  # no unpacked copy
    question = [{"role": "user", "content": [{"type": "audio", "audio": speech, "sample_rate": 16000},
                                             {"type": "text", "text": "What opens in March?"}]}]
    expected = full.chat(question, max_new_tokens=24)
    assert half.chat(question, max_new_tokens=24).token_ids == expected.token_ids
    assert "".join(half.stream_chat(question, max_new_tokens=24)) == expected.text


def test_an_fp32_checkpoint_keeps_full_precision_unless_asked(tiny) -> None:
    assert tiny.model.precision == "full"  # fp16 would round its fp32 weights
    half = load_realtime(tiny.native_dir, device="cpu", precision="fp16")
    assert half.precision == "fp16"


def test_a_matrix_beyond_fp16_range_stays_fp32_and_the_tokens_stay(bf16_realtime, tmp_path, speech) -> None:
    source = bf16_realtime["gqa2-native"]
    folder = tmp_path / "wide"
    folder.mkdir()
    for f in source.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    tensors = load_file(folder / "consolidated.safetensors")
    name = "layers.1.feed_forward.w2.weight"
    tensors[name][0, 0] = 1e5  # finite in bf16, infinite in fp16
    save_file(tensors, str(folder / "consolidated.safetensors"))
    full = load_realtime(folder, device="cpu", precision="full")
    half = load_realtime(folder, device="cpu")
    assert half.precision == "fp16" and half.kept_full == ["decoder.layers.1.ffn.w2.weight"]
    assert isinstance(half.net.decoder.layers[1].ffn.w2, torch.nn.Linear)
    assert half.net.decoder.layers[1].ffn.w2.weight.dtype == torch.float32
    assert half.transcribe(speech, 16000).token_ids == full.transcribe(speech, 16000).token_ids


def test_precision_errors_say_what_to_use(bf16_realtime) -> None:
    folder = bf16_realtime["gqa2-native"]
    with pytest.raises(ModelError, match="compile\\(\\) needs precision='full'; this model keeps its weights as fp16"):
        load_realtime(folder, device="cpu").compile()
    with pytest.raises(ModelError, match="not a precision; use one of auto, full, fp16, int8"):
        load_realtime(folder, device="cpu", precision="fp8")
    with pytest.raises(ModelError, match="on a GPU, bf16"):
        load_realtime(folder, device="cpu", dtype="bfloat16", precision="fp16")


def test_int8_is_an_option_with_a_quarter_of_the_matrix_bytes(bf16_realtime, speech) -> None:
    folder = bf16_realtime["gqa2-native"]
    full = load_realtime(folder, device="cpu", precision="full")
    int8 = load_realtime(folder, device="cpu", precision="int8")
    assert int8.precision == "int8" and any(isinstance(m, Int8Linear) for m in int8.net.modules())
    matrices = sum(p.numel() for p in full.net.parameters() if p.dim() == 2)
    table = full.config.decoder.vocab_size * full.config.decoder.dim  # kept in fp16 for lookups
    scales = 4 * sum(m.out_features + m.in_features for m in int8.net.modules() if isinstance(m, Int8Linear))
    assert weight_bytes(int8.net) <= weight_bytes(full.net) - 3 * matrices + 2 * table + scales
    result = int8.transcribe(speech, 16000)
    expected = full.transcribe(speech, 16000)
    assert len(result.token_ids) == len(expected.token_ids)  # one token per 80 ms whatever the weights
    session = int8.stream()
    for i in range(0, len(speech), 1280):
        session.feed(speech[i : i + 1280])
    session.finish()
    assert session.token_ids == result.token_ids


def test_weight_only_int8_matches_its_dequantised_matrix() -> None:
    """The GPU form (weight-only int8), run here on the CPU: the product equals x @ (q * scale)^T."""
    torch.manual_seed(0)
    weight, bias, x = torch.randn(96, 64) * 0.05, torch.randn(96), torch.randn(2, 3, 64)
    layer = Int8Linear(weight, bias, dynamic=False)
    dequantised = layer.q.float() * layer.scales[:, None]
    assert (dequantised - weight).abs().max() <= layer.scales.max() / 2 + 1e-7  # rounding to the nearest step
    np.testing.assert_allclose(layer(x), torch.nn.functional.linear(x, dequantised, bias), rtol=1e-5, atol=1e-5)
    dynamic = Int8Linear(weight, bias, dynamic=True)
    exact = torch.nn.functional.linear(x, weight, bias)
    assert (dynamic(x) - exact).abs().max() < 0.05 * exact.abs().max()


LOAD_PEAK = """
import json, sys, torch
def rss(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))
import model.precision
from model import load_realtime
model.precision.PACK_BLOCK = 1 << 16  # blocks as small next to these matrices as 2**24 is next to the real ones
load_realtime(sys.argv[2], device="cpu")  # everything imported, allocators warm
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM (Linux)
before = rss("VmRSS:")
model = load_realtime(sys.argv[1], device="cpu")
fp32 = sum(p.numel() * 4 for p in model.net.parameters() if p.dim() != 2)
fp32 += sum(m.in_features * m.out_features * 4 for m in model.net.modules() if hasattr(m, "blocks"))
print(json.dumps({"peak": rss("VmHWM:") - before, "fp32": fp32, "precision": model.precision}))
"""


def test_fp16_loading_never_holds_an_fp32_copy(tmp_path, bf16_realtime) -> None:
    """Peak memory while loading a bf16 checkpoint stays under 0.7x its fp32 size (a fresh process measures it)."""
    # The token table is 9 % of the weights, as in the real model (it is also kept beside the packed head).
    dims = RealtimeDims(dim=512, n_layers=6, n_heads=8, n_kv_heads=2, head_dim=64, hidden_dim=1536,
                        vocab_size=4500, enc_dim=256, enc_n_layers=4, enc_n_heads=4, enc_head_dim=64,
                        enc_hidden_dim=1024)
    folder = write_native(make_reference(dims, seed=5, init_std=0.02), tmp_path / "wide", dtype=torch.bfloat16,
                          n_vocab=4500 - NUM_SPECIAL_TOKENS)
    out = subprocess.run([sys.executable, "-c", LOAD_PEAK, str(folder), str(bf16_realtime["gqa2-native"])],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"peak while loading {measured['peak'] / 2**20:.0f} MiB for {measured['fp32'] / 2**20:.0f} MiB of fp32")
    assert measured["precision"] == "fp16" and measured["peak"] <= 0.7 * measured["fp32"]
