"""The one table that maps Voxtral Realtime checkpoint tensors (native and transformers layouts) to our network.

Our attention rotates interleaved pairs (rows 2i, 2i+1 of each head), the layout of native Mistral checkpoints.
The transformers conversion re-orders q/k rows for its rotate-half convention, so the q/k weights (and the encoder's
q bias) of that layout are re-ordered back on load.
"""

from __future__ import annotations

from model.checkpoint import Part, Source, text_layer_sources
from model.realtime.config import RealtimeConfig

_E = "mm_streams_embeddings.embedding_module."
_W = _E + "whisper_encoder."


def _names(layout: str) -> dict[str, str]:
    """Our parameter name -> checkpoint name, with {i} for the layer index. Fused parameters list their parts."""
    if layout == "native":
        enc = _W + "transformer.layers.{i}."
        return {
            "encoder.conv1.weight": _W + "conv_layers.0.conv.weight",
            "encoder.conv1.bias": _W + "conv_layers.0.conv.bias",
            "encoder.conv2.weight": _W + "conv_layers.1.conv.weight",
            "encoder.conv2.bias": _W + "conv_layers.1.conv.bias",
            "enc.q": enc + "attention.wq.weight", "enc.q_bias": enc + "attention.wq.bias",
            "enc.k": enc + "attention.wk.weight",
            "enc.v": enc + "attention.wv.weight", "enc.v_bias": enc + "attention.wv.bias",
            "enc.attn.wo.weight": enc + "attention.wo.weight", "enc.attn.wo.bias": enc + "attention.wo.bias",
            "enc.attn_norm.weight": enc + "attention_norm.weight",
            "enc.ffn_norm.weight": enc + "ffn_norm.weight",
            "enc.gate": enc + "feed_forward.w1.weight", "enc.up": enc + "feed_forward.w3.weight",
            "enc.ffn.w2.weight": enc + "feed_forward.w2.weight", "enc.ffn.w2.bias": enc + "feed_forward.w2.bias",
            "encoder.norm.weight": _W + "transformer.norm.weight",
            "adapter.w_in.weight": _E + "audio_language_projection.0.weight",
            "adapter.w_out.weight": _E + "audio_language_projection.2.weight",
            "decoder.tok_embeddings": _E + "tok_embeddings.weight",
            "dec.q": "layers.{i}.attention.wq.weight", "dec.k": "layers.{i}.attention.wk.weight",
            "dec.v": "layers.{i}.attention.wv.weight", "dec.wo": "layers.{i}.attention.wo.weight",
            "dec.attn_norm": "layers.{i}.attention_norm.weight",
            "dec.ffn_norm": "layers.{i}.ffn_norm.weight",
            "dec.gate": "layers.{i}.feed_forward.w1.weight", "dec.up": "layers.{i}.feed_forward.w3.weight",
            "dec.down": "layers.{i}.feed_forward.w2.weight",
            "dec.ada_down.weight": "layers.{i}.ada_rms_norm_t_cond.0.weight",
            "dec.ada_up.weight": "layers.{i}.ada_rms_norm_t_cond.2.weight",
            "decoder.norm.weight": "norm.weight",
        }
    enc, dec = "audio_tower.layers.{i}.", "language_model.model.layers.{i}."
    return {
        "encoder.conv1.weight": "audio_tower.embedder.conv1.weight",
        "encoder.conv1.bias": "audio_tower.embedder.conv1.bias",
        "encoder.conv2.weight": "audio_tower.embedder.conv2.weight",
        "encoder.conv2.bias": "audio_tower.embedder.conv2.bias",
        "enc.q": enc + "self_attn.q_proj.weight", "enc.q_bias": enc + "self_attn.q_proj.bias",
        "enc.k": enc + "self_attn.k_proj.weight",
        "enc.v": enc + "self_attn.v_proj.weight", "enc.v_bias": enc + "self_attn.v_proj.bias",
        "enc.attn.wo.weight": enc + "self_attn.o_proj.weight", "enc.attn.wo.bias": enc + "self_attn.o_proj.bias",
        "enc.attn_norm.weight": enc + "self_attn_layer_norm.weight",
        "enc.ffn_norm.weight": enc + "final_layer_norm.weight",
        "enc.gate": enc + "mlp.gate_proj.weight", "enc.up": enc + "mlp.up_proj.weight",
        "enc.ffn.w2.weight": enc + "mlp.down_proj.weight", "enc.ffn.w2.bias": enc + "mlp.down_proj.bias",
        "encoder.norm.weight": "audio_tower.norm.weight",
        "adapter.w_in.weight": "multi_modal_projector.linear_1.weight",
        "adapter.w_out.weight": "multi_modal_projector.linear_2.weight",
        "decoder.tok_embeddings": "language_model.model.embed_tokens.weight",
        "dec.q": dec + "self_attn.q_proj.weight", "dec.k": dec + "self_attn.k_proj.weight",
        "dec.v": dec + "self_attn.v_proj.weight", "dec.wo": dec + "self_attn.o_proj.weight",
        "dec.attn_norm": dec + "input_layernorm.weight",
        "dec.ffn_norm": dec + "post_attention_layernorm.weight",
        "dec.gate": dec + "mlp.gate_proj.weight", "dec.up": dec + "mlp.up_proj.weight",
        "dec.down": dec + "mlp.down_proj.weight",
        "dec.ada_down.weight": dec + "ada_rms_norm.linear1.weight",
        "dec.ada_up.weight": dec + "ada_rms_norm.linear2.weight",
        "decoder.norm.weight": "language_model.model.norm.weight",
    }


TIED_HEAD = "language_model.lm_head.weight"  # a copy of the tied head transformers may store: allowed, unused


def weight_table(cfg: RealtimeConfig, layout: str) -> dict[str, Source]:
    """Our parameter name -> Source, covering every parameter of RealtimeNetwork."""
    names = _names(layout)
    e, d, m = cfg.encoder, cfg.decoder, cfg.mel
    permute = layout == "transformers"
    table: dict[str, Source] = {}

    def part(key: str, shape: tuple[int, ...], i: int | None = None, rope_heads: int = 0) -> Part:
        return Part(names[key].format(i=i), shape, rope_heads if permute else 0)

    def single(ours: str, key: str, shape: tuple[int, ...], i: int | None = None) -> None:
        table[ours] = Source((part(key, shape, i),))

    single("encoder.conv1.weight", "encoder.conv1.weight", (e.dim, m.n_mels, 3))
    single("encoder.conv1.bias", "encoder.conv1.bias", (e.dim,))
    single("encoder.conv2.weight", "encoder.conv2.weight", (e.dim, e.dim, 3))
    single("encoder.conv2.bias", "encoder.conv2.bias", (e.dim,))
    inner = e.n_heads * e.head_dim
    for i in range(e.n_layers):
        p = f"encoder.layers.{i}."
        table[p + "attn.wqkv.weight"] = Source((
            part("enc.q", (inner, e.dim), i, e.n_heads),
            part("enc.k", (inner, e.dim), i, e.n_heads),
            part("enc.v", (inner, e.dim), i),
        ))
        # The key projection has no bias: its rows of the fused bias stay zero.
        table[p + "attn.wqkv.bias"] = Source((
            part("enc.q_bias", (inner,), i, e.n_heads), Part(None, (inner,)), part("enc.v_bias", (inner,), i)
        ))
        single(p + "attn.wo.weight", "enc.attn.wo.weight", (e.dim, inner), i)
        single(p + "attn.wo.bias", "enc.attn.wo.bias", (e.dim,), i)
        single(p + "attn_norm.weight", "enc.attn_norm.weight", (e.dim,), i)
        single(p + "ffn_norm.weight", "enc.ffn_norm.weight", (e.dim,), i)
        table[p + "ffn.w13.weight"] = Source((
            part("enc.gate", (e.hidden_dim, e.dim), i), part("enc.up", (e.hidden_dim, e.dim), i)
        ))
        single(p + "ffn.w2.weight", "enc.ffn.w2.weight", (e.dim, e.hidden_dim), i)
        single(p + "ffn.w2.bias", "enc.ffn.w2.bias", (e.dim,), i)
    single("encoder.norm.weight", "encoder.norm.weight", (e.dim,))
    single("adapter.w_in.weight", "adapter.w_in.weight", (d.dim, e.dim * cfg.downsample_factor))
    single("adapter.w_out.weight", "adapter.w_out.weight", (d.dim, d.dim))
    single("decoder.tok_embeddings", "decoder.tok_embeddings", (d.vocab_size, d.dim))
    for i in range(d.n_layers):
        p = f"decoder.layers.{i}."
        table.update(text_layer_sources(
            p, lambda role, i=i: names["dec." + role].format(i=i), d.dim, d.n_heads, d.n_kv_heads, d.head_dim,
            d.hidden_dim, permute=permute,
        ))
        single(p + "ada_down.weight", "dec.ada_down.weight", (d.ada_dim, d.dim), i)
        single(p + "ada_up.weight", "dec.ada_up.weight", (d.dim, d.ada_dim), i)
    single("decoder.norm.weight", "decoder.norm.weight", (d.dim,))
    return table
