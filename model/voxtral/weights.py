"""The one table that maps Voxtral (offline) checkpoint tensors, native and transformers layouts, to our network.

As for the realtime model, decoder q/k rows are kept in the native interleaved rotary layout; the transformers
layout stores them rotate-half and is re-ordered on load. The Whisper encoder has no rotary embedding.
"""

from __future__ import annotations

from model.checkpoint import Part, Source, text_layer_sources
from model.voxtral.config import VoxtralConfig

_W = "mm_whisper_embeddings.whisper_encoder."
# The converter accepts the token embeddings under either name; which one a given native file uses is not fixed.
NATIVE_EMBEDDINGS = ("tok_embeddings.weight", "mm_whisper_embeddings.tok_embeddings.weight")
POSITION_TABLE = "audio_tower.embed_positions.weight"  # transformers stores the fixed sinusoids; we compute them


def _names(layout: str, embeddings: str) -> dict[str, str]:
    if layout == "native":
        enc = _W + "transformer.layers.{i}."
        return {
            "conv1.weight": _W + "conv_layers.0.weight", "conv1.bias": _W + "conv_layers.0.bias",
            "conv2.weight": _W + "conv_layers.1.weight", "conv2.bias": _W + "conv_layers.1.bias",
            "enc.q": enc + "attention.wq.weight", "enc.q_bias": enc + "attention.wq.bias",
            "enc.k": enc + "attention.wk.weight", "enc.v": enc + "attention.wv.weight",
            "enc.v_bias": enc + "attention.wv.bias",
            "enc.wo": enc + "attention.wo.weight", "enc.wo_bias": enc + "attention.wo.bias",
            "enc.attn_norm": enc + "attention_norm.weight", "enc.attn_norm_bias": enc + "attention_norm.bias",
            "enc.ffn_norm": enc + "ffn_norm.weight", "enc.ffn_norm_bias": enc + "ffn_norm.bias",
            "enc.fc1": enc + "feed_forward.w1.weight", "enc.fc1_bias": enc + "feed_forward.w1.bias",
            "enc.fc2": enc + "feed_forward.w2.weight", "enc.fc2_bias": enc + "feed_forward.w2.bias",
            "enc.norm": _W + "transformer.norm.weight", "enc.norm_bias": _W + "transformer.norm.bias",
            "adapter.w_in": "mm_whisper_embeddings.audio_language_projection.0.weight",
            "adapter.w_out": "mm_whisper_embeddings.audio_language_projection.2.weight",
            "embeddings": embeddings, "output": "output.weight", "norm": "norm.weight",
            "dec.q": "layers.{i}.attention.wq.weight", "dec.k": "layers.{i}.attention.wk.weight",
            "dec.v": "layers.{i}.attention.wv.weight", "dec.wo": "layers.{i}.attention.wo.weight",
            "dec.attn_norm": "layers.{i}.attention_norm.weight", "dec.ffn_norm": "layers.{i}.ffn_norm.weight",
            "dec.gate": "layers.{i}.feed_forward.w1.weight", "dec.up": "layers.{i}.feed_forward.w3.weight",
            "dec.down": "layers.{i}.feed_forward.w2.weight",
        }
    enc, dec = "audio_tower.layers.{i}.", "language_model.model.layers.{i}."
    return {
        "conv1.weight": "audio_tower.conv1.weight", "conv1.bias": "audio_tower.conv1.bias",
        "conv2.weight": "audio_tower.conv2.weight", "conv2.bias": "audio_tower.conv2.bias",
        "enc.q": enc + "self_attn.q_proj.weight", "enc.q_bias": enc + "self_attn.q_proj.bias",
        "enc.k": enc + "self_attn.k_proj.weight", "enc.v": enc + "self_attn.v_proj.weight",
        "enc.v_bias": enc + "self_attn.v_proj.bias",
        "enc.wo": enc + "self_attn.out_proj.weight", "enc.wo_bias": enc + "self_attn.out_proj.bias",
        "enc.attn_norm": enc + "self_attn_layer_norm.weight", "enc.attn_norm_bias": enc + "self_attn_layer_norm.bias",
        "enc.ffn_norm": enc + "final_layer_norm.weight", "enc.ffn_norm_bias": enc + "final_layer_norm.bias",
        "enc.fc1": enc + "fc1.weight", "enc.fc1_bias": enc + "fc1.bias",
        "enc.fc2": enc + "fc2.weight", "enc.fc2_bias": enc + "fc2.bias",
        "enc.norm": "audio_tower.layer_norm.weight", "enc.norm_bias": "audio_tower.layer_norm.bias",
        "adapter.w_in": "multi_modal_projector.linear_1.weight",
        "adapter.w_out": "multi_modal_projector.linear_2.weight",
        "embeddings": "language_model.model.embed_tokens.weight", "output": "language_model.lm_head.weight",
        "norm": "language_model.model.norm.weight",
        "dec.q": dec + "self_attn.q_proj.weight", "dec.k": dec + "self_attn.k_proj.weight",
        "dec.v": dec + "self_attn.v_proj.weight", "dec.wo": dec + "self_attn.o_proj.weight",
        "dec.attn_norm": dec + "input_layernorm.weight", "dec.ffn_norm": dec + "post_attention_layernorm.weight",
        "dec.gate": dec + "mlp.gate_proj.weight", "dec.up": dec + "mlp.up_proj.weight",
        "dec.down": dec + "mlp.down_proj.weight",
    }


def weight_table(cfg: VoxtralConfig, layout: str, present: set[str]) -> dict[str, Source]:
    """Our parameter name -> Source, covering every parameter of VoxtralNetwork."""
    embeddings = next((n for n in NATIVE_EMBEDDINGS if n in present), NATIVE_EMBEDDINGS[0])
    names = _names(layout, embeddings)
    e, d, m = cfg.encoder, cfg.decoder, cfg.mel
    permute = layout == "transformers"
    table: dict[str, Source] = {}

    def part(key: str, shape: tuple[int, ...], i: int | None = None) -> Part:
        return Part(names[key].format(i=i), shape)  # the Whisper encoder has no rotary embedding to re-order

    def single(ours: str, key: str, shape: tuple[int, ...], i: int | None = None) -> None:
        table[ours] = Source((part(key, shape, i),))

    single("encoder.conv1.weight", "conv1.weight", (e.dim, m.n_mels, 3))
    single("encoder.conv1.bias", "conv1.bias", (e.dim,))
    single("encoder.conv2.weight", "conv2.weight", (e.dim, e.dim, 3))
    single("encoder.conv2.bias", "conv2.bias", (e.dim,))
    for i in range(e.n_layers):
        p = f"encoder.layers.{i}."
        table[p + "attn.wqkv.weight"] = Source(
            (part("enc.q", (e.dim, e.dim), i), part("enc.k", (e.dim, e.dim), i), part("enc.v", (e.dim, e.dim), i))
        )
        # The key projection has no bias: its rows of the fused bias stay zero.
        table[p + "attn.wqkv.bias"] = Source(
            (part("enc.q_bias", (e.dim,), i), Part(None, (e.dim,)), part("enc.v_bias", (e.dim,), i))
        )
        for ours, key, shape in [
            ("attn.wo.weight", "enc.wo", (e.dim, e.dim)), ("attn.wo.bias", "enc.wo_bias", (e.dim,)),
            ("attn_norm.weight", "enc.attn_norm", (e.dim,)), ("attn_norm.bias", "enc.attn_norm_bias", (e.dim,)),
            ("ffn_norm.weight", "enc.ffn_norm", (e.dim,)), ("ffn_norm.bias", "enc.ffn_norm_bias", (e.dim,)),
            ("fc1.weight", "enc.fc1", (e.hidden_dim, e.dim)), ("fc1.bias", "enc.fc1_bias", (e.hidden_dim,)),
            ("fc2.weight", "enc.fc2", (e.dim, e.hidden_dim)), ("fc2.bias", "enc.fc2_bias", (e.dim,)),
        ]:
            single(p + ours, key, shape, i)
    single("encoder.norm.weight", "enc.norm", (e.dim,))
    single("encoder.norm.bias", "enc.norm_bias", (e.dim,))
    single("adapter.w_in.weight", "adapter.w_in", (d.dim, e.dim * cfg.downsample_factor))
    single("adapter.w_out.weight", "adapter.w_out", (d.dim, d.dim))
    single("decoder.tok_embeddings", "embeddings", (d.vocab_size, d.dim))
    single("decoder.output", "output", (d.vocab_size, d.dim))
    single("decoder.norm.weight", "norm", (d.dim,))
    for i in range(d.n_layers):
        table.update(text_layer_sources(
            f"decoder.layers.{i}.", lambda role, i=i: names["dec." + role].format(i=i), d.dim, d.n_heads,
            d.n_kv_heads, d.head_dim, d.hidden_dim, permute=permute,
        ))
    return table
