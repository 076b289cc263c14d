"""Transformer building blocks shared by both Voxtral models.

One implementation each of RMSNorm, rotary embeddings, attention (with an optional fixed-size key/value ring) and
the SwiGLU feed-forward. Shapes: B batch, S new positions, H heads, K key/value heads, D head dim, C model dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 and scale in the model dtype, as the reference does (it matters in bf16).
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class Rotary:
    """Rotary position embedding in the rotate-half layout (q/k weights of native checkpoints are permuted on load)."""

    def __init__(self, head_dim: int, theta: float, device: torch.device) -> None:
        exponent = torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim
        self.inv_freq = 1.0 / (theta**exponent)  # [D/2], fp32

    def __call__(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin tables [S, D] for absolute ``positions`` [S], computed in fp32 then cast."""
        freqs = positions.float()[:, None] * self.inv_freq[None, :]  # [S, D/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, S, D] rotated by cos/sin [S, D]."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class KVRing:
    """Preallocated keys/values for the last ``window`` positions of a batch that advances in lockstep.

    Slots are reused modulo the window, so memory stays constant however long a stream runs. Rotary embeddings are
    applied before caching, so the order of the slots does not matter to attention.
    """

    def __init__(
        self, batch: int, n_kv_heads: int, window: int, head_dim: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        self.window = window
        self.k = torch.zeros(batch, n_kv_heads, window, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.slot_pos = torch.full((window,), -1, dtype=torch.int64, device=device)  # absolute position per slot
        self.written = 0  # positions written since the start

    def reset(self) -> None:
        self.slot_pos.fill_(-1)
        self.written = 0

    @property
    def n_valid(self) -> int:
        return min(self.written, self.window)

    def append(self, k: torch.Tensor, v: torch.Tensor, start: int) -> None:
        """Store k/v [B, K, S, D] for positions ``start .. start+S-1``; only the last ``window`` survive."""
        s = k.shape[2]
        keep = min(s, self.window)
        first = start + s - keep
        slots = torch.arange(first, first + keep, device=self.k.device) % self.window
        self.k.index_copy_(2, slots, k[:, :, s - keep :])
        self.v.index_copy_(2, slots, v[:, :, s - keep :])
        self.slot_pos.index_copy_(0, slots, torch.arange(first, first + keep, device=self.k.device))
        self.written = start + s


class Attention(nn.Module):
    """Multi-head attention with grouped key/value heads, a fused q/k/v projection and optional rotary positions.

    Three uses: causal sliding-window attention over a KVRing (both realtime stacks), causal attention over a ring as
    large as the context (offline decoder), and full bidirectional attention without a cache (Whisper encoder).
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
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        ring: KVRing | None,
        start: int,
    ) -> torch.Tensor:
        b, s, _ = x.shape
        hd = self.head_dim
        q, k, v = self.wqkv(x).split([self.n_heads * hd, self.n_kv_heads * hd, self.n_kv_heads * hd], dim=-1)
        q = q.view(b, s, self.n_heads, hd).transpose(1, 2)  # [B, H, S, D]
        k = k.view(b, s, self.n_kv_heads, hd).transpose(1, 2)  # [B, K, S, D]
        v = v.view(b, s, self.n_kv_heads, hd).transpose(1, 2)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        gqa = self.n_kv_heads != self.n_heads
        if ring is None:
            out = F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
        elif s == 1:
            # One new position: after writing it, every valid slot lies inside its window, so no mask is needed.
            ring.append(k, v, start)
            n = ring.n_valid
            out = F.scaled_dot_product_attention(q, ring.k[:, :, :n], ring.v[:, :, :n], enable_gqa=gqa)
        else:
            n = ring.n_valid
            keys = torch.cat((ring.k[:, :, :n], k), dim=2)
            values = torch.cat((ring.v[:, :, :n], v), dim=2)
            q_pos = torch.arange(start, start + s, device=x.device)
            k_pos = torch.cat((ring.slot_pos[:n], q_pos))
            mask = (k_pos[None, :] <= q_pos[:, None]) & (k_pos[None, :] > q_pos[:, None] - ring.window)  # [S, n+S]
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=gqa)
            ring.append(k, v, start)
        return self.wo(out.transpose(1, 2).reshape(b, s, self.n_heads * hd))


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
