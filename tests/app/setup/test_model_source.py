"""Model sources without Qt: folder checks, the cache lookup, and downloads from FakeHub (a real local HTTP server
speaking the hub's protocol) with progress, cancel and resume, a corrupted file, a full disk, no network, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import model.hub.download as hub_download
from app.setup.model_source import (
    OFFLINE_MISSING,
    DownloadStatus,
    ModelDownload,
    SetupError,
    StatusTracker,
    check_local_folder,
    download_size,
    find_cached,
    format_duration,
    format_size,
    size_note,
    start_text,
)
from model import DownloadCancelled
from model.hub import DownloadProgress
from tests.app.setup import KB, REPO, WEIGHTS
from tests.hub_server import FakeHub, free_port_without_server


def _total(checkpoint: Path) -> int:
    return sum(p.stat().st_size for p in checkpoint.iterdir())


# Local folders ---------------------------------------------------------------------------------------------------


def test_a_native_checkpoint_folder_is_accepted(checkpoint: Path) -> None:
    assert check_local_folder(checkpoint) is None
    assert check_local_folder(f"  {checkpoint}  ") is None


def test_a_folder_without_the_tokenizer_says_which_file_is_missing(checkpoint: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(checkpoint, tmp_path / "copy")
    (folder / "tekken.json").unlink()

    message = check_local_folder(folder)

    assert message is not None
    assert f"{folder} lacks tekken.json (the tokenizer)" in message
    assert "Copy the missing file" in message and "choose another folder" in message


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("{}")
    return folder


def test_transformers_layout_folders(tmp_path: Path) -> None:
    assert check_local_folder(_touch(tmp_path / "single", "config.json", "model.safetensors", "tekken.json")) is None

    bare = check_local_folder(_touch(tmp_path / "bare", "config.json"))
    assert bare is not None and "lacks tekken.json (the tokenizer) and model.safetensors (the weights)" in bare

    sharded = _touch(tmp_path / "sharded", "config.json", "tekken.json", "model-1.safetensors")
    index = {"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    message = check_local_folder(sharded)
    assert message is not None and "lacks model-2.safetensors (a weights file)." in message


def test_folders_that_are_not_models(tmp_path: Path) -> None:
    assert check_local_folder("") == "Choose the folder that holds the model."
    assert "does not exist" in (check_local_folder(tmp_path / "nowhere") or "")
    assert "is a file, not a folder" in (check_local_folder(_touch(tmp_path / "f", "x.txt") / "x.txt") or "")
    message = check_local_folder(_touch(tmp_path / "other", "notes.txt"))
    assert message is not None and "holds no Voxtral Realtime model" in message and "download the model" in message


# Progress numbers --------------------------------------------------------------------------------------------------


def test_status_text_reads_like_the_progress_line() -> None:
    status = DownloadStatus(1_200_000_000, 8_900_000_000, 45e6, 180.0, WEIGHTS)
    assert status.text() == "1.2 of 8.9 GB · 45 MB/s · 3 min left"
    assert DownloadStatus(300_000, 800_000, None, None, WEIGHTS).text() == "300 of 800 KB · measuring speed…"
    assert DownloadStatus(300, 800, 0.0, None, WEIGHTS).text() == "300 of 800 bytes · 0.0 bytes/s · time left unknown"
    assert DownloadStatus(2_500_000, 2_500_000, 1e6, 0.0, "").text() == "2.5 of 2.5 MB"
    big = DownloadStatus(12_345_678, 987_654_321, 2_345_678, 3.0, WEIGHTS)
    assert big.text() == "12 of 988 MB · 2.3 MB/s · 3 s left"
    assert format_size(681_816) == "682 KB"
    assert [format_duration(s) for s in (0.2, 45, 61, 3700)] == ["1 s", "45 s", "2 min", "1 h 2 min"]


def test_speed_is_averaged_over_the_last_seconds() -> None:
    now = [0.0]
    tracker = StatusTracker(window_s=3.0, clock=lambda: now[0])
    total = 100_000

    def at(t: float, done: int) -> DownloadStatus:
        now[0] = t
        return tracker.update(DownloadProgress(WEIGHTS, done, total))

    assert at(0.0, 0).speed_bytes_s is None
    assert at(0.2, 200).speed_bytes_s is None  # too short a span to tell
    slow = at(1.0, 1_000)
    assert slow.speed_bytes_s == pytest.approx(1_000) and slow.eta_s == pytest.approx(99.0)
    done = 1_000
    for step in range(1, 11):  # five seconds at 3000 B/s
        done += 1_500
        status = at(1.0 + step * 0.5, done)
    assert status.speed_bytes_s == pytest.approx(3_000)  # the slow first second has left the window
    assert status.eta_s == pytest.approx((total - done) / 3_000)
    restarted = at(6.5, 0)  # a server ignored a resume: the file starts again from zero
    assert restarted.speed_bytes_s is None and restarted.eta_s is None


# Downloads from FakeHub ----------------------------------------------------------------------------------------------


def test_download_reports_bytes_speed_and_time_left(hub: FakeHub, cache: Path, checkpoint: Path) -> None:
    hub.throttle(1024 * KB)  # about 0.8 s, so that there are several reports and a speed
    seen: list[DownloadStatus] = []

    folder = ModelDownload(REPO, cache_dir=cache, on_status=seen.append).run()

    assert (folder / WEIGHTS).read_bytes() == (checkpoint / WEIGHTS).read_bytes()
    assert find_cached(REPO, cache) == folder
    total = _total(checkpoint)
    done = [s.done_bytes for s in seen]
    assert all(s.total_bytes == total for s in seen)
    assert done == sorted(done) and done[-1] == total and len(set(done)) > 3
    timed = [s for s in seen if s.speed_bytes_s is not None and 0 < s.done_bytes < total]
    assert timed, "no status during the download carried a speed"
    assert all(s.speed_bytes_s > 0 and s.eta_s is not None and s.eta_s > 0 for s in timed)
    assert WEIGHTS in {s.file for s in seen}


def test_cancelled_download_resumes_from_the_partial_file(hub: FakeHub, cache: Path, checkpoint: Path) -> None:
    size = (checkpoint / WEIGHTS).stat().st_size
    hub.throttle(512 * KB, REPO, WEIGHTS)

    def stop_midway(status: DownloadStatus) -> None:
        if status.done_bytes >= 64 * KB:
            first.cancel()

    first = ModelDownload(REPO, cache_dir=cache, on_status=stop_midway)
    with pytest.raises(DownloadCancelled):
        first.run()
    assert first.cancelled
    assert find_cached(REPO, cache) is None  # a partial download is not a copy to use offline
    (partial,) = cache.rglob("*.incomplete")
    kept = partial.stat().st_size
    assert 64 * KB <= kept < size

    hub.throttle(None, REPO, WEIGHTS)
    hub.reset_log()
    seen: list[DownloadStatus] = []
    folder = ModelDownload(REPO, cache_dir=cache, on_status=seen.append).run()

    assert (folder / WEIGHTS).read_bytes() == (checkpoint / WEIGHTS).read_bytes()
    (resumed,) = hub.downloads_of(REPO, WEIGHTS)
    assert resumed.range == f"bytes={kept}-" and resumed.status == 206
    assert hub.bytes_served(REPO, WEIGHTS) == size - kept
    assert seen[0].done_bytes == kept  # the bar starts where the last attempt stopped


def test_corrupted_file_is_rejected_with_a_clear_message(hub: FakeHub, cache: Path) -> None:
    hub.corrupt(REPO, WEIGHTS)
    with pytest.raises(SetupError) as info:
        ModelDownload(REPO, cache_dir=cache).run()
    message = str(info.value)
    assert f"{WEIGHTS} of '{REPO}' arrived corrupted" in message and "try again" in message
    assert find_cached(REPO, cache) is None
    assert not list(cache.rglob(f"snapshots/*/{WEIGHTS}"))


def test_full_disk_is_refused_before_downloading(
    hub: FakeHub, cache: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_download.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=0, free=1))
    with pytest.raises(SetupError, match="Not enough free disk space"):
        ModelDownload(REPO, cache_dir=cache).run()
    assert hub.files_downloaded(REPO) == set()


def test_unreachable_hub_says_to_check_the_connection(
    hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `hub` puts huggingface_hub online; the endpoint then moves to a port where nothing listens.
    monkeypatch.setenv("HF_ENDPOINT", free_port_without_server())
    with pytest.raises(SetupError) as info:
        ModelDownload(REPO, cache_dir=cache).run()
    message = str(info.value)
    assert message.startswith("Cannot reach the Hugging Face hub (")
    assert "Check the internet connection" in message and "choose a folder that contains the model" in message


def test_offline_uses_the_cached_copy_without_any_request(hub: FakeHub, cache: Path) -> None:
    online = ModelDownload(REPO, cache_dir=cache).run()
    hub.reset_log()

    assert ModelDownload(REPO, cache_dir=cache, offline=True).run() == online
    assert hub.requests == []


def test_offline_without_a_copy_says_what_to_do(hub: FakeHub, cache: Path) -> None:
    with pytest.raises(SetupError) as info:
        ModelDownload(REPO, cache_dir=cache, offline=True).run()
    assert str(info.value) == OFFLINE_MISSING
    assert hub.requests == []


def test_find_cached_ignores_what_is_not_a_repo_id(cache: Path) -> None:
    assert find_cached(REPO, cache) is None
    assert find_cached("not a repo", cache) is None


# The download size, before downloading --------------------------------------------------------------------------


def test_the_download_size_is_asked_of_the_hub_without_downloading(
    hub: FakeHub, checkpoint: Path, tmp_path: Path
) -> None:
    assert download_size(REPO) == _total(checkpoint)
    assert [(r.server, r.method) for r in hub.requests] == [("hub", "GET")]  # one listing
    assert hub.files_requested(REPO) == set()

    # The transformers layout, sharded: the index and the shards count, the native files the repo also holds not.
    sharded = _touch(tmp_path / "sharded", "config.json", "tekken.json", "model.safetensors.index.json", "README.md")
    for n in (1, 2):
        (sharded / f"model-0000{n}-of-00002.safetensors").write_bytes(b"w" * 1000 * n)
    hub.add_repo("mistralai/Sharded", sharded)
    assert download_size("mistralai/Sharded") == 3000 + 3 * len("{}")


def test_an_unknown_download_size_says_why(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SetupError, match="was not found on the Hugging Face hub"):
        download_size("mistralai/No-Such-Model")
    monkeypatch.setenv("HF_ENDPOINT", free_port_without_server())
    with pytest.raises(SetupError, match=r"^the Hugging Face hub cannot be reached \("):
        download_size(REPO)


def test_what_the_setup_dialog_says_about_a_download() -> None:
    gb = 8_900_000_000
    assert start_text("hub", offline=False, on_disk=False, size=gb) == "&Download and load (8.9 GB)"
    assert start_text("hub", offline=False, on_disk=False, size=None) == "&Download and load…"  # asks the size first
    assert start_text("hub", offline=False, on_disk=False, size="the hub cannot be reached") == (
        "&Download and load (size unknown)")
    for offline, on_disk in ((True, False), (False, True), (True, True)):  # never "Download" with nothing to fetch
        assert start_text("hub", offline=offline, on_disk=on_disk, size=gb) == "Lo&ad from this computer"
    assert start_text("folder", offline=True, on_disk=False, size=None) == "&Use folder"
    assert start_text("server", offline=False, on_disk=False, size=None) == "Set up the &server…"

    assert size_note(None, on_disk=False, offline=False, asking=False) == "Download size unknown."
    assert size_note(None, on_disk=False, offline=False, asking=True) == "Asking the hub for the download size…"
    assert size_note(gb, on_disk=False, offline=False, asking=False) == "Download size: 8.9 GB"
    assert size_note("the hub is down", on_disk=False, offline=False, asking=False) == (
        "Download size unknown: the hub is down."
    )
    assert size_note(gb, on_disk=True, offline=True, asking=False).startswith("Already on this computer")
    assert size_note(None, on_disk=False, offline=True, asking=False).startswith("Not on this computer")
