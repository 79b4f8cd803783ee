"""ComfyUI_essentials' mask nodes (``mask.py``): blur, flip, batch, bounding box, smoothing,
fixing and masks from lists or primary colours.

Blurs are torchvision's ``gaussian_blur`` with its default sigma
(:mod:`wfrun.media.blur`), an even size made odd by adding one, as the pack does. MaskFix+
runs scipy's grey morphology with square windows, as the pack does. MaskBlur+'s ``device``
choice only moves the work between devices in the pack; wfrun blurs where the mask is.
Oldest signatures: MaskBlur+ of 2023-09 (an explicit ``size`` and ``sigma``) and of 2023-12
(a float ``amount``, rounded down to the kernel size the pack's int took).
MaskPreview+ (a display node) writes the masks as grey PNGs into the temp folder, as
PreviewImage writes images (``ComfyUI_temp_<five letters>_<counter>_.png``, the pack's
compression 4).
"""

from __future__ import annotations

import random
import string
from typing import Any

import numpy as np
import torch

from wfrun.media.blur import gaussian_blur
from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import save_images, temp_dir
from wfrun.packs.essentials.expand import expand_batch
from wfrun.packs.essentials.values import choice, image as as_image, mask as as_mask, number, whole

AXES = ("x", "y", "xy")


def _odd(size: int) -> int:
    return size + 1 if size % 2 == 0 else size


def _blur(masks: torch.Tensor, size: int, sigma: float | None = None) -> torch.Tensor:
    try:
        return gaussian_blur(masks, _odd(size), sigma)
    except RuntimeError as err:  # reflection cannot pad more than the mask is wide
        raise NodeInputError("amount", f"a blur of {size} pixels is wider than the mask "
                             f"({masks.shape[-1]}x{masks.shape[-2]}): {err}", "use a smaller blur") from None


@executor("MaskBlur+")
def mask_blur(ctx: ExecContext, mask: Any, amount: Any, size: Any = None, sigma: Any = None,
              **_: Any) -> tuple:
    mask = as_mask(mask, "mask")
    if size is not None:  # the 2023-09 signature
        size = whole(size, "size")
        return (mask,) if size <= 0 else (_blur(mask, size, number(sigma, "sigma")),)
    amount = int(number(amount, "amount"))
    if amount == 0:
        return (mask,)
    return (_blur(mask, amount),)


def _flip_dims(axis: str) -> tuple[int, ...]:
    return (1,) * ("y" in axis) + (2,) * ("x" in axis)


@executor("MaskFlip+")
def mask_flip(ctx: ExecContext, mask: Any, axis: Any, **_: Any) -> tuple:
    return (torch.flip(as_mask(mask, "mask"), dims=_flip_dims(choice(axis, "axis", AXES))),)


@executor("MaskBatch+")
def mask_batch(ctx: ExecContext, mask1: Any, mask2: Any, **_: Any) -> tuple:
    mask1, mask2 = as_mask(mask1, "mask1"), as_mask(mask2, "mask2")
    if mask1.shape[1:] != mask2.shape[1:]:
        mask2 = common_upscale(mask2.unsqueeze(1).expand(-1, 3, -1, -1), mask1.shape[2], mask1.shape[1],
                               "bicubic", "center")[:, 0]
    return (torch.cat((mask1, mask2), dim=0),)


@executor("MaskExpandBatch+")
def mask_expand_batch(ctx: ExecContext, mask: Any, size: Any, method: Any, **_: Any) -> tuple:
    return (expand_batch(as_mask(mask, "mask"), whole(size, "size"), method),)


@executor("MaskBoundingBox+")
def mask_bounding_box(ctx: ExecContext, mask: Any, padding: Any, blur: Any, image_optional: Any = None,
                      **_: Any) -> tuple:
    """Crop the mask (and the image, resized to it and its batch matched) to the box around
    every non-zero pixel of the whole batch, grown by ``padding`` within the mask."""
    mask = as_mask(mask, "mask")
    padding, blur = whole(padding, "padding"), whole(blur, "blur")
    if image_optional is None:
        pictures = mask.unsqueeze(3).repeat(1, 1, 1, 3)
    else:
        pictures = as_image(image_optional, "image_optional")
        if pictures.shape[1:3] != mask.shape[1:]:
            pictures = common_upscale(pictures.movedim(-1, 1), mask.shape[2], mask.shape[1], "bicubic",
                                      "center").movedim(1, -1)
    if pictures.shape[0] < mask.shape[0]:
        pictures = torch.cat((pictures, pictures[-1:].repeat(mask.shape[0] - pictures.shape[0], 1, 1, 1)))
    pictures = pictures[:mask.shape[0]]
    if blur > 0:
        mask = _blur(mask, blur)
    _, ys, xs = torch.where(mask)
    if xs.numel() == 0:  # the pack fails on the empty selection's min()
        raise NodeInputError("mask", "the mask is empty: there is no box around nothing", "check the mask")
    x1 = max(0, int(xs.min()) - padding)
    x2 = min(mask.shape[2], int(xs.max()) + 1 + padding)
    y1 = max(0, int(ys.min()) - padding)
    y2 = min(mask.shape[1], int(ys.max()) + 1 + padding)
    return mask[:, y1:y2, x1:x2], pictures[:, y1:y2, x1:x2, :], x1, y1, x2 - x1, y2 - y1


@executor("MaskSmooth+")
def mask_smooth(ctx: ExecContext, mask: Any, amount: Any, **_: Any) -> tuple:
    """A majority vote in a Gaussian window: the thresholded mask blurred as booleans, which
    torchvision rounds back (True where the blur is above one half)."""
    mask, amount = as_mask(mask, "mask"), whole(amount, "amount")
    if amount == 0:
        return (mask,)
    return (_blur(mask > 0.5, amount).float(),)


@executor("MaskFromBatch+")
def mask_from_batch(ctx: ExecContext, mask: Any, start: Any, length: Any, **_: Any) -> tuple:
    """``length`` masks from ``start`` (clamped into the batch; the first signature's -1
    length, like any length past the end, means the rest)."""
    mask = as_mask(mask, "mask")
    start, length = whole(start, "start"), whole(length, "length")
    frames = mask.shape[0]
    if length < 0 or length > frames:
        length = frames
    start = min(max(start, 0), frames - 1)
    length = min(frames - start, length)
    return (mask[start:start + length],)


def _float_values(values: Any) -> list[float]:
    items = values if isinstance(values, list) else [values]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise NodeInputError("values", f"values: expected numbers, found {item!r}")
        out.append(float(item))
    return out


@executor("MaskFromList+")
def mask_from_list(ctx: ExecContext, width: Any, height: Any, str_values: Any, values: Any = None,
                   **_: Any) -> tuple:
    """One flat mask per value (clamped to 0..1): ``values`` first, then the comma-separated
    ``str_values``."""
    width, height = whole(width, "width"), whole(height, "height")
    out = _float_values(values) if values is not None else []
    if isinstance(str_values, str) and str_values != "":
        try:
            out += [float(v) for v in str_values.split(",")]
        except ValueError:
            raise NodeInputError("str_values", f"str_values: expected numbers separated by commas, found "
                                 f"{str_values!r}") from None
    if not out:
        raise NodeInputError("values", "no values given", "connect values or type str_values")
    return (torch.tensor(out).float().clamp(0.0, 1.0).view(-1, 1, 1).expand(-1, height, width),)


@executor("MaskFromRGBCMYBW+")
def mask_from_rgbcmybw(ctx: ExecContext, image: Any, threshold_r: Any, threshold_g: Any, threshold_b: Any,
                       remove_isolated_pixels: Any = 0, fill_holes: Any = False, **_: Any) -> tuple:
    """Eight masks of the pixels near each primary, secondary, black and white: a channel
    counts as "on" at or above ``1 - threshold`` and "off" below ``threshold`` (black: at or
    below). The pack's magenta wants blue strictly above ``1 - threshold``; kept."""
    pixels = as_image(image, "image")
    tr, tg, tb = (number(v, n) for v, n in ((threshold_r, "threshold_r"), (threshold_g, "threshold_g"),
                                            (threshold_b, "threshold_b")))
    if whole(remove_isolated_pixels, "remove_isolated_pixels") or fill_holes is True:
        raise NodeInputError("remove_isolated_pixels", "the 2024-04 clean-up options of MaskFromRGBCMYBW+ are not "
                             "supported in wfrun", "set them to 0 and false")
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    r_on, g_on, b_on = r >= 1 - tr, g >= 1 - tg, b >= 1 - tb
    r_off, g_off, b_off = r < tr, g < tg, b < tb
    masks = (r_on & g_off & b_off, r_off & g_on & b_off, r_off & g_off & b_on,
             r_off & g_on & b_on, r_on & g_off & (b > 1 - tb), r_on & g_on & b_off,
             (r <= tr) & (g <= tg) & (b <= tb), r_on & g_on & b_on)
    return tuple(m.float() for m in masks)


def _grey(operation: Any, m: np.ndarray, size: int) -> np.ndarray:
    return operation(m, size=(size, size))


@executor("MaskFix+")
def mask_fix(ctx: ExecContext, mask: Any, erode_dilate: Any, fill_holes: Any, remove_isolated_pixels: Any,
             smooth: Any, blur: Any, **_: Any) -> tuple:
    """Per mask, in the pack's order: grey erosion (negative ``erode_dilate``) or dilation
    over a square window, grey closing (``fill_holes``), grey opening
    (``remove_isolated_pixels``), the boolean majority smoothing, then a Gaussian blur."""
    mask = as_mask(mask, "mask")
    erode_dilate, fill_holes = whole(erode_dilate, "erode_dilate"), whole(fill_holes, "fill_holes")
    isolated, smooth, blur = (whole(remove_isolated_pixels, "remove_isolated_pixels"), whole(smooth, "smooth"),
                              whole(blur, "blur"))
    import scipy.ndimage  # here, not at import: every run imports the packs (0.2 s)

    out = []
    for m in mask:
        device = m.device
        if erode_dilate < 0:
            m = torch.from_numpy(_grey(scipy.ndimage.grey_erosion, m.cpu().numpy(), -erode_dilate))
        elif erode_dilate > 0:
            m = torch.from_numpy(_grey(scipy.ndimage.grey_dilation, m.cpu().numpy(), erode_dilate))
        if fill_holes > 0:
            m = torch.from_numpy(_grey(scipy.ndimage.grey_closing, m.cpu().numpy(), fill_holes))
        if isolated > 0:
            m = torch.from_numpy(_grey(scipy.ndimage.grey_opening, m.cpu().numpy(), isolated))
        m = m.to(device)
        if smooth > 0:
            m = _blur((m > 0.5).unsqueeze(0), smooth).squeeze(0)
        if blur > 0:
            m = _blur(m.float().unsqueeze(0), blur).squeeze(0)
        out.append(m.float())
    return (torch.stack(out, dim=0),)


@executor("MaskPreview+")
def mask_preview_plus(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    mask = as_mask(mask, "mask")
    preview = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).movedim(1, -1).expand(-1, -1, -1, 3)
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    save_images(ctx, preview, f"ComfyUI_temp_{suffix}", temp_dir(ctx), compress_level=4)
    return ()
