"""ComfyUI's image layout nodes of the Wan templates: ImageStitch (``comfy_extras/nodes_images.py``),
JoinImageWithAlpha and SplitImageWithAlpha (``nodes_compositing.py``) and RebatchImages
(``nodes_rebatch.py``), as at the revision of our comfy-core specs.

RebatchImages is a list node (``is_input_list``; its output ``is_output_list``): the
engine hands it every incoming batch as a list (``wfrun.engine.lists``), it lays their
frames end to end and cuts them into batches of ``batch_size`` frames (the last one
shorter), and later nodes run once per batch. The templates give ``batch_size`` 4096 to
join a list of batches back into one. Frames of different sizes that land in one batch
cannot be joined: ComfyUI fails inside ``torch.cat`` there, wfrun names ``images``.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.mask_nodes import repeat_to_batch_size
from wfrun.packs.comfy_core.values import choice_input, describe, image_input, int_input, mask_input

DIRECTIONS = ("right", "down", "left", "up")
#: spacing colours: a grey level (every colour channel) or an RGB triple
SPACING_COLORS: dict[str, float | tuple[float, float, float]] = {
    "white": 1.0, "black": 0.0, "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
MAX_SIZE = 16384


def _last_frame_to(image: torch.Tensor, frames: int) -> torch.Tensor:
    """The batch lengthened to ``frames`` by repeating its last frame."""
    if image.shape[0] >= frames:
        return image
    return torch.cat([image, image[-1:].repeat(frames - image.shape[0], 1, 1, 1)])


def _centre_pad(image: torch.Tensor, axis: int, size: int, value: float) -> torch.Tensor:
    """``image`` padded on ``axis`` (1 height, 2 width) to ``size``, the odd pixel after."""
    missing = size - image.shape[axis]
    if missing <= 0:
        return image
    before, after = missing // 2, missing - missing // 2
    pad = (0, 0, before, after) if axis == 2 else (0, 0, 0, 0, before, after)
    return torch.nn.functional.pad(image, pad, mode="constant", value=value)


def _opaque_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """Channels added at the end, filled with 1 (an opaque alpha)."""
    if image.shape[-1] >= channels:
        return image
    ones = torch.ones(*image.shape[:-1], channels - image.shape[-1], dtype=image.dtype, device=image.device)
    return torch.cat([image, ones], dim=-1)


def _spacer(shape: tuple[int, int, int, int], color: float | tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
    """The strip between the images: the colour on the first three channels (an RGB colour
    channel by channel), an alpha channel opaque."""
    strip = torch.zeros(shape, dtype=like.dtype, device=like.device)
    channels = shape[-1]
    if isinstance(color, tuple):
        for i, value in enumerate(color[:channels]):
            strip[..., i] = value
    else:
        strip[..., :min(3, channels)] = color
    if channels == 4:
        strip[..., 3] = 1.0
    return strip


@executor("ImageStitch")
def image_stitch(ctx: ExecContext, image1: Any, direction: Any, match_image_size: Any, spacing_width: Any,
                 spacing_color: Any, image2: Any = None, **_: Any) -> tuple:
    """``image2`` placed beside ``image1`` (to its ``direction``), frame by frame.

    As in ComfyUI: the shorter batch repeats its last frame; with ``match_image_size``
    ``image2`` is resized (Lanczos, 8-bit as ComfyUI's) to ``image1``'s height (left/right)
    or width (up/down), keeping its aspect ratio (the other side truncated to whole pixels);
    without it the smaller image is centred on the shared side, padded with the spacing
    colour's grey level (0 for the RGB colours), alpha channel included. Channel counts are
    evened out with an opaque alpha. ``spacing_width`` (made even, rounding up) puts a strip
    of ``spacing_color`` between them. No ``image2``: ``image1`` unchanged."""
    image1 = image_input(image1, "image1")
    if image2 is None:
        return (image1,)
    image2 = image_input(image2, "image2")
    direction = choice_input(direction, "direction", DIRECTIONS)
    color = SPACING_COLORS[choice_input(spacing_color, "spacing_color", tuple(SPACING_COLORS))]
    spacing = int_input(spacing_width, "spacing_width", 0, 1024)
    horizontal = direction in ("left", "right")

    frames = max(image1.shape[0], image2.shape[0])
    image1, image2 = _last_frame_to(image1, frames), _last_frame_to(image2, frames)

    h1, w1 = image1.shape[1:3]
    h2, w2 = image2.shape[1:3]
    if match_image_size:
        aspect = w2 / h2
        height, width = (h1, int(h1 * aspect)) if horizontal else (int(w1 / aspect), w1)
        if not (1 <= width <= MAX_SIZE and 1 <= height <= MAX_SIZE):
            raise NodeInputError("match_image_size", f"image2 ({w2}x{h2}) matched to image1 ({w1}x{h1}) would be "
                                 f"{width}x{height}", "turn match_image_size off or use images of closer shapes")
        image2 = upscale_image(image2, width, height, "lanczos")
    else:
        grey = 0.0 if isinstance(color, tuple) else color
        axis = 1 if horizontal else 2
        size = max(image1.shape[axis], image2.shape[axis])
        image1, image2 = _centre_pad(image1, axis, size, grey), _centre_pad(image2, axis, size, grey)

    channels = max(image1.shape[-1], image2.shape[-1])
    image1, image2 = _opaque_channels(image1, channels), _opaque_channels(image2, channels)

    parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
    if spacing > 0:
        spacing += spacing % 2
        if horizontal:
            shape = (frames, max(image1.shape[1], image2.shape[1]), spacing, channels)
        else:
            shape = (frames, spacing, max(image1.shape[2], image2.shape[2]), channels)
        parts.insert(1, _spacer(shape, color, image1))
    return (torch.cat(parts, dim=2 if horizontal else 1),)


@executor("JoinImageWithAlpha")
def join_image_with_alpha(ctx: ExecContext, image: Any, alpha: Any, **_: Any) -> tuple:
    """RGBA: the image's first three channels and ``1 - alpha`` (ComfyUI's masks mark what
    to remove, so the mask is inverted into an opacity), the mask resized bilinearly to the
    image and both batches cut or tiled to the longer one."""
    image = image_input(image, "image")
    alpha = mask_input(alpha, "alpha").to(image.dtype)
    frames = max(image.shape[0], alpha.shape[0])
    alpha = torch.nn.functional.interpolate(alpha.reshape(-1, 1, alpha.shape[-2], alpha.shape[-1]),
                                            size=tuple(image.shape[1:3]), mode="bilinear").squeeze(1)
    alpha = repeat_to_batch_size(1.0 - alpha, frames)
    image = repeat_to_batch_size(image, frames)
    return (torch.cat((image[..., :3], alpha.unsqueeze(-1)), dim=-1),)


@executor("SplitImageWithAlpha")
def split_image_with_alpha(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    """The colour channels, and ``1 - alpha`` as the MASK (JoinImageWithAlpha's inverse); an
    image without a fourth channel is opaque, so its mask is all 0."""
    image = image_input(image, "image")
    alpha = image[..., 3] if image.shape[-1] > 3 else torch.ones_like(image[..., 0])
    return image[..., :3], 1.0 - alpha


@executor("RebatchImages")
def rebatch_images(ctx: ExecContext, images: Any, batch_size: Any, **_: Any) -> tuple:
    """Every frame of the incoming batches, regrouped into batches of ``batch_size``
    (module docstring)."""
    if not isinstance(images, list) or not isinstance(batch_size, list) or not batch_size:
        raise NodeInputError("images", "expected the engine's lists of batches and sizes")
    size = int_input(batch_size[0], "batch_size", 1, 4096)
    frames = [frame for batch in images for frame in image_input(batch, "images").split(1)]
    batches = []
    for start in range(0, len(frames), size):
        chunk = frames[start:start + size]
        odd = next((f for f in chunk if f.shape[1:] != chunk[0].shape[1:]), None)
        if odd is not None:
            raise NodeInputError("images", f"frames of different sizes fall in one batch: {describe(chunk[0])} and "
                                 f"{describe(odd)}", "resize them to one size first, or make batch_size smaller")
        batches.append(torch.cat(chunk, dim=0))
    return (batches,)
