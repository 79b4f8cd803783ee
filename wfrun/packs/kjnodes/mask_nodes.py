"""KJNodes' mask helpers of Wan Animate workflows (``nodes/mask_nodes.py``).

* ``BlockifyMask``: per frame, the bounding box of the mask's positive pixels is cut into
  ``max(1, side // block_size)`` equal slices each way (``side // divisions`` pixels; the
  last slice takes the remainder); a block whose mask values sum above 0 becomes 1, the
  others 0, and everything outside the box stays 0.
* ``DrawMaskOnImage``: ``image * (1 - m) + colour * m`` with ``m = mask * alpha``; the mask
  is resized to the image by nearest-exact and its batch repeated or cut to the image's; the
  colour is ``r, g, b[, a]`` (values over 1 are 0-255) or ``#rgb``, ``#rgba``, ``#rrggbb``,
  ``#rrggbbaa``; an RGBA image's alpha becomes ``max(alpha, m)``.
* ``GrowMaskWithBlur``: per frame, ``round(expand)`` dilations (erosions when negative) by a
  3x3 cross (``tapered_corners``) or square, over the pixels inside the frame; ``expand``
  grows by ``incremental_expandrate`` per frame (away from 0); ``fill_holes`` fills closed
  holes (scipy's ``binary_fill_holes`` of ``> 0``); ``lerp_alpha`` < 1 mixes in the previous
  frame's result, ``decay_factor`` < 1 adds ``decay *`` it and renormalises to a maximum of 1;
  ``blur_radius`` > 0 blurs each frame with Pillow's GaussianBlur on the 8-bit mask, as the
  pack does. Outputs the mask and ``1 - mask``. The ``device`` choices only move the pack's
  work to a GPU; results are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_EXPAND = 4096


def _masks(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim not in (2, 3):
        raise NodeInputError(name, f"expected a MASK [frames, height, width], got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
    return value.reshape(-1, value.shape[-2], value.shape[-1]).float()


def blockify(mask: torch.Tensor, block_size: int) -> torch.Tensor:
    out = torch.zeros_like(mask)
    rows = torch.nonzero((mask > 0).any(dim=1)).flatten()
    cols = torch.nonzero((mask > 0).any(dim=0)).flatten()
    if rows.numel() == 0:
        return out
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    w_div, h_div = max(1, (x1 - x0) // block_size), max(1, (y1 - y0) // block_size)
    w_slice, h_slice = (x1 - x0) // w_div, (y1 - y0) // h_div
    bx = (torch.arange(x1 - x0) // w_slice).clamp(max=w_div - 1)
    by = (torch.arange(y1 - y0) // h_slice).clamp(max=h_div - 1)
    ids = by[:, None] * w_div + bx[None, :]
    sums = torch.zeros(h_div * w_div).scatter_add_(0, ids.flatten(), mask[y0:y1, x0:x1].flatten())
    out[y0:y1, x0:x1] = (sums > 0)[ids].float()
    return out


@executor("BlockifyMask")
def blockify_mask(ctx: ExecContext, masks: Any, block_size: int, device: str, **_: Any) -> tuple:
    if int(block_size) < 1:
        raise NodeInputError("block_size", f"block_size is {block_size}; it must be at least 1")
    frames = _masks("masks", masks)
    return (torch.stack([blockify(m, int(block_size)) for m in frames]).clamp(0, 1) if len(frames) else frames,)


def parse_colour(colour: Any) -> tuple[list[float], float]:
    """(r, g, b) in 0..1 and alpha, from the pack's colour strings."""
    if not isinstance(colour, str):
        raise NodeInputError("color", f"expected a colour string, found {colour!r}")
    text = colour.strip()
    try:
        if text.startswith("#"):
            digits = text[1:]
            if len(digits) in (3, 4):
                values = [int(c * 2, 16) / 255.0 for c in digits]
            elif len(digits) in (6, 8):
                values = [int(digits[i:i + 2], 16) / 255.0 for i in range(0, len(digits), 2)]
            else:
                raise ValueError("a hex colour has 3, 4, 6 or 8 digits")
        else:
            values = [v / 255.0 if v > 1.0 else v for v in (float(x.strip()) for x in text.split(","))]
    except ValueError as err:
        raise NodeInputError("color", f"{colour!r} is not a colour ({err})", 'write it as "255, 0, 0", '
                             '"1.0, 0, 0, 0.5" or "#ff0000"') from None
    if len(values) < 3:
        raise NodeInputError("color", f"{colour!r} has {len(values)} values; a colour needs 3 or 4")
    return values[:3], (values[3] if len(values) == 4 else 1.0)


@executor("DrawMaskOnImage")
def draw_mask_on_image(ctx: ExecContext, image: Any, mask: Any, color: Any, device: str, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", f"expected an IMAGE batch, got {getattr(image, 'shape', type(image).__name__)}")
    rgb, alpha = parse_colour(color)
    masks = _masks("mask", mask)
    b, h, w, c = image.shape
    if masks.shape[-2:] != (h, w):
        masks = F.interpolate(masks.unsqueeze(1), size=(h, w), mode="nearest-exact").squeeze(1)
    if b > masks.shape[0]:
        masks = masks.repeat(-(-b // masks.shape[0]), 1, 1)[:b]
    masks = masks[:b]
    blend = masks.unsqueeze(-1) * alpha
    fill = torch.tensor(rgb, dtype=torch.float32)
    if c == 4:
        out = torch.cat((image[..., :3] * (1 - blend) + fill * blend, torch.maximum(image[..., 3:], blend)), dim=-1)
    else:
        out = image * (1 - blend) + fill[:c] * blend
    return (out.float(),)


def _morph(mask: torch.Tensor, cross: bool, grow: bool) -> torch.Tensor:
    """One 3x3 dilation (``grow``) or erosion, neighbours outside the frame ignored."""
    pad = float("-inf") if grow else float("inf")
    p = F.pad(mask, (1, 1, 1, 1), value=pad)
    h, w = mask.shape
    offsets = ((0, 1), (1, 0), (1, 1), (1, 2), (2, 1)) if cross else tuple((i, j) for i in range(3) for j in range(3))
    stack = torch.stack([p[i:i + h, j:j + w] for i, j in offsets])
    return stack.amax(dim=0) if grow else stack.amin(dim=0)


def _gaussian_blur_8bit(mask: torch.Tensor, radius: float) -> torch.Tensor:
    from PIL import Image, ImageFilter

    pixels = np.clip(255.0 * mask.numpy(), 0, 255).astype(np.uint8)
    blurred = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius))
    return torch.from_numpy(np.asarray(blurred, dtype=np.float32) / 255.0)


@executor("GrowMaskWithBlur")
def grow_mask_with_blur(ctx: ExecContext, mask: Any, expand: int, tapered_corners: bool, flip_input: bool,
                        blur_radius: float, incremental_expandrate: float, lerp_alpha: float,
                        decay_factor: float, fill_holes: bool, **_: Any) -> tuple:
    from scipy.ndimage import binary_fill_holes

    frames = _masks("mask", mask)
    if flip_input:
        frames = 1.0 - frames
    current = float(expand)
    out: list[torch.Tensor] = []
    previous = None
    for frame in frames:
        ctx.check_interrupt()
        steps = abs(round(current))
        if steps > MAX_EXPAND:
            raise NodeInputError("expand", f"{steps} grow steps; wfrun does at most {MAX_EXPAND}")
        result = frame
        if steps > 0 and float(result.max()) > 0:
            for _ in range(steps):
                result = _morph(result, bool(tapered_corners), grow=current >= 0)
        current = current - abs(incremental_expandrate) if current < 0 else current + abs(incremental_expandrate)
        if fill_holes:
            result = torch.from_numpy(binary_fill_holes((result > 0).numpy()).astype(np.float32))
        if lerp_alpha < 1.0 and previous is not None:
            result = lerp_alpha * result + (1 - lerp_alpha) * previous
        if decay_factor < 1.0 and previous is not None:
            result = result + decay_factor * previous
            peak = float(result.max())
            result = result / peak if peak > 0 else result
        previous = result
        out.append(result)
    if blur_radius != 0:
        out = [_gaussian_blur_8bit(m, float(blur_radius)) for m in out]
    stacked = torch.stack(out) if out else frames
    return (stacked, 1.0 - stacked)
