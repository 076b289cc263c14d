"""Voxtral (offline) configuration, read from the checkpoint's own files.

Native layout: ``params.json`` + ``tekken.json``; transformers layout: ``config.json`` + ``tekken.json``. The sizes
of Voxtral Mini 3B and Small 24B both come from these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.config_files import NUMBER, read_json, read_tekken_audio, require, rope_theta, tekken_mel
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

    @property
    def chunk_samples(self) -> int:
        return int(self.chunk_seconds * self.mel.sample_rate)

    @property
    def tokens_per_chunk(self) -> int:
        return self.encoder.n_positions // self.downsample_factor

    def validate(self) -> None:
        e, d = self.encoder, self.decoder
        problems = []
        if e.dim % e.n_heads:
            problems.append(f"encoder dim {e.dim} is not a multiple of its {e.n_heads} heads")
        if d.n_heads % d.n_kv_heads:
            problems.append(f"decoder heads {d.n_heads} is not a multiple of kv heads {d.n_kv_heads}")
        if d.head_dim % 2:
            problems.append("decoder head_dim must be even for rotary embeddings")
        frames = self.chunk_samples // self.mel.hop_length
        if frames != 2 * e.n_positions:
            problems.append(f"a {self.chunk_seconds:g} s chunk has {frames} mel frames, the encoder takes "
                            f"{2 * e.n_positions}")
        if e.n_positions % self.downsample_factor:
            problems.append(f"{e.n_positions} encoder frames do not split into groups of {self.downsample_factor}")
        if problems:
            raise CheckpointError("Inconsistent model configuration: " + "; ".join(problems) + ".")


def _offline_audio(tekken_path: Path) -> tuple[dict, dict]:
    audio, enc_cfg = read_tekken_audio(tekken_path)
    if audio.get("transcription_format") == "streaming":
        raise CheckpointError(
            f"{tekken_path.name} belongs to a streaming (Realtime) model; load it with load_realtime."
        )
    if not isinstance(audio.get("chunk_length_s"), NUMBER):
        raise CheckpointError(f"{tekken_path.name}: the audio block has no chunk_length_s.")
    return audio, enc_cfg


def parse_native(params_path: Path, tekken_path: Path) -> VoxtralConfig:
    params = read_json(params_path)
    where = params_path.name
    try:
        whisper = params["multimodal"]["whisper_model_args"]
        enc = whisper["encoder_args"]
        downsample = whisper["downsample_args"]["downsample_factor"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{where} has no multimodal audio encoder: it is not a Voxtral checkpoint.") from None
    if enc.get("causal"):
        raise CheckpointError(f"{where}: the audio encoder is causal: this is a Realtime model; use load_realtime.")
    audio, enc_cfg = _offline_audio(tekken_path)
    ew = f"{where} encoder_args"
    n_heads = require(params, "n_heads", where)
    max_positions = params.get("max_seq_len") or params.get("max_position_embeddings") or TRAINED_CONTEXT
    cfg = VoxtralConfig(
        mel=tekken_mel(audio, enc_cfg, tekken_path.name, None),  # None: the per-audio (Whisper) floor
        encoder=WhisperConfig(
            dim=require(enc, "dim", ew), n_layers=require(enc, "n_layers", ew), n_heads=require(enc, "n_heads", ew),
            hidden_dim=require(enc, "hidden_dim", ew), n_positions=enc.get("max_source_positions") or 1500,
            norm_eps=float(enc.get("norm_eps", 1e-5)),
        ),
        decoder=TextConfig(
            dim=require(params, "dim", where), n_layers=require(params, "n_layers", where), n_heads=n_heads,
            n_kv_heads=require(params, "n_kv_heads", where),
            head_dim=params.get("head_dim") or require(params, "dim", where) // n_heads,
            hidden_dim=require(params, "hidden_dim", where),
            norm_eps=float(require(params, "norm_eps", where, NUMBER)),
            rope_theta=float(require(params, "rope_theta", where, NUMBER)),
            vocab_size=require(params, "vocab_size", where),
            context=min(int(max_positions), TRAINED_CONTEXT),
        ),
        downsample_factor=downsample,
        chunk_seconds=float(audio["chunk_length_s"]),
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
    audio, enc_cfg = _offline_audio(tekken_path)
    n_heads = require(text, "num_attention_heads", tw)
    cfg = VoxtralConfig(
        mel=tekken_mel(audio, enc_cfg, tekken_path.name, None),
        encoder=WhisperConfig(
            dim=require(enc, "hidden_size", ew), n_layers=require(enc, "num_hidden_layers", ew),
            n_heads=require(enc, "num_attention_heads", ew), hidden_dim=require(enc, "intermediate_size", ew),
            n_positions=require(enc, "max_source_positions", ew),
        ),
        decoder=TextConfig(
            dim=require(text, "hidden_size", tw), n_layers=require(text, "num_hidden_layers", tw), n_heads=n_heads,
            n_kv_heads=require(text, "num_key_value_heads", tw),
            head_dim=text.get("head_dim") or require(text, "hidden_size", tw) // n_heads,
            hidden_dim=require(text, "intermediate_size", tw),
            norm_eps=float(require(text, "rms_norm_eps", tw, NUMBER)),
            rope_theta=rope_theta(text, tw), vocab_size=require(text, "vocab_size", tw),
            context=min(int(text.get("max_position_embeddings") or TRAINED_CONTEXT), TRAINED_CONTEXT),
        ),
        downsample_factor=4,  # transformers fixes it: the projector takes intermediate_size = 4 x hidden_size
        chunk_seconds=float(audio["chunk_length_s"]),
    )
    cfg.validate()
    return cfg
