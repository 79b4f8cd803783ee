"""KJNodes' ImageCropByMask, ImageUncropByMask and PadImageBatchInterleaved
(``nodes/image_nodes.py``).

- ImageCropByMask crops each frame to the box around its rounded mask's non-zero pixels
  (frame ``b`` uses mask ``min(b, masks - 1)``); the crops are joined into one batch, so
  they must share a size (the pack's ``torch.cat`` fails otherwise), and an empty mask has
  no box (the pack fails on it): both refused by name.
- ImageUncropByMask pastes each source frame back into its destination frame: the source
  lanczos-resized and the mask bilinear-resized to the box (``x0, y0, x1, y1``: the
  ``bbox`` of ImageCropByMaskAndResize, or BOUNDING_BOX dicts), padded to the frame with 0,
  and blended ``destination (1 - m) + source m``.
- PadImageBatchInterleaved spreads the frames ``empty_frames_per_image + 1`` apart with
  frames of ``pad_frame_value`` between them (and after the last with ``add_after_last``;
  a single frame only gets the frames after it), and a mask of 1 on the original frames.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.bboxes import boxes
from wfrun.packs.kjnodes.checked import image as as_image, mask as as_mask


@executor("ImageCropByMask")
def image_crop_by_mask(ctx: ExecContext, image: Any, mask: Any, **_: Any) -> tuple:
    image, mask = as_image(image, "image"), as_mask(mask, "mask").round()
    crops = []
    for b in range(image.shape[0]):
        m = mask[min(b, mask.shape[0] - 1)] > 0
        rows, cols = torch.where(m.any(dim=1))[0], torch.where(m.any(dim=0))[0]
        if rows.numel() == 0:
            raise NodeInputError("mask", f"the mask for frame {b} is empty: there is no box to crop to",
                                 "check the mask")
        crops.append(image[b:b + 1, int(rows[0]):int(rows[-1]) + 1, int(cols[0]):int(cols[-1]) + 1, :])
    if any(c.shape != crops[0].shape for c in crops):
        raise NodeInputError("mask", "the frames' boxes differ in size, so their crops cannot form one batch "
                             "(the pack fails here too)", "use one mask for all frames, or crop frame by frame")
    return (torch.cat(crops, dim=0),)


@executor("ImageUncropByMask")
def image_uncrop_by_mask(ctx: ExecContext, destination: Any, source: Any, mask: Any, bbox: Any, **_: Any) -> tuple:
    destination, source = as_image(destination, "destination"), as_image(source, "source")
    mask = as_mask(mask, "mask")
    placed = boxes(bbox, "bbox", "xyxy")
    _, h, w, c = destination.shape
    count = source.shape[0]
    if len(placed) < count or mask.shape[0] < count or destination.shape[0] < count:
        raise NodeInputError("bbox", f"{count} source frames need as many boxes, masks and destination frames "
                             f"(found {len(placed)}, {mask.shape[0]}, {destination.shape[0]})",
                             "connect the bbox and masks of the crop that made the source")
    out = []
    for i in range(count):
        x0, y0, x1, y1 = placed[i]
        bw, bh = x1 - x0, y1 - y0
        if bw <= 0 or bh <= 0 or x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise NodeInputError("bbox", f"box {placed[i]} does not lie inside the {w}x{h} destination",
                                 "connect the bbox of the crop that made the source")
        piece = common_upscale(source[i:i + 1].movedim(-1, 1), bw, bh, "lanczos", "disabled").movedim(1, -1)[0]
        weight = common_upscale(mask[i][None, None], bw, bh, "bilinear", "disabled")[0, 0]
        piece = F.pad(piece, (0, 0, x0, w - x1, y0, h - y1), mode="constant", value=0)
        weight = F.pad(weight, (x0, w - x1, y0, h - y1), mode="constant", value=0).unsqueeze(2).expand(-1, -1, c)
        out.append(destination[i] * (1.0 - weight) + piece[..., :c] * weight)
    return (torch.stack(out),)


@executor("PadImageBatchInterleaved")
def pad_image_batch_interleaved(ctx: ExecContext, images: Any, empty_frames_per_image: Any, pad_frame_value: Any,
                                add_after_last: Any, **_: Any) -> tuple:
    images = as_image(images, "images")
    b, h, w, c = images.shape
    gap = int(empty_frames_per_image)
    if b == 1:
        total = 1 + gap if add_after_last else 1
    else:
        total = b + (b - 1) * gap + (gap if add_after_last else 0)
    padded = torch.ones((total, h, w, c), dtype=images.dtype, device=images.device) * float(pad_frame_value)
    masks = torch.zeros((total, h, w), dtype=images.dtype, device=images.device)
    for i in range(b):
        position = 0 if b == 1 else i * (gap + 1)
        padded[position] = images[i]
        masks[position] = 1.0
    return padded, masks
