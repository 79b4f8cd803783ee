"""Image resampling as ComfyUI's ``comfy.utils.common_upscale`` does it (no cropping).

The pack resizes start/end images with ``common_upscale(..., "lanczos", "disabled")``;
ComfyUI implements lanczos with Pillow per image (after clamping to 0..1 and rounding
to 8 bits), and the other modes with ``torch.nn.functional.interpolate``. Same here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str = "bilinear") -> torch.Tensor:
    """``samples`` [B, C, H, W] → [B, C, height, width]."""
    if samples.shape[-1] == width and samples.shape[-2] == height:
        return samples
    if method == "lanczos":
        return _lanczos(samples, width, height)
    if method == "bislerp":
        method = "bilinear"
    kwargs = {"antialias": True} if method == "area" else {}
    if method in ("bilinear", "bicubic"):
        kwargs["align_corners"] = False
    return F.interpolate(samples, size=(height, width), mode=method if method != "nearest-exact" else "nearest-exact",
                         **({} if method == "area" else kwargs))


def _lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    from PIL import Image

    out = []
    for image in samples:
        array = (image.movedim(0, -1).float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        mode = "RGB" if array.shape[-1] == 3 else None
        pil = Image.fromarray(array if mode else array[..., 0])
        pil = pil.resize((width, height), resample=Image.LANCZOS)
        back = torch.from_numpy(np.asarray(pil).astype(np.float32) / 255.0)
        if back.ndim == 2:
            back = back.unsqueeze(-1)
        out.append(back.movedim(-1, 0))
    return torch.stack(out).to(device=samples.device, dtype=samples.dtype)
