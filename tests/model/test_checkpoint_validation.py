"""Every way a checkpoint can be damaged is refused at load with one clear CheckpointError: sizes and numbers in its
configuration files, the tokenizer file, the dtypes and values of its tensors, and its safetensors headers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model import CheckpointError, load_realtime, load_voxtral
from tests.model.checkpoint_damage import DAMAGES, NATIVE, REALTIME, Damage, write_bases

LOADERS = {"realtime": load_realtime, "voxtral": load_voxtral}


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return write_bases(tmp_path_factory.mktemp("bases"))


def damaged(bases, damage: Damage, tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(bases[damage.model, damage.layout], tmp_path / damage.id))
    damage.apply(folder)
    return folder


def test_the_undamaged_checkpoints_load(bases) -> None:
    for (model, _), folder in bases.items():
        LOADERS[model](folder, device="cpu")


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.id for d in DAMAGES])
def test_damage_is_refused_with_one_clear_message(bases, damage, tmp_path) -> None:
    folder = damaged(bases, damage, tmp_path)
    with pytest.raises(CheckpointError, match=damage.pattern) as caught:
        LOADERS[damage.model](folder, device="cpu")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message


def test_damage_ids_are_unique() -> None:
    ids = [d.id for d in DAMAGES]
    assert len(ids) == len(set(ids))


def test_a_weight_too_large_for_the_chosen_dtype(bases, tmp_path) -> None:
    folder = Path(shutil.copytree(bases[REALTIME, NATIVE], tmp_path / "large"))
    path = folder / "consolidated.safetensors"
    values = load_file(str(path))
    values["norm.weight"] = values["norm.weight"].clone()
    values["norm.weight"][3] = 1e30  # finite in float32, infinite in float16
    save_file(values, str(path))
    load_realtime(folder, device="cpu")  # float32: fine
    with pytest.raises(CheckpointError, match=r"'norm.weight' has values too large for float16.*dtype='float32'"):
        load_realtime(folder, device="cpu", dtype=torch.float16)


def test_a_nan_in_an_unused_tensor_copy_is_no_weight(bases, tmp_path) -> None:
    """The position table transformers stores next to Voxtral's weights is not loaded; only its dtype counts."""
    from tests.model.checkpoint_damage import HF, VOXTRAL

    folder = Path(shutil.copytree(bases[VOXTRAL, HF], tmp_path / "positions"))
    for path in folder.glob("model-*.safetensors"):
        values = load_file(str(path))
        if "audio_tower.embed_positions.weight" in values:
            values["audio_tower.embed_positions.weight"][0, 0] = float("nan")
            save_file(values, str(path))
            break
    else:
        raise AssertionError("no position table in the transformers checkpoint")
    load_voxtral(folder, device="cpu")
    values["audio_tower.embed_positions.weight"] = torch.zeros(values["audio_tower.embed_positions.weight"].shape,
                                                               dtype=torch.int32)
    save_file(values, str(path))
    with pytest.raises(CheckpointError, match="embed_positions.weight' is stored as int32"):
        load_voxtral(folder, device="cpu")
