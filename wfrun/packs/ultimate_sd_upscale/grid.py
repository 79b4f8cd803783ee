"""Where the Ultimate SD Upscale tiles lie: the script's geometry as pure integer functions.

The script finds a tile by drawing a white rectangle on a black mask and taking the mask's
bounding box, so its rules carry the quirks of PIL drawing: a rectangle ``(x1, y1, x2, y2)``
is drawn *inclusive* of its far corner (one pixel wider than the tile), and the crop-region
helper then takes one pixel back off the far side unless the region touches the image edge.
These functions compute the same numbers without drawing, so the test can check them against
a mask-and-bbox computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Box = tuple[int, int, int, int]


def round8(length: float) -> int:
    """ComfyUI's patch rounds sizes to the nearest multiple of 8 (Python's round: ties to even)."""
    return round(length / 8) * 8


def processing_size(tile_width: int, tile_height: int, padding: int) -> tuple[int, int]:
    """The size every uniform tile is resized to for sampling: tile plus padding, rounded to 8."""
    return round8(tile_width + padding), round8(tile_height + padding)


def grid_shape(width: int, height: int, tile_width: int, tile_height: int) -> tuple[int, int]:
    """(rows, cols): enough whole tiles to cover the canvas."""
    return math.ceil(height / tile_height), math.ceil(width / tile_width)


def tile_rect(xi: int, yi: int, tile_width: int, tile_height: int) -> Box:
    """The tile's rectangle as the script draws it (far corner inclusive)."""
    return xi * tile_width, yi * tile_height, xi * tile_width + tile_width, yi * tile_height + tile_height


def padded_region(rect: Box, width: int, height: int, padding: int) -> Box:
    """The mask's bounding box of the drawn rectangle, grown by ``padding`` and clamped, less the
    one pixel the script removes on a far side that does not reach the edge."""
    x1, y1, x2, y2 = rect
    bx1, by1 = max(x1, 0), max(y1, 0)
    bx2, by2 = min(x2 + 1, width), min(y2 + 1, height)   # inclusive drawing -> exclusive bbox
    x1, y1 = max(bx1 - padding, 0), max(by1 - padding, 0)
    x2, y2 = min(bx2 + padding, width), min(by2 + padding, height)
    if x2 < width:
        x2 -= 1
    if y2 < height:
        y2 -= 1
    return x1, y1, x2, y2


def expand(region: Box, width: int, height: int, target_width: int, target_height: int) -> Box:
    """Grow a region to the target size inside the image: half the difference to the right
    (bottom), the rest to the left (top), and what the left could not take back to the right."""
    x1, y1, x2, y2 = region
    x2 = min(x2 + (target_width - (x2 - x1)) // 2, width)
    x1 = max(x1 - (target_width - (x2 - x1)), 0)
    x2 = min(x2 + (target_width - (x2 - x1)), width)
    y2 = min(y2 + (target_height - (y2 - y1)) // 2, height)
    y1 = max(y1 - (target_height - (y2 - y1)), 0)
    y2 = min(y2 + (target_height - (y2 - y1)), height)
    return x1, y1, x2, y2


@dataclass(frozen=True)
class Tile:
    rect: Box          # the tile as drawn (the mask's white rectangle)
    crop: Box          # the padded region cropped from the image and pasted back
    size: tuple[int, int]  # the (width, height) the crop is resized to for sampling


def tile_for(xi: int, yi: int, width: int, height: int, tile_width: int, tile_height: int, padding: int,
             uniform: bool) -> Tile:
    """One tile's crop and sampling size. Uniform tiles keep the processing size's aspect ratio
    and are resized to it; others are the padded region rounded up to multiples of 8."""
    rect = tile_rect(xi, yi, tile_width, tile_height)
    region = padded_region(rect, width, height, padding)
    x1, y1, x2, y2 = region
    cw, ch = x2 - x1, y2 - y1
    if uniform:
        pw, ph = processing_size(tile_width, tile_height, padding)
        if cw / ch > pw / ph:
            tw, th = cw, round(cw / (pw / ph))
        else:
            tw, th = round(ch * (pw / ph)), ch
        return Tile(rect, expand(region, width, height, tw, th), (pw, ph))
    tw, th = math.ceil(cw / 8) * 8, math.ceil(ch / 8) * 8
    return Tile(rect, expand(region, width, height, tw, th), (tw, th))


def tile_order(rows: int, cols: int, mode: str) -> list[tuple[int, int]]:
    """(xi, yi) in the order the script redraws them: row by row (Linear), or the chessboard's
    first colour row by row and then the other (Chess; the first colour is the top-left tile's)."""
    cells = [(xi, yi) for yi in range(rows) for xi in range(cols)]
    if mode == "Linear":
        return cells
    first = [(xi, yi) for xi, yi in cells if (xi + yi) % 2 == 0]
    return first + [(xi, yi) for xi, yi in cells if (xi + yi) % 2 == 1]
