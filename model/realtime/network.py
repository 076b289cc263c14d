"""Voxtral Realtime network: causal conv stem, causal sliding-window encoder, 4-frame adapter and the
delay-conditioned decoder with a tied output head.

The modules hold weights only. Everything that changes while a stream runs (conv tails, key/value rings,
positions) lives in the state objects below, so one loaded model can serve several sessions at once.
Shapes: B batch, T mel frames, F encoder frames (T / 2), P decoder positions (F / 4), C channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.layers import Adapter, Attention, CacheStep, KVCache, RMSNorm, Rotary, RotaryTable, SwiGLU
from model.realtime.config import DecoderConfig, EncoderConfig, RealtimeConfig


@dataclass
class EncoderState:
    tail1: torch.Tensor  # [B, n_mels, 2] last mel frames seen by conv1 (its causal left context)
    tail2: torch.Tensor  # [B, C, 1] last conv1 output seen by conv2
    cache: KVCache
    rope: RotaryTable
    next_frame: int = 0  # absolute index of the next encoder frame


@dataclass
class DecoderState:
    cache: KVCache
    rope: RotaryTable
    next_pos: int = 0


# Extra encoder ring slots: a live step (4 frames) or a catch-up of up to 8 steps is written in place before
# attention instead of copying the whole ring; longer offline chunks take the copying path.
ENCODER_SLACK = 8 * 4 - 1


class EncoderLayer(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg.dim, cfg.n_heads, cfg.n_heads, cfg.head_dim, qkv_bias=True, out_bias=True)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = SwiGLU(cfg.dim, cfg.hidden_dim, down_bias=True)

    def forward(self, x: torch.Tensor, cis: torch.Tensor, cache: KVCache, layer: int, step) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cis, cache, layer, step)
        return x + self.ffn(self.ffn_norm(x))


class Encoder(nn.Module):
    def __init__(self, cfg: EncoderConfig, n_mels: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv1d(n_mels, cfg.dim, kernel_size=3)
        self.conv2 = nn.Conv1d(cfg.dim, cfg.dim, kernel_size=3, stride=2)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.rotary: Rotary | None = None  # built on the weights' device by init_buffers()

    def init_buffers(self, device: torch.device) -> None:
        self.rotary = Rotary(self.cfg.head_dim, self.cfg.rope_theta, device)

    def new_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> EncoderState:
        c = self.cfg
        return EncoderState(
            tail1=torch.zeros(batch, self.conv1.in_channels, 2, dtype=dtype, device=device),
            tail2=torch.zeros(batch, c.dim, 1, dtype=dtype, device=device),
            cache=KVCache(
                c.n_layers, batch, c.n_heads, c.sliding_window, c.head_dim, dtype, device, slack=ENCODER_SLACK
            ),
            rope=self.rotary.table(0, 0),
        )

    def forward(self, mel: torch.Tensor, state: EncoderState) -> torch.Tensor:
        """mel [B, n_mels, T] (T even) -> encoder frames [B, T/2, C]; advances ``state``."""
        start = state.next_frame
        h, state.tail1, state.tail2 = self.stem(mel, state.tail1, state.tail2)
        n = h.shape[1]
        state.rope, cis = state.rope.get(self.rotary, start, n)
        step = state.cache.begin(start, n)
        state.next_frame += n
        return self.stack(h, cis, state.cache, step)

    def stem(self, mel: torch.Tensor, tail1: torch.Tensor, tail2: torch.Tensor):
        """Causal convolutions: mel [B, n_mels, T] -> frames [B, T/2, C] and the new tails."""
        x = torch.cat((tail1, mel), dim=-1)  # causal left padding of 2 frames
        h = F.gelu(self.conv1(x))  # [B, C, T]
        y = torch.cat((tail2, h), dim=-1)  # left padding of 1 frame keeps the stride-2 grid aligned
        # Contiguous tails: the compiled step is specialised on its inputs' layout, eager steps must match it.
        return F.gelu(self.conv2(y)).transpose(1, 2).contiguous(), x[..., -2:].contiguous(), y[..., -1:].contiguous()

    def stack(self, h: torch.Tensor, cis: torch.Tensor, cache: KVCache, step: CacheStep) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(h, cis, cache, i, step)
        return self.norm(h)

    def position_step(self, mel, tail1, tail2, cache: KVCache, start: torch.Tensor):
        """One decoder position's worth of frames with fixed shapes (``start`` a 0-d tensor): what gets compiled."""
        h, tail1, tail2 = self.stem(mel, tail1, tail2)
        positions = start + torch.arange(h.shape[1], device=h.device)
        out = self.stack(h, self.rotary.factors(positions), cache, cache.fixed_step(start, h.shape[1]))
        return out, tail1, tail2


class DecoderLayer(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, qkv_bias=False, out_bias=False)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = SwiGLU(cfg.dim, cfg.hidden_dim, down_bias=False)
        # Delay conditioning: the FFN input is scaled by 1 + up(gelu(down(t_cond))), constant per session.
        self.ada_down = nn.Linear(cfg.dim, cfg.ada_dim, bias=False)
        self.ada_up = nn.Linear(cfg.ada_dim, cfg.dim, bias=False)

    def delay_scale(self, t_cond: torch.Tensor) -> torch.Tensor:
        return 1 + self.ada_up(F.gelu(self.ada_down(t_cond)))

    def forward(self, x, cis, cache: KVCache, layer: int, step, scale: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cis, cache, layer, step)
        return x + self.ffn(self.ffn_norm(x) * scale)


class Decoder(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # A bare parameter rather than nn.Embedding: its random init on the meta device would pull in ~70 MB of
        # torch modules at load time for nothing.
        self.tok_embeddings = nn.Parameter(torch.empty(cfg.vocab_size, cfg.dim))
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.rotary: Rotary | None = None
        self.compiled = None  # token_step compiled, see RealtimeNetwork.compile
        # The tied head with compressed weights (model.precision); the table stays for looking tokens up.
        self.output_projection: nn.Module | None = None

    output_tables = lookup_tables = ("tok_embeddings",)

    def init_buffers(self, device: torch.device) -> None:
        self.rotary = Rotary(self.cfg.head_dim, self.cfg.rope_theta, device)

    def new_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> DecoderState:
        c = self.cfg
        return DecoderState(
            cache=KVCache(c.n_layers, batch, c.n_kv_heads, c.sliding_window, c.head_dim, dtype, device),
            rope=self.rotary.table(0, 0),
        )

    def delay_scales(self, n_delay_tokens: int) -> list[torch.Tensor]:
        """Per-layer FFN scales for a delay; the time embedding is computed in the model's dtype like the reference."""
        w = self.norm.weight  # in the compute dtype whatever the matrices are stored in
        half = self.cfg.dim // 2
        inv_freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=w.device).float() / half).to(w.dtype)
        t = torch.full((1,), n_delay_tokens, dtype=w.dtype, device=w.device)
        emb = t * inv_freq
        t_cond = torch.cat((emb.cos(), emb.sin()))[None]  # [1, D]: cos first
        return [layer.delay_scale(t_cond) for layer in self.layers]

    def forward(
        self,
        audio: torch.Tensor,
        tokens: torch.Tensor,
        state: DecoderState,
        scales: list[torch.Tensor],
        *,
        all_logits: bool = False,
    ) -> torch.Tensor:
        """audio [B, S, D] + embeddings of tokens [B, S] -> logits [B, S or 1, V]; advances ``state``."""
        x = audio + self.embed(tokens, audio.dtype)
        start, n = state.next_pos, x.shape[1]
        state.rope, cis = state.rope.get(self.rotary, start, n)
        step = state.cache.begin(start, n)
        state.next_pos += n
        x = self.stack(x, cis, state.cache, step, scales)
        return self.head(x if all_logits else x[:, -1:])

    def next_token(self, audio: torch.Tensor, tokens: torch.Tensor, state: DecoderState, scales) -> torch.Tensor:
        """Greedy token [B, 1] after one position (audio [B, 1, D], previous tokens [B, 1])."""
        if self.compiled is None or audio.shape[0] != 1:  # compiled for single streams only
            return self(audio, tokens, state, scales)[:, -1:].argmax(-1)
        start = torch.tensor(state.next_pos, device=audio.device)
        state.next_pos += 1
        # A fresh copy: a slice of a longer batch has other strides, and the compiled step is specialised on them.
        audio = audio.clone(memory_format=torch.contiguous_format)
        return self.compiled(audio, tokens, state.cache, start, scales)

    def stack(self, x: torch.Tensor, cis: torch.Tensor, cache: KVCache, step: CacheStep, scales) -> torch.Tensor:
        for i, (layer, scale) in enumerate(zip(self.layers, scales, strict=True)):
            x = layer(x, cis, cache, i, step, scale)
        return x

    def embed(self, tokens: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(tokens, self.tok_embeddings).to(dtype)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.output_projection is not None:
            return self.output_projection(x)
        return x @ self.tok_embeddings.T  # tied output head

    def token_step(self, audio, tokens, cache: KVCache, start: torch.Tensor, scales) -> torch.Tensor:
        """One position through the whole decoder with fixed shapes (``start`` a 0-d tensor): what gets compiled."""
        x = audio + self.embed(tokens, audio.dtype)
        cis = self.rotary.factors(start[None])
        x = self.stack(x, cis, cache, cache.fixed_step(start, 1), scales)
        return self.head(x).argmax(-1)


class RealtimeNetwork(nn.Module):
    def __init__(self, cfg: RealtimeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.encoder, cfg.mel.n_mels)
        self.adapter = Adapter(cfg.encoder.dim, cfg.decoder.dim, cfg.downsample_factor)
        self.decoder = Decoder(cfg.decoder)

    def init_buffers(self, device: torch.device) -> None:
        self.encoder.init_buffers(device)
        self.decoder.init_buffers(device)

        self.compiled_position = None  # position_embedding compiled, see compile()

    def position_embedding(self, mel: torch.Tensor, state: EncoderState) -> torch.Tensor:
        """Audio embedding [B, 1, D] of one position's mel frames [B, n_mels, 8]; advances ``state``."""
        start = torch.tensor(state.next_frame, device=mel.device)
        out, state.tail1, state.tail2 = self.compiled_position(mel, state.tail1, state.tail2, state.cache, start)
        state.next_frame += self.cfg.downsample_factor
        return out

    def _position_step(self, mel, tail1, tail2, cache: KVCache, start: torch.Tensor):
        frames, tail1, tail2 = self.encoder.position_step(mel, tail1, tail2, cache, start)
        return self.adapter(frames), tail1, tail2

    def compile(self, mode: str | None = None) -> None:
        """Compile the live-stream step (one position: 4 encoder frames, 1 decoder token) with torch.compile.

        Those steps then run with fixed shapes (the whole ring, masked), which removes most per-operation overhead
        on a CPU and allows CUDA graphs on a GPU (mode="reduce-overhead"). Prefill, catch-up batches and offline
        transcription keep the eager path. The first steps of each shape pay the compilation.
        """
        self.compiled_position = torch.compile(self._position_step, dynamic=False, mode=mode)
        self.decoder.compiled = torch.compile(self.decoder.token_step, dynamic=False, mode=mode)

    def uncompile(self) -> None:
        self.compiled_position = self.decoder.compiled = None
