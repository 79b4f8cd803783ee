"""Canny (Detect Edges), ComfyUI's ``comfy_extras/nodes_canny.py``: ``kornia.filters.canny``
on the image, whose edge map (0 or 1) is repeated into three channels.

wfrun computes the same steps in torch, without kornia, as kornia 0.9 does them:

1. grey = 0.299 R + 0.587 G + 0.114 B (3-channel images; one channel is used as it is);
2. Gaussian blur, 5 taps, sigma 1 (``exp(-n² / 2)`` for n = -2..2, normalised), separable,
   borders reflected;
3. unnormalised Sobel gradients, borders replicated;
4. magnitude ``sqrt(gx² + gy² + 1e-6)``, direction ``atan2(gy, gx)`` rounded to 45°;
5. non-maximum suppression against the two neighbours along that direction (outside the
   image: the magnitude of a zero gradient); a tie with the neighbour counts as a maximum
   toward the right (0°) and down (90°) only, so a one-pixel step keeps one edge line;
6. thresholds: above ``high`` strong, above ``low`` weak; hysteresis keeps weak pixels
   8-connected to strong ones, repeated until nothing changes.

kornia before 0.9 suppressed ties in every direction, which removed both sides of a
perfectly sharp step; the ComfyUI a user has shows whichever kornia it installed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.values import float_input, image_input

EPS = 1e-6
#: (dy, dx) of the neighbour in each 45° direction: 0 right, 1 down-right, 2 down, … 7 up-right.
DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


def _blur(grey: torch.Tensor) -> torch.Tensor:
    taps = torch.exp(-torch.arange(-2, 3, dtype=grey.dtype) ** 2 / 2.0)
    taps = taps / taps.sum()
    x = F.pad(grey, (2, 2, 0, 0), mode="reflect")
    x = F.conv2d(x, taps.view(1, 1, 1, 5))
    x = F.pad(x, (0, 0, 2, 2), mode="reflect")
    return F.conv2d(x, taps.view(1, 1, 5, 1))


def _sobel(blurred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=blurred.dtype)
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1)
    gradients = F.conv2d(F.pad(blurred, (1, 1, 1, 1), mode="replicate"), kernels)
    return gradients[:, 0:1], gradients[:, 1:2]


def canny_edges(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Edge map [B, 1, H, W] (0 or 1) of images [B, C, H, W] with C = 1 or 3."""
    x = images.float()
    if x.shape[1] == 3:
        x = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    gx, gy = _sobel(_blur(x))
    height, width = gx.shape[-2:]
    padded = torch.sqrt(F.pad(gx, (1, 1, 1, 1)) ** 2 + F.pad(gy, (1, 1, 1, 1)) ** 2 + EPS)
    magnitude = padded[..., 1:1 + height, 1:1 + width]
    neighbours = torch.stack([padded[..., 1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in DIRECTIONS])
    sector = torch.round(torch.nan_to_num(torch.atan2(gy, gx)) * (4 / torch.pi))
    positive = (sector % 8).long()
    negative = ((sector + 4) % 8).long()

    def beats(direction: torch.Tensor) -> torch.Tensor:
        other = torch.gather(neighbours, 0, direction.unsqueeze(0))[0]
        tie_ok = (direction == 0) | (direction == 2)
        return (magnitude > other) | (tie_ok & (magnitude == other))

    is_max = beats(positive) & beats(negative) & (magnitude > padded[..., :1, :1])
    magnitude = magnitude * is_max
    edges = ((magnitude > low).float() + (magnitude > high).float()) * 0.5
    around = torch.zeros((8, 1, 3, 3), dtype=edges.dtype)
    for k, (dy, dx) in enumerate(DIRECTIONS):
        around[k, 0, 1 + dy, 1 + dx] = 1.0
    previous = None
    while previous is None or not torch.equal(previous, edges):
        previous = edges
        weak = (edges == 0.5).float()
        strong = (edges == 1).float()
        linked = (F.conv2d(edges, around, padding=1) == 1).any(1, keepdim=True).float() * weak + strong
        edges = linked + (linked == 0) * weak * 0.5
    return (edges == 1).float()


@executor("Canny")
def canny(ctx: ExecContext, image: Any, low_threshold: Any, high_threshold: Any, **_: Any) -> tuple:
    image = image_input(image, "image")
    low = float_input(low_threshold, "low_threshold", low=0.0, high=1.0)
    high = float_input(high_threshold, "high_threshold", low=0.0, high=1.0)
    if low > high:
        raise NodeInputError("low_threshold", f"low_threshold {low} is above high_threshold {high}",
                             "make low_threshold at most high_threshold")
    if image.shape[-1] not in (1, 3):
        raise NodeInputError("image", f"the image has {image.shape[-1]} channels; Canny takes 1 or 3 (RGB)",
                             "convert RGBA to RGB first")
    if image.shape[1] < 3 or image.shape[2] < 3:
        raise NodeInputError("image", f"the image is {image.shape[2]}x{image.shape[1]}; Canny's 5-tap blur "
                             "needs at least 3x3")
    out = []
    for start in range(0, image.shape[0], 16):  # bounded memory for long videos
        ctx.check_interrupt()
        batch = image[start:start + 16].movedim(-1, 1)
        out.append(canny_edges(batch, low, high).to(image.dtype).repeat(1, 3, 1, 1).movedim(1, -1))
    return (torch.cat(out),)
