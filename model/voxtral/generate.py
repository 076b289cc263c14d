"""Batched text generation for Voxtral (offline): left-padded prompts, one key/value cache per request, greedy or
nucleus sampling, token by token so callers can stream and cancel.

Each row keeps its own positions (padding columns do not count) and never attends to padding, so a conversation
decodes the same in a batch as alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from model.errors import ModelError, PromptTooLongError
from model.voxtral.network import VoxtralNetwork
from model.voxtral.prompt import Prompt

PREFILL_CHUNK = 2048  # prompt positions per forward: bounds the attention mask for long recordings
ENCODER_BATCH = 4  # 30 s chunks encoded together


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise ModelError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")
        if not self.temperature >= 0.0:
            raise ModelError(f"temperature must be 0 (greedy) or positive, got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ModelError(f"top_p must be in (0, 1], got {self.top_p}.")


EXCHANGE_TOKENS = 1024  # context kept for the question and the answer when saying how much audio fits


def audio_seconds_fitting(context: int, tokens_per_chunk: int, chunk_seconds: float) -> float:
    """Audio that fits in the context next to a question and its answer (whole chunks)."""
    return max(0, (context - EXCHANGE_TOKENS) // tokens_per_chunk) * chunk_seconds


def too_long(n_tokens: int, context: int, tokens_per_chunk: int, chunk_seconds: float) -> PromptTooLongError:
    fits = audio_seconds_fitting(context, tokens_per_chunk, chunk_seconds)
    amount = f"about {fits / 60:.0f} minutes" if fits >= 60 else f"{fits:.0f} seconds"
    return PromptTooLongError(
        f"The prompt needs {n_tokens:,} tokens but the model's context holds {context:,}: {amount} of audio "
        f"fit ({tokens_per_chunk} tokens per {chunk_seconds:g} s) with room for a question and its answer. "
        "Use a shorter clip or split the recording into parts."
    )


class Generation:
    """Decodes a batch of prompts; iterate to get each step's new tokens (None for rows that have finished)."""

    def __init__(
        self, net: VoxtralNetwork, mel, prompts: list[Prompt], sampling: Sampling, *, audio_token: int, eos: int,
        pad: int, dtype: torch.dtype, device: torch.device,
    ) -> None:
        sampling.check()
        cfg = net.cfg
        self.net, self.sampling, self.eos = net, sampling, eos
        self.dtype, self.device = dtype, device
        lengths = [len(p.tokens) for p in prompts]
        longest = max(lengths)
        if longest >= cfg.decoder.context:
            raise too_long(longest, cfg.decoder.context, cfg.tokens_per_chunk, cfg.chunk_seconds)
        self.max_new = min(sampling.max_new_tokens, cfg.decoder.context - longest)
        self.prompt_columns = longest
        total = longest + self.max_new
        batch = len(prompts)
        self.offsets = torch.tensor([longest - n for n in lengths], device=device)  # padding columns per row
        self.padded = any(n != longest for n in lengths)
        ids = torch.full((batch, longest), pad, dtype=torch.long, device=device)
        for row, p in enumerate(prompts):
            ids[row, longest - len(p.tokens):] = torch.tensor(p.tokens, device=device)
        self.cache = net.decoder.new_cache(batch, total, dtype, device)
        if self.padded:
            columns = torch.arange(total, device=device)
            self.cache.key_valid = columns[None, :] >= self.offsets[:, None]
        self.cis = net.decoder.rotary.table(0, total).cis  # [total, D/2]
        with torch.no_grad():
            self.inputs = net.decoder.embed(ids)  # [B, L, D]
            audio = self._audio_embeddings(mel, prompts)
            placeholders = ids == audio_token
            if int(placeholders.sum()) != audio.shape[0]:
                raise ModelError(f"The prompt has {int(placeholders.sum())} audio placeholders for "
                                 f"{audio.shape[0]} audio embeddings.")
            self.inputs[placeholders] = audio.to(self.inputs.dtype)
        self.generator = None
        if sampling.temperature > 0:
            self.generator = torch.Generator(device=device)
            if sampling.seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(sampling.seed)

    def _audio_embeddings(self, mel, prompts: list[Prompt]) -> torch.Tensor:
        """All clips' embeddings [n, D], row by row and clip by clip: the order of the placeholders."""
        cfg = self.net.cfg
        chunks = []
        for p in prompts:
            for clip in p.audios:
                spec = mel.whole(torch.from_numpy(clip).to(self.device)[None])  # per-clip dynamic floor
                frames = 2 * cfg.encoder.n_positions
                chunks.append(spec[0].unflatten(-1, (-1, frames)).transpose(0, 1))  # [n_chunks, M, T]
        if not chunks:
            return torch.zeros(0, cfg.decoder.dim, dtype=self.dtype, device=self.device)
        spec = torch.cat(chunks).to(self.dtype)
        return torch.cat([self.net.audio_embeddings(spec[i : i + ENCODER_BATCH])
                          for i in range(0, spec.shape[0], ENCODER_BATCH)])

    def _positions(self, start: int, size: int) -> torch.Tensor:
        columns = torch.arange(start, start + size, device=self.device)
        return (columns[None, :] - self.offsets[:, None]).clamp_min(0)  # [B, S]

    def _forward(self, x: torch.Tensor, start: int) -> torch.Tensor:
        # Padded rows count their own positions ([B, S, D/2]); otherwise every row is at the same one ([S, D/2]).
        size = x.shape[1]
        cis = self.cis[self._positions(start, size)] if self.padded else self.cis[start : start + size]
        return self.net.decoder(x, cis, self.cache, start)[:, -1]  # [B, V]

    def _pick(self, logits: torch.Tensor) -> torch.Tensor:
        s = self.sampling
        if s.temperature == 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits.float() / s.temperature, dim=-1)
        if s.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            # Keep the smallest set of likeliest tokens whose mass reaches top_p (the first token always).
            drop = sorted_probs.cumsum(-1) - sorted_probs >= s.top_p
            sorted_probs = sorted_probs.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        return torch.multinomial(probs, 1, generator=self.generator)[:, 0]

    def __iter__(self) -> Iterator[list[int | None]]:
        batch = self.inputs.shape[0]
        done = [False] * batch
        with torch.no_grad():
            logits = None
            for start in range(0, self.prompt_columns, PREFILL_CHUNK):
                logits = self._forward(self.inputs[:, start : start + PREFILL_CHUNK], start)
            self.inputs = None  # the prompt's embeddings are in the cache now
            column = self.prompt_columns
            for _ in range(self.max_new):
                picked = self._pick(logits)  # [B]
                tokens = picked.tolist()
                out: list[int | None] = []
                for row, token in enumerate(tokens):
                    if done[row] or token == self.eos:
                        done[row] = True
                        out.append(None)
                    else:
                        out.append(token)
                if all(done):
                    return
                yield out
                if column + 1 >= self.cache.capacity:
                    return
                # Finished rows keep decoding whatever they picked; nothing reads their outputs.
                logits = self._forward(self.net.decoder.embed(picked[:, None]), column)
                column += 1
