"""VideoHelperSuite's batch helpers (``videohelpersuite/image_latent_nodes.py``):
VHS_SelectEveryNthImage (every ``select_every_nth`` frame after skipping the first
``skip_first_images``, and how many that is) and VHS_GetImageCount (the frame count)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _images(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError("images", f"images: expected an IMAGE [frames, height, width, channels], found {found}",
                             "connect an IMAGE output to 'images'")
    return value


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < low:
        raise NodeInputError(name, f"{name}: expected a whole number of at least {low}, found {value!r}")
    return int(value)


@executor("VHS_SelectEveryNthImage")
def select_every_nth_image(ctx: ExecContext, images: Any, select_every_nth: Any, skip_first_images: Any,
                           **_: Any) -> tuple:
    images = _images(images)
    chosen = images[_count(skip_first_images, "skip_first_images", 0)::_count(select_every_nth, "select_every_nth", 1)]
    return chosen, int(chosen.shape[0])


@executor("VHS_GetImageCount")
def get_image_count(ctx: ExecContext, images: Any, **_: Any) -> tuple:
    return (int(_images(images).shape[0]),)
