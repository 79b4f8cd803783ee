"""ComfyUI_essentials' image manipulation and batch nodes (``image.py``): flip, crop,
desaturate, posterize, enhance difference, expand batch, batch multiple and composites.

Resizing to another image's size is ``comfy.utils.common_upscale`` with a centre crop
(:func:`wfrun.media.image.common_upscale`), as the pack calls it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.essentials.expand import expand_batch
from wfrun.packs.essentials.values import choice, image as as_image, mask as as_mask, number, whole

AXES = ("x", "y", "xy")
POSITIONS = ("top-left", "top-center", "top-right", "right-center", "bottom-right", "bottom-center",
             "bottom-left", "left-center", "center")
DESATURATE = ("luminance (Rec.709)", "luminance (Rec.601)", "average", "lightness")
BATCH_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")


def _resized_to(picture: torch.Tensor, like: torch.Tensor, method: str = "bicubic") -> torch.Tensor:
    """``picture`` at ``like``'s height and width (centre crop), as the pack resizes."""
    if picture.shape[1:3] == like.shape[1:3]:
        return picture
    return common_upscale(picture.movedim(-1, 1), like.shape[2], like.shape[1], method, "center").movedim(1, -1)


@executor("ImageFlip+")
def image_flip(ctx: ExecContext, image: Any, axis: Any, **_: Any) -> tuple:
    axis = choice(axis, "axis", AXES)
    return (torch.flip(as_image(image, "image"), (1,) * ("y" in axis) + (2,) * ("x" in axis)),)


@executor("ImageCrop+")
def image_crop(ctx: ExecContext, image: Any, width: Any, height: Any, position: Any, x_offset: Any,
               y_offset: Any, **_: Any) -> tuple:
    """A ``width`` x ``height`` window (at most the image) placed by ``position``, moved by
    the offsets and clipped to the image; returns it and its top-left corner."""
    image = as_image(image, "image")
    position = choice(position, "position", POSITIONS)
    _, oh, ow, _ = image.shape
    width, height = min(ow, whole(width, "width")), min(oh, whole(height, "height"))
    x = round((ow - width) / 2) if "center" in position else 0
    y = round((oh - height) / 2) if "center" in position else 0
    if "top" in position:
        y = 0
    if "bottom" in position:
        y = oh - height
    if "left" in position:
        x = 0
    if "right" in position:
        x = ow - width
    x += whole(x_offset, "x_offset")
    y += whole(y_offset, "y_offset")
    x2, y2 = min(x + width, ow), min(y + height, oh)
    x, y = max(x, 0), max(y, 0)
    return image[:, y:y2, x:x2, :], x, y


@executor("ImageDesaturate+")
def image_desaturate(ctx: ExecContext, image: Any, factor: Any, method: Any = None, **_: Any) -> tuple:
    """Blend towards grey by ``factor``. Saves from before the ``method`` choice (2024-05)
    are refused: their grey is not in wfrun's specs to check against."""
    image = as_image(image, "image")
    if method is None:
        raise NodeInputError("method", "this ImageDesaturate+ was saved before the node had a method choice; "
                             "wfrun does not know that version's grey", "re-save the node with a method")
    method = choice(method, "method", DESATURATE)
    factor = number(factor, "factor")
    if method == "luminance (Rec.709)":
        grey = 0.2126 * image[..., 0] + 0.7152 * image[..., 1] + 0.0722 * image[..., 2]
    elif method == "luminance (Rec.601)":
        grey = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    elif method == "average":
        grey = image.mean(dim=3)
    else:
        grey = (image.max(dim=3)[0] + image.min(dim=3)[0]) / 2
    return (torch.clamp((1.0 - factor) * image + factor * grey.unsqueeze(-1).repeat(1, 1, 1, 3), 0, 1),)


@executor("ImagePosterize+")
def image_posterize(ctx: ExecContext, image: Any, threshold: Any, **_: Any) -> tuple:
    """Black and white: the channel mean above ``threshold`` is white (three channels out)."""
    grey = as_image(image, "image").mean(dim=3, keepdim=True)
    return ((grey > number(threshold, "threshold")).float().repeat(1, 1, 1, 3),)


@executor("ImageEnhanceDifference+")
def image_enhance_difference(ctx: ExecContext, image1: Any, image2: Any, exponent: Any, **_: Any) -> tuple:
    """``clamp((image1 - image2) ** exponent, 0, 1)`` with image2 resized to image1 first; a
    negative difference to a fractional power is NaN in torch, as in the pack, and the clamp
    keeps NaN."""
    image1, image2 = as_image(image1, "image1"), as_image(image2, "image2")
    if image1.shape[1:] != image2.shape[1:]:
        image2 = _resized_to(image2, image1)
    return (torch.clamp(torch.pow(image1 - image2, number(exponent, "exponent")), 0, 1),)


@executor("ImageExpandBatch+")
def image_expand_batch(ctx: ExecContext, image: Any, size: Any, method: Any, **_: Any) -> tuple:
    return (expand_batch(as_image(image, "image"), whole(size, "size"), method),)


@executor("ImageBatchMultiple+")
def image_batch_multiple(ctx: ExecContext, image_1: Any, method: Any, image_2: Any = None, image_3: Any = None,
                         image_4: Any = None, image_5: Any = None, **_: Any) -> tuple:
    """Join up to five batches, each resized to the first's size with ``method`` (centre crop)."""
    first = as_image(image_1, "image_1")
    method = choice(method, "method", BATCH_METHODS)
    out = [first]
    for name, value in (("image_2", image_2), ("image_3", image_3), ("image_4", image_4), ("image_5", image_5)):
        if value is not None:
            out.append(_resized_to(as_image(value, name), first, method))
    return (torch.cat(out, dim=0),)


def _match_batch(frames: torch.Tensor, count: int) -> torch.Tensor:
    """Cut to ``count`` frames, or pad with the last."""
    if frames.shape[0] >= count:
        return frames[:count]
    return torch.cat((frames, frames[-1:].repeat([count - frames.shape[0]] + [1] * (frames.ndim - 1))), dim=0)


@executor("ImageCompositeFromMaskBatch+")
def image_composite_from_mask_batch(ctx: ExecContext, image_from: Any, image_to: Any, mask: Any,
                                    **_: Any) -> tuple:
    """One frame per mask: ``mask * image_to + (1 - mask) * image_from``, image_to and the mask
    resized to image_from, image_from cut or padded with its last frame to the mask count
    (image_to is used as it comes: its frames must match, as in the pack)."""
    image_from, image_to, mask = as_image(image_from, "image_from"), as_image(image_to, "image_to"), as_mask(mask, "mask")
    frames = mask.shape[0]
    image_to = _resized_to(image_to, image_from)
    image_from = _match_batch(image_from, frames)
    weights = mask.unsqueeze(3).repeat(1, 1, 1, 3)
    weights = _resized_to(weights, image_from)
    if image_to.shape[0] not in (1, frames):
        raise NodeInputError("image_to", f"image_to has {image_to.shape[0]} frames for {frames} masks",
                             "give image_to one frame or as many as the mask")
    return (weights * image_to + (1 - weights) * image_from,)


@executor("ImageComposite+")
def image_composite(ctx: ExecContext, destination: Any, source: Any, x: Any, y: Any, offset_x: Any, offset_y: Any,
                    mask: Any = None, **_: Any) -> tuple:
    """Paste ``source`` onto ``destination`` at ``x + offset_x, y + offset_y`` through the
    mask (bicubic-resized to the source; batches matched to the source's by cutting or
    repeating the last; ``x``/``y`` may be lists, one position per frame). A source passing
    the right or bottom edge is refused (the pack's clipping indexes a frame with four
    indices and fails), and so is a negative position (the pack's slicing then pastes into
    the wrong place)."""
    destination, source = as_image(destination, "destination"), as_image(source, "source")
    count = source.shape[0]
    weights = torch.ones_like(source)[..., 0] if mask is None else as_mask(mask, "mask")
    weights = weights.unsqueeze(-1).repeat(1, 1, 1, 3)
    if weights.shape[1:3] != source.shape[1:3]:
        weights = F.interpolate(weights.permute(0, 3, 1, 2), size=(source.shape[1], source.shape[2]),
                                mode="bicubic").permute(0, 2, 3, 1)
    weights = _match_batch(weights, count)
    destination = _match_batch(destination, count)
    xs = [whole(v, "x") for v in (x if isinstance(x, list) else [x])]
    ys = [whole(v, "y") for v in (y if isinstance(y, list) else [y])]
    xs += [xs[-1]] * (count - len(xs))
    ys += [ys[-1]] * (count - len(ys))
    dx, dy = whole(offset_x, "offset_x"), whole(offset_y, "offset_y")
    out = []
    for i in range(count):
        left, top = xs[i] + dx, ys[i] + dy
        if left < 0 or top < 0:
            raise NodeInputError("x" if left < 0 else "y", f"the source lands at ({left}, {top}), left of or above "
                                 "the destination", "use a position of 0 or more")
        frame, piece, weight = destination[i].clone(), source[i], weights[i]
        if left + piece.shape[1] > frame.shape[1] or top + piece.shape[0] > frame.shape[0]:
            raise NodeInputError("source", f"the {piece.shape[1]}x{piece.shape[0]} source at ({left}, {top}) passes "
                                 f"the edge of the {frame.shape[1]}x{frame.shape[0]} destination (the pack fails "
                                 "there too)", "crop the source or move it inside the destination")
        region = frame[top:top + piece.shape[0], left:left + piece.shape[1], :]
        frame[top:top + piece.shape[0], left:left + piece.shape[1], :] = piece * weight + region * (1 - weight)
        out.append(frame)
    return (torch.stack(out),)
