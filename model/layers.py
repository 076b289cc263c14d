"""Transformer building blocks shared by both Voxtral models.

One implementation each of RMSNorm, rotary embeddings, attention (with an optional fixed-size key/value ring) and
the SwiGLU feed-forward. Shapes: B batch, S new positions, H heads, K key/value heads, D head dim, C model dim,
L layers, W ring size. The streaming step runs these for every 80 ms of audio, so they keep the number of tensor
operations low: per-stack work (masks, ring slots, rotary tables) is done once per forward, not once per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        # Normalise in fp32, scale in the model dtype, as the reference does (the rounding differs in bf16).
        return self.weight * F.rms_norm(x.float(), self.weight.shape, None, self.eps).to(x.dtype)


class Rotary:
    """Rotary position factors exp(i * pos * freq) for interleaved (pair 2j, 2j+1) head layouts.

    Factors are computed in blocks of positions and kept in a RotaryTable per stream, so a long stream recomputes
    them once every ``block`` positions instead of at every step.
    """

    def __init__(self, head_dim: int, theta: float, device: torch.device, block: int = 1024) -> None:
        exponent = torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim
        self.inv_freq = 1.0 / (theta**exponent)  # [D/2], fp32
        self.block = block

    def factors(self, positions: torch.Tensor) -> torch.Tensor:
        """exp(i * pos * freq) [S, D/2] for a tensor of positions (inside compiled steps)."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]
        return torch.polar(torch.ones_like(angles), angles)

    def table(self, start: int, n: int) -> RotaryTable:
        positions = torch.arange(start, start + max(n, self.block), device=self.inv_freq.device)
        return RotaryTable(start, self.factors(positions))  # fp32 angles, as the reference computes them


@dataclass
class RotaryTable:
    start: int
    cis: torch.Tensor  # [n, D/2] complex64

    def get(self, rotary: Rotary, start: int, n: int) -> tuple[RotaryTable, torch.Tensor]:
        """Factors for positions start..start+n-1 [n, D/2], and the table to keep (a new block when needed)."""
        table = self
        if not (table.start <= start and start + n <= table.start + table.cis.shape[0]):
            table = rotary.table(start, n)
        return table, table.cis[start - table.start : start - table.start + n]


def apply_rotary(x: torch.Tensor, cis: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (2j, 2j+1) of x [B, S, H, D] by cis [S, D/2] (or [B, S, D/2] per row); computed in fp32."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * cis.unsqueeze(-2)).flatten(-2).to(x.dtype)


@dataclass(frozen=True)
class CacheStep:
    """How one forward of S positions uses a KVCache; computed once and shared by all layers."""

    slots: torch.Tensor | int  # where the new positions go (an int when S == 1)
    n_keys: int  # S == 1 or written first: valid ring slots to attend to, else ring slots before the new keys
    mask: torch.Tensor | None  # [S, keys] additive: 0 where a query may see a key, -inf where not; None: all
    write_first: bool  # new keys go into the ring before attention (else attention sees ring + new, then write)
    keep_from: int  # index of the first new position that stays in the ring


class KVCache:
    """Keys/values of all layers of one stack for a batch advancing in lockstep, in a fixed ring of slots.

    The ring holds the last ``window + slack`` positions; position p lives in slot p % capacity, so memory stays
    constant however long a stream runs, and what each slot holds follows from the position of the step. Rotary
    factors are applied before caching, so the order of the slots does not matter to attention. ``slack`` lets a step
    of up to slack + 1 positions be written before attending without evicting keys its first query still needs,
    which spares copying the ring at every step; longer steps attend to the ring and the new keys side by side.
    """

    def __init__(
        self, n_layers: int, batch: int, n_kv_heads: int, window: int, head_dim: int, dtype: torch.dtype,
        device: torch.device, slack: int = 0,
    ) -> None:
        self.window, self.capacity = window, window + slack
        self.k = torch.zeros(n_layers, batch, n_kv_heads, self.capacity, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        # Rows of a left-padded batch: [B, capacity], False at padding positions (set by the caller up front; such
        # keys are never attended to, except by their own query).
        self.key_valid: torch.Tensor | None = None

    def _slot_positions(self, n: int, last: int) -> torch.Tensor:
        """Absolute positions held by slots 0..n-1 when ``last`` is the newest position written."""
        j = torch.arange(n, device=self.k.device)
        return last - (last - j) % self.capacity

    def fixed_step(self, start: torch.Tensor, size: int) -> CacheStep:
        """A step whose shapes never change: ``start`` is a 0-d tensor and attention always spans the whole ring
        through a mask. This is what a compiled or graph-captured step needs (no Python ints that vary)."""
        cap = self.capacity
        if size - 1 > cap - self.window:
            raise ValueError(f"a fixed step of {size} positions needs {size - 1} spare ring slots")
        j = torch.arange(cap, device=self.k.device)
        q_pos = start + torch.arange(size, device=self.k.device)
        last = start + size - 1
        k_pos = last - (last - j) % cap  # < 0: never written
        mask = (k_pos[None, :] <= q_pos[:, None]) & (k_pos[None, :] > q_pos[:, None] - self.window)
        return CacheStep(q_pos % cap, cap, self._additive(mask & (k_pos[None, :] >= 0)), True, 0)

    def _additive(self, allowed: torch.Tensor) -> torch.Tensor:
        """The mask as attention adds it: converted once per step rather than by every layer's attention (a bool
        mask costs each call a conversion, about 40 % of a small attention's time on a CPU)."""
        return torch.zeros(allowed.shape, dtype=self.k.dtype, device=allowed.device).masked_fill_(
            ~allowed, float("-inf"))

    def begin(self, start: int, size: int) -> CacheStep:
        """Plan a step of ``size`` positions from ``start``, attending to no more of the ring than needed."""
        cap = self.capacity
        if size == 1 and cap == self.window and self.key_valid is None:
            # Once written, every valid slot lies inside the new position's window: no mask needed.
            return CacheStep(start % cap, min(start + 1, cap), None, True, 0)
        device = self.k.device
        q_pos = torch.arange(start, start + size, device=device)
        # Writing first is safe when it evicts nothing a query of this step still needs.
        write_first = start + size <= cap or size - 1 <= cap - self.window
        if write_first:
            n = min(start + size, cap)
            k_pos = self._slot_positions(n, start + size - 1)
            keep = size
        else:
            n = min(start, cap)
            k_pos = torch.cat((self._slot_positions(n, start - 1), q_pos))
            keep = min(size, cap)
        # Causal sliding window: a query at p sees keys at p - window + 1 .. p.
        mask = (k_pos[None, :] <= q_pos[:, None]) & (k_pos[None, :] > q_pos[:, None] - self.window)
        if self.key_valid is not None:
            valid = self.key_valid[:, k_pos % cap]  # [B, keys]
            own = k_pos[None, :] == q_pos[:, None]  # a padding query sees itself, so it stays finite
            mask = (mask[None] & (valid[:, None, :] | own[None]))[:, None]  # [B, 1, S, keys]
        slots = torch.arange(start + size - keep, start + size, device=device) % cap
        return CacheStep(slots, n, self._additive(mask), write_first, size - keep)

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, step: CacheStep) -> torch.Tensor:
        """q [B, H, S, D], new k/v [B, K, S, D] -> attention output [B, H, S, D]; stores k/v in the ring."""
        ring_k, ring_v = self.k[layer], self.v[layer]
        gqa = q.shape[1] != k.shape[1]
        n = step.n_keys
        if isinstance(step.slots, int):
            ring_k[:, :, step.slots] = k[:, :, 0]
            ring_v[:, :, step.slots] = v[:, :, 0]
            return F.scaled_dot_product_attention(q, ring_k[:, :, :n], ring_v[:, :, :n], enable_gqa=gqa)
        if step.write_first:
            ring_k.index_copy_(2, step.slots, k)
            ring_v.index_copy_(2, step.slots, v)
            return F.scaled_dot_product_attention(
                q, ring_k[:, :, :n], ring_v[:, :, :n], attn_mask=step.mask, enable_gqa=gqa
            )
        keys = torch.cat((ring_k[:, :, :n], k), dim=2)
        values = torch.cat((ring_v[:, :, :n], v), dim=2)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=step.mask, enable_gqa=gqa)
        ring_k.index_copy_(2, step.slots, k[:, :, step.keep_from :])
        ring_v.index_copy_(2, step.slots, v[:, :, step.keep_from :])
        return out


class Attention(nn.Module):
    """Multi-head attention with grouped key/value heads, a fused q/k/v projection and optional rotary positions.

    Three uses: causal sliding-window attention over a KVCache (both realtime stacks), causal attention over a cache
    as large as the context (offline decoder), and full bidirectional attention without a cache (Whisper encoder).
    """

    def __init__(
        self, dim: int, n_heads: int, n_kv_heads: int, head_dim: int, *, qkv_bias: bool, out_bias: bool
    ) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, head_dim
        self.wqkv = nn.Linear(dim, (n_heads + 2 * n_kv_heads) * head_dim, bias=qkv_bias)
        self.wo = nn.Linear(n_heads * head_dim, dim, bias=out_bias)

    def forward(
        self,
        x: torch.Tensor,
        cis: torch.Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
        step: CacheStep | None = None,
    ) -> torch.Tensor:
        b, s, _ = x.shape
        h, kv = self.n_heads, self.n_kv_heads
        qkv = self.wqkv(x).view(b, s, h + 2 * kv, self.head_dim)
        qk = qkv[:, :, : h + kv] if cis is None else apply_rotary(qkv[:, :, : h + kv], cis)
        q, k, v = qk[:, :, :h].transpose(1, 2), qk[:, :, h:].transpose(1, 2), qkv[:, :, h + kv :].transpose(1, 2)
        if cache is None:
            out = F.scaled_dot_product_attention(q, k, v, enable_gqa=h != kv)
        else:
            out = cache.attend(layer, q, k, v, step)
        return self.wo(out.transpose(1, 2).reshape(b, s, h * self.head_dim))


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)) with gate and up fused into one projection."""

    def __init__(self, dim: int, hidden: int, *, down_bias: bool) -> None:
        super().__init__()
        self.hidden = hidden
        self.w13 = nn.Linear(dim, 2 * hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=down_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w13(x).split(self.hidden, dim=-1)
        return self.w2(F.silu(gate) * up)


class Adapter(nn.Module):
    """Concatenates ``factor`` consecutive audio encoder frames and projects them to the decoder width."""

    def __init__(self, enc_dim: int, dec_dim: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.w_in = nn.Linear(enc_dim * factor, dec_dim, bias=False)
        self.w_out = nn.Linear(dec_dim, dec_dim, bias=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, f, c = frames.shape  # [B, F, C] -> [B, F / factor, D]
        return self.w_out(F.gelu(self.w_in(frames.reshape(b, f // self.factor, c * self.factor))))
