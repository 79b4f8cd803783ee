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


def add_patch(module: Any, parts: dict[str, torch.Tensor], strength: float) -> None:
    """A LoRA on a layer kept packed (``models.comfy_quant_linear``: an NVFP4 / MXFP8 file that
    would not fit dequantized): added at each call from its factors, the numbers of a merge
    into the dequantized layer, while the layer's bytes stay packed. Merging it instead would
    dequantize every layer the LoRA touches (a step-distill LoRA touches them all) and undo
    what keeping the model packed is for."""
    try:
        patch = lora_files.lora_patch(parts, strength, lora_files.weight_shape(module))
    except lora_files.LoraError as err:
        raise NodeInputError("lora", str(err)) from None
    module.patches = (*module.patches, patch)


def add_delta(module: Any, delta: torch.Tensor) -> None:
    """``weight += delta`` in the weight's own format (fp8 up-cast, merged, quantized again)."""
    module.weight = lora_files.with_delta(module, "weight", delta)
