"""CLIP vision nodes: LoadWanVideoClipTextEncoder, CLIPVisionLoader, WanVideoClipVisionEncode.

Both loaders give a transformers ``CLIPVisionModel(WithProjection)`` (wfrun.models reads
Kijai's open-clip file and ComfyUI's ``clip_vision_h`` alike). The encoder returns what the
pack feeds Wan's image cross-attention: the penultimate hidden states (the output of 31 of
the 32 ViT-H blocks, before the final norm: ``hidden_states[-2]``), for images
preprocessed as ComfyUI's ``clip_preprocess``: resized (short side to 224 and centre
crop, or squeezed with ``crop=disabled``) with bicubic antialiasing, then normalised with
the OpenAI CLIP mean/std. The pack's Wan ``CLIPModel.visual`` and ComfyUI's
``ClipVisionModel.encode_image().penultimate_hidden_states`` compute the same thing.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models.header import CheckpointError
from wfrun.models import placement, residency
from wfrun.models.clip_vision_encode import penultimate
from wfrun.nodes.models import loading_error, resolve
from wfrun.packs.wanvideo.types import ClipEmbeds, ClipVision

DTYPES = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}


def _load(ctx: ExecContext, name: str, input_name: str, dtype: torch.dtype | None, device: str,
          comfy_loader: bool = False) -> ClipVision:
    from wfrun.models.load import load_clip_vision

    path = resolve(ctx, "clip_vision", name, input_name, "text_encoders")
    try:
        model = load_clip_vision(path, dtype=dtype, device=device)
    except (CheckpointError, ValueError) as err:
        raise loading_error(input_name, err) from None
    model.eval().requires_grad_(False)
    actual = next(p.dtype for p in model.parameters() if p.is_floating_point())
    return ClipVision(model=model, dtype=actual, path=path, comfy_loader=comfy_loader)


@executor("LoadWanVideoClipTextEncoder", background=True)
def load_wan_clip(ctx: ExecContext, model_name: str, precision: str, load_device: str,
                  **_: Any) -> tuple:
    if precision not in DTYPES:
        raise NodeInputError("precision", f"unknown precision {precision!r}", "use fp16, fp32 or bf16")
    return (_load(ctx, model_name, "model_name", DTYPES[precision], placement.node_device(load_device, ctx)),)


@executor("CLIPVisionLoader", background=True)
def clip_vision_loader(ctx: ExecContext, clip_name: str, **_: Any) -> tuple:
    return (_load(ctx, clip_name, "clip_name", None, ctx.offload_device, comfy_loader=True),)


@executor("WanVideoClipVisionEncode")
def wanvideo_clip_vision_encode(ctx: ExecContext, clip_vision: ClipVision, image_1: torch.Tensor,
                                strength_1: float, strength_2: float, crop: str,
                                combine_embeds: str, force_offload: bool,
                                *, image_2: torch.Tensor | None = None, negative_image: torch.Tensor | None = None,
                                tiles: int, ratio: float, **_: Any) -> tuple:
    if tiles and tiles > 0:
        raise NodeInputError("tiles", "tiled CLIP encoding is not supported by wfrun yet", "set tiles to 0")
    if not isinstance(clip_vision, ClipVision):
        raise NodeInputError("clip_vision", "expected a CLIP vision model (LoadWanVideoClipTextEncoder or "
                             "CLIPVisionLoader)")
    image = torch.cat([image_1, image_2], dim=0) if image_2 is not None else image_1
    residency.bring(clip_vision.model, ctx.device, ctx.offload_device)
    do_crop = crop != "disabled"
    embeds = penultimate(clip_vision, image, ctx.device, do_crop)
    negative = penultimate(clip_vision, negative_image, ctx.device, do_crop) if negative_image is not None else None
    weighted = [embeds[0:1] * strength_1]
    if embeds.shape[0] > 1:
        weighted.append(embeds[1:2] * strength_2)
        weighted.extend(embeds[i:i + 1] for i in range(2, embeds.shape[0]))
        if combine_embeds == "average":
            embeds = torch.mean(torch.stack(weighted), dim=0)
        elif combine_embeds == "sum":
            embeds = torch.sum(torch.stack(weighted), dim=0)
        elif combine_embeds == "concat":
            embeds = torch.cat(weighted, dim=1)
        elif combine_embeds == "batch":
            embeds = torch.cat(weighted, dim=0)
        else:
            raise NodeInputError("combine_embeds", f"unknown method {combine_embeds!r}")
    else:
        embeds = weighted[0]
    residency.done(clip_vision.model, ctx.device, ctx.offload_device, force_offload=bool(force_offload))
    return (ClipEmbeds(clip_embeds=embeds.cpu(), negative_clip_embeds=None if negative is None else negative.cpu()),)
