"""Two CRT-Nodes helpers (``py/Quantize_And_Crop.py``, ``py/Strength_To_Steps_Node.py``).

* ``CRT_QuantizeAndCropImage``: picks the bucket of the pack's SDXL-style list whose aspect
  is closest to the image's (the first on ties), scales it down so its longer side is at
  most ``max_side_length``, rounds both sides to multiples of 64 (at least 64); then
  resizes the image (bicubic with antialiasing, torch) so it covers that size and cuts the
  centre. Outputs the image, width and height.
* ``Strength To Steps``: ``total = round(desired_steps / (max(strength_percent, 1) / 100))``
  and ``start = total - desired_steps`` (Python's ``round``: halves to even).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

BUCKETS = ((1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768), (768, 1344), (1536, 640),
           (640, 1536), (1088, 1088), (1152, 960), (960, 1152), (1280, 896), (896, 1280), (1344, 832), (832, 1344),
           (1408, 768), (768, 1408), (1472, 704), (704, 1472), (1600, 640), (640, 1600), (1664, 576), (576, 1664),
           (1728, 576), (576, 1728))


def quantized_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    if width == 0 or height == 0:
        return max_side, max_side
    aspect = width / height
    tw, th = min(BUCKETS, key=lambda b: abs(aspect - b[0] / b[1]))  # min keeps the first of equals
    if max(tw, th) > max_side:
        ratio = max_side / max(tw, th)
        tw, th = int(round(tw * ratio)), int(round(th * ratio))
    tw, th = int(round(tw / 64.0) * 64), int(round(th / 64.0) * 64)
    return tw or 64, th or 64


@executor("CRT_QuantizeAndCropImage")
def quantize_and_crop(ctx: ExecContext, image: Any, max_side_length: Any, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or 0 in image.shape[1:3]:
        raise NodeInputError("image", f"expected an IMAGE batch, got {getattr(image, 'shape', type(image).__name__)}")
    if isinstance(max_side_length, bool) or not isinstance(max_side_length, (int, float)) or max_side_length < 1:
        raise NodeInputError("max_side_length", f"expected a positive number of pixels, found {max_side_length!r}")
    _, h, w, _ = image.shape
    tw, th = quantized_size(w, h, int(max_side_length))
    aspect = w / h
    if aspect > tw / th:
        sh, sw = th, int(round(th * aspect))
    else:
        sw, sh = tw, int(round(tw / aspect))
    resized = F.interpolate(image.movedim(-1, 1).float(), size=(sh, sw), mode="bicubic", antialias=True).movedim(1, -1)
    top, left = max(0, sh - th) // 2, max(0, sw - tw) // 2
    return (resized[:, top:top + th, left:left + tw, :], tw, th)


@executor("Strength To Steps")
def strength_to_steps(ctx: ExecContext, desired_steps: Any, strength_percent: Any, **_: Any) -> tuple:
    for name, value in (("desired_steps", desired_steps), ("strength_percent", strength_percent)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NodeInputError(name, f"{name}: expected a number, found {value!r}")
    total = round(desired_steps / (max(strength_percent, 1.0) / 100.0))
    return (total, total - desired_steps)
