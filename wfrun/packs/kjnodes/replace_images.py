"""KJNodes' ReplaceImagesInBatch (``nodes/image_nodes.py``): the original frames (and masks)
with ``replacement`` frames written over them from ``start_index`` on.

As the pack: the replacement must fit inside the batch (a start or end past it is an
error); a pair not connected gives a 64x64 black frame / empty mask in its place. A
replacement of another size is resized to the original's with a centre crop (lanczos for
images, nearest-exact for masks). Difference, written down: the pack compares width and
channels and passes height and width swapped to its resize, so there a non-square
replacement of another size fails; wfrun resizes it to the original frame size, which is
what the pack's code sets out to do.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _replace(original: torch.Tensor, replacement: torch.Tensor, start: int, name: str, method: str) -> torch.Tensor:
    if start >= len(original):
        raise NodeInputError("start_index", f"start_index {start} is past the {len(original)} original frames")
    end = start + len(replacement)
    if end > len(original):
        raise NodeInputError(name, f"{len(replacement)} replacement frames from {start} run past the "
                             f"{len(original)} original frames")
    out = original.clone()
    if replacement.shape[1:] != original.shape[1:]:
        if replacement.ndim == 4:  # IMAGE [B, H, W, C]
            replacement = common_upscale(replacement.movedim(-1, 1), original.shape[2], original.shape[1], method,
                                         "center").movedim(1, -1)
        else:  # MASK [B, H, W]
            replacement = common_upscale(replacement.unsqueeze(1), original.shape[2], original.shape[1], method,
                                         "center").squeeze(1)
    if replacement.shape[1:] != original.shape[1:]:
        raise NodeInputError(name, f"replacement frames of shape {tuple(replacement.shape[1:])} cannot replace "
                             f"frames of shape {tuple(original.shape[1:])}")
    out[start:end] = replacement.to(out.dtype)
    return out


@executor("ReplaceImagesInBatch")
def replace_images_in_batch(ctx: ExecContext, start_index: int, original_images: Any = None,
                            replacement_images: Any = None, original_masks: Any = None,
                            replacement_masks: Any = None, **_: Any) -> tuple:
    start = int(start_index)
    if original_images is not None and replacement_images is not None:
        images = _replace(original_images, replacement_images, start, "replacement_images", "lanczos")
    else:
        images = torch.zeros(1, 64, 64, 3)
    if original_masks is not None and replacement_masks is not None:
        masks = _replace(original_masks, replacement_masks, start, "replacement_masks", "nearest-exact")
    else:
        masks = torch.zeros(1, 64, 64)
    return (images, masks)
