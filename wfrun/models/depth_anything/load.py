"""Building transformers' Depth Anything model from a pack single file, offline.

The model is built on the meta device from the shipped config and the converted tensors are
assigned to it, so no random initialisation runs and nothing is fetched from the hub.

One behaviour of the original is restored on top of transformers: the DINOv2 position
embeddings. The original (``dinov2.py``, ``interpolate_offset=0.1``) resizes the 37x37 grid
with a *scale factor* of ``(patches + 0.1) / 37`` per side; transformers resizes to the
target *size*. The sampling positions differ for every input but 518x518 (on the tiny random
test model the depth maps differ by as much as the depth itself), so
:func:`original_position_embeddings` replaces the model's method.
"""

from __future__ import annotations

import math
import types
from pathlib import Path

import torch
import torch.nn.functional as F

from wfrun.models.header import CheckpointError
from wfrun.models.reader import open_checkpoint
from wfrun.models.depth_anything.convert import (
    NotDepthAnythingError, Variant, build_config, convert_state_dict, detect,
)

#: The original DINOv2's ``interpolate_offset`` (Depth Anything V2 builds it with 0.1).
INTERPOLATE_OFFSET = 0.1


def read_variant(path: str | Path) -> Variant:
    """The variant a file holds, from its header only (raises CheckpointError or
    NotDepthAnythingError)."""
    with open_checkpoint(path) as reader:
        return detect({name: info.shape for name, info in reader.tensors.items()}, str(path))


def load_depth_anything(path: str | Path, *, is_metric: bool = False, max_depth: float = 1.0,
                        device: str | torch.device = "cpu"):
    """``(model, variant)``: a ``DepthAnythingForDepthEstimation`` in eval mode, fp32 weights."""
    path = Path(path)
    where = str(path)
    with open_checkpoint(path) as reader:
        detect({name: info.shape for name, info in reader.tensors.items()}, where)
        original = {}
        for name, tensor in reader.iter_tensors():
            original[name] = tensor.to(device=device)
    return model_from_original(original, where, is_metric=is_metric, max_depth=max_depth)


def model_from_original(original: dict[str, torch.Tensor], where: str, *, is_metric: bool = False,
                        max_depth: float = 1.0):
    """``(model, variant)`` from tensors in the original Depth Anything V2 key layout, however
    they were read (a safetensors file, or a ``.pth`` read weights-only by
    comfyui_controlnet_aux's preprocessor); every tensor must be floating point and present."""
    from transformers import DepthAnythingForDepthEstimation

    variant = detect({name: tuple(t.shape) for name, t in original.items()}, where)
    config = build_config(variant, is_metric=is_metric, max_depth=max_depth)
    with torch.device("meta"):
        model = DepthAnythingForDepthEstimation(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    floats = {}
    for name, tensor in original.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            kind = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise NotDepthAnythingError(f"{where}: tensor {name} is {kind}, not floating point")
        floats[name] = tensor.to(dtype=torch.float32)
    converted = convert_state_dict(floats, expected, where)
    model.load_state_dict(converted, strict=True, assign=True)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # every tensor came from the file; a leftover would be uninitialised memory
        raise NotDepthAnythingError(f"{where}: no weights for {', '.join(left[:5])}")
    embeddings = model.backbone.embeddings
    embeddings.interpolate_pos_encoding = types.MethodType(original_position_embeddings, embeddings)
    model.eval()
    return model, variant


def original_position_embeddings(self, embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """DINOv2's position embeddings for a ``height`` x ``width`` input, resized the way the
    original Depth Anything V2 code does it (bicubic by scale factor, offset 0.1)."""
    table = self.position_embeddings
    tokens = embeddings.shape[1] - 1
    stored = table.shape[1] - 1
    if tokens == stored and height == width:
        return table
    patch = self.patch_embeddings.patch_size
    patch = patch[0] if isinstance(patch, (tuple, list)) else int(patch)
    table32 = table.float()
    dim = embeddings.shape[-1]
    side = math.sqrt(stored)
    rows = height // patch + INTERPOLATE_OFFSET
    cols = width // patch + INTERPOLATE_OFFSET
    grid = table32[:, 1:].reshape(1, int(side), int(side), dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=(rows / side, cols / side), mode="bicubic", antialias=False)
    if grid.shape[-2:] != (int(rows), int(cols)):
        raise RuntimeError(f"position embeddings resized to {tuple(grid.shape[-2:])}, expected "
                           f"{(int(rows), int(cols))}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((table32[:, :1], grid), dim=1).to(embeddings.dtype)


__all__ = ["CheckpointError", "NotDepthAnythingError", "load_depth_anything", "model_from_original", "read_variant",
           "original_position_embeddings"]
