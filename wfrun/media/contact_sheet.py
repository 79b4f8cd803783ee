"""A contact sheet: one labelled row per run (a seed, a value), its first, middle and last
frames side by side, so the good run of a sweep can be picked at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wfrun import atomic

#: Height of each thumbnail, in pixels (wider frames keep their aspect).
THUMB_HEIGHT = 160
LABEL_WIDTH = 120
GAP = 4


def key_frames(path: str | Path) -> list[np.ndarray]:
    """The first, middle and last frames (``[H, W, 3]`` uint8) of a video or image file; one
    frame for a still image."""
    path = Path(path)
    if path.suffix.lower() in (".mp4", ".webm", ".mkv", ".mov"):
        from wfrun.media.video import iter_frames

        frames = [np.asarray(f) for f in iter_frames(path)]
    else:
        from PIL import Image, ImageSequence

        with Image.open(path) as image:
            frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(image)]
    if not frames:
        return []
    picks = sorted({0, len(frames) // 2, len(frames) - 1})
    return [frames[i][..., :3].astype(np.uint8) for i in picks]


def contact_sheet(rows: list[tuple[str, list[np.ndarray]]], path: str | Path) -> Path:
    """Write a PNG with one row per ``(label, frames)`` as ``path`` — or, when that name is
    taken, ``path`` with ``_2``, ``_3``… (never over an earlier file; written complete or not
    at all, :mod:`wfrun.atomic`); returns the path written."""
    from PIL import Image, ImageDraw

    thumbs: list[tuple[str, list[Image.Image]]] = []
    for label, frames in rows:
        row = []
        for frame in frames:
            image = Image.fromarray(frame)
            width = max(1, round(image.width * THUMB_HEIGHT / image.height))
            row.append(image.resize((width, THUMB_HEIGHT)))
        thumbs.append((label, row))
    width = LABEL_WIDTH + max((sum(t.width + GAP for t in row) for _, row in thumbs), default=0)
    height = max(1, len(thumbs)) * (THUMB_HEIGHT + GAP)
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, (label, row) in enumerate(thumbs):
        y = r * (THUMB_HEIGHT + GAP)
        draw.text((8, y + THUMB_HEIGHT // 2 - 6), label, fill=(235, 235, 235))
        x = LABEL_WIDTH
        for thumb in row:
            sheet.paste(thumb, (x, y))
            x += thumb.width + GAP
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [path] + [path.with_name(f"{path.stem}_{n}{path.suffix}") for n in range(2, 10_000)]
    temp = atomic.temp_beside(path)
    try:
        sheet.save(temp, format="PNG")
        atomic.sync_file(temp)
        return atomic.publish_first_free(temp, names)
    finally:
        atomic.remove_quietly(temp)
