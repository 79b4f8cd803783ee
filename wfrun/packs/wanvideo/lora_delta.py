"""The arithmetic of merging one LoRA layer, shared by plain and control LoRAs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wfrun.nodes.executor import NodeInputError


def lora_delta(parts: dict[str, torch.Tensor], strength: float, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """``strength · (alpha / rank) · up @ down`` in fp32, shaped like the weight it changes
    (a conv's kernel dimensions are flattened into the factors)."""
    down = parts["down"].float()
    up = parts["up"].float()
    rank = down.shape[0]
    alpha = float(parts["alpha"]) if "alpha" in parts else float(rank)
    delta = (up.flatten(1) @ down.flatten(1)) * (strength * alpha / rank)
    if delta.numel() != torch.Size(shape).numel():
        raise NodeInputError("lora", f"LoRA layer shape {tuple(delta.shape)} does not fit weight {tuple(shape)}")
    return delta.reshape(shape)


def add_delta(module: Any, delta: torch.Tensor) -> None:
    """``weight += delta`` in fp32, stored back in the weight's own format: an fp8 layer is
    up-cast, merged and quantized again (the pack merges into fp8 weights the same way)."""
    weight = module.weight
    storage = getattr(module, "storage", None)
    if storage is not None:  # an Fp8Linear
        from wfrun.models.fp8 import quantize

        full = module.dequantized_weight(torch.float32) + delta.to(weight.device)
        if module.weight_scale is not None:
            full = full / module.weight_scale.float()
        module.weight = nn.Parameter(quantize(full, storage), requires_grad=False)
        return
    module.weight = nn.Parameter((weight.float() + delta.to(weight.device)).to(weight.dtype), requires_grad=False)
