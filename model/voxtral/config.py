"""Voxtral (offline) configuration, read from the checkpoint's own files.

Native layout: ``params.json`` + ``tekken.json``; transformers layout: ``config.json`` + ``tekken.json``. The sizes
of Voxtral Mini 3B and Small 24B both come from these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.config_files import (
    MAX_CHUNK_SECONDS,
    MAX_CONTEXT,
    MAX_DIM,
    MAX_DOWNSAMPLE,
    MAX_ENCODER_POSITIONS,
    MAX_HEAD_DIM,
    MAX_HEADS,
    MAX_HIDDEN_DIM,
    MAX_LAYERS,
    MAX_VOCAB,
    frame_rate,
    mel_settings,
    norm_eps,
    read_json,
    read_tekken_audio,
    real,
    rope_theta,
    whole,
)
from model.errors import CheckpointError
from model.mel import MelConfig

# The 2507 models were trained for a 32k-token context (the model card: 30 min of transcription, 40 min of
# understanding); configs advertise 131k positions, which the model has not learned to use.
TRAINED_CONTEXT = 32768


@dataclass(frozen=True)
class WhisperConfig:
    dim: int
    n_layers: int
    n_heads: int
    hidden_dim: int
    n_positions: int  # encoder frames per chunk (1500 = 30 s)
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


@dataclass(frozen=True)
class TextConfig:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_dim: int
    norm_eps: float
    rope_theta: float
    vocab_size: int
    context: int  # positions a prompt plus its reply may use


@dataclass(frozen=True)
class VoxtralConfig:
    mel: MelConfig
    encoder: WhisperConfig
    decoder: TextConfig
    downsample_factor: int
    chunk_seconds: float
    frame_rate: float  # audio tokens per second, as the tokenizer lays out the [AUDIO] placeholders

    @property
    def chunk_samples(self) -> int:
        return int(self.chunk_seconds * self.mel.sample_rate)

    @property
    def tokens_per_chunk(self) -> int:
        return self.encoder.n_positions // self.downsample_factor

    def validate(self) -> None:
        """The relations between the numbers (each was checked alone when it was read)."""
        e, d, m = self.encoder, self.decoder, self.mel
        problems = []
        if e.dim % e.n_heads:
            problems.append(f"encoder dim {e.dim} is not a multiple of its {e.n_heads} heads")
        if d.n_heads % d.n_kv_heads:
            problems.append(f"decoder heads {d.n_heads} is not a multiple of kv heads {d.n_kv_heads}")
        if d.head_dim % 2:
            problems.append("decoder head_dim must be even for rotary embeddings")
        frames = self.chunk_samples // m.hop_length
        if frames != 2 * e.n_positions:
            problems.append(f"a {self.chunk_seconds:g} s chunk has {frames} mel frames, the encoder takes "
                            f"{2 * e.n_positions}")
        if e.n_positions % self.downsample_factor:
            problems.append(f"{e.n_positions} encoder frames do not split into groups of {self.downsample_factor}")
        # The tokenizer gives each token sample_rate // frame_rate samples; the encoder 2 x downsample mel frames.
        per_token = int(m.sample_rate // self.frame_rate) // m.hop_length
        if per_token != 2 * self.downsample_factor:
            problems.append(f"the tokenizer's {per_token} mel frames per audio token do not match the encoder's "
                            f"2 x downsample factor {self.downsample_factor}")
        if problems:
            raise CheckpointError("Inconsistent model configuration: " + "; ".join(problems) + ".")


def _offline_audio(tekken_path: Path) -> tuple[dict, dict]:
    audio, enc_cfg = read_tekken_audio(tekken_path)
    if audio.get("transcription_format") == "streaming":
        raise CheckpointError(
            f"{tekken_path.name} belongs to a streaming (Realtime) model; load it with load_realtime."
        )
    if audio.get("chunk_length_s") is None:
        raise CheckpointError(f"{tekken_path.name}: the audio block has no chunk_length_s.")
    return audio, enc_cfg


def _tekken_parts(tekken_path: Path) -> tuple[MelConfig, float, float]:
    """Mel settings (per-audio floor), chunk length and frame rate from tekken.json's audio block."""
    audio, enc_cfg = _offline_audio(tekken_path)
    where = tekken_path.name
    mel = mel_settings(audio, enc_cfg, where, None)  # None: the per-audio (Whisper) floor
    return mel, real(audio, "chunk_length_s", where, high=MAX_CHUNK_SECONDS), frame_rate(audio, where,
                                                                                       mel.sample_rate)


def _head_dim(cfg: dict, where: str, dim_key: str, heads: int) -> int:
    """``head_dim``, or (when absent or null) the width divided by the heads."""
    if cfg.get("head_dim") is not None:
        return whole(cfg, "head_dim", where, high=MAX_HEAD_DIM)
    dim = whole(cfg, dim_key, where, high=MAX_DIM)
    if dim % heads:
        raise CheckpointError(f"{where} has no head_dim and its width {dim} does not split into {heads} heads.")
    return dim // heads


def _context(value: object, where: str) -> int:
    context = whole({"max_position_embeddings": value}, "max_position_embeddings", where, high=MAX_CONTEXT)
    return min(context, TRAINED_CONTEXT)


def parse_native(params_path: Path, tekken_path: Path) -> VoxtralConfig:
    params = read_json(params_path)
    where = params_path.name
    try:
        whisper = params["multimodal"]["whisper_model_args"]
        enc = whisper["encoder_args"]
        downsample_args = whisper["downsample_args"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{where} has no multimodal audio encoder: it is not a Voxtral checkpoint.") from None
    if not isinstance(enc, dict) or not isinstance(downsample_args, dict):
        raise CheckpointError(f"{where}: its multimodal block is malformed; the file is damaged.")
    if enc.get("causal"):
        raise CheckpointError(f"{where}: the audio encoder is causal: this is a Realtime model; use load_realtime.")
    mel, chunk_seconds, rate = _tekken_parts(tekken_path)
    ew = f"{where} encoder_args"
    n_heads = whole(params, "n_heads", where, high=MAX_HEADS)
    enc_dim, enc_heads = whole(enc, "dim", ew, high=MAX_DIM), whole(enc, "n_heads", ew, high=MAX_HEADS)
    # (A width that does not split into the heads at all is reported by validate.)
    if enc.get("head_dim") is not None and enc_dim % enc_heads == 0 \
            and enc_dim != enc_heads * whole(enc, "head_dim", ew, high=MAX_HEAD_DIM):
        raise CheckpointError(f"{ew}: {enc_heads} heads of {enc['head_dim']} do not make the width {enc_dim}, "
                              "as the Whisper encoder requires.")
    max_positions = params.get("max_seq_len") or params.get("max_position_embeddings") or TRAINED_CONTEXT
    cfg = VoxtralConfig(
        mel=mel,
        encoder=WhisperConfig(
            dim=enc_dim, n_layers=whole(enc, "n_layers", ew, high=MAX_LAYERS), n_heads=enc_heads,
            hidden_dim=whole(enc, "hidden_dim", ew, high=MAX_HIDDEN_DIM),
            n_positions=1500 if enc.get("max_source_positions") is None
            else whole(enc, "max_source_positions", ew, high=MAX_ENCODER_POSITIONS),
            norm_eps=norm_eps(enc, "norm_eps", ew, default=1e-5),
        ),
        decoder=TextConfig(
            dim=whole(params, "dim", where, high=MAX_DIM), n_layers=whole(params, "n_layers", where, high=MAX_LAYERS),
            n_heads=n_heads, n_kv_heads=whole(params, "n_kv_heads", where, high=MAX_HEADS),
            head_dim=_head_dim(params, where, "dim", n_heads),
            hidden_dim=whole(params, "hidden_dim", where, high=MAX_HIDDEN_DIM),
            norm_eps=norm_eps(params, "norm_eps", where), rope_theta=rope_theta(params, where),
            vocab_size=whole(params, "vocab_size", where, high=MAX_VOCAB),
            context=_context(max_positions, where),
        ),
        downsample_factor=whole(downsample_args, "downsample_factor", where, high=MAX_DOWNSAMPLE),
        chunk_seconds=chunk_seconds,
        frame_rate=rate,
    )
    cfg.validate()
    return cfg


def parse_transformers(config_path: Path, tekken_path: Path) -> VoxtralConfig:
    config = read_json(config_path)
    where = config_path.name
    if config.get("model_type") != "voxtral":
        raise CheckpointError(f"{where}: model_type is {config.get('model_type')!r}, expected 'voxtral'.")
    text, enc = config.get("text_config"), config.get("audio_config")
    if not isinstance(text, dict) or not isinstance(enc, dict):
        raise CheckpointError(f"{where} lacks text_config or audio_config.")
    tw, ew = f"{where} text_config", f"{where} audio_config"
    mel, chunk_seconds, rate = _tekken_parts(tekken_path)
    n_heads = whole(text, "num_attention_heads", tw, high=MAX_HEADS)
    cfg = VoxtralConfig(
        mel=mel,
        encoder=WhisperConfig(
            dim=whole(enc, "hidden_size", ew, high=MAX_DIM),
            n_layers=whole(enc, "num_hidden_layers", ew, high=MAX_LAYERS),
            n_heads=whole(enc, "num_attention_heads", ew, high=MAX_HEADS),
            hidden_dim=whole(enc, "intermediate_size", ew, high=MAX_HIDDEN_DIM),
            n_positions=whole(enc, "max_source_positions", ew, high=MAX_ENCODER_POSITIONS),
        ),
        decoder=TextConfig(
            dim=whole(text, "hidden_size", tw, high=MAX_DIM),
            n_layers=whole(text, "num_hidden_layers", tw, high=MAX_LAYERS), n_heads=n_heads,
            n_kv_heads=whole(text, "num_key_value_heads", tw, high=MAX_HEADS),
            head_dim=_head_dim(text, tw, "hidden_size", n_heads),
            hidden_dim=whole(text, "intermediate_size", tw, high=MAX_HIDDEN_DIM),
            norm_eps=norm_eps(text, "rms_norm_eps", tw), rope_theta=rope_theta(text, tw),
            vocab_size=whole(text, "vocab_size", tw, high=MAX_VOCAB),
            context=_context(text.get("max_position_embeddings") or TRAINED_CONTEXT, tw),
        ),
        downsample_factor=4,  # transformers fixes it: the projector takes intermediate_size = 4 x hidden_size
        chunk_seconds=chunk_seconds,
        frame_rate=rate,
    )
    cfg.validate()
    return cfg
