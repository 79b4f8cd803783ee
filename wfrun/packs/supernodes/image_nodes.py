"""SuperNodes' ``ImageMaskCrop`` (``image.py``) and ``SuperResizeImage``
(``image/resize_image.py``), as at 0.1.8.

``ImageMaskCrop``: the box of the mask above 0.5 (over all frames), widened by ``padding``
within the image, then each side grown to the next multiple of ``multiple_of`` — half on
each side, or all on one side where the other would leave the image (never past the
image, so the result may stay short of a multiple). An all-zero mask returns the inputs.
Outputs the cropped frames and mask and the pack's CROP_INFO dict (``x``, ``y``, ``w``,
``h``, ``original_size`` as (height, width), ``mask_patch``).

``SuperResizeImage``: the target is ``width`` x ``height`` rounded to the nearest multiple
(at least one). ``crop`` ``disabled`` stretches to it; otherwise with ``cover`` the frames
are scaled (aspect kept, sides rounded) to cover the target and cut at the anchor
(``center``, ``left``, ``top-right``, …); without ``cover`` a window of the given size
(capped by the source, floored to the multiple) is cut at the anchor without scaling. Images
use ``upscale_method`` (ComfyUI's ``common_upscale``), masks always ``nearest-exact``,
clamped to 0..1; a missing image or mask comes out as zeros of the output size.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

CROPS = ("center", "disabled", "left", "right", "top", "bottom", "top-left", "top-right", "bottom-left",
         "bottom-right")
METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
#: Largest side wfrun makes (a bound on untrusted files; the pack's widgets allow 65536).
MAX_SIDE = 16384


def _grow(low: int, high: int, limit: int, multiple: int) -> tuple[int, int]:
    """One axis of the crop grown to the next multiple, the pack's way."""
    length = high - low
    if length % multiple == 0:
        return low, high
    target = (length // multiple + 1) * multiple
    before = (target - length) // 2
    after = target - length - before
    if low - before < 0:
        return 0, min(limit, target)
    if high + after > limit:
        return max(0, limit - target), limit
    return low - before, high + after


@executor("ImageMaskCrop")
def image_mask_crop(ctx: ExecContext, image: Any, mask: Any, padding: Any, multiple_of: Any, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]")
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise NodeInputError("mask", "expected a MASK [frames, height, width]")
    height, width = int(image.shape[1]), int(image.shape[2])
    if mask.max() == 0:
        info = {"x": 0, "y": 0, "w": width, "h": height, "original_size": (height, width), "mask_patch": None}
        return image, mask, info
    flat = (mask > 0.5).float()
    flat = flat.amax(dim=0) if mask.ndim > 2 else flat
    points = torch.nonzero(flat)
    if points.numel() == 0:
        y0, x0, y1, x1 = 0, 0, height, width
    else:
        y0, y1 = int(points[:, 0].min()), int(points[:, 0].max()) + 1
        x0, x1 = int(points[:, 1].min()), int(points[:, 1].max()) + 1
    pad, multiple = int(padding), int(multiple_of)
    if multiple < 1:
        raise NodeInputError("multiple_of", f"expected at least 1, found {multiple_of!r}")
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    x0, x1 = _grow(x0, x1, width, multiple)
    y0, y1 = _grow(y0, y1, height, multiple)
    cropped = image[:, y0:y1, x0:x1, :]
    cropped_mask = mask[..., y0:y1, x0:x1] if mask.ndim == 3 else mask[y0:y1, x0:x1]
    info = {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0, "original_size": (height, width),
            "mask_patch": cropped_mask}
    return cropped, cropped_mask, info


def _resize(tensor: torch.Tensor, width: int, height: int, method: str, is_mask: bool) -> torch.Tensor:
    if is_mask:
        return common_upscale(tensor.unsqueeze(1), width, height, "nearest-exact").squeeze(1).clamp(0.0, 1.0)
    return common_upscale(tensor.movedim(-1, 1), width, height, method).movedim(1, -1)


@executor("SuperResizeImage")
def super_resize_image(ctx: ExecContext, width: Any, height: Any, crop: Any, cover: Any, upscale_method: Any,
                       multiple_of: Any, image: Any = None, mask: Any = None, **_: Any) -> tuple:
    if crop not in CROPS:
        raise NodeInputError("crop", f"{crop!r} is not one of {', '.join(CROPS)}")
    if upscale_method not in METHODS:
        raise NodeInputError("upscale_method", f"{upscale_method!r} is not one of {', '.join(METHODS)}")
    if image is None and mask is None:
        raise NodeInputError("image", "neither an image nor a mask is connected", "connect an image or a mask")
    if image is not None and (not isinstance(image, torch.Tensor) or image.ndim != 4):
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4):
            raise NodeInputError("mask", "expected a MASK [frames, height, width]")
        mask = mask.unsqueeze(0) if mask.ndim == 2 else (mask.squeeze(1) if mask.ndim == 4 else mask)
    ref = image if image is not None else mask
    frames, src_h, src_w = int(ref.shape[0]), int(ref.shape[1]), int(ref.shape[2])
    m = int(multiple_of)
    if m < 1:
        raise NodeInputError("multiple_of", f"expected at least 1, found {multiple_of!r}")
    target_w, target_h = max(m, round(int(width) / m) * m), max(m, round(int(height) / m) * m)
    if max(target_w, target_h) > MAX_SIDE:
        raise NodeInputError("width", f"the target size {target_w}x{target_h} is beyond {MAX_SIDE}")
    device = ref.device
    if crop == "disabled":
        out_image = _resize(image, target_w, target_h, upscale_method, False) if image is not None \
            else torch.zeros((frames, target_h, target_w, 3), device=device)
        out_mask = _resize(mask, target_w, target_h, upscale_method, True) if mask is not None \
            else torch.zeros((frames, target_h, target_w), device=device)
        return out_image, out_mask
    if cover:
        scale = max(target_w / src_w, target_h / src_h)
        new_w, new_h = max(1, int(round(src_w * scale))), max(1, int(round(src_h * scale)))
        work_image = _resize(image, new_w, new_h, upscale_method, False) if image is not None else None
        work_mask = _resize(mask, new_w, new_h, upscale_method, True) if mask is not None else None
        cur_h, cur_w, final_w, final_h = new_h, new_w, target_w, target_h
    else:
        final_w = min(src_w, max(m, min(int(width), src_w) // m * m))
        final_h = min(src_h, max(m, min(int(height), src_h) // m * m))
        work_image, work_mask, cur_h, cur_w = image, mask, src_h, src_w
    max_y, max_x = max(0, cur_h - final_h), max(0, cur_w - final_w)
    y = 0 if "top" in crop else (max_y if "bottom" in crop else max_y // 2)
    x = 0 if "left" in crop else (max_x if "right" in crop else max_x // 2)
    out_image = work_image[:, y:y + final_h, x:x + final_w, :] if work_image is not None \
        else torch.zeros((frames, final_h, final_w, 3), device=device)
    out_mask = work_mask[:, y:y + final_h, x:x + final_w] if work_mask is not None \
        else torch.zeros((frames, final_h, final_w), device=device)
    return out_image, out_mask
