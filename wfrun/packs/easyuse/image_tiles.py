"""Easy-Use's ``easy imageSplitTiles`` and ``easy imageTilesFromBatch`` (``py/nodes/image.py``;
the same code from 2025-01-30 to the newest stored commit, 2026-08-14).

``easy imageSplitTiles`` cuts the image into ``tiles_rows`` × ``tiles_cols`` tiles of
``width // cols`` × ``height // rows`` pixels, each widened by the overlap on its left and
top (tiles past the first column or row start ``overlap`` earlier; one that would pass the
edge is shifted back inside). The overlap is ``int(tile · overlap_ratio) + overlap_offset``,
at most half a tile, rounded down to a multiple of 8 with ``norm`` (Python's ``%``, so a
negative overlap goes further down), and 0 across a single row or column. Every frame of a
batch is cut: the tiles come tile by tile, each with all frames. Each tile's mask is
ComfyUI's SolidMask of 1 feathered by FeatherMask on the sides that overlap (left past
the first column, top past the first row; feather value ``(k + 1) / overlap`` at pixel
``k``): one mask per tile, not per frame. ``overlap`` is the tuple ``(overlap_w,
overlap_h, tile_w, tile_h, rows, cols)``; ``total`` is ``rows · cols``.

``easy imageTilesFromBatch`` takes frame ``index`` of ``tiles`` (clamped to the last) and mask
``index`` of ``masks`` (clamped), and the tile's place: ``x = tile_w · (index % cols) -
overlap_w`` past the first column, else 0; ``y = tile_h · (index // cols) - overlap_h`` when
there is more than one row and ``index`` is past the first row, else 0. As in the pack, with a
batch of frames ``index`` counts frames, not tiles.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def feather(mask: torch.Tensor, left: int, top: int) -> torch.Tensor:
    """ComfyUI's FeatherMask with only ``left`` and ``top`` set."""
    out = mask.reshape((-1, mask.shape[-2], mask.shape[-1])).clone()
    left, top = min(left, out.shape[-1]), min(top, out.shape[-2])
    for x in range(left):
        out[:, :, x] *= (x + 1.0) / left
    for y in range(top):
        out[:, y, :] *= (y + 1.0) / top
    return out


@executor("easy imageSplitTiles")
def image_split_tiles(ctx: ExecContext, image: Any, overlap_ratio: float, overlap_offset: int, tiles_rows: int,
                      tiles_cols: int, norm: bool, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "image: expected an IMAGE")
    rows, cols = int(tiles_rows), int(tiles_cols)
    if rows < 1 or cols < 1:
        raise NodeInputError("tiles_rows" if rows < 1 else "tiles_cols", "at least one row and one column")
    height, width = image.shape[1:3]
    tile_w, tile_h = width // cols, height // rows
    if tile_w < 1 or tile_h < 1:
        raise NodeInputError("tiles_cols" if tile_w < 1 else "tiles_rows",
                             f"{rows}x{cols} tiles of a {width}x{height} image are empty", "use fewer tiles")
    overlap_w = min(tile_w // 2, int(tile_w * float(overlap_ratio)) + int(overlap_offset))
    overlap_h = min(tile_h // 2, int(tile_h * float(overlap_ratio)) + int(overlap_offset))
    if norm:
        overlap_w, overlap_h = overlap_w - overlap_w % 8, overlap_h - overlap_h % 8
    if rows == 1:
        overlap_h = 0
    if cols == 1:
        overlap_w = 0
    tiles, masks = [], []
    for i in range(rows):
        for j in range(cols):
            y1 = i * tile_h - (overlap_h if i > 0 else 0)
            x1 = j * tile_w - (overlap_w if j > 0 else 0)
            y2, x2 = y1 + tile_h + overlap_h, x1 + tile_w + overlap_w
            if y2 > height:
                y2, y1 = height, height - tile_h - overlap_h
            if x2 > width:
                x2, x1 = width, width - tile_w - overlap_w
            tile = _slice(image, y1, y2, x1, x2)
            tiles.append(tile)
            solid = torch.ones((1, tile.shape[1], tile.shape[2]), dtype=torch.float32)
            masks.append(feather(solid, overlap_w if overlap_w * j > 0 else 0, overlap_h if overlap_h * i > 0 else 0))
    return (torch.cat(tiles, dim=0), torch.cat(masks, dim=0), (overlap_w, overlap_h, tile_w, tile_h, rows, cols),
            rows * cols)


def _slice(image: torch.Tensor, y1: int, y2: int, x1: int, x2: int) -> torch.Tensor:
    """``image[:, y1:y2, x1:x2, :]`` with Python's slice rules, negative starts included (a
    negative overlap can shift a start below 0, which the pack's slicing then counts from the end)."""
    return image[:, slice(y1, y2), slice(x1, x2), :]


@executor("easy imageTilesFromBatch")
def image_tiles_from_batch(ctx: ExecContext, tiles: Any, masks: Any, overlap: Any, index: int, **_: Any) -> tuple:
    if not isinstance(tiles, torch.Tensor) or tiles.ndim != 4:
        raise NodeInputError("tiles", "tiles: expected an IMAGE")
    if not isinstance(masks, torch.Tensor):
        raise NodeInputError("masks", "masks: expected a MASK")
    if not (isinstance(overlap, tuple) and len(overlap) == 6):
        raise NodeInputError("overlap", "overlap: expected the OVERLAP of easy imageSplitTiles")
    index = int(index)
    at = min(tiles.shape[0] - 1, index)
    tile = tiles[at:at + 1].clone()
    m = masks.reshape((-1, masks.shape[-2], masks.shape[-1])) if masks.ndim >= 2 else masks
    start = min(index, m.shape[0] - 1)
    mask = m[start:start + 1]
    overlap_w, overlap_h, tile_w, tile_h, rows, cols = overlap
    x = tile_w * (index % cols) - overlap_w if (index % cols) > 0 else 0
    y = tile_h * (index // cols) - overlap_h if rows > 1 and index > cols - 1 else 0
    return tile, mask, x, y
