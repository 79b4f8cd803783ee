"""The sampler's ``resize_image_to_target``: stretch, crop or pad an IMAGE to the chunk size
with ComfyUI's bicubic ``common_upscale`` (no resize at all when the size already fits)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wfrun.media.image import upscale_image

POSITIONS = ("center", "top", "bottom", "left", "right")


def _crop_box(w: int, h: int, width: int, height: int, position: str) -> tuple[int, int, int, int]:
    """(x, y, crop width, crop height) of the largest target-aspect window at ``position``."""
    if w / h > width / height:
        cw, ch = round(h * (width / height)), h
    else:
        cw, ch = w, round(w / (width / height))
    x = {"left": 0, "right": w - cw}.get(position, (w - cw) // 2)
    y = {"top": 0, "bottom": h - ch}.get(position, (h - ch) // 2)
    return x, y, cw, ch


def _pads(new_w: int, new_h: int, width: int, height: int, position: str) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding that places the scaled image at ``position``."""
    dx, dy = width - new_w, height - new_h
    left = {"left": 0, "right": dx}.get(position, dx // 2)
    top = {"top": 0, "bottom": dy}.get(position, dy // 2)
    return left, dx - left, top, dy - top


def resize_to_target(image: torch.Tensor, width: int, height: int, keep_proportion: str, position: str) -> torch.Tensor:
    """IMAGE [B, H, W, C] → [B, height, width, C]; pad fills with black (0)."""
    _b, h, w, _c = image.shape
    if w == width and h == height:
        return image
    if keep_proportion == "stretch":
        return upscale_image(image, width, height, "bicubic")
    if keep_proportion == "crop":
        x, y, cw, ch = _crop_box(w, h, width, height, position)
        return upscale_image(image[:, y:y + ch, x:x + cw, :], width, height, "bicubic")
    if keep_proportion == "pad":
        ratio = min(width / w, height / h)
        new_w, new_h = round(w * ratio), round(h * ratio)
        scaled = upscale_image(image, new_w, new_h, "bicubic")
        left, right, top, bottom = _pads(new_w, new_h, width, height, position)
        if left > 0 or right > 0 or top > 0 or bottom > 0:
            scaled = F.pad(scaled.movedim(-1, 1), (left, right, top, bottom), mode="constant", value=0.0).movedim(1, -1)
        return scaled
    return image
