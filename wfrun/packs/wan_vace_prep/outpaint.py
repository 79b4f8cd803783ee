"""VACEOutpaint (and its first name, VACEOutpaintLayout) as the pack computes them.

``crop_state`` is what the pack's canvas widget saves: ``"x,y,w,h"`` or ``"x,y,w,h,ow,oh"``
in source pixels; the window may hang over any side of the source. Inside the window the
source shows through with mask 0; the overhang is filled (``mask_color``: "wan" grey 0.5,
"ltx" black, anything else ``custom_color`` as hex or three numbers, 0..1 or 0..255) with
mask 1. A state that does not parse, or a window under 16 px, falls back to the pack's
default: the source width, padded upward by 30 % of its height (in steps of 16 px). An
output size (``ow``, ``oh``, each at least 16) other than the window's scales the result:

- versions saved with the first signature (2026-04-06, and VACEOutpaintLayout): the window
  is composed at its own size, then the video scaled bilinearly and the mask by nearest;
- later versions (the pack changed this on 2026-05-28, inside the 2026-04-16 signature,
  which is therefore run the newer way): the visible part of the source is cropped and
  scaled bilinearly straight into its place at the output size, and the mask is the
  rounded rectangle of that place.

The pack's widget preview (frames cached for its web page) has no counterpart here.

Files saved by the pack's canvas (its example of 2026-07-16, for one) carry the canvas
widget's own value, ``""``, in front of the three real ones, so by position ``crop_state``
reads ``""``, ``mask_color`` the crop state and ``custom_color`` the preset, and the saved
custom colour is left over (ComfyUI itself sends the values by name, so the pack never sees
the shift). :func:`unshift` recognises that layout (an empty ``crop_state`` and a
``mask_color`` that is a crop state) and reads the values where they belong; a "custom"
preset, whose colour was lost, is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

GRID = 16
MIN_SIDE = 32
DEFAULT_PAD_FACTOR = 0.3
PRESETS = {"wan": (0.5, 0.5, 0.5), "ltx": (0.0, 0.0, 0.0)}
#: The first signature's date: results scaled after composing (see the module docstring).
COMPOSE_THEN_SCALE_UNTIL = "2026-04-06"


@dataclass(frozen=True)
class Window:
    x: int
    y: int
    width: int
    height: int
    out_width: int
    out_height: int


def parse_color(text: str) -> tuple[float, float, float]:
    """``custom_color``: ``#rrggbb``/``rrggbb`` or three numbers (over 1 means 0..255)."""
    s = str(text).strip().lstrip("#")
    if len(s) == 6 and all(c in "0123456789abcdefABCDEF" for c in s):
        return tuple(int(s[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    parts = [p.strip() for p in s.split(",")]
    try:
        values = [float(p) for p in parts] if len(parts) == 3 else None
    except ValueError:
        values = None
    if values is None:
        raise NodeInputError("custom_color", f"custom_color must be hex or 3 comma-separated values, got {text!r}")
    if any(v > 1.0 for v in values):
        values = [v / 255.0 for v in values]
    return tuple(max(0.0, min(1.0, v)) for v in values)  # type: ignore[return-value]


def parse_window(crop_state: str, src_w: int, src_h: int) -> Window:
    x = y = w = h = ow = oh = 0
    if crop_state:
        try:
            parts = [int(v) for v in str(crop_state).split(",")]
        except ValueError:
            parts = []
        if len(parts) >= 4:
            x, y, w, h = parts[:4]
        if len(parts) >= 6:
            ow, oh = parts[4], parts[5]
    if w < GRID or h < GRID:
        pad = max(GRID, round(src_h * DEFAULT_PAD_FACTOR / GRID) * GRID)
        x, y, w, h = 0, -pad, round(src_w / GRID) * GRID, round((src_h + pad) / GRID) * GRID
    return Window(x, y, w, h, ow if ow >= GRID else w, oh if oh >= GRID else h)


def _compose(images: torch.Tensor, win: Window, fill: tuple[float, float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The window at its own size: source where it overlaps, fill elsewhere."""
    n, src_h, src_w = images.shape[:3]
    dst_x, dst_y, src_x, src_y = max(0, -win.x), max(0, -win.y), max(0, win.x), max(0, win.y)
    copy_w, copy_h = min(src_w - src_x, win.width - dst_x), min(src_h - src_y, win.height - dst_y)
    video = torch.tensor(fill, dtype=torch.float32).expand(n, win.height, win.width, 3).clone()
    mask = torch.ones((n, win.height, win.width), dtype=torch.float32)
    if copy_w > 0 and copy_h > 0:
        video[:, dst_y:dst_y + copy_h, dst_x:dst_x + copy_w] = \
            images[:, src_y:src_y + copy_h, src_x:src_x + copy_w, :3].float()
        mask[:, dst_y:dst_y + copy_h, dst_x:dst_x + copy_w] = 0.0
    return video, mask


def _compose_then_scale(images: torch.Tensor, win: Window, fill: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    video, mask = _compose(images, win, fill)
    size = (win.out_height, win.out_width)
    video = F.interpolate(video.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False)
    mask = F.interpolate(mask.unsqueeze(1), size=size, mode="nearest").squeeze(1)
    return video.permute(0, 2, 3, 1), mask


def _crop_then_scale(images: torch.Tensor, win: Window, fill: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    n, src_h, src_w = images.shape[:3]
    dst_x, dst_y, src_x, src_y = max(0, -win.x), max(0, -win.y), max(0, win.x), max(0, win.y)
    copy_w, copy_h = min(src_w - src_x, win.width - dst_x), min(src_h - src_y, win.height - dst_y)
    if copy_w <= 0 or copy_h <= 0:
        raise NodeInputError("crop_state", f"the window {win.width}x{win.height} at ({win.x}, {win.y}) does not "
                             f"overlap the {src_w}x{src_h} source", "move the window over the video")
    sx, sy = win.out_width / win.width, win.out_height / win.height
    ox, oy = round(dst_x * sx), round(dst_y * sy)
    ow, oh = max(1, round(copy_w * sx)), max(1, round(copy_h * sy))
    video = torch.tensor(fill, dtype=torch.float32).expand(n, win.out_height, win.out_width, 3).clone()
    region = images[:, src_y:src_y + copy_h, src_x:src_x + copy_w, :3].float().permute(0, 3, 1, 2)
    region = F.interpolate(region, size=(oh, ow), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    # a rounded place may reach one pixel past the canvas edge (the pack fails there): clip it
    video[:, oy:oy + oh, ox:ox + ow] = region[:, :max(0, min(oh, win.out_height - oy)),
                                              :max(0, min(ow, win.out_width - ox))]
    mask = torch.ones((n, win.out_height, win.out_width), dtype=torch.float32)
    mask[:, oy:oy + oh, ox:ox + ow] = 0.0
    return video, mask


def _is_crop_state(text: Any) -> bool:
    parts = str(text).split(",")
    return len(parts) >= 4 and all(p.strip().lstrip("-").isdigit() for p in parts)


def unshift(crop_state: Any, mask_color: Any, custom_color: Any) -> tuple[str, str, str]:
    """The three widget values, read back into place when the canvas value shifted them (the
    custom colour then unused: only the presets are accepted)."""
    if str(crop_state) == "" and _is_crop_state(mask_color):
        if str(custom_color) not in PRESETS:
            raise NodeInputError("custom_color", "this file saved the canvas widget's value in front of the "
                                 "others, and its custom fill colour cannot be recovered by position",
                                 "open it in ComfyUI and save it again, or choose the wan or ltx fill")
        return str(mask_color), str(custom_color), ""
    return str(crop_state), str(mask_color), str(custom_color)


def outpaint(ctx: ExecContext, images: Any, crop_state: str, mask_color: str, custom_color: str,
             compose_first: bool) -> tuple:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE batch [frames, height, width, channels]", "connect images")
    n, src_h, src_w = images.shape[:3]
    if src_w < MIN_SIDE or src_h < MIN_SIDE:
        raise NodeInputError("images", f"frames of {src_w}x{src_h} are too small to outpaint (under {MIN_SIDE} px)",
                             "connect the video frames, not a placeholder")
    win = parse_window(crop_state, src_w, src_h)
    fill = PRESETS[mask_color] if mask_color in PRESETS else parse_color(custom_color)
    if (win.out_width, win.out_height) == (win.width, win.height):
        video, mask = _compose(images, win, fill)
    elif compose_first:
        video, mask = _compose_then_scale(images, win, fill)
    else:
        video, mask = _crop_then_scale(images, win, fill)
    return video, mask, win.out_width, win.out_height, n


@executor("VACEOutpaint")
def vace_outpaint(ctx: ExecContext, images: Any, crop_state: str, mask_color: str, custom_color: str,
                  **_: Any) -> tuple:
    compose_first = ctx.saved_date is not None and ctx.saved_date <= COMPOSE_THEN_SCALE_UNTIL
    crop_state, mask_color, custom_color = unshift(crop_state, mask_color, custom_color)
    return outpaint(ctx, images, crop_state, mask_color, custom_color, compose_first)


@executor("VACEOutpaintLayout")
def vace_outpaint_layout(ctx: ExecContext, images: Any, crop_state: str, **_: Any) -> tuple:
    return outpaint(ctx, images, crop_state, "wan", "", compose_first=True)
