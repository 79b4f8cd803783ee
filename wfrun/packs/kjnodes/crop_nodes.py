"""KJNodes' BboxVisualize (``nodes/batchcrop_nodes.py``) and ImageCropByMaskAndResize
(``nodes/image_nodes.py``).

**BboxVisualize** draws each frame's box in red, ``line_width`` pixels thick inwards, the
pack's way: row ``y`` and row ``y + height`` (minus the line offset), column ``x`` and
column ``x + width``, each spanning ``[x, x + width)`` / ``[y, y + height)`` (so the
bottom-right corner pixel stays unpainted, as there); a line past the image's bottom or
right edge is skipped, one with a negative index wraps round as Python indexing does. Only
as many frames as there are boxes come out (the pack zips the two). The pack paints RGB
images only (it fails on other channel counts); wfrun paints the first three channels and
leaves an alpha channel as it is.

**ImageCropByMaskAndResize**, as the pack does since 2026-02-09: the mask is rounded; each
frame's box spans its pixels equal to 1 (inclusive, so one pixel is 1 wide; an empty mask
gives a 0-size box at the centre), widened to at least ``min_crop_resolution`` and at most
``max_crop_resolution`` (0 switches either off), then padded by ``padding`` on each side as
far as the image allows, and kept inside the image. All frames are then cut at one size,
the largest box's width and height rounded up to multiples of 16, centred on each frame's
box and kept inside the image; each crop is resized to the target size (``base_resolution``
on the longer side of the widest aspect ratio, the other side in proportion, both rounded
up to multiples of 16): the image with Lanczos, the mask bilinear. ``bbox`` holds
``(x0, y0, x1, y1)`` per frame. A mask of another size than the image (Wan Animate
workflows pair a pose canvas's face mask with the raw video) is taken as the pack takes it:
boxes found in the mask's pixels cut the image at the same coordinates, with a warning; a
box left with no pixels is refused. Files saved before 2026-02-08 ran an older box rule (a box
one pixel narrower, padding applied without the image-size limit); wfrun runs the current
one for them too.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.bboxes import boxes

log = logging.getLogger(__name__)

RED = (1.0, 0.0, 0.0)


@executor("BboxVisualize")
def bbox_visualize(ctx: ExecContext, images: Any, bboxes: Any, line_width: int, bbox_format: str,
                   **_: Any) -> tuple:
    """``bbox_format`` came in 2025-08; files saved before it get the spec's default
    (``xywh``), the only format the pack knew then."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE")
    if bbox_format not in ("xywh", "xyxy"):
        raise NodeInputError("bbox_format", f"unknown bbox_format {bbox_format!r}", "use xywh or xyxy")
    frames = []
    for image, (a, b, c, d) in zip(images, boxes(bboxes, "bboxes", bbox_format)):
        x, y = int(a), int(b)
        w, h = (int(c), int(d)) if bbox_format == "xywh" else (int(c) - x, int(d) - y)
        out = image.clone()
        height, width = out.shape[0], out.shape[1]
        color = torch.tensor(RED, dtype=out.dtype, device=out.device)[: out.shape[-1]]
        paint = slice(0, min(3, out.shape[-1]))
        for offset in range(int(line_width)):
            if y + offset < height:
                out[y + offset, x:x + w, paint] = color
            if y + h - offset < height:
                out[y + h - offset, x:x + w, paint] = color
            if x + offset < width:
                out[y:y + h, x + offset, paint] = color
            if x + w - offset < width:
                out[y:y + h, x + w - offset, paint] = color
        frames.append(out)
    if not frames:
        raise NodeInputError("bboxes", "no boxes (or no images) to draw", "connect a BBOX list with one box per frame")
    return (torch.stack(frames, dim=0),)


def mask_box(mask: torch.Tensor, padding: int, min_res: int, max_res: int) -> tuple[int, int, int, int]:
    """One frame's crop box (x0, y0, width, height) from a rounded mask (module docstring)."""
    h0, w0 = mask.shape
    ys, xs = (mask == 1).nonzero(as_tuple=True)
    if not len(xs):
        xc, yc, width, height = w0 / 2.0, h0 / 2.0, 0, 0
    else:
        x_lo, x_hi, y_lo, y_hi = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
        width, height = x_hi - x_lo + 1, y_hi - y_lo + 1
        xc, yc = (x_lo + x_hi) / 2.0, (y_lo + y_hi) / 2.0
    if min_res:
        width, height = max(width, min_res), max(height, min_res)
    if max_res:
        width, height = min(width, max_res), min(height, max_res)
    final_w = min(width + 2 * min((w0 - width) // 2, padding), w0)
    final_h = min(height + 2 * min((h0 - height) // 2, padding), h0)
    x0 = max(0, min(int(xc - final_w / 2), w0 - final_w))
    y0 = max(0, min(int(yc - final_h / 2), h0 - final_h))
    return x0, y0, final_w, final_h


def _up16(value: int) -> int:
    return (value + 15) // 16 * 16


@executor("ImageCropByMaskAndResize")
def image_crop_by_mask_and_resize(ctx: ExecContext, image: Any, mask: Any, base_resolution: int, padding: int,
                                  min_crop_resolution: int, max_crop_resolution: int, **_: Any) -> tuple:
    """``min_crop_resolution`` / ``max_crop_resolution`` came in 2024-11; files saved before
    get the spec's defaults (128, 512), as the engine fills them."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE")
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise NodeInputError("mask", "expected a MASK [frames, height, width]", "connect a MASK")
    mask = (mask.unsqueeze(0) if mask.ndim == 2 else mask).round()
    if mask.shape[0] < image.shape[0]:
        raise NodeInputError("mask", f"{mask.shape[0]} mask frame(s) for {image.shape[0]} image frames",
                             "give one mask per frame")
    if mask.shape[1:] != image.shape[1:3]:
        # the pack runs on: boxes found in the mask's pixels cut the image at the same
        # coordinates (kept inside the image), so the crop is where the mask would be
        log.warning("ImageCropByMaskAndResize: mask %s for image %s; boxes from the mask cut the image at the "
                    "same coordinates, as KJNodes does", tuple(mask.shape[1:]), tuple(image.shape[1:3]))
    H, W = image.shape[1], image.shape[2]
    frame_boxes = [mask_box(mask[i], int(padding), int(min_crop_resolution), int(max_crop_resolution))
                   for i in range(image.shape[0])]
    if any(h == 0 for _, _, _, h in frame_boxes) or any(w == 0 for _, _, w, _ in frame_boxes):
        raise NodeInputError("min_crop_resolution", "a frame's mask is empty and min_crop_resolution is 0, so its "
                             "crop would have no size (KJNodes divides by zero there)",
                             "set min_crop_resolution above 0, or give every frame a mask")
    max_w = _up16(max(w for _, _, w, _ in frame_boxes))
    max_h = _up16(max(h for _, _, _, h in frame_boxes))
    aspect = max(w / h for _, _, w, h in frame_boxes)
    base = int(base_resolution)
    if aspect > 1:
        target_w, target_h = base, int(base / aspect)
    else:
        target_w, target_h = int(base * aspect), base
    target_w, target_h = _up16(target_w), _up16(target_h)
    if target_w <= 0 or target_h <= 0:
        raise NodeInputError("base_resolution", f"the target size would be {target_w}x{target_h}",
                             "use a base_resolution above 0")
    images, masks, out_boxes = [], [], []
    for i, (x0, y0, w, h) in enumerate(frame_boxes):
        nx0 = max(0, min(int(x0 + w / 2 - max_w / 2), W - max_w))
        ny0 = max(0, min(int(y0 + h / 2 - max_h / 2), H - max_h))
        nx1, ny1 = nx0 + max_w, ny0 + max_h
        crop = image[i, ny0:ny1, nx0:nx1].unsqueeze(0).movedim(-1, 1)
        crop_mask = mask[i, ny0:ny1, nx0:nx1][None, None].float()
        if crop.numel() == 0 or crop_mask.numel() == 0:
            raise NodeInputError("mask", f"frame {i}: the mask's box ({nx0}, {ny0})-({nx1}, {ny1}) lies outside the "
                                 f"image or mask ({W}x{H} image, {mask.shape[2]}x{mask.shape[1]} mask)",
                                 "give masks at the image's size")
        images.append(common_upscale(crop, target_w, target_h, "lanczos").movedim(1, -1)[0])
        masks.append(common_upscale(crop_mask, target_w, target_h, "bilinear")[0, 0])
        out_boxes.append((nx0, ny0, nx1, ny1))
    return torch.stack(images), torch.stack(masks), out_boxes
