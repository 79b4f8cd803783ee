"""Art Venture's ``ImageRepeat`` and ``ImageScaleToMegapixels`` (``modules/utility_nodes.py``;
their inputs unchanged since 2023-09-29, their code since then too but for a 2025-12-31 fix
of how the node reaches ComfyUI's upscale-model node).

* ImageRepeat: the whole batch ``amount`` times over (``images.repeat(amount, 1, 1, 1)``:
  frames 0..n-1, then 0..n-1 again, ...).
* ImageScaleToMegapixels: ``s = sqrt(megapixels * 1024 * 1024 / (W * H))`` (binary
  megapixels).

  - ``s <= 1``: the pack's "scale down by": target ``int(W * s)`` x ``int(H * s)``
    (truncated), a centre crop of the source to the target's aspect (ComfyUI's
    ``common_upscale`` crop rule), then each frame through Pillow's LANCZOS on 8 bits
    (``clip(255 x)`` truncated, back divided by 255).
  - ``s > 1``: target ``round(W * s)`` x ``round(H * s)``; below 1.2 or with no
    ``upscale_model_opt``, torch bicubic interpolation (``common_upscale``'s "bicubic", no
    crop, values not clamped); otherwise the upscale model on the frames (ComfyUI's
    ImageUpscaleWithModel: 512-pixel tiles) and then the scale-down above to the target.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.models.upscale import UpscaleModel, upscale_tiled
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Above this factor a connected upscale model is used (the pack's threshold).
MODEL_FACTOR = 1.2


def _images(value: Any, input_name: str = "images") -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0:
        found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(input_name, f"expected an IMAGE [frames, height, width, channels], found {found}",
                             "connect an IMAGE output")
    return value


@executor("ImageRepeat")
def image_repeat(ctx: ExecContext, images: Any, amount: Any, **_: Any) -> tuple:
    frames = _images(images)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise NodeInputError("amount", f"expected a whole number of at least 1, found {amount!r}")
    return (frames.repeat(amount, 1, 1, 1),)


def scale_down(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The pack's ``image_scale_down`` with crop "center": centre crop to the target aspect,
    then Pillow LANCZOS per frame on 8-bit values (RGB)."""
    if width < 1 or height < 1:
        raise NodeInputError("megapixels", f"the target size {width}x{height} is empty",
                             "ask for more megapixels")
    return upscale_image(frames[..., :3], width, height, "lanczos", "center")


@executor("ImageScaleToMegapixels", oom_hint="scale fewer frames at once, or ask for fewer megapixels")
def image_scale_to_megapixels(ctx: ExecContext, images: Any, megapixels: Any, upscale_model_opt: Any = None,
                              **_: Any) -> tuple:
    frames = _images(images)
    if isinstance(megapixels, bool) or not isinstance(megapixels, (int, float)) or not megapixels > 0:
        raise NodeInputError("megapixels", f"expected a number above 0, found {megapixels!r}")
    if upscale_model_opt is not None and not isinstance(upscale_model_opt, UpscaleModel):
        raise NodeInputError("upscale_model_opt", f"expected an UPSCALE_MODEL, got {type(upscale_model_opt).__name__}",
                             "connect UpscaleModelLoader's output or nothing")
    height, width = int(frames.shape[1]), int(frames.shape[2])
    scale = math.sqrt(float(megapixels) * 1024 * 1024 / (width * height))
    if scale <= 1.0:
        return (scale_down(frames, int(width * scale), int(height * scale)),)
    target_w, target_h = round(width * scale), round(height * scale)
    if scale < MODEL_FACTOR or upscale_model_opt is None:
        return (upscale_image(frames, target_w, target_h, "bicubic"),)
    steps = (lambda total: ctx.progress.chunks(total, "upscale tiles")) if ctx.progress is not None else None
    upscaled = upscale_tiled(upscale_model_opt, frames, torch.device(ctx.device), steps=steps)
    return (scale_down(upscaled, target_w, target_h),)
