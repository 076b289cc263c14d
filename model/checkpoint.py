"""Reading checkpoint folders: layout detection, memory-mapped safetensors, strict weight loading.

Tensors are views into a private memory map of the file, so a tensor used as it is costs no second copy. When a
tensor has to be converted (dtype, device, fused with others), the pages it came from are released right after,
which keeps peak memory near the size of the loaded weights.
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from model.errors import CheckpointError

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
NATIVE_FILES = ("consolidated.safetensors", "params.json", "tekken.json")


@dataclass(frozen=True)
class TensorInfo:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # absolute byte offsets in the file
    end: int


class SafetensorsFile:
    """One .safetensors file, validated against its own header and mapped read-only (copy-on-write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "rb")  # noqa: SIM115 -- kept open for the memory map
        except OSError as exc:
            raise CheckpointError(f"Cannot open {path}: {exc.strerror}.") from None
        size = path.stat().st_size
        raw = self._file.read(8)
        if len(raw) < 8:
            self._fail(f"is only {size} bytes long, too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len > size - 8 or header_len > 100_000_000:
            self._fail("has a damaged header (its length field is impossible)")
        try:
            header = json.loads(self._file.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._fail("has a damaged header (not valid JSON)")
        if not isinstance(header, dict):
            self._fail("has a damaged header")
        header.pop("__metadata__", None)
        base = 8 + header_len
        self.tensors: dict[str, TensorInfo] = {}
        data_end = base
        for name, entry in header.items():
            try:
                dtype = _DTYPES[entry["dtype"]]
                shape = tuple(int(d) for d in entry["shape"])
                begin, end = (int(o) for o in entry["data_offsets"])
            except (KeyError, TypeError, ValueError):
                self._fail(f"describes tensor '{name}' in a way this program does not understand")
            numel = 1
            for d in shape:
                numel *= d
            if end - begin != numel * dtype.itemsize or begin < 0:
                self._fail(f"has inconsistent sizes for tensor '{name}'")
            self.tensors[name] = TensorInfo(dtype, shape, base + begin, base + end)
            data_end = max(data_end, base + end)
        if data_end > size:
            raise CheckpointError(
                f"{path} is truncated: its header describes {data_end:,} bytes but the file holds only {size:,}. "
                "The download was probably interrupted; download the model again."
            )
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY) if size else None

    def _fail(self, what: str) -> None:
        raise CheckpointError(f"{self.path} {what}; the file is damaged, download the model again.")

    def tensor(self, name: str) -> torch.Tensor:
        info = self.tensors[name]
        if info.end == info.start:
            return torch.empty(info.shape, dtype=info.dtype)
        flat = torch.frombuffer(self._map, dtype=info.dtype, count=(info.end - info.start) // info.dtype.itemsize,
                                offset=info.start)
        return flat.view(info.shape)

    def release(self, name: str) -> None:
        """Drop the mapped pages of a tensor that has been copied elsewhere (they are re-read if touched again)."""
        info = self.tensors[name]
        page = mmap.PAGESIZE
        first = -(-info.start // page) * page
        last = info.end // page * page
        if self._map is not None and last > first and hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED, first, last - first)

    def close(self) -> None:
        # Tensors handed out may still view the map; closing only the file descriptor is always safe.
        self._file.close()


class CheckpointTensors:
    """All tensors of a checkpoint (one file or a sharded set), addressed by (optionally renamed) name."""

    def __init__(self, files: Iterable[Path], rename: Callable[[str], str] | None = None) -> None:
        self.files = [SafetensorsFile(p) for p in files]
        self.where: dict[str, tuple[SafetensorsFile, str]] = {}
        for f in self.files:
            for raw in f.tensors:
                name = rename(raw) if rename else raw
                if name in self.where:
                    raise CheckpointError(f"Tensor '{name}' appears twice in the checkpoint ({f.path}).")
                self.where[name] = (f, raw)

    @property
    def names(self) -> set[str]:
        return set(self.where)

    def info(self, name: str) -> TensorInfo:
        f, raw = self.where[name]
        return f.tensors[raw]

    def get(self, name: str) -> torch.Tensor:
        f, raw = self.where[name]
        return f.tensor(raw)

    def release(self, name: str) -> None:
        f, raw = self.where[name]
        f.release(raw)

    def close(self) -> None:
        for f in self.files:
            f.close()


def transformers_weight_files(folder: Path) -> list[Path]:
    """model.safetensors, or the shards listed by model.safetensors.index.json (every one must exist)."""
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise CheckpointError(f"{index} is damaged (no readable weight_map); download it again.") from None
        missing = [s for s in shards if not (folder / s).exists()]
        if missing:
            raise CheckpointError(
                f"{folder} is missing {len(missing)} of the {len(shards)} weight shards listed in {index.name} "
                f"(e.g. {missing[0]}); finish or repeat the download."
            )
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
    if single.exists():
        return [single]
    raise CheckpointError(f"{folder} has config.json but no model.safetensors or model.safetensors.index.json.")


def detect_layout(folder: Path) -> str:
    """'native' (Mistral) or 'transformers', or a CheckpointError saying what the folder lacks."""
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder. Give a model folder or a hub repository id.")
    if (folder / "consolidated.safetensors").exists() or (folder / "params.json").exists():
        missing = [n for n in NATIVE_FILES if not (folder / n).exists()]
        if missing:
            raise CheckpointError(f"{folder} looks like a Mistral-format checkpoint but lacks {', '.join(missing)}.")
        return "native"
    if (folder / "config.json").exists():
        if not (folder / "tekken.json").exists():
            raise CheckpointError(f"{folder} has config.json but no tekken.json (the tokenizer); add it.")
        return "transformers"
    raise CheckpointError(
        f"{folder} holds no model: expected consolidated.safetensors + params.json + tekken.json, "
        "or config.json + model*.safetensors + tekken.json."
    )


@dataclass(frozen=True)
class Source:
    """Where one parameter comes from: one or more checkpoint tensors and how they combine."""

    names: tuple[str | None, ...]  # None: a part the checkpoint does not store (a zero bias)
    shapes: tuple[tuple[int, ...], ...]
    combine: Callable[[list[torch.Tensor | None]], torch.Tensor] | None = None  # None: the single tensor as is


def load_strict(
    module: nn.Module,
    table: dict[str, Source],
    tensors: CheckpointTensors,
    *,
    device: torch.device,
    dtype: torch.dtype,
    aliases: dict[str, tuple[int, ...]] | None = None,
) -> None:
    """Fill every parameter of ``module`` (built on the meta device) from the checkpoint, refusing any mismatch.

    ``aliases`` are tensors a layout may carry redundantly (e.g. a tied output head): allowed, checked, unused.
    """
    params = dict(module.named_parameters())
    if set(params) != set(table):  # a programming error, not a user one
        raise RuntimeError(f"weight table does not cover the network: {sorted(set(params) ^ set(table))[:5]}")
    wanted = {n for src in table.values() for n in src.names if n is not None}
    aliases = aliases or {}
    present = tensors.names
    missing = sorted(wanted - present)
    unexpected = sorted(present - wanted - set(aliases))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise CheckpointError(
            "The checkpoint's tensors do not match this model: " + "; ".join(parts) + ". "
            "It is probably a different model or an incomplete download."
        )
    for name, shape in list(aliases.items()):
        if name in present and tensors.info(name).shape != shape:
            raise CheckpointError(f"Tensor '{name}' has shape {tensors.info(name).shape}, expected {shape}.")
    for src in table.values():
        for n, shape in zip(src.names, src.shapes, strict=True):
            if n is not None and tensors.info(n).shape != shape:
                raise CheckpointError(
                    f"Tensor '{n}' has shape {list(tensors.info(n).shape)}, expected {list(shape)}: the weights do "
                    "not belong to the configuration next to them."
                )
    for pname, src in table.items():
        parts = [None if n is None else tensors.get(n) for n in src.names]
        value = parts[0] if src.combine is None else src.combine(parts)
        loaded = value.to(device=device, dtype=dtype)
        if loaded.data_ptr() != value.data_ptr() or src.combine is not None:
            for n in src.names:
                if n is not None:
                    tensors.release(n)
        _assign(module, pname, loaded)


def _assign(module: nn.Module, dotted: str, value: torch.Tensor) -> None:
    owner_name, _, attr = dotted.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    setattr(owner, attr, nn.Parameter(value, requires_grad=False))
