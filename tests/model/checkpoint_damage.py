"""Damaged checkpoints, made for real: tiny valid checkpoints written by the fixtures, then broken by editing their
JSON files, rewriting safetensors headers or writing NaN into tensors. Shared by the loader tests and the CLI tests.

Each ``Damage`` names the checkpoint it starts from (model and layout), how it breaks it, and the message a loader
must refuse it with.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from model.bench.tekken import NUM_SPECIAL_TOKENS

REALTIME, VOXTRAL = "realtime", "voxtral"
NATIVE, HF = "native", "hf"
BIG = "__1e999__"  # written into JSON as the literal 1e999, which parses as infinity


def write_bases(root: Path) -> dict[tuple[str, str], Path]:
    """The four tiny valid checkpoints every damage starts from."""
    from tests.fixtures import realtime_checkpoint as rt
    from tests.fixtures import voxtral_checkpoint as vx

    realtime = rt.make_reference(rt.RealtimeDims(), seed=0)
    voxtral = vx.make_reference(vx.VoxtralDims(), seed=0)
    return {
        (REALTIME, NATIVE): rt.write_native(realtime, root / "realtime-native"),
        (REALTIME, HF): rt.write_hf(realtime, root / "realtime-hf"),
        (VOXTRAL, NATIVE): vx.write_native(voxtral, root / "voxtral-native"),
        (VOXTRAL, HF): vx.write_hf(voxtral, root / "voxtral-hf", shards=2),
    }


# ----------------------------------------------------------------------------------------------------------------
# Ways to break files


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data).replace(f'"{BIG}"', "1e999"), encoding="utf-8")


def _setter(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


def _deleter(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]

    return change


ENCODER_ARGS = ("multimodal", "whisper_model_args", "encoder_args")
AUDIO_ARGS = (*ENCODER_ARGS, "audio_encoding_args")


def weight_file(folder: Path) -> Path:
    """The (first) weights file of a checkpoint folder."""
    native = folder / "consolidated.safetensors"
    return native if native.exists() else sorted(folder.glob("model*.safetensors"))[0]


def read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write_header(path: Path, header: Any, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def edit_header(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = weight_file(folder)
        header, data = read_header(path)
        change(header)
        write_header(path, header, data)

    return apply


def _by_offset(header: dict[str, Any]) -> list[str]:
    return sorted((n for n in header if n != "__metadata__"), key=lambda n: header[n]["data_offsets"])


def _overlap(header: dict[str, Any]) -> None:
    second = header[_by_offset(header)[1]]
    second["data_offsets"] = [o - 4 for o in second["data_offsets"]]  # now shares 4 bytes with the first


def _gap(header: dict[str, Any]) -> None:
    last = header[_by_offset(header)[-1]]
    last["data_offsets"] = [o + 4 for o in last["data_offsets"]]


def _beyond(header: dict[str, Any]) -> None:
    last = header[_by_offset(header)[-1]]
    last["shape"] = [last["shape"][0] + 1000, *last["shape"][1:]]
    rows = 1
    for d in last["shape"][1:]:
        rows *= d
    last["data_offsets"][1] += 1000 * rows * 4


def _negative_dim(header: dict[str, Any]) -> None:
    header[_by_offset(header)[0]]["shape"][0] = -1


def _bool_dim(header: dict[str, Any]) -> None:
    header[_by_offset(header)[0]]["shape"] = [True]


def _absurd_length(folder: Path) -> None:
    path = weight_file(folder)
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**62) + data[8:])


def _not_an_object(folder: Path) -> None:
    path = weight_file(folder)
    _, data = read_header(path)
    write_header(path, [1, 2, 3], data)


def _deeply_nested(folder: Path) -> None:
    path = weight_file(folder)
    _, data = read_header(path)
    text = b"[" * 200_000 + b"]" * 200_000
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def _trailing_bytes(folder: Path) -> None:
    with open(weight_file(folder), "ab") as f:
        f.write(b"\0" * 64)


def tensors(change: Callable[[dict[str, torch.Tensor]], None], file: str | None = None) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / file if file else weight_file(folder)
        values = load_file(str(path))
        change(values)
        save_file(values, str(path))

    return apply


def poke(name: str, value: float) -> Callable[[dict[str, torch.Tensor]], None]:
    def change(values: dict[str, torch.Tensor]) -> None:
        t = values[name].clone()
        t.view(-1)[t.numel() // 2] = value
        values[name] = t

    return change


def retype(name: str, dtype: torch.dtype) -> Callable[[dict[str, torch.Tensor]], None]:
    def change(values: dict[str, torch.Tensor]) -> None:
        values[name] = torch.zeros(values[name].shape, dtype=dtype)

    return change


def json_of(file: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda folder: edit_json(folder / file, change)


def text_of(file: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / file).write_text(text)


def _short_vocab(data: dict[str, Any]) -> None:
    data["vocab"] = data["vocab"][:100]


def _bad_vocab_entry(data: dict[str, Any]) -> None:
    data["vocab"][300]["rank"] = 7


def _repeated_special(data: dict[str, Any]) -> None:
    data["special_tokens"][5]["token_str"] = data["special_tokens"][4]["token_str"]


def _no_eos(data: dict[str, Any]) -> None:
    data["special_tokens"][2]["token_str"] = "<not eos>"


def _huge_ring(data: dict[str, Any]) -> None:
    data.update(sliding_window=2**17, n_layers=512)  # 512 layers x 2 kv heads x 131072 x 16: 4.3e9 keys+values


def _ceiling(data: dict[str, Any]) -> None:
    data.update(dim=65536, hidden_dim=262144, n_layers=512)


# ----------------------------------------------------------------------------------------------------------------
# The damages


@dataclass(frozen=True)
class Damage:
    id: str
    model: str
    layout: str
    apply: Callable[[Path], None]
    pattern: str  # regex the CheckpointError message must match


def _params(model: str, *keys: str, value: Any, pattern: str, id: str) -> Damage:
    return Damage(id, model, NATIVE, json_of("params.json", _setter(*keys, value=value)), pattern)


def _config(model: str, *keys: str, value: Any, pattern: str, id: str) -> Damage:
    return Damage(id, model, HF, json_of("config.json", _setter(*keys, value=value)), pattern)


def _tekken(model: str, layout: str, change: Callable[[dict[str, Any]], None], pattern: str, id: str) -> Damage:
    return Damage(id, model, layout, json_of("tekken.json", change), pattern)


WHOLE = "must be a whole number from"
FINITE = "must be a finite number above"
RT_EMBED = "mm_streams_embeddings.embedding_module.tok_embeddings.weight"

DAMAGES: list[Damage] = [
    # --- realtime, params.json
    _params(REALTIME, "sliding_window", value=2**40, pattern=f"'sliding_window' {WHOLE} 1 to 131,072", id="rt-window"),
    _params(REALTIME, "vocab_size", value=10**12, pattern=f"'vocab_size' {WHOLE}", id="rt-vocab"),
    _params(REALTIME, "dim", value=10**9, pattern=f"'dim' {WHOLE} 1 to 65,536", id="rt-dim"),
    _params(REALTIME, "n_layers", value=10**6, pattern=f"'n_layers' {WHOLE}", id="rt-layers"),
    _params(REALTIME, "n_heads", value=True, pattern=f"'n_heads' {WHOLE}.*not True", id="rt-bool-heads"),
    _params(REALTIME, "head_dim", value=16.0, pattern=f"'head_dim' {WHOLE}.*not 16.0", id="rt-float-head-dim"),
    _params(REALTIME, "n_kv_heads", value=0, pattern=f"'n_kv_heads' {WHOLE}", id="rt-zero-kv"),
    _params(REALTIME, "n_kv_heads", value=3, pattern="heads 4 is not a multiple of kv heads 3", id="rt-kv-divide"),
    _params(REALTIME, "head_dim", value=15, pattern="head_dim must be even", id="rt-odd-head-dim"),
    _params(REALTIME, "norm_eps", value=float("nan"), pattern=f"'norm_eps' {FINITE}.*not nan", id="rt-eps-nan"),
    _params(REALTIME, "norm_eps", value=-1e-5, pattern=f"'norm_eps' {FINITE}", id="rt-eps-negative"),
    _params(REALTIME, "norm_eps", value="1e-5", pattern=f"'norm_eps' {FINITE}", id="rt-eps-string"),
    _params(REALTIME, "rope_theta", value=BIG, pattern=f"'rope_theta' {FINITE}.*not inf", id="rt-theta-1e999"),
    _params(REALTIME, "rope_theta", value=float("-inf"), pattern=f"'rope_theta' {FINITE}", id="rt-theta-neg-inf"),
    _params(REALTIME, "ada_rms_norm_t_cond_dim", value=10**9, pattern=f"'ada_rms_norm_t_cond_dim' {WHOLE}",
            id="rt-ada"),
    _params(REALTIME, *ENCODER_ARGS, "sliding_window", value=2**40, pattern=f"encoder_args: 'sliding_window' {WHOLE}",
            id="rt-enc-window"),
    _params(REALTIME, *ENCODER_ARGS, "rope_theta", value=float("nan"), pattern=f"encoder_args: 'rope_theta' {FINITE}",
            id="rt-enc-theta"),
    _params(REALTIME, *ENCODER_ARGS, "n_kv_heads", value=2, pattern="grouped-query attention", id="rt-enc-gqa"),
    _params(REALTIME, *AUDIO_ARGS, "hop_length", value=0, pattern=f"'hop_length' {WHOLE}", id="rt-hop-zero"),
    _params(REALTIME, *AUDIO_ARGS, "window_size", value=10**9, pattern=f"'window_size' {WHOLE}", id="rt-window-size"),
    _params(REALTIME, *AUDIO_ARGS, "sampling_rate", value=10**12, pattern=f"'sampling_rate' {WHOLE} 1,000",
            id="rt-rate"),
    _params(REALTIME, *AUDIO_ARGS, "num_mel_bins", value=True, pattern=f"'num_mel_bins' {WHOLE}", id="rt-mels-bool"),
    _params(REALTIME, *AUDIO_ARGS, "global_log_mel_max", value=float("nan"), pattern="'global_log_mel_max'",
            id="rt-mel-max"),
    _params(REALTIME, *AUDIO_ARGS, "num_mel_bins", value=80, pattern="tekken.json says num_mel_bins = 128",
            id="rt-mels-disagree"),
    _params(REALTIME, "multimodal", "whisper_model_args", "downsample_args", "downsample_factor", value=3,
            pattern="8 mel frames per token does not match 2 x downsample factor 3", id="rt-downsample"),
    Damage("rt-ring", REALTIME, NATIVE, json_of("params.json", _huge_ring),
           "[0-9,]+ cached keys and values per stream, more than the 4,294,967,296"),
    Damage("rt-vocab-vs-file", REALTIME, NATIVE, json_of("params.json", _setter("vocab_size", value=2**21)),
           "describes a model of [0-9,]+ weights .* but the weight files hold only [0-9,]+ bytes"),
    Damage("rt-ceiling", REALTIME, NATIVE, json_of("params.json", _ceiling),
           "more than the 100,000,000,000 this program can load"),
    Damage("rt-huge-int", REALTIME, NATIVE, text_of("params.json", '{"dim": ' + "9" * 5000 + "}"),
           "params.json is not valid JSON"),
    Damage("rt-deep-json", REALTIME, NATIVE, text_of("params.json", "[" * 100_000 + "]" * 100_000),
           "params.json is not valid JSON"),
    # --- realtime, tekken.json (audio block and tokenizer)
    _tekken(REALTIME, NATIVE, _setter("audio", "frame_rate", value=0), f"'frame_rate' {FINITE}", "rt-frame-rate"),
    _tekken(REALTIME, NATIVE, _setter("audio", "frame_rate", value=12.3),
            "frame_rate 12.3 does not divide the sample rate", "rt-frame-rate-grid"),
    _tekken(REALTIME, NATIVE, _setter("audio", "streaming_n_left_pad_tokens", value=10**9),
            f"'streaming_n_left_pad_tokens' {WHOLE} 0 to 1,024", "rt-left-pad"),
    _tekken(REALTIME, HF, _setter("audio", "transcription_delay_ms", value=500),
            "default delay of 500 ms is not a multiple of 80 ms", "rt-delay-grid"),
    _tekken(REALTIME, HF, _setter("audio", "transcription_delay_ms", value=float("nan")),
            f"'transcription_delay_ms' {FINITE}", "rt-delay-nan"),
    _tekken(REALTIME, NATIVE, _setter("config", "default_vocab_size", value=10**12),
            "'default_vocab_size' must be a whole number from 1 to 2,097,152", "tekken-vocab"),
    _tekken(REALTIME, NATIVE, _setter("config", "default_num_special_tokens", value=10**12),
            "'default_num_special_tokens' must be a whole number", "tekken-specials"),
    _tekken(REALTIME, NATIVE, _setter("config", "default_num_special_tokens", value=NUM_SPECIAL_TOKENS + 400),
            "leave no room for text", "tekken-specials-fill-vocab"),
    _tekken(REALTIME, NATIVE, _short_vocab, "declares 400 text tokens but its vocabulary holds 100",
            "tekken-short-vocab"),
    _tekken(REALTIME, NATIVE, _bad_vocab_entry, "vocabulary entry 300 is malformed", "tekken-vocab-entry"),
    _tekken(REALTIME, NATIVE, _repeated_special, "special token 5 is malformed or repeated", "tekken-repeated"),
    _tekken(REALTIME, NATIVE, _no_eos, "lacks the </s> token", "tekken-no-eos"),
    _tekken(REALTIME, NATIVE, _setter("special_tokens", value={"0": "<unk>"}), "'special_tokens' must be a list",
            "tekken-specials-dict"),
    _tekken(REALTIME, NATIVE, _deleter("config"), "has no 'config' block", "tekken-no-config"),
    # --- realtime, config.json (transformers)
    _config(REALTIME, "text_config", "sliding_window", value=2**40, pattern=f"text_config: 'sliding_window' {WHOLE}",
            id="rt-hf-window"),
    _config(REALTIME, "text_config", "vocab_size", value=10**12, pattern=f"text_config: 'vocab_size' {WHOLE}",
            id="rt-hf-vocab"),
    _config(REALTIME, "text_config", "num_hidden_layers", value=10**6, pattern=f"'num_hidden_layers' {WHOLE}",
            id="rt-hf-layers"),
    _config(REALTIME, "audio_config", "hidden_size", value=10**9, pattern=f"audio_config: 'hidden_size' {WHOLE}",
            id="rt-hf-enc-dim"),
    _config(REALTIME, "text_config", "rms_norm_eps", value=float("inf"), pattern=f"'rms_norm_eps' {FINITE}",
            id="rt-hf-eps"),
    _config(REALTIME, "text_config", "rope_parameters", "rope_theta", value=float("nan"),
            pattern=f"rope_parameters: 'rope_theta' {FINITE}", id="rt-hf-theta"),
    _config(REALTIME, "text_config", "head_dim", value=None, pattern="head_dim must be even|has shape",
            id="rt-hf-head-dim-null"),
    _config(REALTIME, "downsample_factor", value=10**9, pattern=f"'downsample_factor' {WHOLE}", id="rt-hf-downsample"),
    Damage("rt-hf-mel-max", REALTIME, HF, json_of("preprocessor_config.json",
                                                  _setter("global_log_mel_max", value="loud")),
           "'global_log_mel_max' has the unexpected value 'loud'"),
    # --- voxtral, params.json
    _params(VOXTRAL, "dim", value=10**9, pattern=f"'dim' {WHOLE}", id="vx-dim"),
    _params(VOXTRAL, "n_layers", value=10**6, pattern=f"'n_layers' {WHOLE}", id="vx-layers"),
    _params(VOXTRAL, "vocab_size", value=10**12, pattern=f"'vocab_size' {WHOLE}", id="vx-vocab"),
    _params(VOXTRAL, "norm_eps", value=float("nan"), pattern=f"'norm_eps' {FINITE}", id="vx-eps"),
    _params(VOXTRAL, "rope_theta", value=-1.0, pattern=f"'rope_theta' {FINITE}", id="vx-theta"),
    _params(VOXTRAL, "max_position_embeddings", value=10**30, pattern=f"'max_position_embeddings' {WHOLE}",
            id="vx-context"),
    _params(VOXTRAL, *ENCODER_ARGS, "max_source_positions", value=2**40, pattern=f"'max_source_positions' {WHOLE}",
            id="vx-positions"),
    _params(VOXTRAL, *ENCODER_ARGS, "head_dim", value=16, pattern="4 heads of 16 do not make the width 32",
            id="vx-enc-head-dim"),
    _params(VOXTRAL, *ENCODER_ARGS, "norm_eps", value=BIG, pattern=f"encoder_args: 'norm_eps' {FINITE}",
            id="vx-enc-eps"),
    Damage("vx-vocab-vs-file", VOXTRAL, NATIVE, json_of("params.json", _setter("vocab_size", value=2**21)),
           "but the weight files hold only"),
    # --- voxtral, tekken.json
    _tekken(VOXTRAL, NATIVE, _setter("audio", "chunk_length_s", value=BIG), f"'chunk_length_s' {FINITE}",
            "vx-chunk-inf"),
    _tekken(VOXTRAL, HF, _setter("audio", "chunk_length_s", value=float("nan")), f"'chunk_length_s' {FINITE}",
            "vx-chunk-nan"),
    _tekken(VOXTRAL, NATIVE, _setter("audio", "chunk_length_s", value=20.0),
            "a 20 s chunk has 2000 mel frames, the encoder takes 3000", "vx-chunk-frames"),
    _tekken(VOXTRAL, NATIVE, _setter("audio", "frame_rate", value=25.0),
            "tokenizer's 4 mel frames per audio token do not match", "vx-frame-rate"),
    _tekken(VOXTRAL, HF, _setter("audio", "audio_encoding_config", "hop_length", value=-160),
            f"'hop_length' {WHOLE}", "vx-hop"),
    _tekken(VOXTRAL, NATIVE, _setter("config", "default_vocab_size", value=True), "'default_vocab_size' must be",
            "vx-tekken-vocab"),
    # --- voxtral, config.json
    _config(VOXTRAL, "text_config", "vocab_size", value=10**12, pattern=f"'vocab_size' {WHOLE}", id="vx-hf-vocab"),
    _config(VOXTRAL, "text_config", "max_position_embeddings", value=-5, pattern=f"'max_position_embeddings' {WHOLE}",
            id="vx-hf-context"),
    _config(VOXTRAL, "text_config", "rms_norm_eps", value=float("inf"), pattern=f"'rms_norm_eps' {FINITE}",
            id="vx-hf-eps"),
    _config(VOXTRAL, "audio_config", "max_source_positions", value=1.5e3, pattern=f"'max_source_positions' {WHOLE}",
            id="vx-hf-positions"),
    Damage("vx-hf-index-path", VOXTRAL, HF, json_of("model.safetensors.index.json", lambda d: d["weight_map"].update(
        {k: "../elsewhere.safetensors" for k in list(d["weight_map"])[:1]})), "names no usable shard files"),
    # --- tensors
    Damage("nan-view", REALTIME, NATIVE, tensors(poke("norm.weight", float("nan"))),
           "Tensor 'norm.weight' contains NaN or infinite values"),
    Damage("inf-fused", REALTIME, NATIVE, tensors(poke("layers.1.attention.wq.weight", float("inf"))),
           "Tensor 'layers.1.attention.wq.weight' contains NaN or infinite values"),
    Damage("nan-input-major", REALTIME, NATIVE, tensors(poke(RT_EMBED, float("nan"))),
           f"Tensor '{RT_EMBED}' contains NaN"),
    Damage("nan-hf-permuted", REALTIME, HF, tensors(poke("language_model.model.layers.0.self_attn.k_proj.weight",
                                                         float("-inf"))),
           "Tensor 'language_model.model.layers.0.self_attn.k_proj.weight' contains NaN or infinite"),
    Damage("nan-voxtral", VOXTRAL, NATIVE, tensors(poke("output.weight", float("nan"))),
           "Tensor 'output.weight' contains NaN"),
    Damage("int8-weight", REALTIME, NATIVE, tensors(retype("norm.weight", torch.int8)),
           "Tensor 'norm.weight' is stored as int8, but weights are floating-point"),
    Damage("bool-weight", VOXTRAL, NATIVE, tensors(retype("norm.weight", torch.bool)),
           "Tensor 'norm.weight' is stored as bool"),
    Damage("int64-weight", REALTIME, HF, tensors(retype("language_model.model.norm.weight", torch.int64)),
           "is stored as int64"),
    # --- safetensors headers
    Damage("header-overlap", REALTIME, NATIVE, edit_header(_overlap), "in the same bytes"),
    Damage("header-gap", REALTIME, NATIVE, edit_header(_gap), "4 bytes before tensor .* that no tensor describes"),
    Damage("header-beyond", VOXTRAL, HF, edit_header(_beyond), "is truncated: its header describes"),
    Damage("header-negative-dim", REALTIME, HF, edit_header(_negative_dim), "does not understand"),
    Damage("header-bool-dim", VOXTRAL, NATIVE, edit_header(_bool_dim), "in a way this program does not understand"),
    Damage("header-length", REALTIME, NATIVE, _absurd_length, "length field is impossible"),
    Damage("header-not-object", VOXTRAL, NATIVE, _not_an_object, "has a damaged header"),
    Damage("header-deep", REALTIME, NATIVE, _deeply_nested, "damaged header \\(not valid JSON\\)"),
    Damage("trailing-bytes", REALTIME, NATIVE, _trailing_bytes, "64 bytes after its last tensor"),
]
