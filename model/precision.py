"""How the weight matrices are stored: as loaded ("full"), as fp16 on the CPU, or as int8.

A CPU decodes one token by reading every weight once, so its speed is memory bandwidth divided by the bytes of the
weights. "fp16" keeps the matrices in half the bytes of fp32, packed for fbgemm, and computes in fp32: every value of
a bf16 checkpoint with magnitude >= 2**-14 is exact in fp16, smaller ones round to fp16's subnormal grid (an absolute
error below 2**-25), and a matrix with values beyond fp16's range stays in fp32. "int8" stores each output row as
int8 with one scale (symmetric, per row): a quarter of the bytes, at a cost in accuracy that depends on the weights.

Only 2-D parameters (the linear layers, the embedding and output tables) change; norms, biases and convolutions stay
in the compute dtype.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from model.errors import ModelError

PRECISIONS = ("auto", "full", "fp16", "int8")
HALF_STORED = (torch.bfloat16, torch.float16)  # checkpoints for which fp16 weights lose (next to) nothing


def fbgemm_available() -> bool:
    """fbgemm's packed fp16 and int8 kernels (x86 CPUs); other CPUs keep full precision."""
    return "fbgemm" in torch.backends.quantized.supported_engines


def resolve(precision: str | None, device: torch.device, dtype: torch.dtype, stored: Iterable[torch.dtype]) -> str:
    """The precision a load uses: ``None``/"auto" is fp16 on a CPU computing in fp32 when the checkpoint's matrices
    are stored in 16 bits (so nothing is lost) and fbgemm is there, else full. int8 is only ever asked for."""
    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise ModelError(f"'{precision}' is not a precision; use one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        cpu_fp32 = device.type == "cpu" and dtype == torch.float32
        return "fp16" if cpu_fp32 and fbgemm_available() and set(stored) <= set(HALF_STORED) else "full"
    if precision == "fp16":
        if device.type != "cpu" or dtype != torch.float32:
            raise ModelError(
                "precision='fp16' is the CPU's half-size form of the weights (computed in fp32); on a GPU, bf16 "
                "(the default there) already stores them in half the bytes."
            )
        if not fbgemm_available():
            raise ModelError("precision='fp16' needs fbgemm, which this CPU's PyTorch lacks; use precision='full'.")
    if precision == "int8" and device.type == "cpu" and not fbgemm_available():
        raise ModelError("precision='int8' needs fbgemm on a CPU, which this PyTorch lacks; use precision='full'.")
    return precision


def storage_dtype(precision: str) -> torch.dtype | None:
    """The dtype 2-D weights are loaded in before compress(): fp16 for both compressed forms (half the memory while
    loading; int8 is quantised from it one matrix at a time); None for full precision, loaded as they are."""
    return torch.float16 if precision in ("fp16", "int8") else None


PACK_BLOCK = 1 << 24  # weights per packed block: packing makes fp32 copies of a block, at most 128 MB here


class HalfLinear(nn.Module):
    """y = x W^T + b with W kept as fp16 packed for fbgemm; x, b and y in fp32.

    A large matrix (the output head) is packed in blocks of rows, so that the fp32 copies packing makes never
    exceed one block; each output is still one dot product over all inputs."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        rows = max(1, PACK_BLOCK // self.in_features)
        self.blocks = [
            torch.ops.quantized.linear_prepack_fp16(
                weight[i : i + rows].to(torch.float16).contiguous(), None if bias is None else bias[i : i + rows])
            for i in range(0, self.out_features, rows)
        ]
        self.packed_bytes = weight.numel() * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.blocks) == 1:
            return torch.ops.quantized.linear_dynamic_fp16(x, self.blocks[0])
        return torch.cat([torch.ops.quantized.linear_dynamic_fp16(x, block) for block in self.blocks], dim=-1)


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row: (int8 [out, in], scales [out] fp32) with weight ~ q * scale. Worked through
    in blocks of rows, so that its fp32 temporaries stay small next to the matrix."""
    q = torch.empty(weight.shape, dtype=torch.int8, device=weight.device)
    scales = torch.empty(weight.shape[0], dtype=torch.float32, device=weight.device)
    rows = max(1, PACK_BLOCK // weight.shape[1])
    for i in range(0, weight.shape[0], rows):
        w = weight[i : i + rows].float()
        s = scales[i : i + rows]
        torch.clamp_min(w.abs().amax(dim=1) / 127, torch.finfo(torch.float32).tiny, out=s)
        q[i : i + rows] = torch.round(w / s[:, None]).clamp_(-127, 127)
    return q, scales


class Int8Linear(nn.Module):
    """y = x W^T + b with W in int8 per row. On a CPU through fbgemm's dynamic quantisation (activations in 8 bits,
    products summed in integers); elsewhere weight-only (activations keep their dtype).

    fbgemm picks one activation scale per call from the whole input, so a row's result would depend on the rows
    beside it: a stream's steps, an offline chunk and a batch would disagree. Each row is therefore scaled to
    magnitude 1 and an extra row [1, -1, 0, ...] pins the call's range to [-1, 1]: every row is quantised alone,
    and the integer sums make its result the same however rows are grouped.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, dynamic: bool) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        q, scales = quantize_rows(weight)
        self.dynamic = dynamic
        if dynamic:
            with warnings.catch_warnings():  # quantised tensors are deprecated in favour of torchao, not yet gone
                warnings.simplefilter("ignore", UserWarning)
                qweight = torch._make_per_channel_quantized_tensor(
                    q.cpu(), scales.double().cpu(), torch.zeros(q.shape[0], dtype=torch.int64), 0
                )
            self.packed = torch.ops.quantized.linear_prepack(qweight, None)
            self.packed_bytes = q.numel() + 4 * q.shape[0]
            pin = torch.zeros(1, self.in_features)
            pin[0, :2] = torch.tensor([1.0, -1.0])
            self.register_buffer("range_row", pin)
        else:
            self.register_buffer("q", q.to(weight.device))
            self.register_buffer("scales", scales.to(weight.device))
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if self.dynamic:
            magnitude = flat.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(flat.dtype).tiny)
            rows = torch.cat((flat / magnitude, self.range_row))
            y = torch.ops.quantized.linear_dynamic(rows, self.packed, True)[:-1] * magnitude  # 7-bit, as x86 needs
        else:
            y = self._weight_only(flat)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def _weight_only(self, flat: torch.Tensor) -> torch.Tensor:
        try:
            return torch._weight_int8pack_mm(flat, self.q, self.scales.to(flat.dtype))
        except (RuntimeError, NotImplementedError):  # no kernel for this device or dtype: dequantise this matrix
            return F.linear(flat, self.q.to(flat.dtype)) * self.scales.to(flat.dtype)


def compressed_linear(weight: torch.Tensor, bias: torch.Tensor | None, precision: str) -> nn.Module:
    if precision == "fp16":
        return HalfLinear(weight, bias)
    return Int8Linear(weight, bias, dynamic=weight.device.type == "cpu")


def _load_libc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


_malloc_trim = _load_libc_trim()


def _return_freed_memory() -> None:
    """Packing copies each matrix to fp32 for a moment. Below glibc's mmap threshold (32 MB at most) those copies
    live in the heap, which keeps freed pages, so a model of small matrices would peak near its fp32 size; give them
    back to the system after each matrix."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def compress(net: nn.Module, name: str, precision: str) -> None:
    """Replace the matrix ``name`` of ``net``, just loaded in fp16 (see storage_dtype), by its compressed form: the
    linear layer that owns it, or a decoder's output table (listed in its ``output_tables``; the projection becomes
    its ``output_projection``, and the table goes unless it is also in ``lookup_tables``). A table only looked up
    (``lookup_tables``) stays as loaded."""
    owner_name, _, attr = name.rpartition(".")
    owner = net.get_submodule(owner_name)
    if isinstance(owner, nn.Linear) and attr == "weight":
        parent_name, _, child = owner_name.rpartition(".")
        setattr(net.get_submodule(parent_name), child, compressed_linear(owner.weight, owner.bias, precision))
    elif attr in getattr(owner, "output_tables", ()):
        owner.output_projection = compressed_linear(getattr(owner, attr), None, precision)
        if attr not in getattr(owner, "lookup_tables", ()):
            setattr(owner, attr, None)  # used only as the head: its unpacked copy goes
    elif attr not in getattr(owner, "lookup_tables", ()):  # a token table stays in fp16, only rows are read
        raise RuntimeError(f"{name} is neither a linear layer's weight nor an output table")  # a programming error
    _return_freed_memory()


def weight_bytes(module: nn.Module) -> int:
    """Bytes of a module's weights as stored (packed matrices counted by their payload)."""
    total = sum(p.numel() * p.element_size() for p in module.parameters())
    total += sum(b.numel() * b.element_size() for b in module.buffers())
    return total + sum(getattr(m, "packed_bytes", 0) for m in module.modules())
