"""The picture and mask Florence2Run makes for box tasks, drawn with Pillow.

The pack draws with matplotlib (a red 1-pixel rectangle per box and an ``index.label`` tag
on a coloured, half-transparent patch, rendered through a PNG of the figure); wfrun draws
the same rectangles and tags with Pillow on the image itself, so the picture is similar,
not pixel-identical. The mask is the pack's: white filled rectangles, corners put in
order, for the boxes whose index or label ``output_mask_select`` names (all when empty).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image, ImageDraw

#: The pack's tag colours.
COLORS = ("blue", "orange", "green", "purple", "brown", "pink", "olive", "cyan", "red", "lime", "indigo",
          "violet", "aqua", "magenta", "gold", "tan", "skyblue")


def ordered(box) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def selected(index: int, label: str, select: str) -> bool:
    """Whether box ``index`` with ``label`` goes into the mask (the pack's rule)."""
    if select == "":
        return True
    names = select.split(",")
    return str(index) in names or label in names


def box_mask(size: tuple[int, int], boxes, labels, select: str) -> torch.Tensor:
    """``[1, H, W]`` float mask: 1 inside the selected boxes."""
    width, height = size
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    for index, (box, label) in enumerate(zip(boxes, labels)):
        if selected(index, label, select):
            draw.rectangle(ordered(box), fill=255)
    return torch.from_numpy(np.asarray(layer, dtype=np.float32) / 255.0).unsqueeze(0)


def annotate(image: Image.Image, boxes, labels, rng: random.Random, single: bool) -> torch.Tensor:
    """``[1, H, W, 3]``: the image with each box and its ``index.label`` tag."""
    canvas = image.convert("RGBA")
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width = canvas.size[0]
    for index, (box, label) in enumerate(zip(boxes, labels)):
        x0, y0, x1, y1 = ordered(box)
        draw.rectangle((x0, y0, x1, y1), outline=(255, 0, 0, 255), width=1)
        tag = f"{index}.{label}"
        text_w, text_h = len(label) * 6, 12
        tx = 0 if x0 < 0 else (width - text_w if x0 + text_w > width else x0)
        ty = y0 - text_h if y0 - text_h >= 0 else y1
        color = rng.choice(COLORS) if single else "red"
        rgb = Image.new("RGB", (1, 1), color).getpixel((0, 0))
        left, top, right, bottom = draw.textbbox((tx, ty), tag)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(*rgb, 128))
        draw.text((tx, ty), tag, fill=(255, 255, 255, 255))
    merged = Image.alpha_composite(canvas, overlay).convert("RGB")
    return torch.from_numpy(np.asarray(merged, dtype=np.float32) / 255.0).unsqueeze(0)


def polygons(image: Image.Image, shapes, fill: bool, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """Referring-expression segmentation: each polygon drawn in a random colour of the
    pack's (filled at alpha 180 with ``fill``, else outlined), clamped to the image, and
    the white mask of all of them; polygons of fewer than three points are skipped."""
    width, height = image.size
    picture = image.convert("RGBA")
    mask = Image.new("L", (width, height), 0)
    mask_draw = ImageDraw.Draw(mask)
    for shape in shapes:
        color = rng.choice(COLORS)
        rgb = Image.new("RGB", (1, 1), color).getpixel((0, 0))
        for polygon in shape:
            points = np.clip(np.asarray(polygon, dtype=np.float64).reshape(-1, 2), [0, 0], [width - 1, height - 1])
            if len(points) < 3:
                continue
            flat = [float(v) for v in points.reshape(-1)]
            overlay = Image.new("RGBA", picture.size, (255, 255, 255, 0))
            draw = ImageDraw.Draw(overlay)
            if fill:
                draw.polygon(flat, outline=color, fill=(*rgb, 180), width=3)
            else:
                draw.polygon(flat, outline=color, width=3)
            picture = Image.alpha_composite(picture, overlay)
            mask_draw.polygon(flat, outline=255, fill=255)
    out = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0).unsqueeze(0)
    return out, torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0).unsqueeze(0)
