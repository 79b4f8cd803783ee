"""LoadImage, SaveImage, PreviewImage, ImageCompare, EmptyImage, ImageScale, ImageScaleBy,
ImageScaleToTotalPixels.

Differences from ComfyUI, on purpose:

* LoadImage reads with Pillow only (ComfyUI now tries PyAV first and falls back to Pillow);
  both give the same frames for still images. Names are resolved inside the input folder
  and anything leading out of it (absolute, ``..``, symlink) is refused.
* SaveImage/PreviewImage embed what wfrun knows of the workflow: the UI document as
  ``workflow`` when the file was a UI workflow, the API prompt as ``prompt`` when it was one
  (ComfyUI embeds both because its frontend sends both). Each file is written under a
  temporary name and takes its own only when complete, never replacing an existing file
  even if another process took the counter; a full disk or Ctrl-C leaves no partial image.
"""

from __future__ import annotations

import math
import random
import string
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.media.image import MediaPathError, load_image_file, upscale_image
from wfrun.nodes.files import input_file, save_images, temp_dir
from wfrun.packs.comfy_core.values import float_input, image_input, int_input


def _image_files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    return {"image": (inputs.get("image"), "image")}


# volatile: the file may change between runs
@executor("LoadImage", volatile=True, input_files=_image_files)
def load_image(ctx: ExecContext, image: str, **_: Any) -> tuple:
    path = input_file(ctx, image, "image", "image")
    try:
        images, masks = load_image_file(path)
    except MediaPathError as err:
        raise NodeInputError("image", str(err), "use a PNG, JPEG, WebP, GIF or TIFF file") from None
    return images, masks


@executor("SaveImage")
def save_image(ctx: ExecContext, images: torch.Tensor, filename_prefix: str, **_: Any) -> tuple:
    save_images(ctx, images, filename_prefix, ctx.output_dir, compress_level=4)
    return (images,)


@executor("PreviewImage")
def preview_image(ctx: ExecContext, images: torch.Tensor, **_: Any) -> tuple:
    save_images(ctx, images, "ComfyUI" + _preview_prefix(), temp_dir(ctx), compress_level=1)
    return (images,)


def _preview_prefix() -> str:
    """PreviewImage's name suffix: ``_temp_`` and five random lowercase letters."""
    return "_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))


@executor("ImageCompare")
def image_compare(ctx: ExecContext, image_a: Any = None, image_b: Any = None, **_: Any) -> tuple:
    """A display node (the frontend's slider between two images): as ComfyUI, each connected,
    non-empty side is written as a preview into the temporary folder, ``comfy.compare.a`` and
    ``comfy.compare.b`` plus PreviewImage's suffix; nothing goes to the output folder, and
    the ``compare_view`` widget (the slider's state) is not read."""
    for name, images, prefix in (("image_a", image_a, "comfy.compare.a"), ("image_b", image_b, "comfy.compare.b")):
        if images is None:
            continue
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]")
        if images.shape[0] > 0:
            save_images(ctx, images, prefix + _preview_prefix(), temp_dir(ctx), compress_level=1)
    return ()


@executor("EmptyImage")
def empty_image(ctx: ExecContext, width: int, height: int, batch_size: int, color: int, **_: Any) -> tuple:
    color = int(color)
    channels = [torch.full([batch_size, height, width, 1], ((color >> shift) & 0xFF) / 0xFF, dtype=torch.float32)
                for shift in (16, 8, 0)]
    return (torch.cat(channels, dim=-1),)


@executor("ImageScale")
def image_scale(ctx: ExecContext, image: torch.Tensor, upscale_method: str, width: int, height: int,
                crop: str = "disabled", **_: Any) -> tuple:
    if width == 0 and height == 0:
        return (image,)
    if width == 0:
        width = max(1, round(image.shape[2] * height / image.shape[1]))
    elif height == 0:
        height = max(1, round(image.shape[1] * width / image.shape[2]))
    return (_upscale(image, width, height, upscale_method, crop),)


@executor("ImageScaleBy")
def image_scale_by(ctx: ExecContext, image: torch.Tensor, upscale_method: str, scale_by: float, **_: Any) -> tuple:
    width = round(image.shape[2] * scale_by)
    height = round(image.shape[1] * scale_by)
    if width < 1 or height < 1:  # ComfyUI's resize fails there too
        raise NodeInputError("scale_by", f"{image.shape[2]}x{image.shape[1]} px scaled by {scale_by} rounds to "
                             f"{width}x{height} px", "use a larger scale_by")
    return (_upscale(image, width, height, upscale_method, "disabled"),)


@executor("ImageScaleToTotalPixels")
def image_scale_to_total_pixels(ctx: ExecContext, image: Any, upscale_method: Any, megapixels: Any,
                                resolution_steps: Any, **_: Any) -> tuple:
    """Scale to about ``megapixels`` × 1024² pixels, keeping the aspect ratio, each side
    rounded to a multiple of ``resolution_steps`` (``comfy_extras/nodes_post_processing.py``):
    factor ``sqrt(megapixels · 1024² / (W · H))``, side ``round(W · factor / steps) · steps``.
    Workflows saved before ``resolution_steps`` existed get its default, 1, from the spec."""
    image = image_input(image, "image")
    megapixels = float_input(megapixels, "megapixels", high=16.0, above=0.0)
    steps = int_input(resolution_steps, "resolution_steps", 1, 256)
    height, width = image.shape[1], image.shape[2]
    factor = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    new_w = round(width * factor / steps) * steps
    new_h = round(height * factor / steps) * steps
    if new_w < 1 or new_h < 1:
        raise NodeInputError("resolution_steps", f"{width}x{height} at {megapixels} megapixels in steps of {steps} "
                             f"rounds to {new_w}x{new_h}", "use a smaller resolution_steps or more megapixels")
    return (_upscale(image, new_w, new_h, upscale_method, "disabled"),)


def _upscale(image: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    try:
        return upscale_image(image, width, height, method, crop)
    except ValueError as err:
        raise NodeInputError("upscale_method", str(err)) from None

