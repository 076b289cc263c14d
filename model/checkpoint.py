"""Reading checkpoint folders: layout detection, memory-mapped safetensors, strict weight loading.

Tensors are views into a private memory map of the file, so a tensor used as it is costs no second copy. When a
tensor has to be converted (dtype, device, fused with others), the pages it came from are released right after,
which keeps peak memory near the size of the loaded weights.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from model import precision as precisions
from model.errors import CheckpointError

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
NATIVE_FILES = ("consolidated.safetensors", "params.json", "tekken.json")  # everything a native checkpoint needs


@dataclass(frozen=True)
class TensorInfo:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # absolute byte offsets in the file
    end: int


MAX_HEADER_BYTES = 100_000_000  # the realtime model's header is about 104 kB for 711 tensors


def _sizes(value: object, count: int | None = None) -> bool:
    """A list of non-negative whole numbers (of ``count`` items when given), as shapes and offsets must be."""
    return (isinstance(value, list) and (count is None or len(value) == count)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))


class SafetensorsFile:
    """One .safetensors file, validated against its own header and mapped read-only (copy-on-write).

    The header must describe the data section exactly: every tensor's bytes inside it, no two tensors sharing
    bytes, no bytes left undescribed (as the format requires and the safetensors library checks).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "rb")  # noqa: SIM115 -- kept open for the memory map
        except OSError as exc:
            raise CheckpointError(f"Cannot open {path}: {exc.strerror}.") from None
        try:
            self._read_header()
        except CheckpointError:
            self._file.close()
            raise
        size = self.path.stat().st_size
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY) if size else None

    def _read_header(self) -> None:
        size = self.path.stat().st_size
        raw = self._file.read(8)
        if len(raw) < 8:
            self._fail(f"is only {size} bytes long, too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len > size - 8 or header_len > MAX_HEADER_BYTES:
            self._fail("has a damaged header (its length field is impossible)")
        try:
            header = json.loads(self._file.read(header_len))
        except (ValueError, RecursionError, UnicodeDecodeError):
            self._fail("has a damaged header (not valid JSON)")
        if not isinstance(header, dict):
            self._fail("has a damaged header")
        header.pop("__metadata__", None)
        base = 8 + header_len
        self.tensors: dict[str, TensorInfo] = {}
        spans = []
        for name, entry in header.items():
            if not (isinstance(entry, dict) and entry.get("dtype") in _DTYPES and _sizes(entry.get("shape"))
                    and _sizes(entry.get("data_offsets"), 2)):
                self._fail(f"describes tensor '{name}' in a way this program does not understand")
            dtype, shape = _DTYPES[entry["dtype"]], tuple(entry["shape"])
            begin, end = entry["data_offsets"]
            if end - begin != math.prod(shape) * dtype.itemsize:
                self._fail(f"has inconsistent sizes for tensor '{name}'")
            self.tensors[name] = TensorInfo(dtype, shape, base + begin, base + end)
            spans.append((begin, end, name))
        data_end = 0
        previous = None
        for begin, end, name in sorted(spans):
            if begin < data_end:
                self._fail(f"stores tensors '{previous}' and '{name}' in the same bytes")
            if begin > data_end:
                self._fail(f"has {begin - data_end:,} bytes before tensor '{name}' that no tensor describes")
            data_end, previous = end, name
        if base + data_end > size:
            raise CheckpointError(
                f"{self.path} is truncated: its header describes {base + data_end:,} bytes but the file holds only "
                f"{size:,}. The download was probably interrupted; download the model again."
            )
        if base + data_end < size:
            self._fail(f"has {size - base - data_end:,} bytes after its last tensor that no tensor describes")

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


# transformers keeps module names in memory that differ from what it writes to disk (both Voxtral models use the same
# conversion); accept both spellings.
_TRANSFORMERS_PREFIXES = (
    ("model.language_model.", "language_model.model."),
    ("model.audio_tower.", "audio_tower."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
    ("lm_head.", "language_model.lm_head."),
)


def normalize_transformers_name(name: str) -> str:
    for old, new in _TRANSFORMERS_PREFIXES:
        if name.startswith(old):
            return new + name[len(old):]
    return name


def transformers_weight_files(folder: Path) -> list[Path]:
    """model.safetensors, or the shards listed by model.safetensors.index.json (every one must exist)."""
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise CheckpointError(f"{index} is damaged (no readable weight_map); download it again.") from None
        # Shards are plain file names next to the index, never paths that lead elsewhere.
        if not shards or not all(isinstance(s, str) and s and Path(s).name == s and s != ".." for s in shards):
            raise CheckpointError(f"{index} is damaged (its weight_map names no usable shard files); download it "
                                  "again.")
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
class Part:
    """One checkpoint tensor that fills rows of a parameter."""

    name: str | None  # None: rows the checkpoint does not store (they stay zero, e.g. a missing key bias)
    shape: tuple[int, ...]
    rope_heads: int = 0  # > 0: rows of that many heads are stored rotate-half (i, D/2 + i); we use pairs (2i, 2i+1)


@dataclass(frozen=True)
class Source:
    """Where one parameter comes from: its parts, stacked along the first dimension."""

    parts: tuple[Part, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        first = self.parts[0].shape
        return (sum(p.shape[0] for p in self.parts), *first[1:])


def text_layer_sources(
    prefix: str, name: Callable[[str], str], dim: int, n_heads: int, n_kv_heads: int, head_dim: int, hidden: int,
    *, permute: bool,
) -> dict[str, Source]:
    """Sources of one bias-free Attention + SwiGLU decoder layer (the layout both models' decoders share).

    ``name(role)`` gives the checkpoint name for q, k, v, wo, attn_norm, ffn_norm, gate, up and down; ``permute``:
    q/k rows are stored rotate-half and must become interleaved pairs.
    """
    q_rows, kv_rows = n_heads * head_dim, n_kv_heads * head_dim

    def part(role: str, shape: tuple[int, ...], heads: int = 0) -> Part:
        return Part(name(role), shape, heads if permute else 0)

    return {
        prefix + "attn.wqkv.weight": Source((
            part("q", (q_rows, dim), n_heads), part("k", (kv_rows, dim), n_kv_heads), part("v", (kv_rows, dim)),
        )),
        prefix + "attn.wo.weight": Source((part("wo", (dim, q_rows)),)),
        prefix + "attn_norm.weight": Source((part("attn_norm", (dim,)),)),
        prefix + "ffn_norm.weight": Source((part("ffn_norm", (dim,)),)),
        prefix + "ffn.w13.weight": Source((part("gate", (hidden, dim)), part("up", (hidden, dim)))),
        prefix + "ffn.w2.weight": Source((part("down", (dim, hidden)),)),
    }


def load_strict(
    module: nn.Module,
    table: dict[str, Source],
    tensors: CheckpointTensors,
    *,
    device: torch.device,
    dtype: torch.dtype,
    aliases: dict[str, tuple[int, ...]] | None = None,
    matrix_dtype: torch.dtype | None = None,
    compressed: Callable[[str], None] | None = None,
) -> list[str]:
    """Fill every parameter of ``module`` (built on the meta device) from the checkpoint, refusing any mismatch.

    ``aliases`` are tensors a layout may carry redundantly (e.g. a tied output head): allowed, checked, unused.
    A parameter that needs no change stays a view of the memory-mapped file; any other is written straight into
    its final place (conversion, fusion and rotary re-ordering in one copy) and the file pages it came from are
    released. ``matrix_dtype``: 2-D parameters are stored in it where every value fits (fp16's range is narrower
    than bf16's); the names of those that did not fit, and are in ``dtype``, are returned. ``compressed(name)`` is
    called right after each matrix is loaded in ``matrix_dtype``, so that only one uncompressed matrix is ever held.
    """
    params = dict(module.named_parameters())
    if set(params) != set(table):  # a programming error, not a user one
        raise RuntimeError(f"weight table does not cover the network: {sorted(set(params) ^ set(table))[:5]}")
    wanted = {p.name for src in table.values() for p in src.parts if p.name is not None}
    aliases = aliases or {}
    present = tensors.names
    missing = sorted(wanted - present)
    unexpected = sorted(present - wanted - set(aliases))
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise CheckpointError(
            "The checkpoint's tensors do not match this model: " + "; ".join(problems) + ". "
            "It is probably a different model or an incomplete download."
        )
    expected = {p.name: p.shape for src in table.values() for p in src.parts if p.name is not None}
    expected.update({n: s for n, s in aliases.items() if n in present})
    for name, shape in expected.items():
        info = tensors.info(name)
        if info.shape != shape:
            raise CheckpointError(
                f"Tensor '{name}' has shape {list(info.shape)}, expected {list(shape)}: the weights "
                "do not belong to the configuration next to them."
            )
        if not info.dtype.is_floating_point:
            raise CheckpointError(
                f"Tensor '{name}' is stored as {_dtype_name(info.dtype)}, but weights are floating-point numbers: "
                "the file is damaged or is not a model checkpoint; download the model again."
            )
    kept: list[str] = []
    # Vectors first, so that a matrix handed to ``compressed`` as soon as it is loaded finds its layer's bias there.
    for pname, src in sorted(table.items(), key=lambda item: len(item[1].shape) == 2):
        want = dtype
        if matrix_dtype is not None and len(src.shape) == 2:
            if _fits(src, tensors, matrix_dtype):
                want = matrix_dtype
            else:
                kept.append(pname)
        # A matrix about to be packed (see model.precision) is wanted in the usual row layout.
        _assign(module, pname, _materialize(src, tensors, device, want, transpose_wide=want is not matrix_dtype))
        if want is matrix_dtype and compressed is not None:
            compressed(pname)
    return kept


def _fits(src: Source, tensors: CheckpointTensors, dtype: torch.dtype) -> bool:
    """Every stored value of ``src`` is finite and inside ``dtype``'s range."""
    limit = torch.finfo(dtype).max
    for part in src.parts:
        if part.name is not None:
            value = tensors.get(part.name)
            if value.numel():
                low, high = torch.aminmax(value)  # no temporary copy; NaN fails both comparisons
                if not bool((low >= -limit) & (high <= limit)):
                    return False
    return True


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _all_finite(t: torch.Tensor) -> bool:
    if t.numel() == 0:
        return True
    low, high = torch.aminmax(t)  # NaN propagates, infinities are the extremes; no temporary copy of ``t``
    return bool(torch.isfinite(low) & torch.isfinite(high))


def _check_finite(value: torch.Tensor, name: str, tensors: CheckpointTensors) -> None:
    """Refuse a weight holding NaN or infinities, as loaded (so also a value too large for the chosen dtype)."""
    if _all_finite(value):
        return
    stored = tensors.info(name).dtype
    if stored != value.dtype and _all_finite(tensors.get(name)):
        raise CheckpointError(
            f"Tensor '{name}' has values too large for {_dtype_name(value.dtype)} (they become infinite); "
            f"load the model with dtype={_dtype_name(stored)!r}."
        )
    raise CheckpointError(
        f"Tensor '{name}' contains NaN or infinite values: the weights are damaged; download the model again."
    )


def _materialize(
    src: Source, tensors: CheckpointTensors, device: torch.device, dtype: torch.dtype, *, transpose_wide: bool = True
) -> torch.Tensor:
    shape = src.shape
    # A matrix with more outputs than inputs is stored input-major (its transpose is contiguous): CPU BLAS runs the
    # one-row products of decoding about twice as fast that way (e.g. the output head, 22 vs 10 GB/s), while
    # narrower matrices are as fast or faster the usual way.
    input_major = transpose_wide and len(shape) == 2 and shape[0] > shape[1]
    if len(src.parts) == 1 and src.parts[0].rope_heads == 0 and not input_major:
        value = tensors.get(src.parts[0].name)
        if value.dtype == dtype and value.device == device:
            _check_finite(value, src.parts[0].name, tensors)
            return value  # zero-copy view of the file
    if input_major:
        out = torch.zeros(shape[::-1], dtype=dtype, device=device).T
    else:
        out = torch.zeros(shape, dtype=dtype, device=device)
    row = 0
    for part in src.parts:
        rows = part.shape[0]
        if part.name is not None:
            value, target = tensors.get(part.name), out[row : row + rows]
            if part.rope_heads:
                h = part.rope_heads
                rest = value.shape[1:]
                # per head, rotate-half row j*D/2 + i becomes interleaved row 2i + j
                value = value.reshape(h, 2, rows // h // 2, *rest).transpose(1, 2)
                target = target.view(h, rows // h // 2, 2, *rest)
            target.copy_(value)
            tensors.release(part.name)
            _check_finite(out[row : row + rows], part.name, tensors)
        row += rows
    return out


def _assign(module: nn.Module, dotted: str, value: torch.Tensor) -> None:
    owner_name, _, attr = dotted.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    setattr(owner, attr, nn.Parameter(value, requires_grad=False))


MAX_PARAMETERS = 10**11  # about 4 x Voxtral Small 24B, the largest model of the family
_MIN_WEIGHT_BYTES = 2  # float16 / bfloat16, the smallest floating types a checkpoint may store


def check_size(table: dict[str, Source], tensors: CheckpointTensors) -> None:
    """Refuse a configuration whose weights could not be in these files (or in any machine), before building it."""
    n = sum(math.prod(p.shape) for src in table.values() for p in src.parts if p.name is not None)
    if n > MAX_PARAMETERS:
        raise CheckpointError(
            f"The configuration describes a model of {n:,} weights, more than the {MAX_PARAMETERS:,} this program "
            "can load: it is damaged or belongs to another kind of model."
        )
    stored = sum(info.end - info.start for f in tensors.files for info in f.tensors.values())
    if n * _MIN_WEIGHT_BYTES > stored:
        raise CheckpointError(
            f"The configuration describes a model of {n:,} weights (at least {n * _MIN_WEIGHT_BYTES:,} bytes), but "
            f"the weight files hold only {stored:,} bytes of tensors: the configuration does not belong to these "
            "weights, or the download is incomplete."
        )


def weight_files(folder: Path, layout: str) -> tuple[list[Path], Callable[[str], str] | None]:
    """The weight files of a checkpoint folder and how to spell its tensor names the way our tables do."""
    if layout == "native":
        return [folder / "consolidated.safetensors"], None
    return transformers_weight_files(folder), normalize_transformers_name


def build_loaded(
    factory: Callable[[], nn.Module],
    table_for: Callable[[set[str]], dict[str, Source]],
    folder: Path,
    layout: str,
    *,
    device: torch.device,
    dtype: torch.dtype,
    aliases: dict[str, tuple[int, ...]] | None = None,
    precision: str | None = None,
) -> nn.Module:
    """Build a network on the meta device and fill it from the checkpoint (see load_strict); ready for inference.

    ``precision`` (see model.precision) decides how its matrices are stored; the network's ``precision`` says what
    was chosen and ``kept_full`` lists the matrices that stayed in ``dtype`` because fp16 cannot hold their values.
    """
    files, rename = weight_files(folder, layout)
    tensors = CheckpointTensors(files, rename)
    try:
        table = table_for(tensors.names)
        check_size(table, tensors)
        present = tensors.names  # what is missing, load_strict names
        stored = {tensors.info(p.name).dtype for src in table.values() if len(src.shape) == 2
                  for p in src.parts if p.name in present}
        chosen = precisions.resolve(precision, device, dtype, stored)
        with torch.device("meta"):
            net = factory()
        matrix_dtype = precisions.storage_dtype(chosen)
        kept = load_strict(net, table, tensors, device=device, dtype=dtype, aliases=aliases, matrix_dtype=matrix_dtype,
                           compressed=lambda name: precisions.compress(net, name, chosen))
    finally:
        tensors.close()
    net.precision, net.kept_full = chosen, kept
    net.init_buffers(device)
    return net.eval()
