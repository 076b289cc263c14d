"""Download a checkpoint from the Hugging Face hub, fetching only the files the model needs.

Why the bytes are not fetched by ``hf_hub_download`` itself: huggingface_hub 2.x writes every download to a
process-unique temporary file and deletes it when the download fails or is interrupted, so it cannot resume across
calls. A checkpoint of several GB must survive a cancel or a dropped connection, so each file is streamed here with
HTTP ``Range`` requests into ``blobs/<etag>.incomplete`` (the name the hub cache has always used for a partial blob,
which ``hf cache prune`` knows), verified, and moved into ``blobs/<etag>``; ``hf_hub_download`` then links the
finished blob into the snapshot exactly as it does for its own downloads, so the cache stays the library's format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx2  # the HTTP client huggingface_hub 2.x is built on; its errors are what a dropped connection raises
from filelock import FileLock
from filelock import Timeout as LockTimeout
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.hf_api import RepoSibling
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from model.checkpoint import NATIVE_FILES
from model.errors import CheckpointError, DownloadCancelled

__all__ = ["DownloadProgress", "fetch_checkpoint", "looks_like_repo_id"]

_CONFIG = "config.json"
_TOKENIZER = "tekken.json"
_PREPROCESSOR = "preprocessor_config.json"  # optional in the transformers layout
_SINGLE_WEIGHTS = "model.safetensors"
_WEIGHTS_INDEX = "model.safetensors.index.json"

_LIST_TIMEOUT_S = 10.0
# Progress is reported at most every this many bytes or seconds (plus at each file's end): a UI does not need a
# callback per network chunk, which can be thousands per second on a fast line.
_REPORT_EVERY_BYTES = 4 * 1024 * 1024
_REPORT_EVERY_S = 0.1
# A connection that drops after delivering data is resumed at once, this many times per file and call.
_MAX_RESUMES = 5
_HASH_CHUNK = 8 * 1024 * 1024
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}

_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REPO_ID_RE = re.compile(rf"{_REPO_PART}/{_REPO_PART}")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class DownloadProgress:
    """Where a checkpoint download stands; handed to the ``progress`` callback of :func:`fetch_checkpoint`.

    ``done_bytes`` counts the bytes of all needed files that are on disk, including files that were complete before
    the call and the already-fetched part of a resumed file, so ``done_bytes / total_bytes`` is the whole job's
    progress. It only goes down if a server ignores a resume request and a file has to restart from zero.
    """

    filename: str  # file being fetched now; "" before the first and after the last
    done_bytes: int
    total_bytes: int
    files_done: int = 0
    files_total: int = 0

    @property
    def fraction(self) -> float:
        """Share of the bytes on disk, 0.0 to 1.0."""
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0


ProgressCallback = Callable[[DownloadProgress], None]


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
    _disable_telemetry()
    cache = Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser().resolve()
    rev = revision or constants.DEFAULT_REVISION
    _check_cancel(cancel, repo_id)

    # A commit is immutable: when it is on disk in full there is nothing to ask the hub.
    if _COMMIT_RE.fullmatch(rev) and (ready := _cached_snapshot(repo_id, rev, cache)) is not None:
        return ready
    if _offline_mode():
        return _cached_or_raise(
            repo_id, rev, cache, "offline mode is on (HF_HUB_OFFLINE=1)", "Unset HF_HUB_OFFLINE and download it once"
        )

    endpoint = _endpoint()
    try:
        info = HfApi(endpoint=endpoint).model_info(
            repo_id, revision=revision, files_metadata=True, timeout=_LIST_TIMEOUT_S
        )
    except (OfflineModeIsEnabled, httpx2.TransportError) as exc:
        reason = f"the Hugging Face hub cannot be reached ({_short(exc)})"
        return _cached_or_raise(repo_id, rev, cache, reason, "Download it once while online")
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500:
            reason = f"the Hugging Face hub is unavailable ({_short(exc)})"
            return _cached_or_raise(repo_id, rev, cache, reason, "Try again later")
        raise _listing_error(exc, repo_id, rev) from exc
    except HFValidationError as exc:
        raise CheckpointError(f"Cannot look up '{repo_id}' at revision '{rev}': {exc}") from exc

    if not info.sha or not _COMMIT_RE.fullmatch(info.sha):
        raise CheckpointError(f"The hub did not say which commit '{repo_id}' revision '{rev}' is ({info.sha!r}).")
    remote = _remote_files(repo_id, info.siblings or [])
    job = _Job(repo_id, info.sha, cache, endpoint, progress, cancel)

    names, index = _choose_files(repo_id, rev, remote)
    if index is not None:
        # The index names the shards, so it has to be on disk before the rest can be planned.
        index_path = job.fetch_one(remote[index])
        names += _shards_from_index(repo_id, index_path, remote)

    job.run([remote[n] for n in _download_order(names)])
    # Only a complete snapshot becomes the revision's ref: if this download stops halfway, offline use keeps
    # resolving the revision to the last complete one.
    _write_ref(job.storage, rev, info.sha)
    return job.snapshot


# --- the download job ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RemoteFile:
    name: str
    size: int
    sha256: str | None  # content hash, listed for LFS files
    git_oid: str | None  # git blob id, listed for regular files (sha1 over "blob <size>\0" + content)


@dataclass
class _Plan:
    file: _RemoteFile
    pointer: Path  # snapshots/<commit>/<name>
    blob: Path | None = None  # blobs/<etag>; None when the snapshot already holds a good copy
    url: str = ""  # where the bytes are (the hub's resolve url or the CDN it redirects to)
    on_disk: int = 0  # bytes already there: the whole file, or the fetched part of a partial blob


class _Job:
    """Fetches planned files of one commit into the cache and reports progress for the whole set."""

    def __init__(
        self,
        repo_id: str,
        commit: str,
        cache: Path,
        endpoint: str,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.repo_id = repo_id
        self.commit = commit
        self.cache = cache
        self.endpoint = endpoint
        self.storage = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
        self.snapshot = self.storage / "snapshots" / commit
        self._progress = progress
        self._cancel = cancel
        self._reporting = False
        self._current = ""
        self._done = 0
        self._total = 0
        self._files_done = 0
        self._files_total = 0
        self._last_report = (0, 0.0)

    # Public steps ------------------------------------------------------------------------------------------------

    def fetch_one(self, file: _RemoteFile) -> Path:
        """Fetch a single file without reporting progress (the total is not known yet); return its path."""
        plan = self._plan(file)
        if plan.blob is not None:
            self._fetch(plan)
        return plan.pointer

    def run(self, files: list[_RemoteFile]) -> None:
        plans = [self._plan(f) for f in files]
        self._check_disk_space(plans)
        self._reporting = True
        self._total = sum(p.file.size for p in plans)
        self._done = sum(p.on_disk for p in plans)
        self._files_total = len(plans)
        self._files_done = sum(p.blob is None for p in plans)
        self._current = next((p.file.name for p in plans if p.blob is not None), "")
        self._report(force=True)
        for plan in plans:
            if plan.blob is not None:
                self._current = plan.file.name
                self._fetch(plan)
                self._files_done += 1
                self._report(force=True)
        self._current = ""
        self._report(force=True)

    # Planning ----------------------------------------------------------------------------------------------------

    def _plan(self, file: _RemoteFile) -> _Plan:
        """Find what of `file` is on disk; ask the hub where the rest is."""
        self._check_cancel()
        plan = _Plan(file=file, pointer=self.snapshot / file.name)
        if plan.pointer.is_file() and plan.pointer.stat().st_size == file.size:
            plan.on_disk = file.size
            return plan
        if plan.pointer.is_symlink() or plan.pointer.exists():
            # A copy of the wrong size (truncated by a crash, or a bad disk): drop it and the blob it points to.
            _remove_bad_copy(plan.pointer)

        url = hf_hub_url(self.repo_id, file.name, revision=self.commit, endpoint=self.endpoint)
        try:
            meta = get_hf_file_metadata(url, timeout=_LIST_TIMEOUT_S, endpoint=self.endpoint)
        except (GatedRepoError, RepositoryNotFoundError) as exc:  # the listing is public, the files may not be
            raise _listing_error(exc, self.repo_id, self.commit) from exc
        except (OfflineModeIsEnabled, httpx2.TransportError, HfHubHTTPError) as exc:
            raise CheckpointError(f"Cannot look up {file.name} of '{self.repo_id}' on the hub: {_short(exc)}") from exc
        if not _safe_name(meta.etag or "") or (meta.size is not None and meta.size != file.size):
            raise CheckpointError(
                f"The hub's answers about {file.name} of '{self.repo_id}' disagree (listed {file.size} bytes, "
                f"served {meta.size}, etag {meta.etag!r}); try again later."
            )
        plan.blob = self.storage / "blobs" / meta.etag
        plan.url = meta.location
        if plan.blob.is_file():
            if plan.blob.stat().st_size == file.size:
                plan.on_disk = file.size  # another revision already brought these bytes: link them only
            else:
                plan.blob.unlink()
        if plan.on_disk == 0:
            partial = _partial_path(plan.blob)
            if partial.is_file():
                plan.on_disk = partial.stat().st_size
                if plan.on_disk > file.size:  # cannot be a prefix of this file
                    partial.unlink()
                    plan.on_disk = 0
        return plan

    def _check_disk_space(self, plans: Iterable[_Plan]) -> None:
        missing = sum(p.file.size - p.on_disk for p in plans)
        if missing <= 0:
            return
        probe = self.cache
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < missing:
            raise CheckpointError(
                f"Not enough free disk space to download '{self.repo_id}': {_gb(missing)} still to download, but "
                f"only {_gb(free)} free in {probe}. Free some space, or point HF_HUB_CACHE at a larger disk."
            )

    # Fetching ----------------------------------------------------------------------------------------------------

    def _fetch(self, plan: _Plan) -> None:
        assert plan.blob is not None
        if plan.blob.is_file() and plan.blob.stat().st_size == plan.file.size:
            # Another needed file with the same content brought this blob since planning: nothing to download.
            self._advance(plan.file.size - plan.on_disk)
        else:
            plan.blob.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.cache / ".locks" / self.storage.name / f"{plan.blob.name}.incomplete.lock"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(lock_path))
            try:
                # Two writers appending to one partial file would corrupt it; never wait for the other one either,
                # since a wait could not be cancelled.
                lock.acquire(timeout=0)
            except LockTimeout as exc:
                raise CheckpointError(
                    f"{plan.file.name} of '{self.repo_id}' is being downloaded by another process; try again when "
                    "it has finished."
                ) from exc
            try:
                self._download_blob(plan)
            finally:
                lock.release()
        self._link(plan)

    def _download_blob(self, plan: _Plan) -> None:
        """Stream the missing bytes into the partial blob, verify the whole file, move it into place."""
        assert plan.blob is not None
        file = plan.file
        partial = _partial_path(plan.blob)
        digest = _Digest(file)
        with open(partial, "ab") as out:
            have = out.tell()
            self._advance(have - plan.on_disk)  # normally 0; the planned count may be stale
            if have > file.size:
                out.seek(0)
                out.truncate()
                self._advance(-have)
                have = 0
            if have:
                self._hash_prefix(partial, have, digest)
            resumes_left = _MAX_RESUMES
            while have < file.size:
                start = have
                try:
                    self._stream(plan, out, digest)
                except httpx2.TransportError as exc:
                    out.flush()
                    have = out.tell()
                    if have == start or resumes_left == 0 or isinstance(exc, httpx2.ProxyError):
                        raise CheckpointError(
                            f"Downloading {file.name} of '{self.repo_id}' failed: {_short(exc)}. The {have} bytes "
                            "fetched so far are kept; try again to resume."
                        ) from exc
                    resumes_left -= 1
                    continue
                have = out.tell()
                if have < file.size:  # the server closed the body early without an error
                    if have == start or resumes_left == 0:
                        raise CheckpointError(
                            f"The hub sent only {have} of the {file.size} bytes of {file.name} of '{self.repo_id}'; "
                            "try again to resume."
                        )
                    resumes_left -= 1
        if have != file.size or not digest.matches():
            partial.unlink(missing_ok=True)
            self._advance(-have)
            what = f"{have} bytes instead of {file.size}" if have != file.size else digest.mismatch()
            raise CheckpointError(
                f"{file.name} of '{self.repo_id}' arrived corrupted ({what}). The bad copy was deleted; try again."
            )
        os.replace(partial, plan.blob)

    def _stream(self, plan: _Plan, out: BinaryIO, digest: _Digest) -> None:
        """One GET from the current end of `out`; raises httpx2 errors for the caller to resume."""
        start = out.tell()
        headers = build_hf_headers()
        if _origin(plan.url) != _origin(self.endpoint):
            headers.pop("authorization", None)  # a signed CDN url needs no token, and must not receive one
        headers["Accept-Encoding"] = "identity"  # exact bytes, and keeps caches from ignoring Range
        if start:
            headers["Range"] = f"bytes={start}-"
        timeout = float(constants.HF_HUB_DOWNLOAD_TIMEOUT)
        with get_session().stream("GET", plan.url, headers=headers, timeout=timeout) as response:
            if response.status_code == 416:
                # The server's file is shorter than what is on disk: the partial cannot be resumed.
                out.seek(0)
                out.truncate()
                self._advance(-start)
            if response.status_code >= 400:
                response.read()
                try:
                    hf_raise_for_status(response)
                except HfHubHTTPError as exc:
                    raise CheckpointError(
                        f"The hub refused {plan.file.name} of '{self.repo_id}': {_short(exc)}"
                    ) from exc
            if start and response.status_code != 206:
                # The server ignored the Range header and sends the whole file: start over.
                out.seek(0)
                out.truncate()
                digest.reset()
                self._advance(-start)
            for chunk in response.iter_bytes():
                if not chunk:
                    continue
                out.write(chunk)
                digest.update(chunk)
                self._advance(len(chunk))
                if out.tell() > plan.file.size:
                    raise CheckpointError(
                        f"The hub sent more than the {plan.file.size} bytes listed for {plan.file.name} of "
                        f"'{self.repo_id}'; try again later."
                    )
                # Checked after writing, so every byte received is kept for the resume.
                self._check_cancel()

    def _hash_prefix(self, partial: Path, length: int, digest: _Digest) -> None:
        """Feed the already-fetched part of a resumed file to the digest, so the whole file gets verified."""
        with open(partial, "rb") as f:
            remaining = length
            while remaining:
                chunk = f.read(min(_HASH_CHUNK, remaining))
                if not chunk:
                    break
                digest.update(chunk)
                remaining -= len(chunk)
                self._check_cancel()

    def _link(self, plan: _Plan) -> None:
        """Let huggingface_hub put the verified blob into the snapshot (symlink, or copy where links fail)."""
        try:
            path = hf_hub_download(
                self.repo_id,
                plan.file.name,
                revision=self.commit,
                cache_dir=self.cache,
                endpoint=self.endpoint,
                etag_timeout=_LIST_TIMEOUT_S,
            )
        except (OSError, httpx2.HTTPError, HfHubHTTPError) as exc:
            raise CheckpointError(
                f"Could not add {plan.file.name} of '{self.repo_id}' to the cache: {_short(exc)}"
            ) from exc
        if Path(path).stat().st_size != plan.file.size:
            _remove_bad_copy(Path(path))
            raise CheckpointError(f"{plan.file.name} of '{self.repo_id}' has the wrong size in the cache; try again.")

    # Progress and cancel -----------------------------------------------------------------------------------------

    def _advance(self, n: int) -> None:
        if not self._reporting:
            return
        self._done += n
        self._report()

    def _report(self, *, force: bool = False) -> None:
        if not self._reporting or self._progress is None:
            return
        last_done, last_time = self._last_report
        now = time.monotonic()
        if not force and abs(self._done - last_done) < _REPORT_EVERY_BYTES and now - last_time < _REPORT_EVERY_S:
            return
        self._last_report = (self._done, now)
        self._progress(
            DownloadProgress(
                filename=self._current,
                done_bytes=self._done,
                total_bytes=self._total,
                files_done=self._files_done,
                files_total=self._files_total,
            )
        )

    def _check_cancel(self) -> None:
        _check_cancel(self._cancel, self.repo_id)


class _Digest:
    """Incremental check of a file against the hash the hub lists for it (sha256 for LFS, git blob id else)."""

    def __init__(self, file: _RemoteFile) -> None:
        self._file = file
        self.reset()

    def reset(self) -> None:
        if self._file.sha256:
            self._kind, self._expected = "sha256", self._file.sha256.lower()
            self._hash = hashlib.sha256()
        elif self._file.git_oid and len(self._file.git_oid) == 40:
            self._kind, self._expected = "git blob id", self._file.git_oid.lower()
            self._hash = hashlib.sha1(b"blob %d\0" % self._file.size, usedforsecurity=False)
        else:
            self._kind, self._expected = "", ""
            self._hash = None

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)

    def matches(self) -> bool:
        return self._hash is None or self._hash.hexdigest() == self._expected

    def mismatch(self) -> str:
        actual = self._hash.hexdigest() if self._hash is not None else ""
        return f"its {self._kind} is {actual}, the hub lists {self._expected}"


# --- choosing files -----------------------------------------------------------------------------------------------


def _remote_files(repo_id: str, siblings: Iterable[RepoSibling]) -> dict[str, _RemoteFile]:
    files: dict[str, _RemoteFile] = {}
    for s in siblings:
        name, size, lfs = s.rfilename, s.size, s.lfs
        if size is None:
            raise CheckpointError(f"The hub listed the files of '{repo_id}' without their sizes; try again later.")
        files[name] = _RemoteFile(
            name=name,
            size=int(lfs.size if lfs is not None else size),
            sha256=lfs.sha256 if lfs is not None else None,
            git_oid=None if lfs is not None else s.blob_id,
        )
    return files


def _choose_files(repo_id: str, rev: str, remote: dict[str, _RemoteFile]) -> tuple[list[str], str | None]:
    """Names to fetch (without shards) and the weights index to read the shards from, if sharded."""
    if all(n in remote for n in NATIVE_FILES):
        return list(NATIVE_FILES), None
    names = [n for n in (_CONFIG, _TOKENIZER, _PREPROCESSOR) if n in remote]
    if _CONFIG in remote and _TOKENIZER in remote:
        if _SINGLE_WEIGHTS in remote:  # transformers itself prefers the single file over an index
            return [*names, _SINGLE_WEIGHTS], None
        if _WEIGHTS_INDEX in remote:
            return [*names, _WEIGHTS_INDEX], _WEIGHTS_INDEX
    native_missing = [n for n in NATIVE_FILES if n not in remote]
    hf_missing = [n for n in (_CONFIG, _TOKENIZER) if n not in remote]
    if _SINGLE_WEIGHTS not in remote and _WEIGHTS_INDEX not in remote:
        hf_missing.append(f"{_SINGLE_WEIGHTS} or {_WEIGHTS_INDEX}")
    raise CheckpointError(
        f"'{repo_id}' (revision '{rev}') holds no checkpoint this app can load. The native Mistral layout lacks "
        f"{', '.join(native_missing)}; the transformers layout lacks {', '.join(hf_missing)}."
    )


def _shards_from_index(repo_id: str, index_path: Path, remote: dict[str, _RemoteFile] | None) -> list[str]:
    """Shard names the weights index maps tensors to; each must exist in `remote` when given."""
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted({str(v) for v in weight_map.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{_WEIGHTS_INDEX} of '{repo_id}' is unreadable: {exc}") from exc
    if not shards:
        raise CheckpointError(f"{_WEIGHTS_INDEX} of '{repo_id}' names no weight files.")
    unsafe = [s for s in shards if not all(_safe_name(part) for part in s.split("/"))]
    if unsafe:
        raise CheckpointError(f"{_WEIGHTS_INDEX} of '{repo_id}' names files outside the repo: {', '.join(unsafe)}.")
    if remote is not None:
        absent = [s for s in shards if s not in remote]
        if absent:
            raise CheckpointError(
                f"{_WEIGHTS_INDEX} of '{repo_id}' names weight files the repo does not have: {', '.join(absent)}."
            )
    return shards


def _download_order(names: list[str]) -> list[str]:
    """Weights first, configs last, each once: a config on disk then shows that the files before it completed."""
    configs = {_CONFIG, "params.json"}
    unique = list(dict.fromkeys(names))
    return [n for n in unique if n not in configs] + [n for n in unique if n in configs]


# --- the cache when the hub cannot be asked -----------------------------------------------------------------------


def _cached_snapshot(repo_id: str, rev: str, cache: Path) -> Path | None:
    """The snapshot folder if it holds a complete layout for `rev` (a branch, tag or commit), else None."""

    def cached(name: str) -> Path | None:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache, revision=rev)
        return Path(found) if isinstance(found, str) and os.path.isfile(found) else None

    native = [cached(n) for n in NATIVE_FILES]
    if all(native):
        return native[0].parent  # type: ignore[union-attr]
    config, tokenizer = cached(_CONFIG), cached(_TOKENIZER)
    if config is None or tokenizer is None:
        return None
    if cached(_SINGLE_WEIGHTS) is not None:
        return config.parent
    index = cached(_WEIGHTS_INDEX)
    if index is None:
        return None
    try:
        shards = _shards_from_index(repo_id, index, None)
    except CheckpointError:
        return None
    return config.parent if all(cached(s) is not None for s in shards) else None


def _cached_or_raise(repo_id: str, rev: str, cache: Path, reason: str, remedy: str) -> Path:
    found = _cached_snapshot(repo_id, rev, cache)
    if found is not None:
        return found
    raise CheckpointError(
        f"The model '{repo_id}' (revision '{rev}') is not on disk in {cache}, and {reason}, so it cannot be "
        f"downloaded. {remedy}, or pass the path of a local checkpoint folder instead of a repo id."
    )


def _write_ref(storage: Path, rev: str, commit: str) -> None:
    """Record which commit a branch or tag name points to, as huggingface_hub does (refs/<name> holds the sha)."""
    if rev == commit or not all(_safe_name(part) for part in rev.split("/")):
        return
    ref = storage / "refs" / rev
    if ref.is_file() and ref.read_text().strip() == commit:
        return
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f"{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)  # readers never see a half-written ref


# --- small helpers ------------------------------------------------------------------------------------------------


def _is_repo_id(source: str) -> bool:
    return len(source) <= 96 and bool(_REPO_ID_RE.fullmatch(source)) and "--" not in source and ".." not in source


def _offline_mode() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once at import; the variable may have been set since.
    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE_VALUES


def _endpoint() -> str:
    # Read at call time (huggingface_hub reads HF_ENDPOINT once at import) and passed explicitly to every call.
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _disable_telemetry() -> None:
    # huggingface_hub reads HF_HUB_DISABLE_TELEMETRY once at import. While telemetry is on, building the
    # User-Agent of a request fetches {ENDPOINT}/api/agent-harnesses and reports versions; this app sends nothing
    # beyond the downloads themselves.
    constants.HF_HUB_DISABLE_TELEMETRY = True


def _check_cancel(cancel: threading.Event | None, repo_id: str) -> None:
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled(f"Download of '{repo_id}' cancelled; the next download resumes where it stopped.")


def _listing_error(exc: HfHubHTTPError, repo_id: str, rev: str) -> CheckpointError:
    if isinstance(exc, GatedRepoError):
        return CheckpointError(
            f"'{repo_id}' is a gated repo: accept its conditions on the hub's model page, then log in "
            "(`hf auth login`) or set HF_TOKEN."
        )
    status = exc.response.status_code if exc.response is not None else 0
    if isinstance(exc, RepositoryNotFoundError) or (status == 404 and not isinstance(exc, RevisionNotFoundError)):
        return CheckpointError(
            f"The repo id '{repo_id}' was not found on the Hugging Face hub. Check the spelling (owner/name); a "
            "private repo also needs a login (`hf auth login`)."
        )
    if isinstance(exc, RevisionNotFoundError):
        return CheckpointError(f"'{repo_id}' has no revision '{rev}'.")
    return CheckpointError(f"Listing the files of '{repo_id}' on the hub failed: {_short(exc)}")


def _safe_name(name: str) -> bool:
    """A single path component that stays where it is put (server-given names become file names)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def _partial_path(blob: Path) -> Path:
    return blob.with_name(blob.name + ".incomplete")


def _remove_bad_copy(pointer: Path) -> None:
    target = pointer.resolve() if pointer.is_symlink() else None
    pointer.unlink(missing_ok=True)
    if target is not None:
        target.unlink(missing_ok=True)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _gb(n: int) -> str:
    # Two decimals for real checkpoints; more for small amounts, which would otherwise all read "0.00 GB".
    return f"{n / 1e9:.2f} GB" if n >= 10**7 else f"{n / 1e9:.6f} GB"


def _short(exc: BaseException) -> str:
    """An error on one line, cut short: huggingface_hub's messages run to several lines of generic advice."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
