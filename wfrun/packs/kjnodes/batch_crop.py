"""KJNodes' BatchCropFromMaskAdvanced and BatchUncropAdvanced (``nodes/batchcrop_nodes.py``):
crop a moving subject (a face) out of every frame along its mask, process the crops, paste
them back. Faithful to the pack's arithmetic, since the crop and the paste must meet pixel
for pixel:

**BatchCropFromMaskAdvanced**

- A mask pixel counts where the pack's 8-bit conversion of the mask is not 0
  (``clip(255 * m)`` truncated, i.e. ``m >= 1/255``).
- The crop side: the largest box side over the frames (``max(x1 - x0, y1 - y0)`` of the
  masked pixels, inclusive ends, so one pixel wide is 0), times ``bbox_smooth_alpha``
  (the pack "smooths" it against 0), times ``crop_size_mult``, each rounded as Python
  rounds; then up to a multiple of 16; above the image's height or width it becomes the
  smaller side rounded down to even.
- Each frame's centre is the mean of its masked pixels, rounded; from the second frame on
  it is ``alpha · current + (1 - alpha) · previous`` (rounded). The crop is that centre ±
  half the side, cut at the image borders. A crop cut by a border is stretched (nearest
  neighbour) until its shorter side equals its longer one, the longer capped at the
  image's longer side (torchvision's ``Resize(size, max_size)`` rule), then centre-cropped
  to the side (or less where the stretch stayed smaller).
- A frame with an empty mask passes whole (image, mask; box ``(0, 0, W, H)``).
- The combined box: the box of all frames' masks together, squared around its centre
  (half side ``size // 2``), cut at the borders; combined crops are that region of every
  frame whose mask is not empty.
- The pack keeps its smoothed centre on the node object, so in ComfyUI a second run of the
  same node starts from the last run's centre; wfrun starts every run fresh (as ComfyUI's
  first run).
- Where frames' crops differ in size (an empty-mask frame among others, a crop cut by the
  border whose stretch was capped short of the side) the pack fails stacking them; wfrun
  resizes (nearest neighbour) each odd frame to the common size instead, with a warning:
  the side x side square for the crops, the combined box for the combined crops. The boxes
  stay as the pack gives them, so BatchUncropAdvanced pastes every frame back where it
  came from (resizing it to its box, as it always does).

**BatchUncropAdvanced** pastes in 8-bit RGB with Pillow, as the pack does: the crop is
resized (bicubic) to its box (``crop_rescale`` scales the box), a square mask (a border of
``round(blend / 2)`` black pixels inside the box, ``blend = max side / 2 · border_blending``)
or the resized crop mask is blurred (box blur, then Gaussian, each of radius ``blend / 4``)
and used as alpha to composite the crop over the original frame. With
``use_combined_mask`` the combined box and ``combined_crop_mask`` place every frame.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

from wfrun.media.image import to_uint8
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.bboxes import boxes

log = logging.getLogger(__name__)


def _images(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE output")
    return value


def _masks(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim not in (2, 3):
        raise NodeInputError(name, "expected a MASK [frames, height, width]", "connect a MASK output")
    return value.unsqueeze(0) if value.ndim == 2 else value


def _marked(mask: torch.Tensor) -> np.ndarray:
    """Where the pack's 8-bit view of ``mask`` is not zero."""
    return to_uint8(mask) != 0


def _extent(marked: np.ndarray) -> tuple[int, int, int, int] | None:
    """(min x, max x, min y, max y) of the marked pixels, None when there are none."""
    ys, xs = np.nonzero(marked)
    if not len(xs):
        return None
    return int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())


def _side(extent: tuple[int, int, int, int] | None) -> int:
    if extent is None:
        return 0
    x0, x1, y0, y1 = extent
    return max(x1 - x0, y1 - y0)


def crop_side(sizes: list[int], alpha: float, mult: float, height: int, width: int) -> int:
    """The square crop's side (see the module docstring)."""
    side = round(alpha * max(sizes) + (1 - alpha) * 0)
    side = round(side * mult)
    side = math.ceil(side / 16) * 16
    if side > height or side > width:
        side = min(height, width) // 2 * 2
    return side


def stretched_size(h: int, w: int, size: int, max_size: int) -> tuple[int, int]:
    """torchvision's ``Resize(size, max_size=max_size)`` output (height, width) for an
    (h, w) input: the shorter side to ``size``, the longer in proportion (truncated),
    capped at ``max_size``. Where torchvision refuses (``max_size <= size``) the cap is
    left out."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if max_size > size and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def _stretch_and_center(region: torch.Tensor, side: int, max_size: int) -> torch.Tensor:
    """``region`` [C, h, w] stretched (nearest) and centre-cropped as the module says."""
    h, w = region.shape[-2:]
    out_h, out_w = stretched_size(h, w, max(h, w), max_size)
    if (out_h, out_w) != (h, w):
        region = F.interpolate(region.unsqueeze(0).float(), size=(out_h, out_w), mode="nearest").squeeze(0)
    th, tw = min(side, out_h), min(side, out_w)
    top, left = int(round((out_h - th) / 2.0)), int(round((out_w - tw) / 2.0))
    return region[:, top:top + th, left:left + tw]


def _stack(items: list[torch.Tensor], size: tuple[int, int], what: str) -> torch.Tensor:
    """The frames as one batch; where they differ in size (which the pack cannot stack),
    every frame not of ``size`` (height, width) is resized to it, nearest neighbour."""
    shapes = {tuple(t.shape[:2]) for t in items}
    if len(shapes) > 1:
        if size[0] <= 0 or size[1] <= 0:
            raise NodeInputError("masks", f"the {what} differ in size and there is no common size to give them",
                                 "give every frame a mask, or grow the masks")
        odd = [i for i, t in enumerate(items) if tuple(t.shape[:2]) != size]
        log.warning("BatchCropFromMaskAdvanced: %s of frames %s resized to %dx%d to stack them (KJNodes fails here)",
                    what, odd[:8], size[1], size[0])
        items = [t if tuple(t.shape[:2]) == size else _resized(t, size) for t in items]
    return torch.stack(items, dim=0)


def _resized(frame: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An [h, w] mask or [h, w, C] image at ``size``, nearest neighbour."""
    chw = frame.unsqueeze(0) if frame.ndim == 2 else frame.permute(2, 0, 1)
    out = F.interpolate(chw.unsqueeze(0).float(), size=size, mode="nearest")[0].to(frame.dtype)
    return out[0] if frame.ndim == 2 else out.permute(1, 2, 0)


@executor("BatchCropFromMaskAdvanced")
def batch_crop_from_mask_advanced(ctx: ExecContext, original_images: Any, masks: Any, crop_size_mult: float,
                                  bbox_smooth_alpha: float, **_: Any) -> tuple:
    images = _images(original_images, "original_images")
    masks = _masks(masks, "masks")
    if masks.shape[-2:] != images.shape[1:3]:
        raise NodeInputError("masks", f"masks are {tuple(masks.shape[-2:])}, images {tuple(images.shape[1:3])} "
                             "(height, width)", "resize the mask to the image size")
    H, W = images.shape[1], images.shape[2]
    alpha, mult = float(bbox_smooth_alpha), float(crop_size_mult)
    mask_cpu = masks.detach().float().cpu()

    combined = _extent(_marked(mask_cpu.max(dim=0)[0]))
    cx0, cx1, cy0, cy1 = combined or (0, 0, 0, 0)
    ccx, ccy, chalf = (cx0 + cx1) / 2, (cy0 + cy1) / 2, round(_side(combined) // 2)
    nx0, nx1 = max(0, round(ccx - chalf)), min(W, round(ccx + chalf))
    ny0, ny1 = max(0, round(ccy - chalf)), min(H, round(ccy + chalf))
    combined_box = [(nx0, ny0, nx1 - nx0, ny1 - ny0)]

    marks = [_marked(m) for m in mask_cpu]
    side = crop_side([_side(_extent(m)) for m in marks], alpha, mult, H, W)
    half = side // 2

    crops, crop_masks, combined_crops, combined_masks, frame_boxes = [], [], [], [], []
    previous: tuple[int, int] | None = None
    for i, (mask, image, marked) in enumerate(zip(masks, images, marks)):
        ys, xs = np.nonzero(marked)
        if not len(xs):
            frame_boxes.append((0, 0, W, H))
            crops.append(image)
            crop_masks.append(mask)
            combined_crops.append(image)
            combined_masks.append(mask)
            continue
        current = (round(float(np.mean(xs))), round(float(np.mean(ys))))
        if previous is None:
            previous = current
        center = current if i == 0 else (round(alpha * current[0] + (1 - alpha) * previous[0]),
                                         round(alpha * current[1] + (1 - alpha) * previous[1]))
        previous = center
        x0, x1 = max(0, center[0] - half), min(W, center[0] + half)
        y0, y1 = max(0, center[1] - half), min(H, center[1] + half)
        if x1 <= x0 or y1 <= y0:
            raise NodeInputError("masks", f"frame {i}: the crop box is empty (crop side {side})",
                                 "the mask is too small to crop around: grow it, or raise crop_size_mult")
        frame_boxes.append((x0, y0, x1 - x0, y1 - y0))
        crops.append(_stretch_and_center(image[y0:y1, x0:x1].permute(2, 0, 1), side, max(H, W)).permute(1, 2, 0))
        crop_masks.append(_stretch_and_center(mask[y0:y1, x0:x1].unsqueeze(0), side, max(H, W)).squeeze(0))
        combined_crops.append(image[ny0:ny1, nx0:nx1])
        combined_masks.append(mask[ny0:ny1, nx0:nx1])

    square, region = (side, side), (ny1 - ny0, nx1 - nx0)
    return (images, _stack(crops, square, "cropped images"), _stack(crop_masks, square, "cropped masks"),
            _stack(combined_crops, region, "combined crops"), _stack(combined_masks, region, "combined crop masks"),
            frame_boxes, combined_box, side, side)


def _pil(frame: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(frame.squeeze()))


def _region(box: tuple[int, int, int, int], width: int, height: int, scale: float) -> tuple[int, int, int, int]:
    """The paste box (left, top, right, bottom): the box cut at the image's right and bottom
    edges, every coordinate times ``scale`` (rounded)."""
    x, y, w, h = box
    region = (x, y, x + min(width - x, w), y + min(height - y, h))
    return tuple(round(v * scale) for v in region)  # type: ignore[return-value]


def paste_frame(original: Image.Image, crop: Image.Image, mask: torch.Tensor, box: tuple[int, int, int, int],
                border_blending: float, crop_rescale: float, square: bool) -> Image.Image:
    """One frame of BatchUncropAdvanced (see the module docstring)."""
    region = _region(box, original.width, original.height, crop_rescale)
    size = (region[2] - region[0], region[3] - region[1])
    if size[0] <= 0 or size[1] <= 0:
        raise NodeInputError("bboxes", f"the paste box {box} is empty", "connect the bboxes of the crop node")
    crop_rgb = crop.resize(size, Image.Resampling.BICUBIC).convert("RGB")
    blend_ratio = max(crop_rgb.size) / 2 * min(max(float(border_blending), 0.0), 1.0)
    alpha = Image.new("L", original.size, 0)
    if square:
        block = Image.new("L", size, 255)
        ImageDraw.Draw(block).rectangle((0, 0, size[0] - 1, size[1] - 1), outline=0, width=round(blend_ratio / 2))
        alpha.paste(block, region)
    else:
        alpha.paste(_pil(mask).resize(size, Image.Resampling.BICUBIC), region)
    alpha = alpha.filter(ImageFilter.BoxBlur(radius=blend_ratio / 4))
    alpha = alpha.filter(ImageFilter.GaussianBlur(radius=blend_ratio / 4))
    layer = original.convert("RGBA")
    layer.paste(crop_rgb, region)
    layer.putalpha(alpha)
    return Image.alpha_composite(original.convert("RGBA"), layer).convert("RGB")


@executor("BatchUncropAdvanced")
def batch_uncrop_advanced(ctx: ExecContext, original_images: Any, cropped_images: Any, cropped_masks: Any,
                          combined_crop_mask: Any, bboxes: Any, border_blending: float, crop_rescale: float,
                          use_combined_mask: bool, use_square_mask: bool, combined_bounding_box: Any = None,
                          **_: Any) -> tuple:
    images = _images(original_images, "original_images")
    crops = _images(cropped_images, "cropped_images")
    if len(images) != len(crops):
        raise NodeInputError("cropped_images", f"{len(crops)} cropped images for {len(images)} original images",
                             "the two batches must have the same number of frames")
    frame_boxes = boxes(bboxes, "bboxes")
    if len(frame_boxes) < len(images):
        raise NodeInputError("bboxes", f"{len(frame_boxes)} boxes for {len(images)} images",
                             "connect the bboxes output of the crop node that made these crops")
    if use_combined_mask:
        if combined_bounding_box is None:
            raise NodeInputError("combined_bounding_box", "use_combined_mask needs the combined bounding box",
                                 "connect combined_bounding_box, or turn use_combined_mask off")
        combined = boxes(combined_bounding_box, "combined_bounding_box")
        if not combined:
            raise NodeInputError("combined_bounding_box", "no box given", "connect the crop node's combined box")
        masks = _masks(combined_crop_mask, "combined_crop_mask")
    else:
        masks = _masks(cropped_masks, "cropped_masks")
    if not use_square_mask and len(masks) < len(images):
        raise NodeInputError("combined_crop_mask" if use_combined_mask else "cropped_masks",
                             f"{len(masks)} masks for {len(images)} images", "connect the crop node's masks")
    out = []
    for i in range(len(images)):
        ctx.check_interrupt()
        box = combined[0] if use_combined_mask else frame_boxes[i]
        mask = masks[min(i, len(masks) - 1)]
        frame = paste_frame(_pil(images[i]), _pil(crops[i]), mask, box, border_blending, crop_rescale,
                            bool(use_square_mask))
        out.append(torch.from_numpy(np.asarray(frame, dtype=np.float32) / 255.0))
    return (torch.stack(out, dim=0),)
