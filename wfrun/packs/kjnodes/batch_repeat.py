"""KJNodes' ImageBatchRepeatInterleaving (``nodes/image_nodes.py``): each frame repeated
``repeats`` times in place (0, 0, 1, 1, … for 2), as ``torch.repeat_interleave``.

Since 2025-04-07 the node also gives a MASK: the optional input ``mask`` repeated the same
way, or, without one, a mask that is 1 on the first copy of each frame and 0 on the repeats
(the pack's rule since 2025-05-20: it marks which frames are the originals). Between those
two dates the pack's mask without an input was a zeros tensor of a malformed shape
(``[frames, 1, width, channels]``); wfrun gives the later, well-formed mask for every
version. Workflows saved before 2025-04-07 only read the IMAGE output.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("ImageBatchRepeatInterleaving")
def image_batch_repeat_interleaving(ctx: ExecContext, images: Any, repeats: Any, mask: Any = None,
                                    **_: Any) -> tuple:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "images: expected an IMAGE [frames, height, width, channels]",
                             "connect an IMAGE output to 'images'")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 4096:
        raise NodeInputError("repeats", f"repeats is {repeats!r}; expected a whole number from 1 to 4096")
    repeated = torch.repeat_interleave(images, repeats=repeats, dim=0)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
            raise NodeInputError("mask", "mask: expected a MASK [frames, height, width]", "connect a MASK output")
        mask = torch.repeat_interleave(mask if mask.ndim == 3 else mask.unsqueeze(0), repeats=repeats, dim=0)
    else:
        mask = torch.zeros(repeated.shape[:3], dtype=images.dtype, device=images.device)
        mask[::repeats] = 1.0
    return (repeated, mask)
