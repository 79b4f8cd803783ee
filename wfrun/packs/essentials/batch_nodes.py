"""ComfyUI_essentials' image batch helpers (``image.py``): ImageFromBatch+ and GetImageSize+.

* ImageFromBatch+ cuts ``length`` frames from ``start``: a negative ``length`` means the
  whole batch; ``start`` past the end is clamped to the last frame, and the length to what
  is left, so the result always holds at least one frame.
* GetImageSize+ gives width, height and the frame count (its first signature had only width
  and height; the count is a third output a saved file of then simply does not link).
* ImageBatchToList+ gives each frame as a one-frame IMAGE of a list output (later nodes run
  once per frame, ``wfrun.engine.lists``); ImageListToBatch+ (``INPUT_IS_LIST``) joins a
  list of IMAGEs into one batch, each one of another size than the first resized to it
  first (bicubic, centre crop, as ``comfy.utils.common_upscale``).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _image(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0:
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], found {found}",
                             f"connect an IMAGE output to '{name}'")
    return value


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    return int(value)


@executor("ImageFromBatch+")
def image_from_batch(ctx: ExecContext, image: Any, start: Any, length: Any, **_: Any) -> tuple:
    image = _image(image, "image")
    start, length = _whole(start, "start"), _whole(length, "length")
    if start < 0:
        raise NodeInputError("start", f"start: {start} is below 0", "use 0 for the first frame")
    frames = image.shape[0]
    if length < 0:
        length = frames
    start = min(start, frames - 1)
    length = min(frames - start, length)
    return (image[start:start + length],)


@executor("GetImageSize+")
def get_image_size(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    image = _image(image, "image")
    return int(image.shape[2]), int(image.shape[1]), int(image.shape[0])


@executor("ImageBatchToList+")
def image_batch_to_list(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    return (list(_image(image, "image").split(1)),)


@executor("ImageListToBatch+")
def image_list_to_batch(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    if not isinstance(image, list) or not image:  # the engine hands a list node a list, never empty
        raise NodeInputError("image", "image: expected the engine's list of IMAGEs")
    images = [_image(item, "image") for item in image]
    height, width = images[0].shape[1:3]
    out = [item if item.shape[1:3] == (height, width) else
           common_upscale(item.movedim(-1, 1), width, height, "bicubic", "center").movedim(1, -1)
           for item in images]
    return (torch.cat(out, dim=0),)
