"""Download a checkpoint from the Hugging Face hub, fetching only the files the model needs.

This module is the public API. Which files a repo needs is decided in :mod:`model.hub.files`, the resumable and
verified download is :mod:`model.hub.download` (with :mod:`model.hub.progress` for progress and cancel), a complete
copy on disk for when the hub cannot be asked is found by :mod:`model.hub.cache`, and :mod:`model.hub.settings` and
:mod:`model.hub.errors` hold how huggingface_hub is set up and how its errors read.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

from model.errors import CheckpointError
from model.hub.cache import cached_or_raise, cached_snapshot, write_ref
from model.hub.download import Job
from model.hub.errors import listing_error, short
from model.hub.files import choose_files, download_order, remote_files, shards_from_index
from model.hub.progress import DownloadProgress, ProgressCallback, check_cancel
from model.hub.settings import LIST_TIMEOUT_S, current_endpoint, disable_telemetry, offline_mode

__all__ = ["DownloadProgress", "fetch_checkpoint", "looks_like_repo_id"]

_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REPO_ID_RE = re.compile(rf"{_REPO_PART}/{_REPO_PART}")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def looks_like_repo_id(source: str) -> bool:
    """True when ``source`` reads as a hub repo id ("owner/name") and no local path of that name exists.

    A local folder always wins, so a checkpoint saved as ``./mistralai/Voxtral-Mini`` is never downloaded again.
    """
    return _is_repo_id(source) and not Path(source).expanduser().exists()


def fetch_checkpoint(
    repo_id: str,
    *,
    revision: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Download only the files needed to load `repo_id`; return the local snapshot folder.

    Picks the native Mistral layout (``consolidated.safetensors``, ``params.json``, ``tekken.json``) when the repo
    has it, else the transformers layout (``config.json``, ``tekken.json``, ``preprocessor_config.json`` if present,
    and ``model.safetensors`` or its index with every shard it names). Files go to the Hugging Face cache
    (``cache_dir``, default ``HF_HUB_CACHE``). ``progress`` and ``cancel`` are used from the calling thread.

    In offline mode (``HF_HUB_OFFLINE=1``) or when the hub cannot be reached, a complete copy in the cache is
    returned instead. Raises :class:`CheckpointError` when that is impossible, when the repo or revision does not
    exist, lacks the files, a file fails verification, or the disk is too small; :class:`DownloadCancelled` when
    ``cancel`` is set (what was fetched stays on disk and the next call resumes it).
    """
    if not _is_repo_id(repo_id):
        raise CheckpointError(f"'{repo_id}' is not a Hugging Face repo id of the form owner/name.")
    disable_telemetry()
    cache = Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser().resolve()
    rev = revision or constants.DEFAULT_REVISION
    check_cancel(cancel, repo_id)

    # A commit is immutable: when it is on disk in full there is nothing to ask the hub.
    if _COMMIT_RE.fullmatch(rev) and (ready := cached_snapshot(repo_id, rev, cache)) is not None:
        return ready
    if offline_mode():
        return cached_or_raise(
            repo_id, rev, cache, "offline mode is on (HF_HUB_OFFLINE=1)", "Unset HF_HUB_OFFLINE and download it once"
        )

    endpoint = current_endpoint()
    try:
        info = HfApi(endpoint=endpoint).model_info(
            repo_id, revision=revision, files_metadata=True, timeout=LIST_TIMEOUT_S
        )
    except (OfflineModeIsEnabled, httpx2.TransportError) as exc:
        reason = f"the Hugging Face hub cannot be reached ({short(exc)})"
        return cached_or_raise(repo_id, rev, cache, reason, "Download it once while online")
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500:
            reason = f"the Hugging Face hub is unavailable ({short(exc)})"
            return cached_or_raise(repo_id, rev, cache, reason, "Try again later")
        raise listing_error(exc, repo_id, rev) from exc
    except HFValidationError as exc:
        raise CheckpointError(f"Cannot look up '{repo_id}' at revision '{rev}': {exc}") from exc

    if not info.sha or not _COMMIT_RE.fullmatch(info.sha):
        raise CheckpointError(f"The hub did not say which commit '{repo_id}' revision '{rev}' is ({info.sha!r}).")
    remote = remote_files(repo_id, info.siblings or [])
    job = Job(repo_id, info.sha, cache, endpoint, progress, cancel)

    names, index = choose_files(repo_id, rev, remote)
    if index is not None:
        # The index names the shards, so it has to be on disk before the rest can be planned.
        index_path = job.fetch_one(remote[index])
        names += shards_from_index(repo_id, index_path, remote)

    job.run([remote[n] for n in download_order(names)])
    # Only a complete snapshot becomes the revision's ref: if this download stops halfway, offline use keeps
    # resolving the revision to the last complete one.
    write_ref(job.storage, rev, info.sha)
    return job.snapshot


def _is_repo_id(source: str) -> bool:
    return len(source) <= 96 and bool(_REPO_ID_RE.fullmatch(source)) and "--" not in source and ".." not in source
