"""Reading checkpoint configuration files, with one clear error for whatever is missing, malformed or absurd.

Every number a configuration gives is checked here before anything is sized by it: a whole number where one is meant
(``true`` is not a number), a finite float where a float is meant, and within the generous bounds below.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from model.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from model.errors import CheckpointError
from model.mel import MelConfig
from model.tokenizer import check_tekken

# Upper bounds on what a configuration may ask for. The largest model of the family, Voxtral Small 24B, has dim
# 5120, hidden_dim 32768, 40 layers, 32 heads of 128 and a 131072-token vocabulary; Voxtral Mini 4B Realtime has
# sliding windows of 8192 and 750 and 128 mel bins over 400-sample windows. The bounds leave several times that
# room, and refuse only numbers no real checkpoint holds (a damaged file), before any allocation depends on them.
MAX_DIM = 65536
MAX_HIDDEN_DIM = 262144
MAX_LAYERS = 512
MAX_HEADS = 1024
MAX_HEAD_DIM = 2048
MAX_VOCAB = 2**21  # 16 x 131072
MAX_SLIDING_WINDOW = 2**17  # the realtime model's own model_max_length
MAX_CONTEXT = 2**24  # advertised context; the Voxtral decoder only uses up to its trained 32k
MAX_ENCODER_POSITIONS = 2**15  # encoder frames of one Whisper chunk: 1500 in the real models
MAX_DOWNSAMPLE = 64  # encoder frames per audio token: 4
MAX_MEL_BINS = 1024
MAX_WINDOW_SAMPLES = 2**16  # STFT window: 400 samples
MAX_LEFT_PAD_TOKENS = 1024  # silent positions before a stream: 32
MAX_CHUNK_SECONDS = 3600.0  # Whisper chunk: 30 s
MAX_ROPE_THETA = 1e12  # 1e6 and 1e8 in the real models
MAX_NORM_EPS = 1.0  # 1e-5
MAX_LOG_MEL = 100.0  # |global_log_mel_max|: 1.5 (a log10 power)
MAX_CONFIG_BYTES = 16 * 2**20  # params.json / config.json: a few kB
MAX_TEKKEN_BYTES = 256 * 2**20  # tekken.json: about 15 MB

_DAMAGED = "the file is damaged (download the model again) or does not describe a model this program supports"


def read_json(path: Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CheckpointError(
                f"{path} is {size:,} bytes long, far more than such a file ever holds ({max_bytes:,} at most); "
                "the file is damaged, download it again."
            )
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path.name} is missing from {path.parent}.") from None
    except OSError as exc:
        raise CheckpointError(f"Cannot read {path}: {exc.strerror}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the file is damaged, download it again.") from None
    except (ValueError, RecursionError):  # an integer too long to convert, nesting too deep to parse
        raise CheckpointError(
            f"{path} is not valid JSON (a number far too long or nesting far too deep); the file is damaged, "
            "download it again."
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object; the file is damaged, download it again.")
    return data


_MISSING = object()


def _entry(d: dict[str, Any], key: str, where: str, default: Any) -> Any:
    if key in d:
        return d[key]
    if default is _MISSING:
        raise CheckpointError(f"{where} has no '{key}' entry; the configuration is incomplete.")
    return default


def whole(d: dict[str, Any], key: str, where: str, *, high: int, low: int = 1, default: Any = _MISSING) -> int:
    """``d[key]`` as an int in [low, high] (or ``default`` when absent); anything else is a CheckpointError."""
    value = _entry(d, key, where, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CheckpointError(
            f"{where}: '{key}' must be a whole number from {low:,} to {high:,}, not {_short(value)}; {_DAMAGED}."
        )
    return value


def real(d: dict[str, Any], key: str, where: str, *, high: float, low: float = 0.0, default: Any = _MISSING,
         ) -> float:
    """``d[key]`` as a finite float in (low, high] (or ``default`` when absent); NaN, infinities are refused."""
    value = _entry(d, key, where, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        # NaN fails every comparison, and 1e999 parses as infinity: both land here.
        raise CheckpointError(
            f"{where}: '{key}' must be a finite number above {low:g} and at most {high:g}, not {_short(value)}; "
            f"{_DAMAGED}."
        )
    return float(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def optional_log_mel_max(d: dict[str, Any], key: str, where: str, default: float | None) -> float | None:
    """A fixed log-mel maximum, or None (the per-audio dynamic maximum)."""
    value = d.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or abs(value) > MAX_LOG_MEL:
        raise CheckpointError(f"{where}: '{key}' has the unexpected value {_short(value)}; {_DAMAGED}.")
    return float(value)


def read_tekken_audio(tekken_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``audio`` block of tekken.json and its ``audio_encoding_config``, after checking the whole tokenizer."""
    data = read_json(tekken_path, max_bytes=MAX_TEKKEN_BYTES)
    audio = data.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("audio_encoding_config"), dict):
        raise CheckpointError(f"{tekken_path} has no 'audio' block: it is not the tokenizer of an audio model.")
    check_tekken(data, tekken_path, max_vocab=MAX_VOCAB)
    return audio, audio["audio_encoding_config"]


def rope_theta(cfg: dict[str, Any], where: str) -> float:
    params = cfg.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:
        return real(params, "rope_theta", f"{where} rope_parameters", high=MAX_ROPE_THETA)
    return real(cfg, "rope_theta", where, high=MAX_ROPE_THETA)


def norm_eps(cfg: dict[str, Any], key: str, where: str, default: Any = _MISSING) -> float:
    return real(cfg, key, where, high=MAX_NORM_EPS, default=default)


def mel_settings(audio: dict[str, Any], encoding: dict[str, Any], where: str, global_max: float | None) -> MelConfig:
    """Log-mel settings: ``sampling_rate`` from ``audio``, the STFT and filter sizes from ``encoding``."""
    rate = whole(audio, "sampling_rate", where, low=MIN_SAMPLE_RATE, high=MAX_SAMPLE_RATE)
    window = whole(encoding, "window_size", where, low=2, high=min(MAX_WINDOW_SAMPLES, rate))
    return MelConfig(
        sample_rate=rate,
        n_mels=whole(encoding, "num_mel_bins", where, high=MAX_MEL_BINS),
        hop_length=whole(encoding, "hop_length", where, high=window),
        window_size=window,
        global_log_mel_max=global_max,
    )


def frame_rate(audio: dict[str, Any], where: str, sample_rate: int) -> float:
    """Audio tokens per second; one token must span a whole number of samples."""
    rate = real(audio, "frame_rate", where, high=float(sample_rate))
    if sample_rate // rate * rate != sample_rate:  # exactly, as mistral-common sizes tokens by sample_rate // rate
        raise CheckpointError(
            f"{where}: frame_rate {rate:g} does not divide the sample rate {sample_rate} into whole samples per "
            f"token; {_DAMAGED}."
        )
    return rate


def check_same_audio(tekken_audio: dict[str, Any], tekken_encoding: dict[str, Any], mel: MelConfig,
                     rate: float, where: str) -> None:
    """The tokenizer's audio block must agree with the model's own audio settings (the prompts follow it)."""
    ours = {"sampling_rate": mel.sample_rate, "frame_rate": rate, "num_mel_bins": mel.n_mels,
            "hop_length": mel.hop_length, "window_size": mel.window_size}
    theirs = {k: tekken_audio.get(k) for k in ("sampling_rate", "frame_rate")}
    theirs.update({k: tekken_encoding.get(k) for k in ("num_mel_bins", "hop_length", "window_size")})
    for key, value in theirs.items():
        if value is not None and value != ours[key]:
            raise CheckpointError(
                f"tekken.json says {key} = {_short(value)} but {where} says {ours[key]!r}: the tokenizer and the "
                "model's configuration do not belong together."
            )
