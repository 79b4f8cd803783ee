"""ImageScaleToTotalPixelsX (``__init__.py``): scale to about ``megapixels``, sides cut to
multiples of ``multiple_of``, by stretching, centre cropping or padding.

* Target: ``scale = sqrt(total / (w * h))``, sides ``round(w * scale)``, ``round(h *
  scale)``, each less its remainder modulo ``multiple_of`` and at least ``multiple_of``;
  ``megapixels`` 0 keeps the size. ``total`` is ``int(megapixels * 1024 * 1024)`` in the
  releases up to 2026-02-12 and ``int(megapixels * 1e6)`` from then on: the node's saved
  ``properties.ver`` says which (an unknown or absent one means the current rule).
* ``crop``: resize by the larger ratio to ``round``ed sides, then cut the centred target
  box; ``pad``: resize by the smaller ratio and pad with black around, centred (the odd
  pixel right and bottom); ``stretch``: resize to the target.
* Resampling as ``comfy.utils`` (lanczos through Pillow on 8-bit data, others through
  torch); a result whose sides are still not multiples is trimmed around the centre;
  values clamped to 0..1. Outputs the image and its width and height.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import lanczos
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_version

#: The pack's commits before "1 megapixel = 1 million pixels" (dd4135f, 2026-02-12).
MEBI_RELEASES = (
    "3ecb9d82493c1d477c392b4abf62963a386311aa", "ee5d17c61f5c706fa999d78388313ee292808a4a",
    "a635add9e42710b758256a73e8415eb8af92a8b2", "40369ef53ef2e6b41ec0471fc78778facb313259",
    "64013a398ad939a5434947122f4fa9aecec51bf6", "b402b27cc700747ee76ebe6872455fef1a8bcad9",
    "8026a55431ed9300359cfea6188cbedf4c737250", "694ae1f8352f770e4511f99ed35e2460d5591c83",
    "311de8f7d560b37a816c1c797940bef13d69f6e0", "fb24a5d89c7caccff54da8efdeadbe4f8baad31c",
    "c88596fe43bf5d887a93f00ce6c29fd0f2fe63a9", "941c0f559045d2b7a86dcd1d15ff568e32ee659b",
    "481ba898cb84246eed821e3a1afcfdfd007fc787", "36afb3f2035c8019462d5736a9d960806a239ddf",
    "6cc1154985470db741b8a57fb2d1ac844d2b0db2", "39b9dd38d09ae4707be57a1ad6c8410c317cfcc0",
    "5670601c0b4f5ac74f57b8eae5241fb2b6f80415", "03baf44693497f2378ffa47115350035ec19e379",
    "50989624371a06d4547ff7c14d1dd428c03ba5dd", "a95204141f884a4be37619842ef26b8d6e3a0579",
    "792989fc5de9a27bfcd49cd56b1bbbd4e0f1713a", "a3fd3c6cd2a2aab2a949b59f240ff5ec160f20b7",
    "5c11ecf2b85ab7f48ed04f402c59e7be4f7a632a",
)
METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
MODES = ("stretch", "crop", "pad")


def pixels_per_megapixel(ver: str | None) -> int:
    """1024² for a node saved by a release before 2026-02-12, else 10⁶."""
    if ver and len(ver) >= 7 and any(full.startswith(ver.lower()) for full in MEBI_RELEASES):
        return 1024 * 1024
    return 1_000_000


def target_size(w: int, h: int, megapixels: float, multiple_of: int, per_mp: int) -> tuple[int, int]:
    if megapixels == 0:
        tw, th = w, h
    else:
        scale = math.sqrt(int(megapixels * per_mp) / (w * h))
        tw, th = round(w * scale), round(h * scale)
    if multiple_of > 1:
        tw, th = tw - tw % multiple_of, th - th % multiple_of
    return max(multiple_of, tw), max(multiple_of, th)


def _resize(samples: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    if method == "lanczos":
        return lanczos(samples, width, height)
    return F.interpolate(samples, size=(height, width), mode=method)


@executor("ImageScaleToTotalPixelsX")
def scale_to_total_pixels(ctx: ExecContext, image: Any, megapixels: float, multiple_of: int, resize_mode: str,
                          upscale_method: str, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or 0 in image.shape[1:3]:
        raise NodeInputError("image", f"expected an IMAGE batch, got {getattr(image, 'shape', type(image).__name__)}")
    if upscale_method not in METHODS:
        raise NodeInputError("upscale_method", f"unknown method {upscale_method!r}", f"use one of {', '.join(METHODS)}")
    if resize_mode not in MODES:
        raise NodeInputError("resize_mode", f"unknown mode {resize_mode!r}", f"use one of {', '.join(MODES)}")
    multiple_of = max(1, int(multiple_of))
    _, oh, ow, _ = image.shape
    tw, th = target_size(ow, oh, float(megapixels), multiple_of, pixels_per_megapixel(saved_version(ctx.workflow_json,
                                                                                                 ctx.node_id)))
    if tw * th > 2 ** 28:
        raise NodeInputError("megapixels", f"{tw}x{th} is beyond wfrun's bound for one frame")
    width, height = tw, th
    pad = (0, 0, 0, 0)
    box = None
    if resize_mode == "pad":
        ratio = min(tw / ow, th / oh)
        width, height = round(ow * ratio), round(oh * ratio)
        left, top = (tw - width) // 2, (th - height) // 2
        pad = (left, tw - width - left, top, th - height - top)
    elif resize_mode == "crop":
        ratio = max(tw / ow, th / oh)
        width, height = round(ow * ratio), round(oh * ratio)
        x, y = (width - tw) // 2, (height - th) // 2
        x, y = max(0, x - max(0, x + tw - width)), max(0, y - max(0, y + th - height))
        box = (x, y, x + tw, y + th)
    out = _resize(image.movedim(-1, 1).float(), width, height, upscale_method)
    if any(pad):
        out = F.pad(out, pad, value=0)
    out = out.movedim(1, -1)
    if box is not None:
        x, y, x2, y2 = box
        out = out[:, y:y2, x:x2, :]
    if multiple_of > 1 and (out.shape[2] % multiple_of or out.shape[1] % multiple_of):
        fw, fh = out.shape[2], out.shape[1]
        x, y = (fw % multiple_of) // 2, (fh % multiple_of) // 2
        out = out[:, y:fh - (fh % multiple_of - y), x:fw - (fw % multiple_of - x), :]
    out = out.clamp(0, 1)
    return (out, int(out.shape[2]), int(out.shape[1]))
