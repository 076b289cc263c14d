"""The download job: fetches the chosen files of one commit into the hub cache, resumably, verified, with progress.

Why the bytes are not fetched by ``hf_hub_download`` itself: huggingface_hub 2.x writes every download to a
process-unique temporary file and deletes it when the download fails or is interrupted, so it cannot resume across
calls. A checkpoint of several GB must survive a cancel or a dropped connection, so each file is streamed here with
HTTP ``Range`` requests into ``blobs/<etag>.incomplete`` (the name the hub cache has always used for a partial blob,
which ``hf cache prune`` knows), verified, and moved into ``blobs/<etag>``; ``hf_hub_download`` then links the
finished blob into the snapshot exactly as it does for its own downloads, so the cache stays the library's format.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx2  # the HTTP client huggingface_hub 2.x is built on; its errors are what a dropped connection raises
from filelock import FileLock
from filelock import Timeout as LockTimeout
from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from model.errors import CheckpointError
from model.hub.cache import partial_path, remove_bad_copy
from model.hub.errors import listing_error, short
from model.hub.files import RemoteFile, safe_name
from model.hub.progress import ProgressCallback, ProgressCounter, check_cancel
from model.hub.settings import LIST_TIMEOUT_S

# A connection that drops after delivering data is resumed at once, this many times per file and call.
_MAX_RESUMES = 5
_HASH_CHUNK = 8 * 1024 * 1024


@dataclass
class _Plan:
    file: RemoteFile
    pointer: Path  # snapshots/<commit>/<name>
    blob: Path | None = None  # blobs/<etag>; None when the snapshot already holds a good copy
    url: str = ""  # where the bytes are (the hub's resolve url or the CDN it redirects to)
    on_disk: int = 0  # bytes already there: the whole file, or the fetched part of a partial blob


class Job:
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
        self._progress = ProgressCounter(progress)
        self._cancel = cancel

    # Public steps ------------------------------------------------------------------------------------------------

    def fetch_one(self, file: RemoteFile) -> Path:
        """Fetch a single file without reporting progress (the total is not known yet); return its path."""
        plan = self._plan(file)
        if plan.blob is not None:
            self._fetch(plan)
        return plan.pointer

    def run(self, files: list[RemoteFile]) -> None:
        plans = [self._plan(f) for f in files]
        self._check_disk_space(plans)
        self._progress.start(
            total=sum(p.file.size for p in plans),
            done=sum(p.on_disk for p in plans),
            files_total=len(plans),
            files_done=sum(p.blob is None for p in plans),
            current=next((p.file.name for p in plans if p.blob is not None), ""),
        )
        for plan in plans:
            if plan.blob is not None:
                self._progress.file_started(plan.file.name)
                self._fetch(plan)
                self._progress.file_done()
        self._progress.finish()

    # Planning ----------------------------------------------------------------------------------------------------

    def _plan(self, file: RemoteFile) -> _Plan:
        """Find what of `file` is on disk; ask the hub where the rest is."""
        self._check_cancel()
        plan = _Plan(file=file, pointer=self.snapshot / file.name)
        if plan.pointer.is_file() and plan.pointer.stat().st_size == file.size:
            plan.on_disk = file.size
            return plan
        if plan.pointer.is_symlink() or plan.pointer.exists():
            # A copy of the wrong size (truncated by a crash, or a bad disk): drop it and the blob it points to.
            remove_bad_copy(plan.pointer)

        url = hf_hub_url(self.repo_id, file.name, revision=self.commit, endpoint=self.endpoint)
        try:
            meta = get_hf_file_metadata(url, timeout=LIST_TIMEOUT_S, endpoint=self.endpoint)
        except (GatedRepoError, RepositoryNotFoundError) as exc:  # the listing is public, the files may not be
            raise listing_error(exc, self.repo_id, self.commit) from exc
        except (OfflineModeIsEnabled, httpx2.TransportError, HfHubHTTPError) as exc:
            raise CheckpointError(f"Cannot look up {file.name} of '{self.repo_id}' on the hub: {short(exc)}") from exc
        if not safe_name(meta.etag or "") or (meta.size is not None and meta.size != file.size):
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
            partial = partial_path(plan.blob)
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
            self._progress.advance(plan.file.size - plan.on_disk)
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
        partial = partial_path(plan.blob)
        digest = _Digest(file)
        with open(partial, "ab") as out:
            have = out.tell()
            self._progress.advance(have - plan.on_disk)  # normally 0; the planned count may be stale
            if have > file.size:
                out.seek(0)
                out.truncate()
                self._progress.advance(-have)
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
                            f"Downloading {file.name} of '{self.repo_id}' failed: {short(exc)}. The {have} bytes "
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
            self._progress.advance(-have)
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
                self._progress.advance(-start)
            if response.status_code >= 400:
                response.read()
                try:
                    hf_raise_for_status(response)
                except HfHubHTTPError as exc:
                    raise CheckpointError(
                        f"The hub refused {plan.file.name} of '{self.repo_id}': {short(exc)}"
                    ) from exc
            if start and response.status_code != 206:
                # The server ignored the Range header and sends the whole file: start over.
                out.seek(0)
                out.truncate()
                digest.reset()
                self._progress.advance(-start)
            for chunk in response.iter_bytes():
                if not chunk:
                    continue
                out.write(chunk)
                digest.update(chunk)
                self._progress.advance(len(chunk))
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
                etag_timeout=LIST_TIMEOUT_S,
            )
        except (OSError, httpx2.HTTPError, HfHubHTTPError) as exc:
            raise CheckpointError(
                f"Could not add {plan.file.name} of '{self.repo_id}' to the cache: {short(exc)}"
            ) from exc
        if Path(path).stat().st_size != plan.file.size:
            remove_bad_copy(Path(path))
            raise CheckpointError(f"{plan.file.name} of '{self.repo_id}' has the wrong size in the cache; try again.")

    # Cancel ---------------------------------------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        check_cancel(self._cancel, self.repo_id)


class _Digest:
    """Incremental check of a file against the hash the hub lists for it (sha256 for LFS, git blob id else)."""

    def __init__(self, file: RemoteFile) -> None:
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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _gb(n: int) -> str:
    # Two decimals for real checkpoints; more for small amounts, which would otherwise all read "0.00 GB".
    return f"{n / 1e9:.2f} GB" if n >= 10**7 else f"{n / 1e9:.6f} GB"
