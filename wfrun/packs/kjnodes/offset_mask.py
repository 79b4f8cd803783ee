"""KJNodes' OffsetMask (``nodes/mask_nodes.py``): repeat a mask batch
``duplication_factor`` times and shift each mask by ``x``, ``y`` pixels (``incremental``:
mask ``i`` by ``(i + 1)`` times that), each shift capped at the side minus one.

With ``roll`` the pixels wrap round; otherwise, with ``padding_mode`` "empty", a positive
shift moves the mask right / down with zeros coming in, and a negative one, as the pack's
slicing does it, does not move the mask but blanks that many columns / rows on the right /
bottom. The pack's other two modes ("border", "reflection") match none of the
names its code tests ("replicate", "reflect"), so there a non-rolled mask does not move;
kept. Rotation (``angle`` above 0, or any ``angle`` with ``incremental``) goes through
torchvision's ``rotate``, which wfrun does not reproduce: refused.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.checked import mask as as_mask


def _shift(m: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The pack's "empty" shift of one [H, W] mask (a negative shift only blanks the far edge)."""
    h, w = m.shape
    if dx > 0:
        m = torch.cat([torch.zeros((h, dx), dtype=m.dtype), m[:, :-dx]], dim=1)
    elif dx < 0:
        m = torch.cat([m[:, :dx], torch.zeros((h, -dx), dtype=m.dtype)], dim=1)
    if dy > 0:
        m = torch.cat([torch.zeros((dy, w), dtype=m.dtype), m[:-dy, :]], dim=0)
    elif dy < 0:
        m = torch.cat([m[:dy, :], torch.zeros((-dy, w), dtype=m.dtype)], dim=0)
    return m


@executor("OffsetMask")
def offset_mask(ctx: ExecContext, mask: Any, x: Any, y: Any, angle: Any, duplication_factor: Any, roll: Any,
                incremental: Any, padding_mode: Any, **_: Any) -> tuple:
    masks = as_mask(mask, "mask").cpu().repeat(int(duplication_factor), 1, 1).clone()
    x, y, angle = int(x), int(y), int(angle)
    if (angle != 0 and incremental) or angle > 0:
        raise NodeInputError("angle", "rotating masks (torchvision's rotate in the pack) is not supported in wfrun",
                             "set angle to 0")
    if padding_mode not in ("empty", "border", "reflection"):
        raise NodeInputError("padding_mode", f"padding_mode: unknown option {padding_mode!r}",
                             "use empty, border or reflection")
    count, height, width = masks.shape
    out = []
    for i in range(count):
        step = i + 1 if incremental else 1
        dx, dy = min(x * step, width - 1), min(y * step, height - 1)
        if -dx > width or -dy > height:  # the pack fails there (a wider zero block than the mask)
            raise NodeInputError("x" if -dx > width else "y", f"a shift of ({dx}, {dy}) moves the mask out of its "
                                 f"{width}x{height} frame", "use a smaller shift")
        m = masks[i]
        if roll:
            if dx != 0:
                m = torch.roll(m, shifts=dx, dims=1)
            if dy != 0:
                m = torch.roll(m, shifts=dy, dims=0)
        elif padding_mode == "empty":
            m = _shift(m, dx, dy)
        out.append(m)
    return (torch.stack(out),)
