"""A tiny diffusers Wan transformer (2 heads of 16, text width 24) for the tests of hooks and
passes that need a real ``WanTransformer3DModel`` but no checkpoint file."""

from __future__ import annotations

import torch
from diffusers import WanTransformer3DModel


def tiny_wan(layers: int = 2) -> WanTransformer3DModel:
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=layers,
                                 cross_attn_norm=True).eval()
