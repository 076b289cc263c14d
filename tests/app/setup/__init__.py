"""Helpers shared by the model setup tests: a tiny realtime checkpoint, and FakeHub serving it with huggingface_hub
online and pointed at it (tests/conftest.py makes every test offline by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from huggingface_hub import constants

from tests.fixtures.realtime_checkpoint import RealtimeDims, make_reference, write_native
from tests.hub_server import FakeHub

REPO = "mistralai/Tiny-Realtime"
WEIGHTS = "consolidated.safetensors"
KB = 1024


def write_tiny_checkpoint(folder: Path) -> Path:
    """A tiny random realtime checkpoint in the native layout (under 1 MB)."""
    return write_native(make_reference(RealtimeDims(), seed=0), folder)


@contextmanager
def serving(checkpoint: Path, monkeypatch: pytest.MonkeyPatch, hf_home: Path) -> Iterator[FakeHub]:
    """A started FakeHub serving ``checkpoint`` as :data:`REPO`; huggingface_hub talks to it online, with no token."""
    with FakeHub() as server:
        # model.hub reads HF_ENDPOINT / HF_HUB_OFFLINE at call time; huggingface_hub's own copies are import-time.
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(hf_home))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)  # never send a developer's token
        server.add_repo(REPO, checkpoint)
        yield server
