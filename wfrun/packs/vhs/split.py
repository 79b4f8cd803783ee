"""VHS_SplitImages (``videohelpersuite/image_latent_nodes.py``): the frames before
``split_index`` and the rest, with their counts. The index is a Python slice bound, as in
the pack: a negative one counts from the end, one past either end gives an empty half (a
0-frame IMAGE, which the node after it must accept)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("VHS_SplitImages")
def split_images(ctx: ExecContext, images: Any, split_index: int, **_: Any) -> tuple:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE output")
    a, b = images[:int(split_index)], images[int(split_index):]
    return a, int(a.shape[0]), b, int(b.shape[0])
