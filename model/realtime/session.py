"""Live transcription sessions: feed audio blocks of any size and rate, get text as it is decoded."""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from model.audio import StreamResampler, as_mono_float32, check_sample_rate
from model.results import TokenEvent
from model.tokenizer import TextStream

if TYPE_CHECKING:
    from model.realtime.model import RealtimeModel


KEEP_TOKENS = 45_000  # tokens a session keeps by default: one hour at 80 ms per token (about 2 MB)


class StreamingSession:
    """One live stream. Not thread-safe: feed it from one thread (several sessions may share one model).

    Its tokens equal those of offline transcription of the same audio, except that an end-of-stream token decoded
    while audio is still arriving does not end the session: decoding continues with the next audio.

    Memory stays bounded however long the stream runs: key/value rings and audio buffers have fixed sizes, and of
    the decoded tokens only the last ``keep_tokens`` (with their text) are kept for ``token_ids`` and ``text``;
    ``dropped_tokens`` and ``dropped_chars`` count what was let go before them. Callers that need everything keep
    the events ``feed`` and ``finish`` return.
    """

    def __init__(self, model: RealtimeModel, delay_ms: float, *, keep_tokens: int = KEEP_TOKENS) -> None:
        if isinstance(keep_tokens, bool) or not isinstance(keep_tokens, int) or keep_tokens < 1:
            raise ValueError(f"keep_tokens must be a whole number of at least 1, got {keep_tokens!r}.")
        cfg = model.config
        self.delay_ms = delay_ms
        self._n_delay = cfg.delay_tokens(delay_ms)
        self._core = model.lockstep(batch=1, n_delay=self._n_delay)
        self._rate = cfg.mel.sample_rate
        self._step = cfg.samples_per_token
        self._token_s = cfg.streaming.token_ms / 1000.0
        self._left = cfg.streaming.n_left_pad_tokens
        self._right_tokens = self._n_delay + 1 + cfg.streaming.right_pad_buffer_tokens
        self._eos = model.tokenizer.eos
        self._text_stream = TextStream(model.tokenizer)
        self._resampler: StreamResampler | None = None
        self._samples = 0  # real samples at the model's rate pushed so far
        # Token i's id and the text it added, for the last keep_tokens tokens (oldest first).
        self._ids: deque[int] = deque(maxlen=keep_tokens)
        self._parts: deque[str] = deque(maxlen=keep_tokens)
        self._n_tokens = 0  # tokens decoded so far, kept or not
        self._dropped_chars = 0
        self._finished = False
        self._push(np.zeros(self._left * self._step, dtype=np.float32), real=False)

    @property
    def text(self) -> str:
        """Text of the kept tokens: the whole text so far without its first ``dropped_chars`` characters."""
        return "".join(self._parts)

    @property
    def token_ids(self) -> list[int]:
        """Ids of the kept tokens, oldest first: token ``dropped_tokens + i`` of the stream is ``token_ids[i]``."""
        return list(self._ids)

    @property
    def keep_tokens(self) -> int:
        return self._ids.maxlen

    @property
    def dropped_tokens(self) -> int:
        """Tokens decoded earlier than those ``token_ids`` keeps."""
        return self._n_tokens - len(self._ids)

    @property
    def dropped_chars(self) -> int:
        """Characters of text decoded earlier than those ``text`` keeps."""
        return self._dropped_chars

    @property
    def fed_seconds(self) -> float:
        """Audio received so far (at the model's rate, after resampling)."""
        return self._samples / self._rate

    @property
    def decoded_seconds(self) -> float:
        """Audio the decoder has consumed so far; ``fed_seconds - decoded_seconds`` is the backlog."""
        return min(self.fed_seconds, max(0.0, (self._core.decoded - self._left) * self._token_s))

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, samples: Any, sample_rate: int = 16000, *, channels_first: bool = False) -> list[TokenEvent]:
        """Add a block of audio (any length, any rate, mono or multi-channel); returns the tokens it completed.

        A 2-D block is frames x channels, as sound devices deliver it (so a (1, 2) block is one stereo frame);
        ``channels_first=True`` takes channels x frames instead.
        """
        if self._finished:
            raise RuntimeError("This session has finished; start a new one with model.stream().")
        rate = check_sample_rate(sample_rate)
        block = as_mono_float32(samples, what="audio block", channels_first=channels_first)
        self._push(self._resample(block, rate))
        return self._advance(stop_at_eos=False)

    def finish(self) -> list[TokenEvent]:
        """End of audio: flush resampling and the right padding, decode to the end; the session is then closed."""
        if self._finished:
            return []
        if self._resampler is not None:
            self._push(self._resampler.process(np.zeros(0, dtype=np.float32), last=True))
            self._resampler = None
        pad = (-self._samples) % self._step + self._right_tokens * self._step
        self._push(np.zeros(pad, dtype=np.float32), real=False)
        events = self._advance(stop_at_eos=True)
        tail = self._text_stream.flush()
        if tail and self._parts:  # an incomplete UTF-8 sequence at the very end: it belongs to the last token
            self._parts[-1] += tail
            if events:
                events[-1] = dataclasses.replace(events[-1], text=events[-1].text + tail)
        self._finished = True
        return events

    def _resample(self, block: np.ndarray, rate: int) -> np.ndarray:
        if self._resampler is not None and self._resampler.in_rate != rate:
            # The source changed its rate: finish the old conversion before starting the new one.
            flushed = self._resampler.process(np.zeros(0, dtype=np.float32), last=True)
            self._resampler = None
            self._push(flushed)
        if rate == self._rate:
            return block
        if self._resampler is None:
            self._resampler = StreamResampler(rate, self._rate)
        return self._resampler.process(block)

    def _push(self, samples: np.ndarray, *, real: bool = True) -> None:
        if samples.size:
            if not samples.flags.writeable:  # callers may hand over read-only views; torch wants its own memory
                samples = samples.copy()
            self._core.push(torch.from_numpy(samples)[None])
            if real:
                self._samples += samples.size

    def _advance(self, *, stop_at_eos: bool) -> list[TokenEvent]:
        first, tokens = self._core.run(self._core.ready())
        if tokens is None:
            return []
        events = []
        for i, token in enumerate(tokens[0].tolist()):
            if stop_at_eos and token == self._eos:
                break
            pos = first + i
            text = self._text_stream.push(token)
            if len(self._parts) == self._parts.maxlen:
                self._dropped_chars += len(self._parts[0])
            self._ids.append(token)
            self._parts.append(text)
            self._n_tokens += 1
            end = max(0.0, (pos + 1 - self._left - self._n_delay) * self._token_s)
            events.append(TokenEvent(token, text, pos, max(0.0, end - self._token_s), end))
        return events
