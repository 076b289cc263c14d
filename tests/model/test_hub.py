"""fetch_checkpoint against a real local HTTP server speaking the hub's protocol (tests/hub_server.py).

Nothing of model.hub or huggingface_hub is mocked: requests go over the loopback to FakeHub, whose request log shows
what the client asked for. Only `shutil.disk_usage` is replaced, to fake a full disk.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import constants

import model.hub.download as download
from model.errors import CheckpointError, DownloadCancelled
from model.hub import DownloadProgress, fetch_checkpoint, looks_like_repo_id
from tests.hub_server import FakeHub, free_port_without_server, git_blob_id

NATIVE_REPO = "mistralai/Tiny-Native"
HF_REPO = "mistralai/Tiny-Transformers"
KB = 1024


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def _random(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _native_files() -> dict[str, bytes]:
    return {
        "consolidated.safetensors": _random(256 * KB, 1),
        "params.json": json.dumps({"dim": 64, "n_layers": 2}).encode(),
        "tekken.json": json.dumps({"config": {"pattern": "x"}, "vocab": [], "special_tokens": []}).encode(),
        # Not needed: must never be asked for.
        "README.md": b"# tiny\n",
        "model.safetensors": _random(64 * KB, 2),
    }


def _sharded_files() -> dict[str, bytes]:
    shards = {
        "model-00001-of-00002.safetensors": _random(160 * KB, 3),
        "model-00002-of-00002.safetensors": _random(96 * KB, 4),
    }
    index = {
        "metadata": {"total_size": sum(len(d) for d in shards.values())},
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
            "c.weight": "model-00001-of-00002.safetensors",
        },
    }
    return {
        **shards,
        "config.json": json.dumps({"model_type": "voxtral_realtime"}).encode(),
        "tekken.json": json.dumps({"vocab": []}).encode(),
        "preprocessor_config.json": json.dumps({"sampling_rate": 16000}).encode(),
        "model.safetensors.index.json": json.dumps(index).encode(),
        # Not needed: a lone native weights file (no params.json), a README, another tokenizer format.
        "consolidated.safetensors": _random(48 * KB, 5),
        "README.md": b"# tiny\n",
        "tokenizer.json": b"{}",
    }


NATIVE_NEEDED = {"consolidated.safetensors", "params.json", "tekken.json"}
SHARDED_NEEDED = {
    "config.json",
    "tekken.json",
    "preprocessor_config.json",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
}


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A started FakeHub that huggingface_hub talks to, online, with no token and a private HF_HOME."""
    with FakeHub() as server:
        # model.hub reads HF_ENDPOINT / HF_HUB_OFFLINE at call time; huggingface_hub's own copies are import-time.
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)  # never send a developer's token
        server.add_repo(NATIVE_REPO, _write(tmp_path / "src-native", _native_files()))
        server.add_repo(HF_REPO, _write(tmp_path / "src-sharded", _sharded_files()))
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hub-cache"


def _only_expected_requests(server: FakeHub, repo_id: str, needed: set[str]) -> None:
    """Every request is the listing or about a needed file; nothing else (no telemetry, no other files)."""
    for r in server.requests:
        assert r.repo_id == repo_id, r
        if r.filename is None:
            assert r.method == "GET" and r.path.startswith(f"/api/models/{repo_id}"), r
        else:
            assert r.filename in needed, r


def test_native_layout_fetches_only_its_three_files(fake_hub: FakeHub, cache: Path) -> None:
    folder = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)

    assert sorted(p.name for p in folder.iterdir()) == sorted(NATIVE_NEEDED)
    files = _native_files()
    for name in NATIVE_NEEDED:
        assert (folder / name).read_bytes() == files[name]
    assert fake_hub.files_requested(NATIVE_REPO) == NATIVE_NEEDED
    assert fake_hub.files_downloaded(NATIVE_REPO) == NATIVE_NEEDED
    _only_expected_requests(fake_hub, NATIVE_REPO, NATIVE_NEEDED)
    # The weights came from the "CDN" the hub redirected to, like on the real hub.
    assert {r.server for r in fake_hub.downloads_of(NATIVE_REPO, "consolidated.safetensors")} == {"cdn"}
    # The folder is huggingface_hub's own snapshot, and the branch now points at it.
    assert folder.parent.name == "snapshots"
    commit = (folder.parent.parent / "refs" / "main").read_text()
    assert folder.name == commit


def test_transformers_sharded_layout_fetches_index_and_shards(fake_hub: FakeHub, cache: Path) -> None:
    folder = fetch_checkpoint(HF_REPO, cache_dir=cache)

    assert {p.name for p in folder.iterdir()} == SHARDED_NEEDED
    files = _sharded_files()
    for name in SHARDED_NEEDED:
        assert (folder / name).read_bytes() == files[name]
    assert fake_hub.files_requested(HF_REPO) == SHARDED_NEEDED
    _only_expected_requests(fake_hub, HF_REPO, SHARDED_NEEDED)
    for name in SHARDED_NEEDED:  # each file's bytes were sent exactly once
        assert fake_hub.bytes_served(HF_REPO, name) == len(files[name]), name


def test_progress_increases_to_the_total(fake_hub: FakeHub, cache: Path) -> None:
    fake_hub.throttle(2 * 1024 * KB)  # ~0.15 s in all, so that progress arrives in several steps
    seen: list[DownloadProgress] = []

    fetch_checkpoint(HF_REPO, cache_dir=cache, progress=seen.append)

    total = sum(len(_sharded_files()[n]) for n in SHARDED_NEEDED)
    done = [p.done_bytes for p in seen]
    assert all(p.total_bytes == total for p in seen)
    assert done == sorted(done) and done[-1] == total and len(set(done)) > 3
    assert seen[-1].filename == "" and seen[-1].files_done == seen[-1].files_total == len(SHARDED_NEEDED)
    assert {p.filename for p in seen} >= {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}


def test_progress_counts_files_that_share_a_blob(fake_hub: FakeHub, cache: Path, tmp_path: Path) -> None:
    # Same bytes, same blob: the second file needs no download, but its bytes still count as on disk.
    same = b'{"same": true}'
    files = {"consolidated.safetensors": _random(32 * KB, 6), "params.json": same, "tekken.json": same}
    fake_hub.add_repo("someone/twins", _write(tmp_path / "src-twins", files))
    seen: list[DownloadProgress] = []

    folder = fetch_checkpoint("someone/twins", cache_dir=cache, progress=seen.append)

    assert (folder / "params.json").read_bytes() == (folder / "tekken.json").read_bytes() == same
    assert seen[-1].done_bytes == seen[-1].total_bytes == sum(len(d) for d in files.values())


def test_cancel_mid_file_then_resume_fetches_only_the_rest(fake_hub: FakeHub, cache: Path) -> None:
    name = "consolidated.safetensors"
    size = len(_native_files()[name])
    fake_hub.throttle(512 * KB, NATIVE_REPO, name)  # the whole file would take ~0.5 s
    cancel = threading.Event()

    def stop_midway(p: DownloadProgress) -> None:
        if p.filename == name and p.done_bytes >= 48 * KB:
            cancel.set()

    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache, progress=stop_midway, cancel=cancel)
    assert time.monotonic() - started < 2.0  # stopped promptly, not at the end of the file

    partials = list(cache.rglob("*.incomplete"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert 48 * KB <= kept < size

    fake_hub.throttle(None, NATIVE_REPO, name)
    fake_hub.reset_log()
    seen: list[DownloadProgress] = []
    folder = fetch_checkpoint(NATIVE_REPO, cache_dir=cache, progress=seen.append)

    assert (folder / name).read_bytes() == _native_files()[name]
    (resumed,) = fake_hub.downloads_of(NATIVE_REPO, name)
    assert resumed.range == f"bytes={kept}-" and resumed.status == 206
    assert fake_hub.bytes_served(NATIVE_REPO, name) == size - kept < size
    assert seen[0].done_bytes == kept  # the part on disk counts from the start
    assert not list(cache.rglob("*.incomplete"))


@pytest.mark.parametrize("name", ["consolidated.safetensors", "params.json"])  # LFS sha256, and git blob id
def test_corrupted_file_is_rejected_and_not_kept(fake_hub: FakeHub, cache: Path, name: str) -> None:
    fake_hub.corrupt(NATIVE_REPO, name)
    with pytest.raises(CheckpointError, match="corrupted") as info:
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    assert name in str(info.value)
    good = _native_files()[name]
    etag = hashlib.sha256(good).hexdigest() if name.endswith(".safetensors") else git_blob_id(good)
    assert not list(cache.rglob(f"blobs/{etag}*"))  # neither a blob nor a partial download of it
    assert not list(cache.rglob(f"snapshots/*/{name}"))

    fake_hub.corrupt(NATIVE_REPO, name, on=False)
    fake_hub.reset_log()
    folder = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    assert (folder / name).read_bytes() == good
    assert fake_hub.bytes_served(NATIVE_REPO, name) == len(good)  # fetched again from the start


def test_unknown_repo_names_the_repo_id(fake_hub: FakeHub, cache: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as info:
        fetch_checkpoint("nobody/no-such-model", cache_dir=cache)
    assert "nobody/no-such-model" in str(info.value)
    assert [r.status for r in fake_hub.requests] == [404]


def test_repo_without_a_loadable_layout_says_what_is_missing(fake_hub: FakeHub, cache: Path, tmp_path: Path) -> None:
    fake_hub.add_repo("someone/only-weights", _write(tmp_path / "src-bad", {"params.json": b"{}", "x.bin": b"0"}))
    with pytest.raises(CheckpointError) as info:
        fetch_checkpoint("someone/only-weights", cache_dir=cache)
    message = str(info.value)
    assert "someone/only-weights" in message
    assert "consolidated.safetensors" in message and "config.json" in message
    assert fake_hub.files_requested("someone/only-weights") == set()


@pytest.mark.parametrize("how", ["env", "constant"])
def test_offline_with_complete_cache_makes_no_request(
    fake_hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    online = fetch_checkpoint(HF_REPO, cache_dir=cache)
    fake_hub.reset_log()
    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    assert fetch_checkpoint(HF_REPO, cache_dir=cache) == online
    assert fake_hub.requests == []


def test_offline_without_cache_says_what_to_do(fake_hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as info:
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    message = str(info.value)
    assert "not on disk" in message and "offline mode" in message
    assert "Unset HF_HUB_OFFLINE" in message and "local checkpoint folder" in message
    assert fake_hub.requests == []


def test_offline_with_a_cancelled_download_is_not_complete(
    fake_hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancel = threading.Event()
    fake_hub.throttle(512 * KB, NATIVE_REPO, "consolidated.safetensors")

    def stop(p: DownloadProgress) -> None:
        if p.done_bytes > 16 * KB:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache, progress=stop, cancel=cancel)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="not on disk"):
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache)


def test_unreachable_hub_uses_a_complete_cache_or_says_why(
    fake_hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    monkeypatch.setenv("HF_ENDPOINT", free_port_without_server())

    assert fetch_checkpoint(NATIVE_REPO, cache_dir=cache) == online
    with pytest.raises(CheckpointError, match="cannot be reached") as info:
        fetch_checkpoint(HF_REPO, cache_dir=cache)
    assert "not on disk" in str(info.value) and "local checkpoint folder" in str(info.value)


def test_hub_down_uses_a_complete_cache_or_gives_the_status(fake_hub: FakeHub, cache: Path) -> None:
    online = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    fake_hub.fail_with(503)

    assert fetch_checkpoint(NATIVE_REPO, cache_dir=cache) == online
    with pytest.raises(CheckpointError, match="503") as info:
        fetch_checkpoint(HF_REPO, cache_dir=cache)
    assert "not on disk" in str(info.value)


def test_complete_cache_online_only_lists_the_repo(fake_hub: FakeHub, cache: Path) -> None:
    first = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    fake_hub.reset_log()
    seen: list[DownloadProgress] = []

    assert fetch_checkpoint(NATIVE_REPO, cache_dir=cache, progress=seen.append) == first
    assert [(r.method, r.filename) for r in fake_hub.requests] == [("GET", None)]
    assert seen[-1].done_bytes == seen[-1].total_bytes > 0


def test_a_commit_on_disk_needs_no_request(fake_hub: FakeHub, cache: Path) -> None:
    folder = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    fake_hub.reset_log()
    assert fetch_checkpoint(NATIVE_REPO, revision=folder.name, cache_dir=cache) == folder
    assert fake_hub.requests == []


def test_not_enough_disk_space_gives_both_numbers(
    fake_hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = 100 * KB
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**12, used=0, free=free))

    with pytest.raises(CheckpointError, match="disk space") as info:
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache)

    needed = sum(len(_native_files()[n]) for n in NATIVE_NEEDED)
    numbers = [float(x) for x in re.findall(r"(\d+\.\d+) GB", str(info.value))]
    assert numbers == pytest.approx([needed / 1e9, free / 1e9], abs=2e-6)
    assert fake_hub.files_downloaded(NATIVE_REPO) == set()


def test_files_already_on_disk_do_not_count_against_free_space(
    fake_hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**12, used=0, free=0))
    fetch_checkpoint(NATIVE_REPO, cache_dir=cache)  # nothing left to download: no error


def test_cancel_before_start_makes_no_request(fake_hub: FakeHub, cache: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        fetch_checkpoint(NATIVE_REPO, cache_dir=cache, cancel=cancel)
    assert fake_hub.requests == []


def test_downloaded_blobs_are_named_as_huggingface_hub_names_them(fake_hub: FakeHub, cache: Path) -> None:
    folder = fetch_checkpoint(NATIVE_REPO, cache_dir=cache)
    weights = (folder / "consolidated.safetensors").resolve()
    assert weights.parent.name == "blobs"
    assert weights.name == hashlib.sha256(_native_files()["consolidated.safetensors"]).hexdigest()


def test_fake_hub_serves_huggingface_hub_own_calls(fake_hub: FakeHub, tmp_path: Path) -> None:
    """The server answers the library's own listing and download paths too (tree listing, snapshot_download)."""
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    files = _native_files()
    tree = {f.path: f for f in HfApi(endpoint=fake_hub.url).list_repo_tree(NATIVE_REPO, recursive=True)}
    assert set(tree) == set(files)
    assert tree["consolidated.safetensors"].lfs.sha256 == hashlib.sha256(files["consolidated.safetensors"]).hexdigest()
    assert tree["params.json"].blob_id == git_blob_id(files["params.json"])

    folder = snapshot_download(
        NATIVE_REPO, allow_patterns=["*.json"], cache_dir=tmp_path / "lib-cache", endpoint=fake_hub.url
    )
    assert sorted(p.name for p in Path(folder).iterdir()) == ["params.json", "tekken.json"]
    weights = hf_hub_download(
        NATIVE_REPO, "consolidated.safetensors", cache_dir=tmp_path / "lib-cache", endpoint=fake_hub.url
    )
    assert Path(weights).read_bytes() == files["consolidated.safetensors"]


def test_looks_like_repo_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert looks_like_repo_id("mistralai/Voxtral-Mini-4B-Realtime-2602")
    assert looks_like_repo_id("a/b")
    for not_an_id in ("", "voxtral", "a/b/c", "/abs/path", "./rel", "../x", "a//b", "a/-b", "a--b/c", "C:\\m\\x"):
        assert not looks_like_repo_id(not_an_id), not_an_id
    monkeypatch.chdir(tmp_path)
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert not looks_like_repo_id("owner/name")  # a local folder of that name wins
