"""The decoding core shared by live streams and offline transcription.

A batch of streams advances in lockstep through one timeline of 80 ms positions. Samples arrive already padded
(the silent left pad first); whole positions are encoded as soon as their samples, plus the STFT's look-ahead, are
present; the decoder then takes one position at a time, feeding back its own previous token. Tokens stay on the
device until the caller collects them, so a GPU never waits on the host inside the loop.

Its state has a fixed size however long a stream runs: the key/value rings hold one window each, the sample buffer
holds less than a position plus the STFT look-ahead after each ``run``, and embeddings wait only while the prompt
fills; only the position counters grow.

Buffer coordinates: index 0 is ``n_fft/2`` samples before the first padded sample, so mel frame t spans
``[hop*t, hop*t + n_fft)`` and every frame lies on the same grid as the offline spectrogram.
"""

from __future__ import annotations

import torch

from model.mel import LogMel
from model.realtime.network import RealtimeNetwork

MAX_ENCODER_POSITIONS = 64  # positions per encoder call: bounds attention memory when catching up or offline


class Lockstep:
    def __init__(
        self,
        net: RealtimeNetwork,
        mel: LogMel,
        scales: list[torch.Tensor],
        prompt: list[int],
        batch: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        cfg = net.cfg
        self.net, self.mel, self.scales = net, mel, scales
        self.dtype, self.device = dtype, device
        self.step = cfg.samples_per_token  # samples per position
        self.lookahead = cfg.mel.n_fft - cfg.mel.hop_length  # samples past a position's last hop the STFT needs
        self.prompt = torch.tensor(prompt, device=device).expand(batch, -1)  # [B, P]
        self.enc = net.encoder.new_state(batch, dtype, device)
        self.dec = net.decoder.new_state(batch, dtype, device)
        self.buffer = torch.zeros(batch, cfg.mel.n_fft // 2, device=device)
        self.pending: list[torch.Tensor] = []  # audio embeddings [B, n, D] waiting for the decoder
        self.n_pending = 0
        self.last: torch.Tensor | None = None  # [B, 1] previous token, fed back as the next input

    def push(self, samples: torch.Tensor) -> None:
        """Append padded-timeline samples [B, n] (float32)."""
        self.buffer = torch.cat((self.buffer, samples.to(self.device)), dim=1)

    def ready(self) -> int:
        """Whole positions whose samples are all present and not yet encoded."""
        return max(0, (self.buffer.shape[1] - self.lookahead) // self.step)

    @property
    def decoded(self) -> int:
        return self.dec.next_pos

    def run(self, n_positions: int) -> tuple[int, torch.Tensor | None]:
        """Encode and decode up to ``n_positions`` ready positions.

        Returns the position of the first token produced and the tokens [B, n] (None when the prompt is still
        filling). A token at position p is the model's output there; it becomes the input at p + 1.
        """
        n_positions = min(n_positions, self.ready())
        first = None
        outputs: list[torch.Tensor] = []
        while n_positions > 0:
            k = min(n_positions, MAX_ENCODER_POSITIONS)
            self.pending.append(self.encode(k))
            self.n_pending += k
            n_positions -= k
            pos, toks = self._decode()
            if toks is not None:
                first = pos if first is None else first
                outputs.append(toks)
        return (first if first is not None else self.decoded), (torch.cat(outputs, dim=1) if outputs else None)

    def encode(self, k: int) -> torch.Tensor:
        """Audio embeddings [B, k, D] of the next ``k`` ready positions; consumes their samples."""
        span = k * self.step
        frames = self.mel.frames(self.buffer[:, : span + self.lookahead]).to(self.dtype)  # [B, M, 8k]
        self.buffer = self.buffer[:, span:]
        with torch.inference_mode():  # no autograd bookkeeping: a per-operation saving that counts at 80 ms steps
            if k == 1 and frames.shape[0] == 1 and self.net.compiled_position is not None:
                return self.net.position_embedding(frames, self.enc)
            return self.net.adapter(self.net.encoder(frames, self.enc))

    def _decode(self) -> tuple[int, torch.Tensor | None]:
        n_prompt = self.prompt.shape[1]
        if self.dec.next_pos == 0 and self.n_pending < n_prompt:  # the prompt is still filling
            return self.dec.next_pos, None
        audio = torch.cat(self.pending, dim=1) if len(self.pending) > 1 else self.pending[0]
        self.pending, self.n_pending = [], 0
        decoder = self.net.decoder
        out: list[torch.Tensor] = []
        with torch.inference_mode():
            i = 0
            if self.dec.next_pos == 0:
                logits = decoder(audio[:, :n_prompt], self.prompt, self.dec, self.scales)
                self.last = logits[:, -1:].argmax(-1)
                out.append(self.last)
                i = n_prompt
            for j in range(i, audio.shape[1]):
                self.last = decoder.next_token(audio[:, j : j + 1], self.last, self.dec, self.scales)
                out.append(self.last)
        first = self.dec.next_pos - len(out)
        return first, torch.cat(out, dim=1)
