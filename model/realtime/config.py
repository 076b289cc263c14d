"""Voxtral Realtime configuration, read from the checkpoint's own files.

Two on-disk layouts carry the same facts:
- native (Mistral): ``params.json`` plus the ``audio`` block of ``tekken.json``;
- transformers: ``config.json`` (+ ``preprocessor_config.json``) plus the same ``tekken.json``.
Nothing about the model's size is assumed here; every number comes from those files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path.name} is missing from {path.parent}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the file is damaged, download it again.") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object; the file is damaged, download it again.")
    return data


def _get(d: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = (int,)) -> Any:
    if key not in d:
        raise CheckpointError(f"{where} has no '{key}' entry; the configuration is incomplete.")
    value = d[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CheckpointError(f"{where}: '{key}' has the unexpected value {value!r}.")
    return value


_NUM = (int, float)


def read_tekken_audio(tekken_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``audio`` block of tekken.json and its ``audio_encoding_config``."""
    data = _read_json(tekken_path)
    audio = data.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("audio_encoding_config"), dict):
        raise CheckpointError(f"{tekken_path} has no 'audio' block: it is not the tokenizer of an audio model.")
    return audio, audio["audio_encoding_config"]


def _streaming_from_tekken(audio: dict[str, Any], where: str) -> StreamingConfig:
    if audio.get("transcription_format") != "streaming":
        raise CheckpointError(
            f"{where}: transcription_format is {audio.get('transcription_format')!r}, not 'streaming'. "
            "This is not a Voxtral Realtime tokenizer (an offline Voxtral model is loaded with load_voxtral)."
        )
    return StreamingConfig(
        frame_rate=float(_get(audio, "frame_rate", where, _NUM)),
        n_left_pad_tokens=_get(audio, "streaming_n_left_pad_tokens", where),
        default_delay_ms=float(_get(audio, "transcription_delay_ms", where, _NUM)),
    )


def parse_native(params_path: Path, tekken_path: Path) -> RealtimeConfig:
    params = _read_json(params_path)
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
            sample_rate=_get(audio_args, "sampling_rate", ew),
            n_mels=_get(audio_args, "num_mel_bins", ew),
            hop_length=_get(audio_args, "hop_length", ew),
            window_size=_get(audio_args, "window_size", ew),
            global_log_mel_max=_optional_float(audio_args.get("global_log_mel_max"), ew),
        ),
        encoder=EncoderConfig(
            dim=_get(enc, "dim", ew),
            n_layers=_get(enc, "n_layers", ew),
            n_heads=_get(enc, "n_heads", ew),
            head_dim=_get(enc, "head_dim", ew),
            hidden_dim=_get(enc, "hidden_dim", ew),
            norm_eps=float(_get(enc, "norm_eps", ew, _NUM)),
            rope_theta=float(_get(enc, "rope_theta", ew, _NUM)),
            sliding_window=_get(enc, "sliding_window", ew),
        ),
        decoder=DecoderConfig(
            dim=_get(params, "dim", where),
            n_layers=_get(params, "n_layers", where),
            n_heads=_get(params, "n_heads", where),
            n_kv_heads=_get(params, "n_kv_heads", where),
            head_dim=_get(params, "head_dim", where),
            hidden_dim=_get(params, "hidden_dim", where),
            norm_eps=float(_get(params, "norm_eps", where, _NUM)),
            rope_theta=float(_get(params, "rope_theta", where, _NUM)),
            sliding_window=_get(params, "sliding_window", where),
            vocab_size=_get(params, "vocab_size", where),
            ada_dim=_get(params, "ada_rms_norm_t_cond_dim", where),
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


def _optional_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, _NUM) or isinstance(value, bool):
        raise CheckpointError(f"{where}: global_log_mel_max has the unexpected value {value!r}.")
    return float(value)


def _rope_theta(cfg: dict[str, Any], where: str) -> float:
    params = cfg.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:
        return float(_get(params, "rope_theta", where, _NUM))
    return float(_get(cfg, "rope_theta", where, _NUM))


def parse_transformers(config_path: Path, tekken_path: Path, preprocessor_path: Path | None) -> RealtimeConfig:
    config = _read_json(config_path)
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
        pre = _read_json(preprocessor_path)
        gmax = _optional_float(pre.get("global_log_mel_max", gmax), preprocessor_path.name)
    n_heads = _get(enc, "num_attention_heads", ew)
    cfg = RealtimeConfig(
        mel=MelConfig(
            sample_rate=_get(audio, "sampling_rate", tekken_path.name),
            n_mels=_get(enc, "num_mel_bins", ew),
            hop_length=_get(enc_cfg, "hop_length", tekken_path.name),
            window_size=_get(enc_cfg, "window_size", tekken_path.name),
            global_log_mel_max=gmax,
        ),
        encoder=EncoderConfig(
            dim=_get(enc, "hidden_size", ew),
            n_layers=_get(enc, "num_hidden_layers", ew),
            n_heads=n_heads,
            head_dim=enc.get("head_dim") or _get(enc, "hidden_size", ew) // n_heads,
            hidden_dim=_get(enc, "intermediate_size", ew),
            norm_eps=float(_get(enc, "rms_norm_eps", ew, _NUM)),
            rope_theta=_rope_theta(enc, ew),
            sliding_window=_get(enc, "sliding_window", ew),
        ),
        decoder=DecoderConfig(
            dim=_get(text, "hidden_size", tw),
            n_layers=_get(text, "num_hidden_layers", tw),
            n_heads=_get(text, "num_attention_heads", tw),
            n_kv_heads=_get(text, "num_key_value_heads", tw),
            head_dim=text.get("head_dim") or _get(text, "hidden_size", tw) // _get(text, "num_attention_heads", tw),
            hidden_dim=_get(text, "intermediate_size", tw),
            norm_eps=float(_get(text, "rms_norm_eps", tw, _NUM)),
            rope_theta=_rope_theta(text, tw),
            sliding_window=_get(text, "sliding_window", tw),
            vocab_size=_get(text, "vocab_size", tw),
            ada_dim=32,  # transformers fixes the delay-MLP width at 32; the weights' shapes are checked on load
        ),
        streaming=_streaming_from_tekken(audio, tekken_path.name),
        downsample_factor=_get(config, "downsample_factor", where),
    )
    cfg.validate()
    return cfg
