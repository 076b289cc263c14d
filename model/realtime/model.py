"""Voxtral Mini 4B Realtime: loading, offline (batched) transcription and live streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.audio import prepare
from model.checkpoint import build_loaded, detect_layout
from model.errors import AudioInputError, ModelError
from model.loading import pick_device, resolve_source
from model.mel import LogMel
from model.realtime.config import RealtimeConfig, parse_native, parse_transformers
from model.realtime.lockstep import MAX_ENCODER_POSITIONS, Lockstep
from model.realtime.network import RealtimeNetwork
from model.realtime.session import KEEP_TOKENS, StreamingSession
from model.realtime.weights import TIED_HEAD, weight_table
from model.results import Transcription
from model.tokenizer import Tokenizer


class RealtimeModel:
    """A loaded model. Stateless between calls: any number of sessions and transcriptions may share it."""

    def __init__(
        self, cfg: RealtimeConfig, net: RealtimeNetwork, tokenizer: Tokenizer, device: torch.device,
        dtype: torch.dtype, source: Path,
    ) -> None:
        self.config, self.net, self.tokenizer = cfg, net, tokenizer
        self.device, self.dtype, self.source = device, dtype, source
        self.precision: str = net.precision  # how the matrices are stored, see model.precision
        self.kept_full: list[str] = net.kept_full  # matrices fp16 could not hold, left in dtype
        self.mel = LogMel(cfg.mel, device)
        self._pad = tokenizer.control("[STREAMING_PAD]")
        self._scales: dict[int, list[torch.Tensor]] = {}
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    def prompt(self, n_delay: int) -> list[int]:
        return [self.tokenizer.bos] + [self._pad] * (self.config.streaming.n_left_pad_tokens + n_delay)

    def lockstep(self, batch: int, n_delay: int) -> Lockstep:
        with self._lock:
            scales = self._scales.get(n_delay)
            if scales is None:
                with torch.no_grad():
                    scales = self._scales[n_delay] = self.net.decoder.delay_scales(n_delay)
        return Lockstep(self.net, self.mel, scales, self.prompt(n_delay), batch, self.dtype, self.device)

    def compile(self, mode: str | None = None) -> float:
        """Compile the live step (one 80 ms position of one stream) with torch.compile and warm it up now, so live
        captions never wait for compilation; returns the seconds it took. ``mode="reduce-overhead"`` adds CUDA
        graphs on a GPU. On failure the model stays uncompiled and a ModelError says why.

        Measured on a 2-core CPU (python -m model.bench --impl ours,ours-compiled,reference): it makes a tiny model's
        step about 1.7x faster, but a 1/8-width model's step several times slower (inductor's CPU code for these
        shapes is poor), so on a CPU it only pays for small models. Not yet measured on a GPU."""
        if self.precision != "full":  # dynamo cannot trace fbgemm's packed weights: it recompiles and runs slower
            raise ModelError(f"compile() needs precision='full'; this model keeps its weights as {self.precision}.")
        start = time.perf_counter()
        self.net.compile(mode)
        try:
            warm_up = self.stream()
            cfg = self.config
            warm_up.feed(np.zeros((warm_up._n_delay + 3) * cfg.samples_per_token, dtype=np.float32))
        except Exception as exc:  # a missing C++ compiler, an unsupported backend...
            self.net.uncompile()
            raise ModelError(f"Compiling the streaming step failed ({exc}); the model runs uncompiled.") from exc
        return time.perf_counter() - start

    def stream(self, *, delay_ms: float = 480, keep_tokens: int = KEEP_TOKENS) -> StreamingSession:
        """A live stream; it keeps the last ``keep_tokens`` tokens for its ``token_ids`` and ``text``."""
        return StreamingSession(self, delay_ms, keep_tokens=keep_tokens)

    def transcribe(
        self, audio: Any, sample_rate: int, *, delay_ms: float = 480, channels_first: bool | None = None
    ) -> Transcription | list[Transcription]:
        """Transcribe a whole signal, or a list of signals as one batch (each result as if transcribed alone).

        ``channels_first`` says how a 2-D signal is laid out (see model.audio.as_mono_float32); None reads it from
        the shape where that is unambiguous.
        """
        batched = isinstance(audio, (list, tuple)) and len(audio) > 0 and not np.isscalar(audio[0])
        if isinstance(audio, (list, tuple)) and len(audio) == 0:
            raise AudioInputError("No audio was given: the list is empty.")
        items = list(audio) if batched else [audio]
        rate = self.sample_rate
        signals = [
            prepare(a, sample_rate, rate, what=f"audio {i}" if batched else "audio", channels_first=channels_first)
            for i, a in enumerate(items)
        ]
        results = self._transcribe_batch(signals, self.config.delay_tokens(delay_ms))
        return results if batched else results[0]

    def _transcribe_batch(self, signals: list[np.ndarray], n_delay: int) -> list[Transcription]:
        cfg = self.config
        step, left = cfg.samples_per_token, cfg.streaming.n_left_pad_tokens
        right = n_delay + 1 + cfg.streaming.right_pad_buffer_tokens
        n_positions = [left + -(-len(x) // step) + right for x in signals]
        padded = np.zeros((len(signals), max(n_positions) * step), dtype=np.float32)
        for row, x in zip(padded, signals, strict=True):
            row[left * step : left * step + len(x)] = x
        core = self.lockstep(len(signals), n_delay)
        core.push(torch.from_numpy(padded))
        eos = self.tokenizer.eos
        ids: list[list[int]] = [[] for _ in signals]
        done = [False] * len(signals)
        # The decoder never reads the last position: like the reference, generation ends when the audio does.
        while core.ready() > 0 and not all(done):
            first, tokens = core.run(MAX_ENCODER_POSITIONS)
            if tokens is None:
                continue
            for b, row in enumerate(tokens.tolist()):
                for i, token in enumerate(row):
                    if done[b]:
                        break
                    if first + i > n_positions[b] - 2 or token == eos:
                        done[b] = True
                    else:
                        ids[b].append(token)
        return [Transcription(self.tokenizer.decode(t), t) for t in ids]


def load_realtime(
    source: str | Path,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    progress: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
    precision: str | None = None,
) -> RealtimeModel:
    """Load Voxtral Realtime from a folder (native or transformers layout) or a hub repo id.

    ``precision``: how the weight matrices are kept (model.precision): None picks fp16 on a CPU for 16-bit
    checkpoints (half the memory traffic of fp32, no loss), else full; "int8" (never the default) a quarter.
    """
    folder = resolve_source(source, progress=progress, cancel=cancel)
    layout = detect_layout(folder)
    tekken = folder / "tekken.json"
    if layout == "native":
        cfg, aliases = parse_native(folder / "params.json", tekken), None
    else:
        cfg = parse_transformers(folder / "config.json", tekken, folder / "preprocessor_config.json")
        aliases = {TIED_HEAD: (cfg.decoder.vocab_size, cfg.decoder.dim)}
    tokenizer = Tokenizer(tekken)
    tokenizer.check_fits(cfg.decoder.vocab_size)
    dev, dt = pick_device(device, dtype)
    net = build_loaded(lambda: RealtimeNetwork(cfg), lambda names: weight_table(cfg, layout), folder, layout,
                       device=dev, dtype=dt, aliases=aliases, precision=precision)
    return RealtimeModel(cfg, net, tokenizer, dev, dt, folder)
