"""ComfyUI's ``LoadImageMask`` ("Load Image (as Mask)", ``nodes.py``): one channel of an image
in the input folder as a MASK. The file is found as LoadImage finds it (inside the input
folder, or the output/temp folder its ``[output]``/``[temp]`` tag names; nothing leading out).

ComfyUI changed what the node reads on 2026-05-03 (cea8d092, first released in 0.21.0):

* Before (the node's behaviour since 2023; files that carry no ComfyUI version, or one
  below 0.21.0): the first frame only, EXIF orientation applied, mode ``I`` scaled to 8
  bits, anything not RGBA converted to RGBA; the channel's values / 255, and for
  ``alpha`` one minus that. An image without alpha thus gives a full-size mask of zeros.
* From 0.21.0: LoadImage's frames and mask (every frame of the first frame's size;
  ``alpha`` is LoadImage's ``1 - alpha`` mask, a 64x64 zero mask when the file has none),
  ``red``/``green``/``blue`` that channel of every frame.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from wfrun.media.image import MediaPathError, load_image_file, open_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file
from wfrun.nodes.saved import saved_version

#: The first ComfyUI release whose LoadImageMask reads through LoadImage.
LOADIMAGE_RELEASE = (0, 21, 0)
CHANNELS = ("alpha", "red", "green", "blue")
_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def reads_through_load_image(ver: str | None) -> bool:
    """Whether a node saved by ComfyUI release ``ver`` (its ``properties.ver``) has the newer
    behaviour; a missing or unreadable version means the older one (files from before
    ComfyUI saved versions)."""
    match = _RELEASE.match(ver or "")
    return match is not None and tuple(int(g) for g in match.groups()) >= LOADIMAGE_RELEASE


def first_frame_channel(path: Any, channel: str) -> torch.Tensor:
    """The older node: one channel of the first frame as a ``[1, H, W]`` MASK."""
    from PIL import ImageOps

    img = open_image(path)
    with img:
        frame = ImageOps.exif_transpose(img) or img
        if frame.getbands() != ("R", "G", "B", "A"):
            if frame.mode == "I":
                frame = frame.point(lambda v: v * (1 / 255))
            frame = frame.convert("RGBA")
        band = channel[0].upper()
        values = torch.from_numpy(np.asarray(frame.getchannel(band)).astype(np.float32) / 255.0)
    return (1.0 - values if band == "A" else values).unsqueeze(0)


def _files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads."""
    return {"image": (inputs.get("image"), "image")}


@executor("LoadImageMask", volatile=True, input_files=_files)
def load_image_mask(ctx: ExecContext, image: Any, channel: Any, **_: Any) -> tuple:
    if channel not in CHANNELS:
        raise NodeInputError("channel", f"unknown channel {channel!r}", f"use one of {', '.join(CHANNELS)}")
    path = input_file(ctx, image, "image", "image")
    try:
        if not reads_through_load_image(saved_version(ctx.workflow_json, ctx.node_id)):
            return (first_frame_channel(path, channel),)
        frames, masks = load_image_file(path)
    except MediaPathError as err:
        raise NodeInputError("image", str(err), "use a PNG, JPEG, WebP, GIF or TIFF file") from None
    if channel == "alpha":
        return (masks,)
    return (frames[..., CHANNELS.index(channel) - 1].clone(),)
