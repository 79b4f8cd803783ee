"""ComfyUI_essentials' ImageCASharpening+ (``image.py``): AMD's contrast-adaptive
sharpening in the pack's form.

On the image zero-padded by one pixel, per pixel ``e`` with cross neighbours ``b d f h`` and
diagonals ``a c g i``: ``mn`` = min over the cross (clamped at 0) plus min over the
diagonals, ``mx`` likewise with max (clamped at 1); ``amp = sqrt(min(mn, 2 - mx) /
(mx + 1e-5))``, ``w = -amp (amount (1/5 - 1/8) + 1/8)``, and the result
``((b + d + f + h) w + e) / (1 + 4 w)`` clamped to 0..1.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor
from wfrun.packs.essentials.values import image as as_image, number


@executor("ImageCASharpening+")
def image_cas_sharpening(ctx: ExecContext, image: Any, amount: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    amount = number(amount, "amount")
    img = F.pad(image.permute(0, 3, 1, 2), pad=(1, 1, 1, 1))
    a, b, c = img[..., :-2, :-2], img[..., :-2, 1:-1], img[..., :-2, 2:]
    d, e, f = img[..., 1:-1, :-2], img[..., 1:-1, 1:-1], img[..., 1:-1, 2:]
    g, h, i = img[..., 2:, :-2], img[..., 2:, 1:-1], img[..., 2:, 2:]
    cross, diag = torch.stack((b, d, e, f, h)), torch.stack((a, c, g, i))
    mn = cross.min(dim=0)[0].clamp(min=0) + diag.min(dim=0)[0].clamp(min=0)
    mx = cross.max(dim=0)[0].clamp(max=1) + diag.max(dim=0)[0].clamp(max=1)
    amp = torch.sqrt(torch.reciprocal(mx + 1e-5) * torch.minimum(mn, 2 - mx))
    w = -amp * (amount * (1 / 5 - 1 / 8) + 1 / 8)
    out = ((b + d + f + h) * w + e) * torch.reciprocal(1 + 4 * w)
    return (out.clamp(0, 1).permute(0, 2, 3, 1),)
