"""Voxtral (offline) network: a Whisper-style bidirectional encoder over 30 s chunks, the 4-frame adapter, and a
Llama-style decoder with its own output head. Audio embeddings replace the [AUDIO] placeholder tokens.

Shapes: N audio chunks, T mel frames per chunk (3000), F encoder frames per chunk (1500), B batch, S positions,
C encoder width, D decoder width, V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.layers import Adapter, Attention, KVCache, RMSNorm, Rotary, SwiGLU
from model.voxtral.config import TextConfig, VoxtralConfig, WhisperConfig


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed position table [length, channels]: sin then cos, geometric frequencies."""
    increment = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cat((t.sin(), t.cos()), dim=1)


class WhisperLayer(nn.Module):
    def __init__(self, cfg: WhisperConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg.dim, cfg.n_heads, cfg.n_heads, cfg.head_dim, qkv_bias=True, out_bias=True)
        self.ffn_norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.fc1 = nn.Linear(cfg.dim, cfg.hidden_dim)
        self.fc2 = nn.Linear(cfg.hidden_dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), None)  # bidirectional, no positions inside attention
        return x + self.fc2(F.gelu(self.fc1(self.ffn_norm(x))))


class WhisperEncoder(nn.Module):
    def __init__(self, cfg: WhisperConfig, n_mels: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv1d(n_mels, cfg.dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(cfg.dim, cfg.dim, kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList(WhisperLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.positions: torch.Tensor | None = None  # fp32 even when the weights are not, as in the reference

    def init_buffers(self, device: torch.device) -> None:
        self.positions = sinusoids(self.cfg.n_positions, self.cfg.dim).to(device)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [N, n_mels, T] -> [N, F, C]; each chunk is encoded on its own."""
        h = F.gelu(self.conv1(mel))
        h = F.gelu(self.conv2(h)).transpose(1, 2)  # [N, F, C]
        h = (h + self.positions).to(h.dtype)
        for layer in self.layers:
            h = layer(h)
        return self.norm(h)


class TextLayer(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, qkv_bias=False, out_bias=False)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = SwiGLU(cfg.dim, cfg.hidden_dim, down_bias=False)

    def forward(self, x: torch.Tensor, cis: torch.Tensor, cache: KVCache, layer: int, step) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cis, cache, layer, step)
        return x + self.ffn(self.ffn_norm(x))


class TextDecoder(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # Bare parameters rather than nn.Embedding/nn.Linear: no random init at load time, see the realtime decoder.
        self.tok_embeddings = nn.Parameter(torch.empty(cfg.vocab_size, cfg.dim))
        self.layers = nn.ModuleList(TextLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Parameter(torch.empty(cfg.vocab_size, cfg.dim))
        self.rotary: Rotary | None = None
        self.output_projection: nn.Module | None = None  # the head with compressed weights (model.precision)

    output_tables, lookup_tables = ("output",), ("tok_embeddings",)

    def init_buffers(self, device: torch.device) -> None:
        self.rotary = Rotary(self.cfg.head_dim, self.cfg.rope_theta, device)

    def new_cache(self, batch: int, length: int, dtype: torch.dtype, device: torch.device) -> KVCache:
        c = self.cfg
        return KVCache(c.n_layers, batch, c.n_kv_heads, length, c.head_dim, dtype, device)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.embedding(tokens, self.tok_embeddings).to(self.norm.weight.dtype)

    def forward(
        self, x: torch.Tensor, cis: torch.Tensor, cache: KVCache, start: int, *, all_logits: bool = False
    ) -> torch.Tensor:
        """Input embeddings x [B, S, D] at cache columns start..start+S-1 -> logits [B, S or 1, V]."""
        step = cache.begin(start, x.shape[1])
        for i, layer in enumerate(self.layers):
            x = layer(x, cis, cache, i, step)
        if not all_logits:
            x = x[:, -1:]
        x = self.norm(x)
        return x @ self.output.T if self.output_projection is None else self.output_projection(x)


class VoxtralNetwork(nn.Module):
    def __init__(self, cfg: VoxtralConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = WhisperEncoder(cfg.encoder, cfg.mel.n_mels)
        self.adapter = Adapter(cfg.encoder.dim, cfg.decoder.dim, cfg.downsample_factor)
        self.decoder = TextDecoder(cfg.decoder)

    def init_buffers(self, device: torch.device) -> None:
        self.encoder.init_buffers(device)
        self.decoder.init_buffers(device)

    def audio_embeddings(self, mel: torch.Tensor) -> torch.Tensor:
        """mel chunks [N, n_mels, T] -> audio embeddings [N * F / 4, D], chunk-major."""
        frames = self.encoder(mel)  # [N, F, C]
        return self.adapter(frames.reshape(1, -1, frames.shape[-1]))[0]
