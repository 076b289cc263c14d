"""The hub cache on disk, in huggingface_hub's layout: finding a complete snapshot without asking the hub (offline,
hub unreachable, or an immutable commit already there), recording which commit a branch or tag points to, and the
partial and bad copies a download leaves behind or finds.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import try_to_load_from_cache

from model.checkpoint import NATIVE_FILES
from model.errors import CheckpointError
from model.hub.files import CONFIG, SINGLE_WEIGHTS, TOKENIZER, WEIGHTS_INDEX, safe_name, shards_from_index


def cached_snapshot(repo_id: str, rev: str, cache: Path) -> Path | None:
    """The snapshot folder if it holds a complete layout for `rev` (a branch, tag or commit), else None."""

    def cached(name: str) -> Path | None:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache, revision=rev)
        return Path(found) if isinstance(found, str) and os.path.isfile(found) else None

    native = [cached(n) for n in NATIVE_FILES]
    if all(native):
        return native[0].parent  # type: ignore[union-attr]
    config, tokenizer = cached(CONFIG), cached(TOKENIZER)
    if config is None or tokenizer is None:
        return None
    if cached(SINGLE_WEIGHTS) is not None:
        return config.parent
    index = cached(WEIGHTS_INDEX)
    if index is None:
        return None
    try:
        shards = shards_from_index(repo_id, index, None)
    except CheckpointError:
        return None
    return config.parent if all(cached(s) is not None for s in shards) else None


def cached_or_raise(repo_id: str, rev: str, cache: Path, reason: str, remedy: str) -> Path:
    found = cached_snapshot(repo_id, rev, cache)
    if found is not None:
        return found
    raise CheckpointError(
        f"The model '{repo_id}' (revision '{rev}') is not on disk in {cache}, and {reason}, so it cannot be "
        f"downloaded. {remedy}, or pass the path of a local checkpoint folder instead of a repo id."
    )


def write_ref(storage: Path, rev: str, commit: str) -> None:
    """Record which commit a branch or tag name points to, as huggingface_hub does (refs/<name> holds the sha)."""
    if rev == commit or not all(safe_name(part) for part in rev.split("/")):
        return
    ref = storage / "refs" / rev
    if ref.is_file() and ref.read_text().strip() == commit:
        return
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f"{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)  # readers never see a half-written ref


def partial_path(blob: Path) -> Path:
    return blob.with_name(blob.name + ".incomplete")


def remove_bad_copy(pointer: Path) -> None:
    target = pointer.resolve() if pointer.is_symlink() else None
    pointer.unlink(missing_ok=True)
    if target is not None:
        target.unlink(missing_ok=True)
