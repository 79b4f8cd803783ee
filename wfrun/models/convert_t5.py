"""UMT5-XXL encoder: Wan's own T5 names (Kijai's files) or transformers names (ComfyUI's) → UMT5EncoderModel.

Wan's ``T5FeedForward`` computes ``fc2(fc1(x) * gelu_tanh(gate(x)))``; transformers'
gated-gelu computes ``wo(gelu_tanh(wi_0(x)) * wi_1(x))``, so ``gate.0`` is ``wi_0`` and
``fc1`` is ``wi_1``. Each Wan block owns its relative position table
(``pos_embedding.embedding``, ``[buckets, heads]``), as each UMT5 layer owns its
``relative_attention_bias``. Neither scales attention scores, both use RMS norms without
bias, so the rest is renaming.

ComfyUI's files add ``spiece_model`` (the tokenizer, as bytes) and, when fp8 scaled,
``scaled_fp8`` and one ``scale_weight`` per linear layer; those are not weights here.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from wfrun.models.detect import ModelInfo
from wfrun.models.header import CheckpointError
from wfrun.models.mapping import UNKNOWN, bundled_config

LABEL = "a transformers UMT5EncoderModel"

_BLOCK = {
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}
_TRANSFORMERS_KEY = re.compile(
    r"shared\.weight|encoder\.final_layer_norm\.weight|encoder\.block\.\d+\.layer\.[01]\."
    r"(layer_norm|SelfAttention\.(q|k|v|o|relative_attention_bias)|DenseReluDense\.(wi_0|wi_1|wo))\.weight")

#: Linear layers whose weights may stay in fp8. Not ``wo``: transformers' UMT5 casts the
#: activations to ``wo.weight.dtype`` before that layer, which would be fp8.
FP8_MODULES = re.compile(r"^encoder\.block\.\d+\.layer\.\d\.(SelfAttention\.[qkvo]|DenseReluDense\.wi_[01])$")


def rename_for(info: ModelInfo, keys) -> Callable[[str], Any]:
    if info.layout == "original":
        return _rename_original
    if f"{info.prefix}shared.weight" not in keys:  # only the encoder's copy of the embedding
        return lambda key: "shared.weight" if key == "encoder.embed_tokens.weight" else _rename_transformers(key)
    return _rename_transformers


def _rename_original(key: str) -> Any:
    if key == "token_embedding.weight":
        return "shared.weight"
    if key == "norm.weight":
        return "encoder.final_layer_norm.weight"
    if m := re.fullmatch(r"blocks\.(\d+)\.(.+)", key):
        target = _BLOCK.get(m.group(2))
        return f"encoder.block.{m.group(1)}.{target}" if target else UNKNOWN
    return UNKNOWN


def _rename_transformers(key: str) -> Any:
    if key == "spiece_model" or key.startswith("decoder.") or key in ("lm_head.weight", "encoder.embed_tokens.weight"):
        return None  # the tokenizer, a decoder half, or the tied copy of shared.weight
    return key if _TRANSFORMERS_KEY.fullmatch(key) else UNKNOWN


def transformers_config(info: ModelInfo):
    from transformers import UMT5Config

    c = info.config
    if not c.get("num_heads"):
        raise CheckpointError(f"{info.path}: has no relative position table to tell the number of heads from")
    config = bundled_config("umt5_xxl.json")
    config.update(vocab_size=c["vocab"], d_model=c["dim"], d_kv=c["dim_attn"] // c["num_heads"], d_ff=c["dim_ffn"],
                  num_layers=c["num_layers"], num_decoder_layers=c["num_layers"], num_heads=c["num_heads"],
                  relative_attention_num_buckets=c["num_buckets"])
    return UMT5Config(**config)


def build(config):
    from transformers import UMT5EncoderModel

    return UMT5EncoderModel(config)
