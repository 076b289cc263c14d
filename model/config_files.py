"""Reading checkpoint configuration files, with one clear error for whatever is missing or malformed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model.errors import CheckpointError
from model.mel import MelConfig

NUMBER = (int, float)


def read_json(path: Path) -> dict[str, Any]:
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


def require(d: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = (int,)) -> Any:
    if key not in d:
        raise CheckpointError(f"{where} has no '{key}' entry; the configuration is incomplete.")
    value = d[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CheckpointError(f"{where}: '{key}' has the unexpected value {value!r}.")
    return value


def read_tekken_audio(tekken_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``audio`` block of tekken.json and its ``audio_encoding_config``."""
    data = read_json(tekken_path)
    audio = data.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("audio_encoding_config"), dict):
        raise CheckpointError(f"{tekken_path} has no 'audio' block: it is not the tokenizer of an audio model.")
    return audio, audio["audio_encoding_config"]


def optional_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, NUMBER) or isinstance(value, bool):
        raise CheckpointError(f"{where}: global_log_mel_max has the unexpected value {value!r}.")
    return float(value)


def rope_theta(cfg: dict[str, Any], where: str) -> float:
    params = cfg.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:
        return float(require(params, "rope_theta", where, NUMBER))
    return float(require(cfg, "rope_theta", where, NUMBER))


def tekken_mel(audio: dict[str, Any], encoding: dict[str, Any], where: str, global_max: float | None) -> MelConfig:
    """The log-mel settings of tekken.json's audio block."""
    return MelConfig(
        sample_rate=require(audio, "sampling_rate", where), n_mels=require(encoding, "num_mel_bins", where),
        hop_length=require(encoding, "hop_length", where), window_size=require(encoding, "window_size", where),
        global_log_mel_max=global_max,
    )
