"""KJNodes' CreateShapeMask (``nodes/mask_nodes.py``) and ImageConcatFromBatch
(``nodes/image_nodes.py``).

CreateShapeMask draws, per frame, a white circle, square or triangle with PIL (as the
pack) centred on ``location``; frame ``i`` has size ``shape + i * grow`` (at least 0), the
box from ``location - size // 2`` to ``location + size // 2`` (PIL draws both corners);
the triangle's apex is at the top. Outputs the masks and ``1 - masks``.

ImageConcatFromBatch lays the frames in a grid of ``num_columns``, each cell bilinear-
resized to the frame size scaled down to fit ``max_resolution`` (rounded to multiples of
8, as the pack rounds), empty cells black, one image out. ``match_image_size`` is refused:
the pack resamples each frame of the (already uniform) batch with a truncated aspect size
through ``common_upscale`` on a channels-first frame without a batch axis, which wfrun
does not reproduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.checked import image as as_image

SHAPES = ("circle", "square", "triangle")


def _draw(shape: str, frame_w: int, frame_h: int, x: int, y: int, w: int, h: int) -> np.ndarray:
    canvas = Image.new("L", (frame_w, frame_h), 0)
    draw = ImageDraw.Draw(canvas)
    if shape == "triangle":
        draw.polygon([(x, y - h // 2), (x - w // 2, y + h // 2), (x + w // 2, y + h // 2)], fill=255)
    else:
        box = [(x - w // 2, y - h // 2), (x + w // 2, y + h // 2)]
        (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=255)
    return np.asarray(canvas, dtype=np.float32) / 255.0


@executor("CreateShapeMask")
def create_shape_mask(ctx: ExecContext, shape: Any, frames: Any, location_x: Any, location_y: Any, grow: Any,
                      frame_width: Any, frame_height: Any, shape_width: Any, shape_height: Any, **_: Any) -> tuple:
    if shape not in SHAPES:
        raise NodeInputError("shape", f"shape: unknown option {shape!r}", f"use one of {', '.join(SHAPES)}")
    frames, grow = int(frames), int(grow)
    out = [_draw(shape, int(frame_width), int(frame_height), int(location_x), int(location_y),
                 max(0, int(shape_width) + i * grow), max(0, int(shape_height) + i * grow)) for i in range(frames)]
    if not out:
        raise NodeInputError("frames", "no frames to draw", "use 1 or more")
    masks = torch.from_numpy(np.stack(out))
    return masks, 1.0 - masks


@executor("ImageConcatFromBatch")
def image_concat_from_batch(ctx: ExecContext, images: Any, num_columns: Any, match_image_size: Any,
                            max_resolution: Any, **_: Any) -> tuple:
    images = as_image(images, "images")
    if match_image_size:
        raise NodeInputError("match_image_size", "match_image_size on ImageConcatFromBatch is not supported in wfrun",
                             "turn it off (a batch's frames already share one size)")
    count, height, width, channels = images.shape
    columns = int(num_columns)
    if columns < 1:
        raise NodeInputError("num_columns", "num_columns must be 1 or more")
    rows = (count + columns - 1) // columns
    scale = min(int(max_resolution) / (rows * height), int(max_resolution) / (columns * width), 1.0)
    scaled_h, scaled_w = height * scale, width * scale
    cell_h, cell_w = max(1, int(round(scaled_h / 8) * 8)), max(1, int(round(scaled_w / 8) * 8))
    if abs(scaled_h - cell_h) > 4:
        cell_h = max(1, int(round((scaled_h + 4) / 8) * 8))
    if abs(scaled_w - cell_w) > 4:
        cell_w = max(1, int(round((scaled_w + 4) / 8) * 8))
    grid = torch.zeros((rows * cell_h, columns * cell_w, channels), dtype=images.dtype)
    cells = F.interpolate(images.permute(0, 3, 1, 2), size=(cell_h, cell_w), mode="bilinear").permute(0, 2, 3, 1)
    for index, cell in enumerate(cells):
        row, col = divmod(index, columns)
        grid[row * cell_h:(row + 1) * cell_h, col * cell_w:(col + 1) * cell_w, :] = cell.cpu()
    return (grid.unsqueeze(0),)
