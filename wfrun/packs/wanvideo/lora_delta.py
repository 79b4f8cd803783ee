"""The arithmetic of merging one LoRA layer, shared by plain and control LoRAs: the
wrapper's merges use :mod:`wfrun.models.lora_files` (as ComfyUI's LoRA loaders do), with a
misfit named on the node's ``lora`` input."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import lora_files
from wfrun.nodes.executor import NodeInputError


def lora_delta(parts: dict[str, torch.Tensor], strength: float, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """``strength · (alpha / rank) · up @ down`` in fp32, shaped like the weight it changes."""
    try:
        return lora_files.lora_delta(parts, strength, shape)
    except lora_files.LoraError as err:
        raise NodeInputError("lora", str(err)) from None


def add_delta(module: Any, delta: torch.Tensor) -> None:
    """``weight += delta`` in the weight's own format (fp8 up-cast, merged, quantized again)."""
    module.weight = lora_files.with_delta(module, "weight", delta)
