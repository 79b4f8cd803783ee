"""CLIPVisionEncode: the CLIP_VISION_OUTPUT whose penultimate hidden states Wan's image
cross-attention reads (:mod:`wfrun.models.clip_vision_encode`); ``crop`` ``center`` crops
the short side, ``none`` squeezes the image to the model's square."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import residency
from wfrun.models.clip_vision_encode import penultimate
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.types import ClipVision, ClipVisionOutput


@executor("CLIPVisionEncode")
def clip_vision_encode(ctx: ExecContext, clip_vision: ClipVision, image: torch.Tensor, crop: str, **_: Any) -> tuple:
    if not isinstance(clip_vision, ClipVision):
        raise NodeInputError("clip_vision", f"expected a CLIP_VISION from CLIPVisionLoader, got {type(clip_vision).__name__}")
    if crop not in ("center", "none"):
        raise NodeInputError("crop", f"unknown crop {crop!r}", "use center or none")
    with residency.lent(clip_vision.model, ctx.device, ctx.offload_device):
        states = penultimate(clip_vision, image[..., :3], ctx.device, crop == "center")
    return (ClipVisionOutput(penultimate_hidden_states=states.cpu()),)
