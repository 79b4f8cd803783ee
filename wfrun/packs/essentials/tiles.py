"""ComfyUI_essentials' ImageTile+ and ImageUntile+ (``image.py``): cut an image into
``rows`` x ``cols`` overlapping tiles for tiled upscaling, and sew them back.

ImageTile+: tiles of ``H // rows`` x ``W // cols`` grown by the overlap (``overlap`` as a
fraction of the tile plus the pixel ``overlap_x`` / ``overlap_y``, at most half a tile,
none along a single row or column) towards the top-left, shifted back inside the image at
the far edges; tile-major order (all frames of a tile, then the next tile), as the pack's
concatenation. Outputs the tiles, their size and the overlaps used.
ImageUntile+: tile ``i * cols + j`` (one frame per tile) is laid over the canvas at its
place with a linear 0→1 ramp across the overlap on its top and left sides, so each tile
fades in over the one before it.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.essentials.values import image as as_image, number, whole


def _place(index: int, tile: int, overlap: int, total: int) -> tuple[int, int]:
    start = index * tile - (overlap if index > 0 else 0)
    end = start + tile + overlap
    if end > total:
        end = total
        start = end - tile - overlap
    return start, end


@executor("ImageTile+")
def image_tile(ctx: ExecContext, image: Any, rows: Any, cols: Any, overlap: Any, overlap_x: Any, overlap_y: Any,
               **_: Any) -> tuple:
    image = as_image(image, "image")
    rows, cols = whole(rows, "rows"), whole(cols, "cols")
    h, w = image.shape[1:3]
    tile_h, tile_w = h // rows, w // cols
    if tile_h == 0 or tile_w == 0:
        raise NodeInputError("rows" if tile_h == 0 else "cols", f"a {w}x{h} image has no room for {rows}x{cols} tiles")
    h, w = tile_h * rows, tile_w * cols
    fraction = number(overlap, "overlap")
    over_h = min(tile_h // 2, int(tile_h * fraction) + whole(overlap_y, "overlap_y")) if rows > 1 else 0
    over_w = min(tile_w // 2, int(tile_w * fraction) + whole(overlap_x, "overlap_x")) if cols > 1 else 0
    tiles = []
    for i in range(rows):
        y1, y2 = _place(i, tile_h, over_h, h)
        for j in range(cols):
            x1, x2 = _place(j, tile_w, over_w, w)
            tiles.append(image[:, y1:y2, x1:x2, :])
    return torch.cat(tiles, dim=0), tile_w + over_w, tile_h + over_h, over_w, over_h


@executor("ImageUntile+")
def image_untile(ctx: ExecContext, tiles: Any, overlap_x: Any, overlap_y: Any, rows: Any, cols: Any,
                 **_: Any) -> tuple:
    tiles = as_image(tiles, "tiles")
    rows, cols = whole(rows, "rows"), whole(cols, "cols")
    over_x, over_y = whole(overlap_x, "overlap_x"), whole(overlap_y, "overlap_y")
    if tiles.shape[0] < rows * cols:
        raise NodeInputError("tiles", f"{tiles.shape[0]} tiles for a {rows}x{cols} grid",
                             "give one frame per tile (ImageTile+ of a single image)")
    tile_h, tile_w = tiles.shape[1] - over_y, tiles.shape[2] - over_x
    out_h, out_w = rows * tile_h, cols * tile_w
    channels = tiles.shape[3]
    out = torch.zeros((1, out_h, out_w, channels), device=tiles.device, dtype=tiles.dtype)
    for i in range(rows):
        y1, y2 = _place(i, tile_h, over_y, out_h)
        for j in range(cols):
            x1, x2 = _place(j, tile_w, over_x, out_w)
            mask = torch.ones((1, tile_h + over_y, tile_w + over_x), device=tiles.device, dtype=tiles.dtype)
            if i > 0 and over_y > 0:
                mask[:, :over_y, :] *= torch.linspace(0, 1, over_y, device=tiles.device, dtype=tiles.dtype).unsqueeze(1)
            if j > 0 and over_x > 0:
                mask[:, :, :over_x] *= torch.linspace(0, 1, over_x, device=tiles.device, dtype=tiles.dtype).unsqueeze(0)
            mask = mask.unsqueeze(-1).repeat(1, 1, 1, channels)
            out[:, y1:y2, x1:x2, :] = out[:, y1:y2, x1:x2, :] * (1 - mask) + tiles[i * cols + j] * mask
    return (out,)
