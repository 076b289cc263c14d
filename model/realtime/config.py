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
    NUMBER,
    optional_float,
    read_json,
    read_tekken_audio,
    require,
    rope_theta,
    tekken_mel,
)
from model.errors import CheckpointError
from model.mel import MelConfig


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
        if isinstance(delay_ms, bool) or not (abs(n * step - delay_ms) < 1e-6 and 1 <= n <= 30):
            raise ValueError(
                f"delay_ms={delay_ms!r} is not supported: use a multiple of {step:g} ms "
                f"between {step:g} and {30 * step:g} ms (default {self.streaming.default_delay_ms:g})."
            )
        return n

    def validate(self) -> None:
        """Check that the numbers fit together; a corrupt config fails here with a clear message."""
        m, e, d = self.mel, self.encoder, self.decoder
        problems = []
        if self.samples_per_token % m.hop_length:
            problems.append(f"{self.samples_per_token} samples per token is not a multiple of hop {m.hop_length}")
        elif self.mel_frames_per_token != 2 * self.downsample_factor:
            problems.append(
                f"{self.mel_frames_per_token} mel frames per token does not match 2 x downsample factor "
                f"{self.downsample_factor} (the conv stem halves the frame rate)"
            )
        for name, value in [
            ("encoder dim", e.dim), ("encoder layers", e.n_layers), ("encoder heads", e.n_heads),
            ("encoder head_dim", e.head_dim), ("encoder hidden_dim", e.hidden_dim),
            ("encoder sliding_window", e.sliding_window), ("decoder dim", d.dim), ("decoder layers", d.n_layers),
            ("decoder heads", d.n_heads), ("decoder kv heads", d.n_kv_heads), ("decoder head_dim", d.head_dim),
            ("decoder hidden_dim", d.hidden_dim), ("decoder sliding_window", d.sliding_window),
            ("vocab_size", d.vocab_size), ("ada dim", d.ada_dim), ("mel bins", m.n_mels),
        ]:
            if not isinstance(value, int) or value <= 0:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not problems and d.n_heads % d.n_kv_heads:
            problems.append(f"decoder heads {d.n_heads} is not a multiple of kv heads {d.n_kv_heads}")
        if e.head_dim % 2 or d.head_dim % 2:
            problems.append("head_dim must be even for rotary embeddings")
        if problems:
            raise CheckpointError("Inconsistent model configuration: " + "; ".join(problems) + ".")


def _streaming_from_tekken(audio: dict[str, Any], where: str) -> StreamingConfig:
    if audio.get("transcription_format") != "streaming":
        raise CheckpointError(
            f"{where}: transcription_format is {audio.get('transcription_format')!r}, not 'streaming'. "
            "This is not a Voxtral Realtime tokenizer (an offline Voxtral model is loaded with load_voxtral)."
        )
    return StreamingConfig(
        frame_rate=float(require(audio, "frame_rate", where, NUMBER)),
        n_left_pad_tokens=require(audio, "streaming_n_left_pad_tokens", where),
        default_delay_ms=float(require(audio, "transcription_delay_ms", where, NUMBER)),
    )


def parse_native(params_path: Path, tekken_path: Path) -> RealtimeConfig:
    params = read_json(params_path)
    where = params_path.name
    try:
        whisper = params["multimodal"]["whisper_model_args"]
        enc = whisper["encoder_args"]
        audio_args = enc["audio_encoding_args"]
        downsample = whisper["downsample_args"]["downsample_factor"]
    except (KeyError, TypeError):
        raise CheckpointError(
            f"{where} has no multimodal.whisper_model_args.encoder_args block: it is not a Voxtral checkpoint."
        ) from None
    if not enc.get("causal", False):
        raise CheckpointError(f"{where}: the audio encoder is not causal, so this is not a Voxtral Realtime model.")
    audio, _ = read_tekken_audio(tekken_path)
    ew = f"{where} encoder_args"
    cfg = RealtimeConfig(
        mel=MelConfig(
            sample_rate=require(audio_args, "sampling_rate", ew),
            n_mels=require(audio_args, "num_mel_bins", ew),
            hop_length=require(audio_args, "hop_length", ew),
            window_size=require(audio_args, "window_size", ew),
            global_log_mel_max=optional_float(audio_args.get("global_log_mel_max"), ew),
        ),
        encoder=EncoderConfig(
            dim=require(enc, "dim", ew),
            n_layers=require(enc, "n_layers", ew),
            n_heads=require(enc, "n_heads", ew),
            head_dim=require(enc, "head_dim", ew),
            hidden_dim=require(enc, "hidden_dim", ew),
            norm_eps=float(require(enc, "norm_eps", ew, NUMBER)),
            rope_theta=float(require(enc, "rope_theta", ew, NUMBER)),
            sliding_window=require(enc, "sliding_window", ew),
        ),
        decoder=DecoderConfig(
            dim=require(params, "dim", where),
            n_layers=require(params, "n_layers", where),
            n_heads=require(params, "n_heads", where),
            n_kv_heads=require(params, "n_kv_heads", where),
            head_dim=require(params, "head_dim", where),
            hidden_dim=require(params, "hidden_dim", where),
            norm_eps=float(require(params, "norm_eps", where, NUMBER)),
            rope_theta=float(require(params, "rope_theta", where, NUMBER)),
            sliding_window=require(params, "sliding_window", where),
            vocab_size=require(params, "vocab_size", where),
            ada_dim=require(params, "ada_rms_norm_t_cond_dim", where),
        ),
        streaming=_streaming_from_tekken(audio, tekken_path.name),
        downsample_factor=downsample,
    )
    if enc.get("n_kv_heads", cfg.encoder.n_heads) != cfg.encoder.n_heads:
        raise CheckpointError(f"{ew}: grouped-query attention in the audio encoder is not supported.")
    if not params.get("tied_embeddings", True):
        raise CheckpointError(f"{where}: untied output embeddings are not a Voxtral Realtime layout.")
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
    audio, enc_cfg = read_tekken_audio(tekken_path)
    gmax: float | None = 1.5  # transformers' VoxtralRealtimeFeatureExtractor default
    if preprocessor_path is not None and preprocessor_path.exists():
        pre = read_json(preprocessor_path)
        gmax = optional_float(pre.get("global_log_mel_max", gmax), preprocessor_path.name)
    n_heads = require(enc, "num_attention_heads", ew)
    n_text_heads = require(text, "num_attention_heads", tw)
    cfg = RealtimeConfig(
        mel=tekken_mel(audio, enc_cfg, tekken_path.name, gmax),
        encoder=EncoderConfig(
            dim=require(enc, "hidden_size", ew),
            n_layers=require(enc, "num_hidden_layers", ew),
            n_heads=n_heads,
            head_dim=enc.get("head_dim") or require(enc, "hidden_size", ew) // n_heads,
            hidden_dim=require(enc, "intermediate_size", ew),
            norm_eps=float(require(enc, "rms_norm_eps", ew, NUMBER)),
            rope_theta=rope_theta(enc, ew),
            sliding_window=require(enc, "sliding_window", ew),
        ),
        decoder=DecoderConfig(
            dim=require(text, "hidden_size", tw),
            n_layers=require(text, "num_hidden_layers", tw),
            n_heads=require(text, "num_attention_heads", tw),
            n_kv_heads=require(text, "num_key_value_heads", tw),
            head_dim=text.get("head_dim") or require(text, "hidden_size", tw) // n_text_heads,
            hidden_dim=require(text, "intermediate_size", tw),
            norm_eps=float(require(text, "rms_norm_eps", tw, NUMBER)),
            rope_theta=rope_theta(text, tw),
            sliding_window=require(text, "sliding_window", tw),
            vocab_size=require(text, "vocab_size", tw),
            ada_dim=32,  # transformers fixes the delay-MLP width at 32; the weights' shapes are checked on load
        ),
        streaming=_streaming_from_tekken(audio, tekken_path.name),
        downsample_factor=require(config, "downsample_factor", where),
    )
    cfg.validate()
    return cfg
