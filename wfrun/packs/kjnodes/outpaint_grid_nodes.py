"""KJNodes' outpaint padding and grid nodes (``nodes/image_nodes.py``):
ImagePadForOutpaintMasked, ImagePadForOutpaintTargetSize, ImageGridComposite2x2/3x3,
ImageGridtoBatch and CrossFadeImagesMulti.

- ImagePadForOutpaintMasked grows the image by the four margins with grey 0.5. Without a
  mask (or with an all-black one) the mask is 1 on the margins and, with ``feathering``
  below half the image's sides, ``((f - d) / f)^2`` inside at distance ``d < f`` from a
  padded side (0 elsewhere). With a mask, the mask is padded with 0 and inverted; the
  feathering is then computed by the pack but not used, so it is ignored here.
- ImagePadForOutpaintTargetSize first shrinks an image larger than the target (factor
  ``min(tw / W, th / H)``, sizes truncated, ``upscale_method``; the mask nearest-resized to
  that size) and pads the rest evenly, the odd pixel to the bottom / right.
- ImageGridComposite2x2/3x3 put the images side by side in rows, rows stacked.
- ImageGridtoBatch cuts a grid into ``columns`` x ``rows`` cells (rows 0: as many rows of
  cells of height ``H // columns`` as fit), row by row, dropping what does not fill a cell.
- CrossFadeImagesMulti appends each next batch (lanczos-resized to the first's size) after
  ``transitioning_frames`` blends from the running batch's last frame to its first frame,
  the blend weight ``frame / (frames - 1)`` through the easing curve.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.batch_index_nodes import EASING
from wfrun.packs.kjnodes.checked import image as as_image, mask as as_mask

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")


def _feather(h: int, w: int, top: int, bottom: int, left: int, right: int, feathering: int) -> torch.Tensor:
    """The pack's per-pixel feather weights inside the original image (0 where none)."""
    i = torch.arange(h, dtype=torch.float32).view(-1, 1).expand(h, w)
    j = torch.arange(w, dtype=torch.float32).view(1, -1).expand(h, w)
    dt = i if top != 0 else torch.full_like(i, h)
    db = h - i if bottom != 0 else torch.full_like(i, h)
    dl = j if left != 0 else torch.full_like(j, w)
    dr = w - j if right != 0 else torch.full_like(j, w)
    d = torch.minimum(torch.minimum(dt, db), torch.minimum(dl, dr))
    v = (feathering - d) / feathering
    return torch.where(d < feathering, v * v, torch.zeros_like(v))


def pad_for_outpaint(image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int,
                     mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if mask is not None and torch.allclose(mask, torch.zeros_like(mask)):
        mask = None  # the pack: a fully black mask is handled as none
    b, h, w, c = image.shape
    out = torch.full((b, h + top + bottom, w + left + right, c), 0.5, dtype=torch.float32)
    out[:, top:top + h, left:left + w, :] = image
    if mask is not None:
        return out, 1 - F.pad(mask, (left, right, top, bottom), mode="constant", value=0)
    new_mask = torch.ones((b, h + top + bottom, w + left + right), dtype=torch.float32)
    inner = torch.zeros((b, h, w), dtype=torch.float32)
    if 0 < feathering and feathering * 2 < h and feathering * 2 < w:
        inner = _feather(h, w, top, bottom, left, right, feathering).expand(b, h, w)
    new_mask[:, top:top + h, left:left + w] = inner
    return out, new_mask


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NodeInputError(name, f"{name}: expected a whole number of 0 or more, found {value!r}")
    return value


@executor("ImagePadForOutpaintMasked")
def image_pad_for_outpaint_masked(ctx: ExecContext, image: Any, left: Any, top: Any, right: Any, bottom: Any,
                                  feathering: Any, mask: Any = None, **_: Any) -> tuple:
    image = as_image(image, "image")
    mask = None if mask is None else as_mask(mask, "mask")
    if mask is not None and mask.shape[1:] != image.shape[1:3]:
        raise NodeInputError("mask", f"the mask {list(mask.shape[1:])} is not the image's size "
                             f"{list(image.shape[1:3])}", "resize the mask to the image first")
    return pad_for_outpaint(image, _whole(left, "left"), _whole(top, "top"), _whole(right, "right"),
                            _whole(bottom, "bottom"), _whole(feathering, "feathering"), mask)


@executor("ImagePadForOutpaintTargetSize")
def image_pad_for_outpaint_target_size(ctx: ExecContext, image: Any, target_width: Any, target_height: Any,
                                       feathering: Any, upscale_method: Any, mask: Any = None, **_: Any) -> tuple:
    image = as_image(image, "image")
    if upscale_method not in UPSCALE_METHODS:
        raise NodeInputError("upscale_method", f"upscale_method: unknown option {upscale_method!r}",
                             f"use one of {', '.join(UPSCALE_METHODS)}")
    tw, th = _whole(target_width, "target_width"), _whole(target_height, "target_height")
    _, h, w, _ = image.shape
    new_h, new_w = h, w
    factor = min(tw / w, th / h)
    if factor < 1:
        new_w, new_h = int(w * factor), int(h * factor)
        if new_w == 0 or new_h == 0:
            raise NodeInputError("target_width" if new_w == 0 else "target_height",
                                 f"a target of {tw}x{th} shrinks the image to nothing", "set a target size")
        image = common_upscale(image.movedim(-1, 1), new_w, new_h, upscale_method, "disabled").movedim(1, -1)
    scaled_mask = None
    if mask is not None:
        scaled_mask = F.interpolate(as_mask(mask, "mask").unsqueeze(0), size=(new_h, new_w), mode="nearest")[0]
    top = max(0, (th - new_h) // 2)
    bottom = max(0, th - new_h - top)
    left = max(0, (tw - new_w) // 2)
    right = max(0, tw - new_w - left)
    return pad_for_outpaint(image, left, top, right, bottom, _whole(feathering, "feathering"), scaled_mask)


def _grid(rows: list[list[Any]], names: list[list[str]]) -> torch.Tensor:
    checked = [[as_image(v, n) for v, n in zip(row, row_names)] for row, row_names in zip(rows, names)]
    try:
        return torch.cat([torch.cat(row, dim=2) for row in checked], dim=1)
    except RuntimeError:
        raise NodeInputError(names[0][0], "the grid's images must share frame count and, per row / column, "
                             "height and width", "resize the images to one size") from None


@executor("ImageGridComposite2x2")
def image_grid_composite_2x2(ctx: ExecContext, image1: Any, image2: Any, image3: Any, image4: Any,
                             **_: Any) -> tuple:
    return (_grid([[image1, image2], [image3, image4]], [["image1", "image2"], ["image3", "image4"]]),)


@executor("ImageGridComposite3x3")
def image_grid_composite_3x3(ctx: ExecContext, image1: Any, image2: Any, image3: Any, image4: Any, image5: Any,
                             image6: Any, image7: Any, image8: Any, image9: Any, **_: Any) -> tuple:
    values = [image1, image2, image3, image4, image5, image6, image7, image8, image9]
    names = [f"image{i}" for i in range(1, 10)]
    return (_grid([values[0:3], values[3:6], values[6:9]], [names[0:3], names[3:6], names[6:9]]),)


@executor("ImageGridtoBatch")
def image_grid_to_batch(ctx: ExecContext, image: Any, columns: Any, rows: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    b, h, w, c = image.shape
    columns, rows = int(columns), int(rows)
    cell_w = w // columns
    if rows == 0:
        cell_h = h // columns
        rows = h // cell_h if cell_h else 0
    else:
        cell_h = h // rows
    if cell_w == 0 or cell_h == 0 or rows == 0:
        raise NodeInputError("columns", f"a {w}x{h} image has no room for {columns} columns and {rows} rows")
    cells = image[:, :rows * cell_h, :columns * cell_w, :].reshape(b, rows, cell_h, columns, cell_w, c)
    return (cells.permute(0, 1, 3, 2, 4, 5).reshape(-1, cell_h, cell_w, c),)


@executor("CrossFadeImagesMulti")
def cross_fade_images_multi(ctx: ExecContext, inputcount: Any, image_1: Any, interpolation: Any,
                            transitioning_frames: Any, **kwargs: Any) -> tuple:
    out = as_image(image_1, "image_1")
    ease = EASING.get(interpolation)
    if ease is None:
        raise NodeInputError("interpolation", f"interpolation: unknown curve {interpolation!r}",
                             f"use one of {', '.join(EASING)}")
    count = int(transitioning_frames)
    if count < 2:  # the pack divides by transitioning_frames - 1
        raise NodeInputError("transitioning_frames", f"{count} transitioning frame(s): the pack's blend weight "
                             "divides by frames - 1", "use 2 or more")
    height, width = out.shape[1:3]
    first_shape = out.shape  # an unconnected input is black frames of image_1's shape
    for c in range(2, int(inputcount) + 1):
        value = kwargs.get(f"image_{c}")
        nxt = torch.zeros(first_shape) if value is None else as_image(value, f"image_{c}")
        nxt = nxt.to(out.device)
        if nxt.shape[1:3] != (height, width):
            nxt = common_upscale(nxt.movedim(-1, 1), width, height, "lanczos", "disabled").movedim(1, -1)
        last, first = out[-1], nxt[0]
        blends = []
        for frame in range(count):
            alpha = torch.tensor(ease(frame / (count - 1)), dtype=last.dtype)
            blends.append((1 - alpha) * last + alpha * first)
        out = torch.cat((out, torch.stack(blends), nxt), dim=0)
    return (out,)
