"""Voxtral Mini 3B (and its family, e.g. Small 24B): transcription and chat about audio, offline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from model.audio import prepare
from model.audio_file import read_file
from model.checkpoint import build_loaded, detect_layout
from model.loading import pick_device, resolve_source
from model.mel import LogMel
from model.results import Reply, Transcription
from model.tokenizer import TextStream, Tokenizer
from model.voxtral.config import VoxtralConfig, parse_native, parse_transformers
from model.voxtral.generate import Generation, Sampling, audio_seconds_fitting
from model.voxtral.network import VoxtralNetwork
from model.voxtral.prompt import Prompt, PromptBuilder
from model.voxtral.weights import POSITION_TABLE, weight_table

Conversation = Sequence[dict[str, Any]]


def _is_batch(conversation: Any) -> bool:
    return isinstance(conversation, (list, tuple)) and bool(conversation) and isinstance(conversation[0], (list, tuple))


class VoxtralModel:
    """A loaded model; stateless between calls (each request allocates its own cache)."""

    def __init__(
        self, cfg: VoxtralConfig, net: VoxtralNetwork, tokenizer: Tokenizer, prompts: PromptBuilder,
        device: torch.device, dtype: torch.dtype, source: Path,
    ) -> None:
        self.config, self.net, self.tokenizer, self.prompts = cfg, net, tokenizer, prompts
        self.device, self.dtype, self.source = device, dtype, source
        self.precision: str = net.precision  # how the matrices are stored, see model.precision
        self.kept_full: list[str] = net.kept_full  # matrices fp16 could not hold, left in dtype
        self.mel = LogMel(cfg.mel, device)
        self._audio_token = tokenizer.control("[AUDIO]")
        self._pad = tokenizer.control("<pad>")

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    @property
    def max_audio_seconds(self) -> float:
        """How much audio fits in the context, leaving room for a question and an answer."""
        cfg = self.config
        return audio_seconds_fitting(cfg.decoder.context, cfg.tokens_per_chunk, cfg.chunk_seconds)

    def generation(self, prompts: list[Prompt], sampling: Sampling) -> Generation:
        return Generation(
            self.net, self.mel, prompts, sampling, audio_token=self._audio_token, eos=self.tokenizer.eos,
            pad=self._pad, dtype=self.dtype, device=self.device,
        )

    def transcribe(
        self, audio: Any, sample_rate: int | None = None, *, language: str | None = None,
        max_new_tokens: int | None = None, channels_first: bool | None = None,
    ) -> Transcription:
        """Transcribe an array (with its sample_rate) or an audio file path; language None: detected.

        ``channels_first`` says how a 2-D array is laid out (see model.audio.as_mono_float32); None reads it from
        the shape where that is unambiguous.
        """
        if isinstance(audio, (str, Path)):
            audio, sample_rate = read_file(audio)
            channels_first = False  # read_file gives mono samples
        samples = prepare(audio, sample_rate, self.sample_rate, channels_first=channels_first)
        prompt = self.prompts.transcription(samples, language)
        limit = max_new_tokens or self.config.decoder.context
        ids = self._collect(self.generation([prompt], Sampling(limit)), 1)[0]
        return Transcription(self.tokenizer.decode(ids), ids)

    def chat(
        self, conversation: Conversation | Sequence[Conversation], *, max_new_tokens: int = 1024,
        temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
    ) -> Reply | list[Reply]:
        """Reply to a conversation, or to a list of conversations generated as one batch."""
        conversations = list(conversation) if _is_batch(conversation) else [conversation]
        prompts = [self.prompts.chat(c) for c in conversations]
        generation = self.generation(prompts, Sampling(max_new_tokens, temperature, top_p, seed))
        ids = self._collect(generation, len(prompts))
        replies = [Reply(self.tokenizer.decode(t), t, "length" if len(t) >= generation.max_new else "eos")
                   for t in ids]
        return replies if _is_batch(conversation) else replies[0]

    def stream_chat(
        self, conversation: Conversation, *, max_new_tokens: int = 1024, temperature: float = 0.0,
        top_p: float = 1.0, seed: int | None = None,
    ) -> ChatStream:
        """Text deltas of the reply as they are decoded; closing the iterator stops generation."""
        generation = self.generation([self.prompts.chat(conversation)], Sampling(max_new_tokens, temperature,
                                                                                   top_p, seed))
        return ChatStream(generation, TextStream(self.tokenizer))

    @staticmethod
    def _collect(generation: Generation, rows: int) -> list[list[int]]:
        ids: list[list[int]] = [[] for _ in range(rows)]
        for step in generation:
            for row, token in enumerate(step):
                if token is not None:
                    ids[row].append(token)
        return ids


class ChatStream:
    """An iterator of a reply's text deltas; ``finish_reason`` says why it ended once it has ("eos" or "length";
    None while running or after ``close``)."""

    def __init__(self, generation: Generation, text: TextStream) -> None:
        self._generation, self._text = generation, text
        self._deltas = self._run()
        self._tokens = 0
        self.finish_reason: str | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        self._deltas.close()

    def _run(self) -> Iterator[str]:
        for (token,) in self._generation:
            if token is not None:
                self._tokens += 1
                delta = self._text.push(token)
                if delta:
                    yield delta
        tail = self._text.flush()
        self.finish_reason = "length" if self._tokens >= self._generation.max_new else "eos"
        if tail:
            yield tail


def load_voxtral(
    source: str | Path,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    progress: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
    precision: str | None = None,
) -> VoxtralModel:
    """Load Voxtral (offline) from a folder (native or transformers layout) or a hub repo id.

    ``precision``: how the weight matrices are kept (model.precision): None picks fp16 on a CPU for 16-bit
    checkpoints (half the memory traffic of fp32, no loss), else full; "int8" (never the default) a quarter.
    """
    folder = resolve_source(source, progress=progress, cancel=cancel)
    layout = detect_layout(folder)
    tekken = folder / "tekken.json"
    if layout == "native":
        cfg, aliases = parse_native(folder / "params.json", tekken), None
    else:
        cfg = parse_transformers(folder / "config.json", tekken)
        aliases = {POSITION_TABLE: (cfg.encoder.n_positions, cfg.encoder.dim)}
    prompts = PromptBuilder(tekken, cfg.mel.sample_rate)
    tokenizer = Tokenizer(tekken, prompts.tekkenizer)
    tokenizer.check_fits(cfg.decoder.vocab_size)
    dev, dt = pick_device(device, dtype)
    net = build_loaded(lambda: VoxtralNetwork(cfg), lambda names: weight_table(cfg, layout, names), folder, layout,
                       device=dev, dtype=dt, aliases=aliases, precision=precision)
    return VoxtralModel(cfg, net, tokenizer, prompts, dev, dt, folder)
