"""KJNodes' PreviewAnimation (``nodes/image_nodes.py``): an output node that shows the frames
as one animated WebP (``AnimPreview_<counter>_.webp`` in the temp folder, ``1000 / fps`` ms a
frame, lossy quality 50, method 0).

As the pack: images alone are the frames; masks alone become grey frames; with both, each
image is overlaid with white through its mask (the mask as the white layer's alpha,
``Image.alpha_composite``), pairing masks with images in order (images left without a mask
stay as they are; the pack then moves them behind the composited ones, and so does this).
With neither, nothing is written. Nothing is returned: a preview, like PreviewImage, which
wfrun writes into the run's temp folder."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from PIL import Image

from wfrun.media.image import MediaPathError, save_target
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import record, temp_dir

log = logging.getLogger(__name__)


def _uint8(tensor: torch.Tensor) -> np.ndarray:
    return np.clip(255.0 * tensor.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)


def preview_frames(images: torch.Tensor | None, masks: torch.Tensor | None) -> list[Image.Image]:
    """The pack's frames for ``images`` ``[T, H, W, 3]`` and ``masks`` ``[T, H, W]``."""
    if images is None:
        return [Image.fromarray(_uint8(mask)) for mask in masks] if masks is not None else []
    frames = [Image.fromarray(_uint8(image)) for image in images]
    for mask in masks if masks is not None else ():
        if not frames:
            break
        base = frames.pop(0).convert("RGBA")
        white = Image.new("RGBA", base.size, (255, 255, 255, 255))
        white.putalpha(Image.fromarray(_uint8(mask), mode="L"))
        frames.append(Image.alpha_composite(base, white))
    return frames


@executor("PreviewAnimation")
def preview_animation(ctx: ExecContext, fps: float, images: Any = None, masks: Any = None, **_: Any) -> tuple:
    for name, value, dims in (("images", images, 4), ("masks", masks, 3)):
        if value is not None and (not isinstance(value, torch.Tensor) or value.ndim != dims):
            raise NodeInputError(name, f"expected {'an IMAGE' if dims == 4 else 'a MASK'} batch, got "
                                 f"{getattr(value, 'shape', type(value).__name__)}")
    if float(fps) <= 0:
        raise NodeInputError("fps", f"fps {fps} is not above 0")
    frames = preview_frames(images, masks)
    if not frames:
        log.warning("PreviewAnimation: no images or masks provided")
        return ()
    try:
        target = save_target(temp_dir(ctx), "AnimPreview")
    except MediaPathError as err:  # the temp folder itself unusable
        raise NodeInputError("images", str(err)) from None
    counter = target.counter
    while True:
        path = target.folder / f"{target.filename}_{counter:05}_.webp"
        try:
            with open(path, "xb") as handle:
                frames[0].save(handle, format="WEBP", save_all=True, duration=int(1000.0 / float(fps)),
                               append_images=frames[1:], lossless=False, quality=50, method=0)
            break
        except FileExistsError:
            counter += 1
    record(ctx, path)
    return ()
