"""Voxtral Realtime configuration, read from the checkpoint's own files.

Two on-disk layouts carry the same facts:
- native (Mistral): ``params.json`` plus the ``audio`` block of ``tekken.json``;
- transformers: ``config.json`` (+ ``preprocessor_config.json``) plus the same ``tekken.json``.
Nothing about the model's size is assumed here; every number comes from those files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.config_files import (
    MAX_DIM,
    MAX_DOWNSAMPLE,
    MAX_HEAD_DIM,
    MAX_HEADS,
    MAX_HIDDEN_DIM,
    MAX_LAYERS,
    MAX_LEFT_PAD_TOKENS,
    MAX_SLIDING_WINDOW,
    MAX_VOCAB,
    check_same_audio,
    frame_rate,
    mel_settings,
    norm_eps,
    optional_log_mel_max,
    read_json,
    read_tekken_audio,
    real,
    rope_theta,
    whole,
)
from model.errors import CheckpointError
from model.mel import MelConfig

# Key/value values one stream may keep (both stacks, keys and values): the real model keeps about 0.54e9 (1.1 GB in
# bf16); a window that would need more than 8 times that is refused at load, not at the first caption.
MAX_RING_VALUES = 2**32
MAX_DELAY_TOKENS = 30  # the longest delay a stream may ask for (30 x 80 ms = 2.4 s)


@dataclass(frozen=True)
class EncoderConfig:
    dim: int
    n_layers: int
    n_heads: int
    head_dim: int
    hidden_dim: int
    norm_eps: float
    rope_theta: float
    sliding_window: int


@dataclass(frozen=True)
class DecoderConfig:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_dim: int
    norm_eps: float
    rope_theta: float
    sliding_window: int
    vocab_size: int
    ada_dim: int  # hidden size of the per-layer delay ("t_cond") MLP


@dataclass(frozen=True)
class StreamingConfig:
    frame_rate: float  # decoder positions per second (12.5 -> 80 ms)
    n_left_pad_tokens: int  # silent positions before the audio
    default_delay_ms: float
    right_pad_buffer_tokens: int = 10  # mistral-common's allowance for words still being spoken at the end

    def samples_per_token(self, sample_rate: int) -> int:
        return int(sample_rate // self.frame_rate)

    @property
    def token_ms(self) -> float:
        return 1000.0 / self.frame_rate


@dataclass(frozen=True)
class RealtimeConfig:
    mel: MelConfig
    encoder: EncoderConfig
    decoder: DecoderConfig
    streaming: StreamingConfig
    downsample_factor: int  # encoder frames concatenated into one decoder position

    @property
    def samples_per_token(self) -> int:
        return self.streaming.samples_per_token(self.mel.sample_rate)

    @property
    def mel_frames_per_token(self) -> int:
        return self.samples_per_token // self.mel.hop_length

    def delay_tokens(self, delay_ms: float) -> int:
        """Number of 80 ms delay positions for ``delay_ms``; raises ValueError when it is not on the grid."""
        step = self.streaming.token_ms
        n = round(delay_ms / step)
        if isinstance(delay_ms, bool) or not (abs(n * step - delay_ms) < 1e-6 and 1 <= n <= MAX_DELAY_TOKENS):
            raise ValueError(
                f"delay_ms={delay_ms!r} is not supported: use a multiple of {step:g} ms "
                f"between {step:g} and {MAX_DELAY_TOKENS * step:g} ms (default {self.streaming.default_delay_ms:g})."
            )
        return n

    def ring_values(self) -> int:
        """Keys and values one stream keeps in its rings (both stacks; the encoder's few spare slots left out)."""
        e, d = self.encoder, self.decoder
        return 2 * (e.n_layers * e.n_heads * e.sliding_window * e.head_dim
                    + d.n_layers * d.n_kv_heads * d.sliding_window * d.head_dim)

    def validate(self) -> None:
        """Check that the numbers fit together; a corrupt config fails here with a clear message.

        Each number alone was checked when it was read (types and bounds); these are the relations between them.
        """
        m, e, d = self.mel, self.encoder, self.decoder
        problems = []
        if self.samples_per_token % m.hop_length:
            problems.append(f"{self.samples_per_token} samples per token is not a multiple of hop {m.hop_length}")
        elif self.mel_frames_per_token != 2 * self.downsample_factor:
            problems.append(
                f"{self.mel_frames_per_token} mel frames per token does not match 2 x downsample factor "
                f"{self.downsample_factor} (the conv stem halves the frame rate)"
            )
        if d.n_heads % d.n_kv_heads:
            problems.append(f"decoder heads {d.n_heads} is not a multiple of kv heads {d.n_kv_heads}")
        if e.head_dim % 2 or d.head_dim % 2:
            problems.append("head_dim must be even for rotary embeddings")
        try:
            self.delay_tokens(self.streaming.default_delay_ms)
        except ValueError:
            problems.append(f"the default delay of {self.streaming.default_delay_ms:g} ms is not a multiple of "
                            f"{self.streaming.token_ms:g} ms between 1 and {MAX_DELAY_TOKENS} tokens")
        if self.ring_values() > MAX_RING_VALUES:
            problems.append(
                f"its sliding windows ({e.sliding_window} encoder, {d.sliding_window} decoder positions) would need "
                f"{self.ring_values():,} cached keys and values per stream, more than the {MAX_RING_VALUES:,} "
                "this program allows"
            )
        if problems:
            raise CheckpointError("Inconsistent model configuration: " + "; ".join(problems) + ".")


def _streaming_from_tekken(audio: dict[str, Any], where: str, sample_rate: int) -> StreamingConfig:
    if audio.get("transcription_format") != "streaming":
        raise CheckpointError(
            f"{where}: transcription_format is {audio.get('transcription_format')!r}, not 'streaming'. "
            "This is not a Voxtral Realtime tokenizer (an offline Voxtral model is loaded with load_voxtral)."
        )
    return StreamingConfig(
        frame_rate=frame_rate(audio, where, sample_rate),
        n_left_pad_tokens=whole(audio, "streaming_n_left_pad_tokens", where, low=0, high=MAX_LEFT_PAD_TOKENS),
        default_delay_ms=real(audio, "transcription_delay_ms", where, high=60_000.0),
    )


def _encoder(enc: dict[str, Any], where: str, keys: dict[str, str], head_dim: int, theta: float,
             eps: float) -> EncoderConfig:
    return EncoderConfig(
        dim=whole(enc, keys["dim"], where, high=MAX_DIM),
        n_layers=whole(enc, keys["n_layers"], where, high=MAX_LAYERS),
        n_heads=whole(enc, keys["n_heads"], where, high=MAX_HEADS),
        head_dim=head_dim,
        hidden_dim=whole(enc, keys["hidden_dim"], where, high=MAX_HIDDEN_DIM),
        norm_eps=eps,
        rope_theta=theta,
        sliding_window=whole(enc, "sliding_window", where, high=MAX_SLIDING_WINDOW),
    )


_NATIVE_KEYS = {"dim": "dim", "n_layers": "n_layers", "n_heads": "n_heads", "hidden_dim": "hidden_dim",
                "n_kv_heads": "n_kv_heads", "vocab_size": "vocab_size"}
_TRANSFORMERS_KEYS = {"dim": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                      "hidden_dim": "intermediate_size", "n_kv_heads": "num_key_value_heads",
                      "vocab_size": "vocab_size"}


def _decoder(text: dict[str, Any], where: str, keys: dict[str, str], head_dim: int, theta: float, eps: float,
             ada_dim: int) -> DecoderConfig:
    return DecoderConfig(
        dim=whole(text, keys["dim"], where, high=MAX_DIM),
        n_layers=whole(text, keys["n_layers"], where, high=MAX_LAYERS),
        n_heads=whole(text, keys["n_heads"], where, high=MAX_HEADS),
        n_kv_heads=whole(text, keys["n_kv_heads"], where, high=MAX_HEADS),
        head_dim=head_dim,
        hidden_dim=whole(text, keys["hidden_dim"], where, high=MAX_HIDDEN_DIM),
        norm_eps=eps,
        rope_theta=theta,
        sliding_window=whole(text, "sliding_window", where, high=MAX_SLIDING_WINDOW),
        vocab_size=whole(text, keys["vocab_size"], where, high=MAX_VOCAB),
        ada_dim=ada_dim,
    )


def _head_dim(cfg: dict[str, Any], where: str, keys: dict[str, str]) -> int:
    """``head_dim``, or (transformers' default when it is absent or null) the width divided by the heads."""
    if cfg.get("head_dim") is not None:
        return whole(cfg, "head_dim", where, high=MAX_HEAD_DIM)
    dim = whole(cfg, keys["dim"], where, high=MAX_DIM)
    heads = whole(cfg, keys["n_heads"], where, high=MAX_HEADS)
    if dim % heads:
        raise CheckpointError(f"{where} has no head_dim and its width {dim} does not split into {heads} heads.")
    return dim // heads


def parse_native(params_path: Path, tekken_path: Path) -> RealtimeConfig:
    params = read_json(params_path)
    where = params_path.name
    try:
        whisper = params["multimodal"]["whisper_model_args"]
        enc = whisper["encoder_args"]
        audio_args = enc["audio_encoding_args"]
        downsample_args = whisper["downsample_args"]
    except (KeyError, TypeError):
        raise CheckpointError(
            f"{where} has no multimodal.whisper_model_args.encoder_args block: it is not a Voxtral checkpoint."
        ) from None
    if not all(isinstance(b, dict) for b in (enc, audio_args, downsample_args)):
        raise CheckpointError(f"{where}: its multimodal block is malformed; the file is damaged.")
    if enc.get("causal", False) is not True:
        raise CheckpointError(f"{where}: the audio encoder is not causal, so this is not a Voxtral Realtime model.")
    audio, encoding = read_tekken_audio(tekken_path)
    ew = f"{where} encoder_args"
    mel = mel_settings(audio_args, audio_args, ew,
                       optional_log_mel_max(audio_args, "global_log_mel_max", ew, default=None))
    streaming = _streaming_from_tekken(audio, tekken_path.name, mel.sample_rate)
    check_same_audio(audio, encoding, mel, real(audio_args, "frame_rate", ew, high=float(mel.sample_rate),
                                                default=streaming.frame_rate), ew)
    enc_heads = whole(enc, "n_heads", ew, high=MAX_HEADS)
    if whole(enc, "n_kv_heads", ew, high=MAX_HEADS, default=enc_heads) != enc_heads:
        raise CheckpointError(f"{ew}: grouped-query attention in the audio encoder is not supported.")
    if params.get("tied_embeddings", True) is not True:
        raise CheckpointError(f"{where}: untied output embeddings are not a Voxtral Realtime layout.")
    cfg = RealtimeConfig(
        mel=mel,
        encoder=_encoder(enc, ew, _NATIVE_KEYS, _head_dim(enc, ew, _NATIVE_KEYS),
                         rope_theta(enc, ew), norm_eps(enc, "norm_eps", ew)),
        decoder=_decoder(params, where, _NATIVE_KEYS, _head_dim(params, where, _NATIVE_KEYS),
                         rope_theta(params, where), norm_eps(params, "norm_eps", where),
                         whole(params, "ada_rms_norm_t_cond_dim", where, high=MAX_DIM)),
        streaming=streaming,
        downsample_factor=whole(downsample_args, "downsample_factor", where, high=MAX_DOWNSAMPLE),
    )
    cfg.validate()
    return cfg


def parse_transformers(config_path: Path, tekken_path: Path, preprocessor_path: Path | None) -> RealtimeConfig:
    config = read_json(config_path)
    where = config_path.name
    if config.get("model_type") != "voxtral_realtime":
        raise CheckpointError(
            f"{where}: model_type is {config.get('model_type')!r}, expected 'voxtral_realtime'."
        )
    text = config.get("text_config")
    enc = config.get("audio_config")
    if not isinstance(text, dict) or not isinstance(enc, dict):
        raise CheckpointError(f"{where} lacks text_config or audio_config.")
    tw, ew = f"{where} text_config", f"{where} audio_config"
    audio, encoding = read_tekken_audio(tekken_path)
    gmax: float | None = 1.5  # transformers' VoxtralRealtimeFeatureExtractor default
    if preprocessor_path is not None and preprocessor_path.exists():
        pre = read_json(preprocessor_path)
        gmax = optional_log_mel_max(pre, "global_log_mel_max", preprocessor_path.name, default=gmax)
    mel = mel_settings(audio, encoding, tekken_path.name, gmax)
    cfg = RealtimeConfig(
        mel=mel,
        encoder=_encoder(enc, ew, _TRANSFORMERS_KEYS, _head_dim(enc, ew, _TRANSFORMERS_KEYS), rope_theta(enc, ew),
                         norm_eps(enc, "rms_norm_eps", ew)),
        decoder=_decoder(text, tw, _TRANSFORMERS_KEYS, _head_dim(text, tw, _TRANSFORMERS_KEYS),
                         rope_theta(text, tw), norm_eps(text, "rms_norm_eps", tw),
                         ada_dim=32),  # transformers fixes the delay-MLP width at 32; the weights' shapes are checked
        streaming=_streaming_from_tekken(audio, tekken_path.name, mel.sample_rate),
        downsample_factor=whole(config, "downsample_factor", where, high=MAX_DOWNSAMPLE),
    )
    cfg.validate()
    return cfg
