"""KJNodes' shaped transitions between frames (``nodes/image_nodes.py``):
TransitionImagesMulti, TransitionImagesInBatch and ImageBatchJoinWithTransition.

One transition frame blends ``a`` into ``b`` through a mask that grows with ``alpha``
(the easing curve of ``t``): a slide from the left or the top, a centred box, a circle of
radius ``ceil(diagonal * alpha / 2)`` around ``(W // 2, H // 2)``, doors from both edges, or
a flat fade; ``blur_radius`` softens the mask with a Gaussian of ``sigma = r / 3`` over
``int(2r) + 1`` taps (made odd) with zero padding, as the pack's own blur. ``reverse``
swaps the two frames *and* runs alpha backwards, as the pack does both.

- TransitionImagesMulti: each next batch (lanczos-resized to the first's size; black
  frames when unconnected) is appended after ``transitioning_frames`` transition frames
  from the running batch's last frame to its first frame, ``t = frame / (n - 1)``.
- TransitionImagesInBatch: only the transitions between each frame and the next
  (``n`` frames per pair; a single frame is handed on).
- ImageBatchJoinWithTransition: images_1 up to ``start_index``, then frame-by-frame
  transitions of images_1 from there into images_2 from its start (``t = i / (n - 1)``,
  1 for one frame), then the rest of images_2.
The ``device`` choice only moves the work in the pack; wfrun works where the frames are.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.batch_index_nodes import EASING
from wfrun.packs.kjnodes.checked import image as as_image

TRANSITIONS = ("horizontal slide", "vertical slide", "box", "circle", "horizontal door", "vertical door", "fade")


def _blur(mask: torch.Tensor, radius: float) -> torch.Tensor:
    if radius <= 0:
        return mask
    size = int(radius * 2) + 1
    size += 1 if size % 2 == 0 else 0
    taps = torch.arange(-size // 2 + 1, size // 2 + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / (radius / 3)) ** 2)
    kernel = kernel / kernel.sum()
    kernel2d = (kernel[:, None] * kernel[None, :]).to(mask)
    channels = mask.shape[2]
    out = F.conv2d(mask.permute(2, 0, 1).unsqueeze(0), kernel2d.expand(channels, 1, size, size), padding=size // 2,
                   groups=channels)
    return out.squeeze(0).permute(1, 2, 0)


def transition_frame(a: torch.Tensor, b: torch.Tensor, alpha: float, kind: str, blur_radius: float,
                     reverse: bool) -> torch.Tensor:
    """One frame [H, W, C] of ``a`` turning into ``b`` at ``alpha``."""
    height, width = a.shape[0], a.shape[1]
    mask = torch.zeros_like(a)
    alpha = 1 - alpha if reverse else alpha
    if kind == "horizontal slide":
        mask[:, :round(width * alpha), :] = 1.0
    elif kind == "vertical slide":
        mask[:round(height * alpha), :, :] = 1.0
    elif kind == "box":
        box_w, box_h = round(width * alpha), round(height * alpha)
        x1, y1 = (width - box_w) // 2, (height - box_h) // 2
        mask[y1:y1 + box_h, x1:x1 + box_w, :] = 1.0
    elif kind == "circle":
        radius = math.ceil(math.sqrt(width ** 2 + height ** 2) * alpha / 2)
        y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                              indexing="ij")
        mask[((x - width // 2) ** 2 + (y - height // 2) ** 2) <= radius ** 2] = 1.0
    elif kind == "horizontal door":
        bar = math.ceil(height * alpha / 2)
        if bar > 0:
            mask[:bar, :, :] = 1.0
            mask[-bar:, :, :] = 1.0
    elif kind == "vertical door":
        bar = math.ceil(width * alpha / 2)
        if bar > 0:
            mask[:, :bar, :] = 1.0
            mask[:, -bar:, :] = 1.0
    else:  # fade
        mask[:, :, :] = alpha
    mask = _blur(mask, float(blur_radius))
    return a * (1 - mask) + b * mask


def _curve_and_kind(interpolation: Any, transition_type: Any) -> tuple[Any, str]:
    ease = EASING.get(interpolation)
    if ease is None:
        raise NodeInputError("interpolation", f"interpolation: unknown curve {interpolation!r}",
                             f"use one of {', '.join(EASING)}")
    if transition_type not in TRANSITIONS:
        raise NodeInputError("transition_type", f"transition_type: unknown option {transition_type!r}",
                             f"use one of {', '.join(TRANSITIONS)}")
    return ease, transition_type


def _frames(count: Any) -> int:
    count = int(count)
    if count < 2:  # t = frame / (n - 1)
        raise NodeInputError("transitioning_frames", f"{count} transitioning frame(s): the pack divides by "
                             "frames - 1", "use 2 or more")
    return count


def _run(a: torch.Tensor, b: torch.Tensor, count: int, ease: Any, kind: str, blur: float, reverse: bool
         ) -> torch.Tensor:
    if reverse:
        a, b = b, a
    return torch.stack([transition_frame(a, b, float(ease(f / (count - 1))), kind, blur, reverse)
                        for f in range(count)])


@executor("TransitionImagesMulti")
def transition_images_multi(ctx: ExecContext, inputcount: Any, image_1: Any, interpolation: Any,
                            transition_type: Any, transitioning_frames: Any, blur_radius: Any, reverse: Any,
                            device: Any, **kwargs: Any) -> tuple:
    out = as_image(image_1, "image_1")
    ease, kind = _curve_and_kind(interpolation, transition_type)
    count = _frames(transitioning_frames)
    first_shape, (height, width) = out.shape, out.shape[1:3]
    for c in range(2, int(inputcount) + 1):
        value = kwargs.get(f"image_{c}")
        nxt = torch.zeros(first_shape) if value is None else as_image(value, f"image_{c}")
        nxt = nxt.to(out.device)
        if nxt.shape[1:3] != (height, width):
            nxt = common_upscale(nxt.movedim(-1, 1), width, height, "lanczos", "disabled").movedim(1, -1)
        blends = _run(out[-1], nxt[0], count, ease, kind, float(blur_radius), bool(reverse))
        out = torch.cat((out, blends, nxt), dim=0)
    return (out.cpu(),)


@executor("TransitionImagesInBatch")
def transition_images_in_batch(ctx: ExecContext, images: Any, interpolation: Any, transition_type: Any,
                               transitioning_frames: Any, blur_radius: Any, reverse: Any, device: Any,
                               **_: Any) -> tuple:
    images = as_image(images, "images")
    if images.shape[0] == 1:
        return (images,)
    ease, kind = _curve_and_kind(interpolation, transition_type)
    count = _frames(transitioning_frames)
    pairs = [_run(images[i], images[i + 1], count, ease, kind, float(blur_radius), bool(reverse))
             for i in range(images.shape[0] - 1)]
    return (torch.cat(pairs, dim=0).cpu(),)


@executor("ImageBatchJoinWithTransition")
def image_batch_join_with_transition(ctx: ExecContext, images_1: Any, images_2: Any, start_index: Any,
                                     interpolation: Any, transition_type: Any, transitioning_frames: Any,
                                     blur_radius: Any, reverse: Any, device: Any, **_: Any) -> tuple:
    first, second = as_image(images_1, "images_1"), as_image(images_2, "images_2")
    ease, kind = _curve_and_kind(interpolation, transition_type)
    if first.shape[1:] != second.shape[1:]:
        raise NodeInputError("images_2", f"images_2 {list(second.shape[1:])} do not match images_1 "
                             f"{list(first.shape[1:])}", "resize one batch to the other first")
    start = int(start_index)
    if start < 0:
        start += first.shape[0]
    if not 0 <= start <= first.shape[0]:
        raise NodeInputError("start_index", f"start_index {start_index} is outside images_1's "
                             f"{first.shape[0]} frames")
    blend = min(int(transitioning_frames), first.shape[0] - start, second.shape[0])
    parts = [first[:start]] if start > 0 else []
    for i in range(blend):
        a, b = first[start + i], second[i]
        if reverse:
            a, b = b, a
        t = i / (blend - 1) if blend > 1 else 1.0
        parts.append(transition_frame(a, b, float(ease(t)), kind, float(blur_radius), bool(reverse)).unsqueeze(0))
    if second.shape[0] > blend:
        parts.append(second[blend:])
    return (torch.cat(parts, dim=0).cpu(),)
