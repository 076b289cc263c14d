"""Which files of a hub repo the model needs: the repo's listing as the hub gives it, the choice between the native
Mistral layout and the transformers layout, the shards a weights index names, and the order to fetch them in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub.hf_api import RepoSibling

from model.checkpoint import NATIVE_FILES
from model.errors import CheckpointError

CONFIG = "config.json"
TOKENIZER = "tekken.json"
_PREPROCESSOR = "preprocessor_config.json"  # optional in the transformers layout
SINGLE_WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str | None  # content hash, listed for LFS files
    git_oid: str | None  # git blob id, listed for regular files (sha1 over "blob <size>\0" + content)


def remote_files(repo_id: str, siblings: Iterable[RepoSibling]) -> dict[str, RemoteFile]:
    files: dict[str, RemoteFile] = {}
    for s in siblings:
        name, size, lfs = s.rfilename, s.size, s.lfs
        if size is None:
            raise CheckpointError(f"The hub listed the files of '{repo_id}' without their sizes; try again later.")
        files[name] = RemoteFile(
            name=name,
            size=int(lfs.size if lfs is not None else size),
            sha256=lfs.sha256 if lfs is not None else None,
            git_oid=None if lfs is not None else s.blob_id,
        )
    return files


def choose_files(repo_id: str, rev: str, remote: dict[str, RemoteFile]) -> tuple[list[str], str | None]:
    """Names to fetch (without shards) and the weights index to read the shards from, if sharded."""
    if all(n in remote for n in NATIVE_FILES):
        return list(NATIVE_FILES), None
    names = [n for n in (CONFIG, TOKENIZER, _PREPROCESSOR) if n in remote]
    if CONFIG in remote and TOKENIZER in remote:
        if SINGLE_WEIGHTS in remote:  # transformers itself prefers the single file over an index
            return [*names, SINGLE_WEIGHTS], None
        if WEIGHTS_INDEX in remote:
            return [*names, WEIGHTS_INDEX], WEIGHTS_INDEX
    native_missing = [n for n in NATIVE_FILES if n not in remote]
    hf_missing = [n for n in (CONFIG, TOKENIZER) if n not in remote]
    if SINGLE_WEIGHTS not in remote and WEIGHTS_INDEX not in remote:
        hf_missing.append(f"{SINGLE_WEIGHTS} or {WEIGHTS_INDEX}")
    raise CheckpointError(
        f"'{repo_id}' (revision '{rev}') holds no checkpoint this app can load. The native Mistral layout lacks "
        f"{', '.join(native_missing)}; the transformers layout lacks {', '.join(hf_missing)}."
    )


def shards_from_index(repo_id: str, index_path: Path, remote: dict[str, RemoteFile] | None) -> list[str]:
    """Shard names the weights index maps tensors to; each must exist in `remote` when given."""
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted({str(v) for v in weight_map.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{WEIGHTS_INDEX} of '{repo_id}' is unreadable: {exc}") from exc
    if not shards:
        raise CheckpointError(f"{WEIGHTS_INDEX} of '{repo_id}' names no weight files.")
    unsafe = [s for s in shards if not all(safe_name(part) for part in s.split("/"))]
    if unsafe:
        raise CheckpointError(f"{WEIGHTS_INDEX} of '{repo_id}' names files outside the repo: {', '.join(unsafe)}.")
    if remote is not None:
        absent = [s for s in shards if s not in remote]
        if absent:
            raise CheckpointError(
                f"{WEIGHTS_INDEX} of '{repo_id}' names weight files the repo does not have: {', '.join(absent)}."
            )
    return shards


def download_order(names: list[str]) -> list[str]:
    """Weights first, configs last, each once: a config on disk then shows that the files before it completed."""
    configs = {CONFIG, "params.json"}
    unique = list(dict.fromkeys(names))
    return [n for n in unique if n not in configs] + [n for n in unique if n in configs]


def safe_name(name: str) -> bool:
    """A single path component that stays where it is put (server-given names become file names)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name
