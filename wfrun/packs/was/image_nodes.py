"""WAS Node Suite's Tensor Batch to Image (``WAS_Node_Suite.py``): one image of a batch.

Frame ``batch_image_number`` of ``images_batch``, as a batch of one; a number past the
last frame gives the last frame (the pack logs an error and goes on), so a workflow that
asks for frame 3 of a 2-frame batch runs as it does in ComfyUI.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


@executor("Tensor Batch to Image")
def tensor_batch_to_image(ctx: ExecContext, images_batch: Any, batch_image_number: Any, **_: Any) -> tuple:
    if not isinstance(images_batch, torch.Tensor) or images_batch.ndim != 4 or images_batch.shape[0] == 0:
        found = list(images_batch.shape) if isinstance(images_batch, torch.Tensor) else type(images_batch).__name__
        raise NodeInputError("images_batch", f"expected an IMAGE batch [frames, height, width, channels], "
                             f"found {found}", "connect an IMAGE output")
    if isinstance(batch_image_number, bool) or not isinstance(batch_image_number, int):
        raise NodeInputError("batch_image_number", f"expected a whole number, found {batch_image_number!r}")
    index = int(batch_image_number)
    if not 0 <= index < images_batch.shape[0]:
        log.warning("Tensor Batch to Image: batch number %d is not in a batch of %d; the last image, as the pack",
                    index, images_batch.shape[0])
        index = images_batch.shape[0] - 1
    return (images_batch[index:index + 1],)
