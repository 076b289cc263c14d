"""Loading: both layouts, sharding, dtypes, memory, and a clear error for every way a checkpoint can be broken."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from model import CheckpointError, load_realtime
from model.bench.tekken import write_tekken
from tests.fixtures.realtime_checkpoint import RealtimeDims, make_reference, write_hf, write_native

WEIGHTS = "consolidated.safetensors"


@pytest.fixture
def native_copy(tiny, tmp_path) -> Path:
    return Path(shutil.copytree(tiny.native_dir, tmp_path / "native"))


@pytest.fixture
def hf_copy(tiny, tmp_path) -> Path:
    return Path(shutil.copytree(tiny.hf_dir, tmp_path / "hf"))


def test_layouts_give_identical_outputs(tiny, tmp_path, speech) -> None:
    sharded = write_hf(tiny.ref, tmp_path / "sharded", shards=3)
    expected = tiny.model.transcribe(speech, 16000)
    for folder in (tiny.hf_dir, sharded):
        other = load_realtime(folder, device="cpu")
        assert other.transcribe(speech, 16000).token_ids == expected.token_ids
        for (name, a), (_, b) in zip(tiny.model.net.named_parameters(), other.net.named_parameters(), strict=True):
            assert torch.equal(a, b), name


def test_bf16_checkpoint_computes_in_fp32_on_cpu(tiny, tmp_path, speech) -> None:
    folder = write_native(tiny.ref, tmp_path / "bf16", dtype=torch.bfloat16)
    model = load_realtime(folder, device="cpu")
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    # Vectors in fp32; the matrices in fp16 (see test_precision), the token table the only one left as a tensor.
    assert all(p.dtype == torch.float32 for p in model.net.parameters() if p.dim() != 2)
    assert [n for n, p in model.net.named_parameters() if p.dim() == 2] == ["decoder.tok_embeddings"]
    assert len(model.transcribe(speech, 16000).token_ids) > 10
    full = load_realtime(folder, device="cpu", precision="full")
    assert all(p.dtype == torch.float32 for p in full.net.parameters())
    bf16 = load_realtime(folder, device="cpu", dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in bf16.net.parameters())


def test_default_device_is_cpu_without_cuda(tiny) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model = load_realtime(tiny.native_dir)
    assert (model.device.type, model.dtype) == ("cpu", torch.float32)
    with pytest.raises(Exception, match="no usable CUDA"):
        load_realtime(tiny.native_dir, device="cuda")


def _rewrite(folder: Path, change) -> None:
    tensors = load_file(str(folder / WEIGHTS))
    change(tensors)
    save_file(tensors, str(folder / WEIGHTS))


def _expect(folder: Path, pattern: str) -> None:
    with pytest.raises(CheckpointError, match=pattern):
        load_realtime(folder, device="cpu")


def test_missing_tensor(native_copy) -> None:
    _rewrite(native_copy, lambda t: t.pop("layers.1.feed_forward.w2.weight"))
    _expect(native_copy, r"1 missing \(e.g. layers.1.feed_forward.w2.weight\)")


def test_unexpected_tensor(native_copy) -> None:
    _rewrite(native_copy, lambda t: t.update({"output.weight": torch.zeros(3)}))
    _expect(native_copy, r"1 unexpected \(e.g. output.weight\)")


def test_misshapen_tensor(native_copy) -> None:
    _rewrite(native_copy, lambda t: t.update({"norm.weight": torch.ones(7)}))
    _expect(native_copy, r"'norm.weight' has shape \[7\], expected \[48\]")


def test_truncated_file(native_copy) -> None:
    path = native_copy / WEIGHTS
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    _expect(native_copy, "truncated.*download the model again")


def test_garbage_weights_file(native_copy) -> None:
    (native_copy / WEIGHTS).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    _expect(native_copy, "damaged header")
    (native_copy / WEIGHTS).write_bytes(b"abc")
    _expect(native_copy, "too short")


def test_unreadable_configs(native_copy, hf_copy) -> None:
    (native_copy / "params.json").write_text("{ not json")
    _expect(native_copy, "params.json is not valid JSON")
    (hf_copy / "config.json").write_text("[1, 2]")
    _expect(hf_copy, "does not hold a JSON object")


def test_incomplete_configs(native_copy, hf_copy) -> None:
    params = json.loads((native_copy / "params.json").read_text())
    del params["n_heads"]
    (native_copy / "params.json").write_text(json.dumps(params))
    _expect(native_copy, "params.json has no 'n_heads' entry")
    config = json.loads((hf_copy / "config.json").read_text())
    config["text_config"]["num_attention_heads"] = 5  # not a multiple of the 2 kv heads
    (hf_copy / "config.json").write_text(json.dumps(config))
    _expect(hf_copy, "not a multiple of kv heads")


def test_missing_files(native_copy, hf_copy, tmp_path) -> None:
    (native_copy / "tekken.json").unlink()
    _expect(native_copy, "lacks tekken.json")
    (hf_copy / "model.safetensors").unlink()
    _expect(hf_copy, "no model.safetensors")
    _expect(tmp_path, "holds no model")
    with pytest.raises(CheckpointError, match="neither an existing folder nor a hub repository id"):
        load_realtime(tmp_path / "does-not-exist" / "x" / "y", device="cpu")


def test_missing_shard(tiny, tmp_path) -> None:
    folder = write_hf(tiny.ref, tmp_path / "sharded", shards=3)
    (folder / "model-00002-of-00003.safetensors").unlink()
    _expect(folder, "missing 1 of the 3 weight shards")


def test_wrong_model_kind(native_copy, hf_copy) -> None:
    write_tekken(native_copy / "tekken.json", kind="offline")
    _expect(native_copy, "not a Voxtral Realtime tokenizer")
    config = json.loads((hf_copy / "config.json").read_text())
    config["model_type"] = "voxtral"
    (hf_copy / "config.json").write_text(json.dumps(config))
    _expect(hf_copy, "expected 'voxtral_realtime'")


def test_tokenizer_of_another_model(native_copy) -> None:
    write_tekken(native_copy / "tekken.json", kind="realtime", n_vocab=900)
    _expect(native_copy, "tokenizer belongs to another model")
    (native_copy / "tekken.json").write_text("{}")
    _expect(native_copy, "no 'audio' block")


_MEASURE = textwrap.dedent(
    """
    import json, sys, time
    import torch
    from model import load_realtime
    import mistral_common.tokens.tokenizers.tekken  # a library import, not weights
    def status(key):  # VmHWM, unlike ru_maxrss, is not inherited from the parent across fork + exec
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    base = status("VmRSS")
    t = time.perf_counter()
    model = load_realtime(sys.argv[1], device="cpu", precision="full")  # fp16's own peak: test_precision
    seconds = time.perf_counter() - t
    peak = status("VmHWM")
    weights = sum(p.numel() * p.element_size() for p in model.net.parameters())
    print(json.dumps({"base": base, "peak": peak, "weights": weights, "seconds": seconds}))
    """
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_peak_memory_while_loading(tmp_path, dtype) -> None:
    dims = RealtimeDims(
        dim=768, n_layers=6, n_heads=12, n_kv_heads=4, head_dim=64, hidden_dim=3072,
        enc_dim=512, enc_n_layers=4, enc_n_heads=8, enc_head_dim=64, enc_hidden_dim=2048,
    )
    folder = write_native(make_reference(dims, seed=0, init_std=0.02), tmp_path / "medium", dtype=dtype)
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(folder)], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parents[2],
    )
    m = json.loads(out.stdout)
    assert m["weights"] > 200e6
    assert m["peak"] - m["base"] <= 1.3 * m["weights"], m


def test_repeated_loads_release_memory(tiny) -> None:
    # Loading twice must not keep the first model's tensors alive through the loader.
    import gc
    import weakref

    model = load_realtime(tiny.native_dir, device="cpu")
    ref = weakref.ref(model.net)
    del model
    gc.collect()
    assert ref() is None
    assert np.isfinite(tiny.model.net.decoder.norm.weight.detach().numpy()).all()
