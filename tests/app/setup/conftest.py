"""Fixtures shared by the model setup tests: a tiny checkpoint, the local hub server serving it, a cache folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.setup import serving, write_tiny_checkpoint
from tests.hub_server import FakeHub


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "native")


@pytest.fixture
def hub(checkpoint: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with serving(checkpoint, monkeypatch, tmp_path / "hf-home") as server:
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hub-cache"
