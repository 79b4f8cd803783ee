"""KJNodes' mask generators and converters (``nodes/mask_nodes.py``, ``nodes/curve_nodes.py``):
ResizeMask, RemapMaskRange, RoundMask, ColorToMask, CreateGradientMask,
CreateFadeMaskAdvanced, FloatToMask, MaskBatchMulti and GetMaskSizeAndCount.

- ResizeMask: ``comfy.utils.common_upscale`` (lanczos through three channels); with
  ``keep_proportions`` the box ``width`` x ``height`` (0: the mask's own) is fitted with
  ``round`` on the smaller ratio. Its outputs are the mask and its new width and height.
- RemapMaskRange: ``clamp(mask / max(mask) * (max - min) + min, 0, 1)`` (a zero maximum
  counts as 1).
- ColorToMask: 1 where the pixel's RGB (0..255) lies within ``threshold`` (Euclidean) of
  the colour, else 0; ``invert`` swaps them.
- CreateGradientMask: frame ``i`` is a horizontal ramp from 1 to 0 minus ``i / frames``.
- CreateFadeMaskAdvanced: one flat mask per frame, valued by ``points_string``
  (``frame:(value)`` pairs, the last frame added with the last value unless
  "default_to_black"), between points along the chosen curve, "none" holding the last
  point, "default_to_black" 0 off the points; ``invert`` gives ``1 - value``.
- FloatToMask: one flat mask per value of the (possibly nested) list.
- MaskBatchMulti: the masks joined, each other size bicubic-resized to the first's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.checked import image as as_image, mask as as_mask

RESIZE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")


@executor("ResizeMask")
def resize_mask(ctx: ExecContext, mask: Any, width: Any, height: Any, keep_proportions: Any,
                upscale_method: Any = "nearest-exact", crop: Any = "disabled", **_: Any) -> tuple:
    mask = as_mask(mask, "mask")
    width, height = int(width), int(height)
    if upscale_method not in RESIZE_METHODS:
        raise NodeInputError("upscale_method", f"upscale_method: unknown option {upscale_method!r}",
                             f"use one of {', '.join(RESIZE_METHODS)}")
    if crop not in ("disabled", "center"):
        raise NodeInputError("crop", f"crop: unknown option {crop!r}", "use disabled or center")
    if keep_proportions:
        _, oh, ow = mask.shape
        width = ow if width == 0 else width
        height = oh if height == 0 else height
        ratio = min(width / ow, height / oh)
        width, height = round(ow * ratio), round(oh * ratio)
    if width <= 0 or height <= 0:
        raise NodeInputError("width" if width <= 0 else "height", f"cannot resize a mask to {width}x{height}",
                             "give a positive size (or keep_proportions)")
    if upscale_method == "lanczos":
        out = common_upscale(mask.unsqueeze(1).repeat(1, 3, 1, 1), width, height, "lanczos", crop)[:, 0]
    else:
        out = common_upscale(mask.unsqueeze(1), width, height, upscale_method, crop).squeeze(1)
    return out, int(out.shape[2]), int(out.shape[1])


@executor("RemapMaskRange")
def remap_mask_range(ctx: ExecContext, mask: Any, min: Any, max: Any, **_: Any) -> tuple:
    mask = as_mask(mask, "mask")
    top = torch.max(mask)
    top = top if top > 0 else 1
    return (torch.clamp(mask / top * (float(max) - float(min)) + float(min), 0.0, 1.0),)


@executor("RoundMask")
def round_mask(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    return (as_mask(mask, "mask").round(),)


@executor("ColorToMask")
def color_to_mask(ctx: ExecContext, images: Any, invert: Any, red: Any, green: Any, blue: Any, threshold: Any,
                  per_batch: Any, **_: Any) -> tuple:
    """``per_batch`` only sets how many frames the pack handles at once; the result is the same."""
    images = as_image(images, "images")
    colour = torch.tensor([int(red), int(green), int(blue)], dtype=torch.float32, device=images.device)
    near = torch.norm(images[..., :3].float() * 255 - colour, dim=-1) <= int(threshold)
    out = near.float() if not invert else (~near).float()
    return (out.cpu(),)


@executor("CreateGradientMask")
def create_gradient_mask(ctx: ExecContext, invert: Any, frames: Any, width: Any, height: Any, **_: Any) -> tuple:
    frames, width, height = int(frames), int(width), int(height)
    ramp = np.linspace(1.0, 0.0, width, dtype=np.float32)
    out = np.zeros((frames, height, width), dtype=np.float32)
    for i in range(frames):
        out[i] = (ramp - i / frames).reshape(1, -1)
    out = torch.from_numpy(out)
    return (1.0 - out if invert else out,)


_CURVES = {
    "ease_in": lambda t: t * t,
    "ease_out": lambda t: 1 - (1 - t) * (1 - t),
    "ease_in_out": lambda t: 3 * t * t - 2 * t * t * t,
    "linear": lambda t: t,
}


def fade_points(text: Any, frames: int, interpolation: str) -> list[tuple[int, float]]:
    """``"0:(0.0),\\n7:(1.0)"`` as sorted (frame, value) pairs, the last frame added as the pack adds it."""
    points = []
    try:
        for part in str(text).rstrip(",\n").split(","):
            frame, value = part.split(":")
            points.append((int(frame.strip()), float(value.strip()[1:-1])))
    except ValueError:
        raise NodeInputError("points_string", f"points_string: expected frame:(value) pairs separated by commas, "
                             f"found {text!r}", "write e.g. 0:(0.0), 7:(1.0), 15:(0.0)") from None
    if interpolation != "default_to_black" and (not points or points[-1][0] != frames - 1):
        points.append((frames - 1, points[-1][1] if points else 0))
    points.sort(key=lambda p: p[0])
    return points


@executor("CreateFadeMaskAdvanced")
def create_fade_mask_advanced(ctx: ExecContext, points_string: Any, invert: Any, frames: Any, width: Any,
                              height: Any, interpolation: Any, **_: Any) -> tuple:
    frames, width, height = int(frames), int(width), int(height)
    if interpolation not in (*_CURVES, "none", "default_to_black"):
        raise NodeInputError("interpolation", f"interpolation: unknown option {interpolation!r}")
    points = fade_points(points_string, frames, interpolation)
    values = []
    upcoming = 1
    for i in range(frames):
        while upcoming < len(points) and i > points[upcoming][0]:
            upcoming += 1
        before = upcoming - 1
        exact = [v for f, v in points if f == i]
        if interpolation == "none":
            value = exact[0] if exact else points[before][1]
        elif interpolation == "default_to_black":
            value = exact[0] if exact else 0.0
        else:
            if upcoming >= len(points) or points[upcoming][0] == points[before][0]:
                raise NodeInputError("points_string", f"frame {i} has no later point to fade towards, or two points "
                                     "share a frame", "give each point its own frame, the last one at the end")
            t = _CURVES[interpolation]((i - points[before][0]) / (points[upcoming][0] - points[before][0]))
            value = points[before][1] - t * (points[before][1] - points[upcoming][1])
        values.append(float(np.clip(value, 0, 255)))
    out = torch.tensor(values, dtype=torch.float32).view(-1, 1, 1).expand(frames, height, width).contiguous()
    return (1.0 - out if invert else out,)


def _flat_values(values: Any) -> list[float]:
    if isinstance(values, bool):
        raise NodeInputError("input_values", f"input_values: expected numbers, found {values!r}")
    if isinstance(values, (int, float)):
        return [float(values)]
    if isinstance(values, list):
        items = [v for sub in values for v in sub] if values and all(isinstance(v, list) for v in values) else values
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items) and items:
            return [float(v) for v in items]
    raise NodeInputError("input_values", f"input_values: expected a number or a list of numbers, found {values!r:.80}")


@executor("FloatToMask")
def float_to_mask(ctx: ExecContext, input_values: Any, width: Any, height: Any, **_: Any) -> tuple:
    values = _flat_values(input_values)
    return (torch.tensor(values, dtype=torch.float32).view(-1, 1, 1).expand(-1, int(height), int(width)).contiguous(),)


@executor("MaskBatchMulti")
def mask_batch_multi(ctx: ExecContext, inputcount: Any, mask_1: Any, **kwargs: Any) -> tuple:
    out = as_mask(mask_1, "mask_1")
    for c in range(2, int(inputcount) + 1):
        name = f"mask_{c}"
        if kwargs.get(name) is None:
            raise NodeInputError(name, f"{name} is not connected (inputcount is {inputcount})",
                                 f"connect {name} or lower inputcount")
        extra = as_mask(kwargs[name], name)
        if extra.shape[1:] != out.shape[1:]:
            extra = F.interpolate(extra.unsqueeze(1), size=(out.shape[1], out.shape[2]), mode="bicubic").squeeze(1)
        out = torch.cat((out, extra), dim=0)
    return (out,)


@executor("GetMaskSizeAndCount")
def get_mask_size_and_count(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    mask = as_mask(mask, "mask")
    return mask, int(mask.shape[2]), int(mask.shape[1]), int(mask.shape[0])
