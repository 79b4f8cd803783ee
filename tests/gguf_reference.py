"""References for the GGUF loaders' tests, built with the ``gguf`` package alone
(``GGUFReader`` + ``gguf.quants.dequantize``): every tensor of a file dequantized, quantized
ones rounded to fp16 where diffusers' GGUF layers dequantize in fp16, and llama.cpp's T5 names
mapped to transformers' (written out from llama.cpp's converter, ``gguf.constants``
MODEL_TENSOR names), so the weights load through the core loaders as a plain file."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

from wfrun.models.gguf_reader import DEQUANTIZED

#: llama.cpp's T5 names → transformers'.
T5_NAMES = {"token_embd.weight": "shared.weight", "enc.output_norm.weight": "encoder.final_layer_norm.weight"}
T5_BLOCK = {"attn_q": "layer.0.SelfAttention.q", "attn_k": "layer.0.SelfAttention.k",
            "attn_v": "layer.0.SelfAttention.v", "attn_o": "layer.0.SelfAttention.o",
            "attn_rel_b": "layer.0.SelfAttention.relative_attention_bias", "attn_norm": "layer.0.layer_norm",
            "ffn_gate": "layer.1.DenseReluDense.wi_0", "ffn_up": "layer.1.DenseReluDense.wi_1",
            "ffn_down": "layer.1.DenseReluDense.wo", "ffn_norm": "layer.1.layer_norm"}


def dequantized(path: Path, rename=lambda name: name) -> dict[str, torch.Tensor]:
    """Every tensor of a GGUF file by the gguf package, quantized ones rounded to fp16."""
    out = {}
    for tensor in gguf.GGUFReader(path).tensors:
        values = np.array(gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        value = torch.from_numpy(values).reshape(tuple(int(d) for d in reversed(tensor.shape.tolist())))
        out[rename(tensor.name)] = value.half().float() if tensor.tensor_type.name in DEQUANTIZED else value
    return out


def t5_name(name: str) -> str:
    """A llama.cpp T5 tensor name (``enc.blk.N.attn_q.weight``) as transformers names it."""
    if name in T5_NAMES:
        return T5_NAMES[name]
    _, _, block, part, leaf = name.split(".")
    return f"encoder.block.{block}.{T5_BLOCK[part]}.{leaf}"


def sample(ctx, model, cond, seed: int, cfg: float) -> torch.Tensor:
    """Two euler steps of core KSampler on a 5-frame 32x32 latent: what a loaded MODEL gives,
    to compare a GGUF loader's model with its dequantized reference under the same sampler."""
    from tests.node_helpers import node

    (latent,) = node("EmptyHunyuanLatentVideo")(ctx, width=32, height=32, length=5, batch_size=1)
    (out,) = node("KSampler")(ctx, model=model, seed=seed, steps=2, cfg=cfg, sampler_name="euler", scheduler="simple",
                              positive=cond, negative=cond, latent_image=latent, denoise=1.0)
    return out["samples"]
