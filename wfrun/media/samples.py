"""Project-made demo inputs, drawn procedurally (no third-party images or videos).

* :func:`start_end_images` — a start and an end frame for image-to-video with an end frame:
  a sky-to-ground gradient with a sun disc and a box that move between the two frames.
* :func:`depth_frames` — a depth-like control clip for Wan-Fun control: a grey floor that gets
  nearer towards the bottom, a wall, and a ball (near = bright, as depth estimators draw it)
  rolling across.

``python -m wfrun.media.samples OUT_DIR [--width W --height H --frames N --fps F]`` writes
``start.png``, ``end.png`` and ``control.mp4`` into ``OUT_DIR`` (existing files are kept
unless ``--overwrite``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs / max(1, width - 1), ys / max(1, height - 1)


def scene(width: int, height: int, t: float) -> np.ndarray:
    """An RGB uint8 [H, W, 3] picture at time ``t`` in 0..1 (0: start frame, 1: end frame)."""
    x, y = _grid(width, height)
    horizon = 0.62
    sky_top, sky_low = np.array([0.15, 0.30, 0.75]), np.array([0.95, 0.65, 0.40])
    ground_near, ground_far = np.array([0.20, 0.45, 0.15]), np.array([0.45, 0.60, 0.30])
    k_sky = np.clip(y / horizon, 0, 1)[..., None]
    k_ground = np.clip((y - horizon) / (1 - horizon), 0, 1)[..., None]
    image = np.where((y < horizon)[..., None], sky_top * (1 - k_sky) + sky_low * k_sky,
                     ground_far * (1 - k_ground) + ground_near * k_ground)
    aspect = width / max(1, height)
    sun_x, sun_y, sun_r = 0.2 + 0.6 * t, 0.35 - 0.15 * math.sin(math.pi * t), 0.09
    dist = np.sqrt(((x - sun_x) * aspect) ** 2 + (y - sun_y) ** 2)
    glow = np.clip(1 - (dist - sun_r) / 0.05, 0, 1)[..., None]
    image = image * (1 - glow) + np.array([1.0, 0.92, 0.55]) * glow
    box_x0, box_w = 0.65 - 0.4 * t, 0.14
    inside = (x >= box_x0) & (x <= box_x0 + box_w) & (y >= 0.55) & (y <= 0.78)
    shade = 0.55 + 0.35 * (x - box_x0) / box_w
    image[inside] = np.stack([0.75 * shade, 0.25 * shade, 0.2 * shade], -1)[inside]
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def start_end_images(width: int = 832, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
    return scene(width, height, 0.0), scene(width, height, 1.0)


def depth_frame(width: int, height: int, t: float) -> np.ndarray:
    """A grey uint8 [H, W, 3] depth-like picture (bright = near) at time ``t`` in 0..1."""
    x, y = _grid(width, height)
    horizon = 0.45
    depth = np.where(y > horizon, 0.25 + 0.7 * np.clip((y - horizon) / (1 - horizon), 0, 1) ** 0.8, 0.12 + 0.08 * y / horizon)
    aspect = width / max(1, height)
    cx, cy, r = 0.15 + 0.7 * t, 0.62 + 0.04 * math.sin(2 * math.pi * t), 0.13
    d2 = ((x - cx) * aspect) ** 2 + (y - cy) ** 2
    ball = d2 < r * r
    bulge = np.sqrt(np.clip(1 - d2 / (r * r), 0, 1))
    depth = np.where(ball, 0.75 + 0.25 * bulge, depth)
    grey = (np.clip(depth, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def depth_frames(width: int = 832, height: int = 480, frames: int = 49) -> np.ndarray:
    return np.stack([depth_frame(width, height, i / max(1, frames - 1)) for i in range(frames)])


def write_start_end_images(folder: str | Path, width: int = 832, height: int = 480,
                           names: tuple[str, str] = ("start.png", "end.png"),
                           overwrite: bool = False) -> tuple[Path, Path]:
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / names[0], folder / names[1])
    for path, array in zip(paths, start_end_images(width, height)):
        if path.exists() and not overwrite:
            continue
        Image.fromarray(array).save(path, format="PNG")
    return paths


def write_control_video(path: str | Path, width: int = 832, height: int = 480, frames: int = 49,
                        fps: float = 16, overwrite: bool = False) -> Path:
    from wfrun.media.video import encode

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if not overwrite:
            return path
        path.unlink()
    data = (depth_frame(width, height, i / max(1, frames - 1)).tobytes() for i in range(frames))
    encode(data, path, width=width, height=height, frame_rate=fps, fake_trc="bt709",
           output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "19",
                        "-vf", "scale=out_color_matrix=bt709", "-color_range", "tv", "-colorspace", "bt709",
                        "-color_primaries", "bt709", "-color_trc", "bt709"])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wfrun.media.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--fps", type=float, default=16)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    for path in write_start_end_images(out, args.width, args.height, overwrite=args.overwrite):
        print(path)
    print(write_control_video(out / "control.mp4", args.width, args.height, args.frames, args.fps, args.overwrite))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
