"""FrameNumberOverlay: each frame's number drawn in a corner, as the pack draws it.

The label is ``prefix + (start_index + i) + suffix``, placed ``padding`` pixels from the
chosen corner (its size from Pillow's text box), drawn in ``font_color`` (any Pillow colour
name or ``#rrggbb``) over a one-pixel black outline (the text drawn in black one pixel left,
right, up and down first). Frames pass through 8-bit RGB as in the pack, so every pixel is
rounded down to a multiple of 1/255. The font is the pack's first on Linux, DejaVu Sans
Mono, where installed, else Pillow's scalable default at the same size (the pack's own
fallback).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageColor, ImageDraw, ImageFont

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",)
OUTLINE = ((-1, 0), (1, 0), (0, -1), (0, 1))


def load_font(size: int) -> Any:
    for path in FONT_FILES:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def draw_label(frame: Image.Image, label: str, font: Any, position: str, padding: int, color: str) -> None:
    draw = ImageDraw.Draw(frame)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    x = padding if "left" in position else frame.width - (right - left) - padding
    y = padding if "top" in position else frame.height - (bottom - top) - padding
    for dx, dy in OUTLINE:
        draw.text((x + dx, y + dy), label, font=font, fill=(0, 0, 0))
    draw.text((x, y), label, font=font, fill=color)


@executor("FrameNumberOverlay")
def frame_number_overlay(ctx: ExecContext, images: Any, font_size: int, start_index: int, padding: int,
                         font_color: str, prefix: str, suffix: str, position: str = "top-left",
                         **_: Any) -> tuple:
    # ``position`` is a combo the spec gives no default; ComfyUI shows its first option,
    # "top-left", which is also the pack's Python default
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] != 3:
        raise NodeInputError("images", "expected an RGB IMAGE batch [frames, height, width, 3]", "connect images")
    try:
        ImageColor.getrgb(str(font_color))
    except ValueError:
        raise NodeInputError("font_color", f"{font_color!r} is not a colour Pillow knows",
                             "use a name such as white or a hex colour such as #ffcc00") from None
    font = load_font(int(font_size))
    out = []
    for i, frame in enumerate(images):
        pixels = (frame.cpu().numpy() * 255).clip(0, 255).astype(np.uint8)
        picture = Image.fromarray(pixels, mode="RGB")
        draw_label(picture, f"{prefix}{int(start_index) + i}{suffix}", font, str(position), int(padding),
                   str(font_color))
        out.append(torch.from_numpy(np.asarray(picture).astype(np.float32) / 255.0))
    return (torch.stack(out),)
