"""Tiny Voxtral Realtime checkpoints shared by the model tests (built once per test session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model import load_realtime
from model.realtime.model import RealtimeModel
from tests.fixtures.realtime_checkpoint import RealtimeDims, make_reference, write_hf, write_native
from tests.fixtures.speech import espeak_speech

# Parity configurations: layers, heads, GQA ratio and sliding windows vary; every window is shorter than the test
# audio (the decoder's 16-position window is even shorter than the 39-token prompt).
DIMS = {
    "gqa2": RealtimeDims(),
    "mqa_small_windows": RealtimeDims(
        n_layers=3, n_heads=6, n_kv_heads=1, head_dim=8, hidden_dim=64, sliding_window=16,
        enc_n_layers=1, enc_n_heads=2, enc_head_dim=16, enc_hidden_dim=48, enc_sliding_window=24,
    ),
    "mha_deep_encoder": RealtimeDims(
        n_layers=1, n_heads=4, n_kv_heads=4, head_dim=12, sliding_window=48,
        enc_n_layers=3, enc_n_heads=8, enc_head_dim=8, enc_hidden_dim=40, enc_sliding_window=40,
    ),
}
SEEDS = {"gqa2": 0, "mqa_small_windows": 1, "mha_deep_encoder": 2}


class Tiny:
    """A reference model, its checkpoint folders and our model loaded from them."""

    def __init__(self, root: Path, name: str) -> None:
        self.ref = make_reference(DIMS[name], seed=SEEDS[name])
        self.native_dir = write_native(self.ref, root / f"{name}-native")
        self.hf_dir = write_hf(self.ref, root / f"{name}-hf")
        self.tekken = self.native_dir / "tekken.json"
        self.model: RealtimeModel = load_realtime(self.native_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_factory(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[str, Tiny] = {}
    root = tmp_path_factory.mktemp("tiny")

    def get(name: str = "gqa2") -> Tiny:
        if name not in cache:
            cache[name] = Tiny(root, name)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def tiny(tiny_factory) -> Tiny:
    return tiny_factory("gqa2")


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    audio, _ = espeak_speech("Captions should keep up with every word said in the meeting.")
    return audio


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


class TinyVoxtral:
    """A Voxtral (offline) reference, its checkpoint folders and our model loaded from the native one."""

    def __init__(self, root: Path) -> None:
        from model import load_voxtral
        from tests.fixtures.voxtral_checkpoint import VoxtralDims, make_reference
        from tests.fixtures.voxtral_checkpoint import write_hf as write_voxtral_hf
        from tests.fixtures.voxtral_checkpoint import write_native as write_voxtral_native

        self.ref = make_reference(VoxtralDims(), seed=0)
        self.native_dir = write_voxtral_native(self.ref, root / "voxtral-native")
        self.hf_dir = write_voxtral_hf(self.ref, root / "voxtral-hf")
        self.tekken = self.native_dir / "tekken.json"
        self.model = load_voxtral(self.native_dir, device="cpu")


@pytest.fixture(scope="session")
def voxtral(tmp_path_factory: pytest.TempPathFactory) -> TinyVoxtral:
    return TinyVoxtral(tmp_path_factory.mktemp("voxtral"))
