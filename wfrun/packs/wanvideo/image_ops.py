"""Image resampling as the pack gets it from ComfyUI's ``comfy.utils.common_upscale``.

The pack resizes start/end images and odd-sized videos with
``common_upscale(..., "lanczos", "disabled")``. ComfyUI's lanczos goes through Pillow on
8-bit images made by ``clip(255 * x, 0, 255).astype(uint8)`` — the values are *truncated*,
not rounded — and it converts even when the image already has the requested size, so an
image that needs no resizing still comes back quantised down to 8 bits. ``media.image``
holds that conversion once for every pack; this module only keeps the pack's calling
convention (no crop, ``bislerp`` read as ``bilinear``, which wfrun does not implement and
the pack never asks for).
"""

from __future__ import annotations

import torch

from wfrun.media.image import common_upscale as _comfy_common_upscale


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str = "bilinear") -> torch.Tensor:
    """``samples`` [B, C, H, W] → [B, C, height, width], never cropped.

    No shortcut when the size already fits: ComfyUI has none, and for lanczos the 8-bit
    round trip changes the values even then.
    """
    if method == "bislerp":
        method = "bilinear"
    return _comfy_common_upscale(samples, width, height, method, "disabled")
