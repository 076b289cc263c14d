"""Voxtral (offline) loading: both layouts, alternative names, dtypes and the clear errors of the shared loader."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from model import CheckpointError, load_realtime, load_voxtral
from tests.fixtures.voxtral_checkpoint import write_hf, write_native


def test_layouts_load_identical_weights(voxtral, tmp_path) -> None:
    others = [
        voxtral.hf_dir,
        write_hf(voxtral.ref, tmp_path / "one-file", shards=1),
        write_native(
            voxtral.ref, tmp_path / "alt-names", embeddings_name="mm_whisper_embeddings.tok_embeddings.weight"
        ),
    ]
    ours = dict(voxtral.model.net.named_parameters())
    for folder in others:
        other = load_voxtral(folder, device="cpu")
        for name, p in other.net.named_parameters():
            assert torch.equal(p, ours[name]), (folder.name, name)


def test_bf16_transformers_checkpoint(voxtral, tmp_path) -> None:
    folder = write_hf(voxtral.ref, tmp_path / "bf16", dtype=torch.bfloat16)
    model = load_voxtral(folder, device="cpu")  # fp32 on a CPU; the fp32 position table is accepted and unused
    assert model.dtype == torch.float32 and model.precision == "fp16"  # matrices in fp16, computed in fp32
    assert all(p.dtype == torch.float32 for p in model.net.parameters() if p.dim() != 2)
    reply = model.chat([{"role": "user", "content": "Hello"}], max_new_tokens=4)
    assert len(reply.token_ids) <= 4


def test_model_kinds_are_not_confused(voxtral, tiny) -> None:
    with pytest.raises(CheckpointError, match="Realtime model; use load_realtime"):
        load_voxtral(tiny.native_dir, device="cpu")
    with pytest.raises(CheckpointError, match="not causal"):
        load_realtime(voxtral.native_dir, device="cpu")
    with pytest.raises(CheckpointError, match="expected 'voxtral'"):
        load_voxtral(tiny.hf_dir, device="cpu")


def test_strict_loading(voxtral, tmp_path) -> None:
    folder = shutil.copytree(voxtral.native_dir, tmp_path / "broken")
    tensors = load_file(str(folder / "consolidated.safetensors"))
    del tensors["output.weight"]
    tensors["mm_whisper_embeddings.whisper_encoder.embed_positions.weight"] = torch.zeros(2)
    save_file(tensors, str(folder / "consolidated.safetensors"))
    with pytest.raises(CheckpointError, match=r"1 missing \(e.g. output.weight\); 1 unexpected"):
        load_voxtral(folder, device="cpu")
    params = json.loads((folder / "params.json").read_text())
    params["multimodal"]["whisper_model_args"]["encoder_args"]["n_heads"] = 5
    (folder / "params.json").write_text(json.dumps(params))
    with pytest.raises(CheckpointError, match="not a multiple of its 5 heads"):
        load_voxtral(folder, device="cpu")
