"""Easy-Use's ``easy imageColorMatch`` and ``easy loadImageBase64`` (``py/nodes/image.py``).

Both show or save their image as ``image_output`` says, through the core nodes' executors:
"Preview" as PreviewImage (a temp file), "Save" and "Hide/Save" as SaveImage with
``save_prefix``, "Hide" nothing.

* ``easy imageColorMatch``: ``image_target``'s colours moved to ``image_ref``'s.
  ``wavelet`` and ``adain`` work on the first frame as an 8-bit picture, as the pack's PIL
  round trip does (a batch of more than one frame fails in the pack; here it is an error on
  the input): ``adain`` gives each channel the reference's mean and deviation (N-1, with
  1e-5 added to the variance); ``wavelet`` resizes the reference to the target's size
  (Lanczos), splits both into five levels of a dilated 3x3 [1 2 1]/4 blur (radius 1, 2, 4,
  8, 16, replicate padding) and adds the target's detail to the reference's base; the result
  is clamped and stored back as 8 bits. The other methods are the ``color-matcher``
  library's (:mod:`wfrun.media.color_transfer`), frame by frame, one reference frame for
  all or one per target frame (another count is an error, as in the pack), not clamped (as
  the pack leaves them). Where the library fails on a frame the pack stops there and keeps
  the frames done so far; wfrun raises an error naming the frame instead of giving a
  shorter batch.
* ``easy loadImageBase64``: the image encoded in ``base64_data`` (PNG, JPEG, WebP, BMP,
  TIFF, …; first frame; no EXIF rotation, as OpenCV's decoder in the pack) as IMAGE, and
  its alpha as MASK (not inverted, as the pack gives it; all ones without alpha). The text
  is untrusted: it is limited to 64 MiB of base64 and the picture to Pillow's pixel limit.
  Grey pictures, which the pack's colour conversion refuses, are read as RGB here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.media.color_transfer import TRANSFERS
from wfrun.media.image import BadBase64Image, open_base64_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered

IMAGE_OUTPUTS = ("Hide", "Preview", "Save", "Hide/Save")
METHODS = ("wavelet", "adain", "mkl", "hm", "reinhard", "mvgd", "hm-mvgd-hm", "hm-mkl-hm")


def _show(ctx: ExecContext, images: torch.Tensor, image_output: Any, save_prefix: Any) -> None:
    if image_output not in IMAGE_OUTPUTS:
        raise NodeInputError("image_output", f"image_output: unknown choice {image_output!r}",
                             f"use one of {', '.join(IMAGE_OUTPUTS)}")
    if image_output == "Hide":
        return
    if image_output == "Preview":
        registered("PreviewImage")(ctx, images=images)
        return
    if not isinstance(save_prefix, str):
        raise NodeInputError("save_prefix", f"save_prefix: expected text, found {save_prefix!r}")
    try:
        registered("SaveImage")(ctx, images=images, filename_prefix=save_prefix)
    except NodeInputError as err:
        raise NodeInputError("save_prefix", str(err), err.hint) from None


def _rgb(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] != 3:
        found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected an RGB IMAGE [frames, height, width, 3], found {found}")
    return value.detach().cpu().float()


def _as_8bit(frame: torch.Tensor) -> torch.Tensor:
    """[3, H, W] in 0..1 through 8 bits, as the pack's ``tensor2pil``/``ToTensor``."""
    return (frame.clamp(0, 1) * 255).to(torch.uint8).float() / 255


def _mean_std(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = image.flatten(2)
    return flat.mean(dim=2)[..., None, None], (flat.var(dim=2) + 1e-5).sqrt()[..., None, None]


def adain(target: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """[1, 3, H, W] each: the target's channels given the reference's mean and deviation."""
    t_mean, t_std = _mean_std(target)
    r_mean, r_std = _mean_std(ref)
    return (target - t_mean) / t_std * r_std + r_mean


def _blur(image: torch.Tensor, radius: int) -> torch.Tensor:
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], dtype=image.dtype) / 16
    kernel = kernel[None, None].repeat(3, 1, 1, 1)
    return F.conv2d(F.pad(image, (radius,) * 4, mode="replicate"), kernel, groups=3, dilation=radius)


def _split(image: torch.Tensor, levels: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    detail = torch.zeros_like(image)
    for level in range(levels):
        base = _blur(image, 2 ** level)
        detail += image - base
        image = base
    return detail, image


def wavelet(target: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """[1, 3, H, W] each, the reference already at the target's size."""
    return _split(target)[0] + _split(ref)[1]


def _lanczos_8bit(frame: torch.Tensor, width: int, height: int) -> torch.Tensor:
    from PIL import Image

    array = (frame.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    resized = Image.fromarray(array).resize((width, height), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(resized).astype(np.float32) / 255).permute(2, 0, 1)


@executor("easy imageColorMatch")
def image_color_match(ctx: ExecContext, image_ref: Any, image_target: Any, method: Any, image_output: Any,
                      save_prefix: Any, **_: Any) -> tuple:
    if method not in METHODS:
        raise NodeInputError("method", f"method: unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    target, ref = _rgb(image_target, "image_target"), _rgb(image_ref, "image_ref")
    if method in ("wavelet", "adain"):
        for name, batch in (("image_target", target), ("image_ref", ref)):
            if batch.shape[0] != 1:
                raise NodeInputError(name, f"{name}: {method} takes one frame, found {batch.shape[0]}",
                                     "use mkl, hm or reinhard for a batch")
        t = _as_8bit(target[0].permute(2, 0, 1))
        r = ref[0].permute(2, 0, 1)
        if method == "wavelet":
            r = _lanczos_8bit(r, t.shape[2], t.shape[1])
            result = wavelet(t[None], r[None])[0]
        else:
            result = adain(t[None], _as_8bit(r)[None])[0]
        images = _as_8bit(result.clamp(0, 1)).permute(1, 2, 0)[None]
    else:
        if ref.shape[0] > 1 and ref.shape[0] != target.shape[0]:
            raise NodeInputError("image_ref", f"image_ref: {ref.shape[0]} frames for {target.shape[0]} target frames",
                                 "give one reference frame, or one per target frame")
        frames = []
        for i in range(target.shape[0]):
            ctx.check_interrupt()
            r = ref[0 if ref.shape[0] == 1 else i].numpy()
            try:
                with np.errstate(divide="raise", invalid="raise"):
                    frames.append(torch.from_numpy(TRANSFERS[method](target[i].numpy(), r)))
            except (np.linalg.LinAlgError, FloatingPointError, ValueError) as err:
                raise NodeInputError("image_target", f"image_target: {method} failed on frame {i} ({err})",
                                     "try another method") from None
        images = torch.stack(frames).to(torch.float32)
    _show(ctx, images, image_output, save_prefix)
    return (images,)


@executor("easy loadImageBase64")
def load_image_base64(ctx: ExecContext, base64_data: Any, image_output: Any, save_prefix: Any, **_: Any) -> tuple:
    try:
        img = open_base64_image(base64_data, "base64_data")
    except BadBase64Image as err:
        raise NodeInputError("base64_data", str(err), err.hint) from None
    with img:
        has_alpha = "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)
        picture = img.convert("RGBA" if has_alpha else "RGB")
    array = np.asarray(picture).astype(np.float32) / 255.0
    image = torch.from_numpy(np.ascontiguousarray(array[..., :3]))[None]
    mask = torch.from_numpy(np.ascontiguousarray(array[..., 3])) if has_alpha else torch.ones(array.shape[:2])
    _show(ctx, image, image_output, save_prefix)
    return (image, mask[None])
