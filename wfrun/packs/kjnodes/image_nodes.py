"""KJNodes image nodes: ImageResizeKJ, ImageResizeKJv2, ImagePadKJ, ImageConcanate,
ImageConcatMulti, ImageBatchMulti, GetImageRangeFromBatch, GetImageSizeAndCount, INTConstant.

Each follows ``nodes/image_nodes.py`` / ``nodes/nodes.py`` of KJNodes at the newest revision
in our specs. Older signatures of the same node (ImageResizeKJ's ``width_input`` /
``height_input``, ImagePadKJ's ``masks``) are accepted by name and handled as the newest code
handles them. Deviations:

* ImageResizeKJv2 always works on the CPU unless ``device`` is ``gpu`` (then ``ctx.device``);
  its sub-batching (``per_batch``) only bounds memory in the pack and is not reproduced;
  ``nvidia_rtx_vsr`` is refused (needs NVIDIA's VFX SDK).
* ImageConcatMulti pads/resizes in float32 on the CPU (ComfyUI's "intermediate" device).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.media.image import common_upscale
from wfrun.packs.kjnodes.colors import string_to_color


def _image(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]",
                             "connect an IMAGE output here")
    return value


# ---------------------------------------------------------------------------- resize

@executor("ImageResizeKJ")
def image_resize_kj(ctx: ExecContext, image: torch.Tensor, width: int, height: int, upscale_method: str,
                    keep_proportion: bool, divisible_by: int, width_input: int | None = None,
                    height_input: int | None = None, get_image_size: torch.Tensor | None = None,
                    crop: Any = "disabled", **_: Any) -> tuple:
    """The deprecated v1 node: ``keep_proportion`` scales by the tighter side (a 0 size follows
    the other), then both sizes are rounded *down* to ``divisible_by``; ``get_image_size``
    copies another image's size exactly. ``crop`` 0 (old saves) means centre crop."""
    image = _image(image, "image")
    _, H, W, _ = image.shape
    if width_input:
        width = width_input
    if height_input:
        height = height_input
    if get_image_size is not None:
        _, height, width, _ = get_image_size.shape
    if keep_proportion and get_image_size is None:
        if width == 0 and height != 0:
            width = round(W * (height / H))
        elif height == 0 and width != 0:
            height = round(H * (width / W))
        elif width != 0 and height != 0:
            ratio = min(width / W, height / H)
            width, height = round(W * ratio), round(H * ratio)
    else:
        width = width or W
        height = height or H
    if divisible_by > 1 and get_image_size is None:
        width -= width % divisible_by
        height -= height % divisible_by
    if crop == 0 or crop == "0":
        crop = "center"
    if width <= 0 or height <= 0:
        raise NodeInputError("divisible_by", f"the resized image would be {width}x{height}",
                             "use a larger size or a smaller divisible_by")
    out = _resample(image, width, height, upscale_method, crop)
    return out, out.shape[2], out.shape[1]


def _resample(image: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled") -> torch.Tensor:
    try:
        return common_upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)
    except ValueError as err:
        raise NodeInputError("upscale_method", str(err)) from None


def _pad_offsets(position: str, width: int, height: int, new_w: int, new_h: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) placing a new_w x new_h image in width x height."""
    cx_left = (width - new_w) // 2
    cy_top = (height - new_h) // 2
    if position == "top":
        return cx_left, width - new_w - cx_left, 0, height - new_h
    if position == "bottom":
        return cx_left, width - new_w - cx_left, height - new_h, 0
    if position == "left":
        return 0, width - new_w, cy_top, height - new_h - cy_top
    if position == "right":
        return width - new_w, 0, cy_top, height - new_h - cy_top
    return cx_left, width - new_w - cx_left, cy_top, height - new_h - cy_top


@executor("ImageResizeKJv2")
def image_resize_kj_v2(ctx: ExecContext, image: torch.Tensor, width: int, height: int, upscale_method: str,
                       keep_proportion: Any, divisible_by: int, pad_color: str,
                       crop_position: str, mask: torch.Tensor | None = None, device: str = "cpu",
                       **_: Any) -> tuple:
    """Modes: stretch; resize (fit inside, keep aspect); pad / pad_edge / pad_edge_pixel /
    pillarbox_blur (fit inside, then pad to the asked size at ``crop_position``, rounding the
    padded size *up* to ``divisible_by``); crop (cut to the asked aspect at ``crop_position``,
    then scale); total_pixels (keep aspect, about width*height pixels). Sizes are rounded
    *down* to ``divisible_by`` before scaling."""
    image = _image(image, "image")
    mode = {False: "stretch", True: "resize"}.get(keep_proportion, keep_proportion)
    B, H, W, C = image.shape
    if mask is not None and tuple(mask.shape[-2:]) == (64, 64) and (H != 64 or W != 64):
        mask = None  # ComfyUI's placeholder mask
    if mask is not None and tuple(mask.shape[-2:]) != (H, W):
        mask = common_upscale(mask.unsqueeze(1), W, H, "bilinear", "disabled").squeeze(1)
    if upscale_method == "nvidia_rtx_vsr":
        raise NodeInputError("upscale_method", "nvidia_rtx_vsr needs NVIDIA's VFX SDK, which wfrun does not use",
                             "pick lanczos or bicubic")
    if device == "gpu" and upscale_method == "lanczos":
        raise NodeInputError("device", "Lanczos is not supported on the GPU", "pick device cpu or another method")
    target = torch.device(ctx.device if device == "gpu" else "cpu")

    pillarbox = mode == "pillarbox_blur"
    padded = mode.startswith("pad") or pillarbox
    pad = (0, 0, 0, 0)
    if mode in ("resize", "total_pixels") or padded:
        if mode == "total_pixels":
            total, aspect = width * height, W / H
            new_w, new_h = int(math.sqrt(total * aspect)), int(math.sqrt(total / aspect))
        elif width == 0 and height == 0:
            new_w, new_h = W, H
        elif width == 0:
            new_w, new_h = round(W * (height / H)), height
        elif height == 0:
            new_w, new_h = width, round(H * (width / W))
        else:
            ratio = min(width / W, height / H)
            new_w, new_h = round(W * ratio), round(H * ratio)
        if padded:
            pad = _pad_offsets(crop_position, width, height, new_w, new_h)
        width, height = new_w, new_h
    else:
        width = width or W
        height = height or H
    if divisible_by > 1:
        width -= width % divisible_by
        height -= height % divisible_by
    if width <= 0 or height <= 0:
        raise NodeInputError("divisible_by", f"the resized image would be {width}x{height}",
                             "use a larger size or a smaller divisible_by")

    out = image.to(target)
    out_mask = None if mask is None else mask.to(target)
    if mode == "crop":
        old_h, old_w = out.shape[-3], out.shape[-2]
        old_aspect, new_aspect = old_w / old_h, width / height
        if old_aspect > new_aspect:
            crop_w, crop_h = round(old_h * new_aspect), old_h
        else:
            crop_w, crop_h = old_w, round(old_w / new_aspect)
        x, y = {"center": ((old_w - crop_w) // 2, (old_h - crop_h) // 2),
                "top": ((old_w - crop_w) // 2, 0),
                "bottom": ((old_w - crop_w) // 2, old_h - crop_h),
                "left": (0, (old_h - crop_h) // 2),
                "right": (old_w - crop_w, (old_h - crop_h) // 2)}[crop_position]
        out = out.narrow(-2, x, crop_w).narrow(-3, y, crop_h)
        if out_mask is not None:
            out_mask = out_mask.narrow(-1, x, crop_w).narrow(-2, y, crop_h)
    out = _resample(out, width, height, upscale_method)
    if out_mask is not None:
        if upscale_method == "lanczos":
            out_mask = common_upscale(out_mask.unsqueeze(1).repeat(1, 3, 1, 1), width, height,
                                      "lanczos").movedim(1, -1)[..., 0]
        else:
            out_mask = common_upscale(out_mask.unsqueeze(1), width, height, upscale_method).squeeze(1)

    left, right, top, bottom = pad
    if padded and (left > 0 or right > 0 or top > 0 or bottom > 0):
        if divisible_by > 1:
            right += -(width + left + right) % divisible_by
            bottom += -(height + top + bottom) % divisible_by
        pad_mode = ("pillarbox_blur" if pillarbox else "edge" if mode == "pad_edge"
                    else "edge_pixel" if mode == "pad_edge_pixel" else "color")
        out, out_mask = pad_image(out, left, right, top, bottom, 0, pad_color, pad_mode, mask=out_mask)

    out = out.cpu()
    mask_out = out_mask.cpu() if out_mask is not None else torch.zeros(1, 64, 64, dtype=torch.float32)
    return out, out.shape[2], out.shape[1], mask_out


# ---------------------------------------------------------------------------- pad

def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return img
    radius = max(1, int(3.0 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    k = k / k.sum()
    c = img.shape[1]
    img = F.conv2d(img, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, radius), groups=c)
    return F.conv2d(img, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(radius, 0), groups=c)


def pad_image(image: torch.Tensor, left: int, right: int, top: int, bottom: int, extra_padding: int,
              color: str, pad_mode: str, mask: torch.Tensor | None = None,
              target_width: int | None = None, target_height: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ImagePadKJ.pad: returns (padded image, mask that is 1 in the padding, 0 on the image —
    or the given mask extended by replicating its edges)."""
    B, H, W, C = image.shape
    if mask is not None and tuple(mask.shape[1:]) != (H, W):
        mask = F.interpolate(mask.unsqueeze(1), size=(H, W), mode="nearest-exact").squeeze(1)
    bg = [v / 255.0 for v in string_to_color(color)]
    if len(bg) == 1:
        bg = bg * 3
    bg_color = torch.tensor(bg, dtype=image.dtype, device=image.device)

    if target_width is not None and target_height is not None:
        if extra_padding > 0:
            if W - extra_padding < 1 or H - extra_padding < 1:  # the pack fails inside PIL here
                raise NodeInputError("extra_padding", f"extra_padding {extra_padding} leaves nothing of the "
                                     f"{W}x{H} image (it is shrunk by that many pixels before padding)",
                                     "use a smaller extra_padding or a larger image")
            image = common_upscale(image.movedim(-1, 1), W - extra_padding, H - extra_padding,
                                   "lanczos").movedim(1, -1)
            B, H, W, C = image.shape
        out_w, out_h = target_width, target_height
        left = (out_w - W) // 2
        right = out_w - W - left
        top = (out_h - H) // 2
        bottom = out_h - H - top
    else:
        left, right, top, bottom = (v + extra_padding for v in (left, right, top, bottom))
        out_w, out_h = W + left + right, H + top + bottom

    if pad_mode == "pillarbox_blur":
        out = torch.zeros((B, out_h, out_w, C), dtype=image.dtype, device=image.device)
        for b in range(B):
            scale = max(out_w / float(W), out_h / float(H)) if (W > 0 and H > 0) else 1.0
            bg_w, bg_h = max(1, int(round(W * scale))), max(1, int(round(H * scale)))
            back = common_upscale(image[b].movedim(-1, 0).unsqueeze(0), bg_w, bg_h, "bilinear")
            y0, x0 = max(0, (bg_h - out_h) // 2), max(0, (bg_w - out_w) // 2)
            back = back[:, :, y0:min(bg_h, y0 + out_h), x0:min(bg_w, x0 + out_w)]
            if back.shape[2] != out_h or back.shape[3] != out_w:
                ph, pw = out_h - back.shape[2], out_w - back.shape[3]
                back = F.pad(back, (max(0, pw // 2), max(0, pw - pw // 2), max(0, ph // 2), max(0, ph - ph // 2)),
                             mode="replicate")
            back = _gaussian_blur(back, max(1.0, 0.006 * float(min(out_h, out_w))))
            if C >= 3:
                r, g, bl = back[:, 0:1], back[:, 1:2], back[:, 2:3]
                luma = 0.2126 * r + 0.7152 * g + 0.0722 * bl
                rgb = torch.cat([r, g, bl], 1) * 0.8 + torch.cat([luma, luma, luma], 1) * 0.2
                back[:, 0:3] = rgb
            out[b] = torch.clamp(back * 0.35, 0.0, 1.0).squeeze(0).movedim(0, -1)
        out[:, top:top + H, left:left + W, :] = image
        masks = torch.ones((B, out_h, out_w), dtype=image.dtype, device=image.device)
        masks[:, top:top + H, left:left + W] = mask if mask is not None else 0.0
        return out, masks

    out = torch.zeros((B, out_h, out_w, C), dtype=image.dtype, device=image.device)
    for b in range(B):
        if pad_mode == "edge":
            out[b, :top] = image[b, 0].mean(dim=0)
            out[b, top + H:] = image[b, H - 1].mean(dim=0)
            out[b, :, :left] = image[b, :, 0].mean(dim=0)
            out[b, :, left + W:] = image[b, :, W - 1].mean(dim=0)
        elif pad_mode == "edge_pixel":
            out[b, :top, left:left + W] = image[b, 0]
            out[b, top + H:, left:left + W] = image[b, H - 1]
            out[b, top:top + H, :left] = image[b, :, 0:1]
            out[b, top:top + H, left + W:] = image[b, :, W - 1:W]
            out[b, :top, :left] = image[b, 0, 0]
            out[b, :top, left + W:] = image[b, 0, W - 1]
            out[b, top + H:, :left] = image[b, H - 1, 0]
            out[b, top + H:, left + W:] = image[b, H - 1, W - 1]
        else:
            out[b] = bg_color
        out[b, top:top + H, left:left + W] = image[b]
    if mask is not None:
        masks = F.pad(mask, (left, right, top, bottom), mode="replicate")
    else:
        masks = torch.ones((B, out_h, out_w), dtype=image.dtype, device=image.device)
        masks[:, top:top + H, left:left + W] = 0.0
    return out, masks


@executor("ImagePadKJ")
def image_pad_kj(ctx: ExecContext, image: torch.Tensor, left: int, right: int, top: int, bottom: int,
                 extra_padding: int, pad_mode: str, color: str, mask: torch.Tensor | None = None,
                 masks: torch.Tensor | None = None, target_width: int | None = None,
                 target_height: int | None = None, **_: Any) -> tuple:
    image = _image(image, "image")
    if mask is None:
        mask = masks  # the first signature named the input 'masks'
    return pad_image(image, left, right, top, bottom, extra_padding, color, pad_mode, mask=mask,
                     target_width=target_width, target_height=target_height)


# ---------------------------------------------------------------------------- concat / batch

def concatenate(image1: torch.Tensor, image2: torch.Tensor, direction: str, match_image_size: bool,
                first_image_shape: tuple | torch.Size | None = None) -> torch.Tensor:
    """ImageConcanate.concatenate: the output type (IMAGE or MASK) follows ``image1``. With
    ``match_image_size`` image2 is resized (bicubic, antialiased) to image1's height (left/right)
    or width (up/down), keeping its aspect; otherwise the smaller one is centred on black.
    Shorter batches repeat their last frame; missing channels are filled with 1."""
    as_mask = image1.dim() == 3
    if as_mask and image2.dim() == 4:
        image2 = image2[..., :min(3, image2.shape[-1])].mean(dim=-1)
    elif not as_mask and image2.dim() == 3:
        image2 = image2.unsqueeze(-1).expand(-1, -1, -1, image1.shape[-1])
    if as_mask:
        image1, image2 = image1.unsqueeze(-1), image2.unsqueeze(-1)
    bs1, bs2 = image1.shape[0], image2.shape[0]
    B = max(bs1, bs2)
    H1, W1 = image1.shape[1], image1.shape[2]
    C1, C2 = image1.shape[-1], image2.shape[-1]
    if match_image_size:
        shape = first_image_shape if first_image_shape is not None else image1.shape
        aspect = image2.shape[2] / image2.shape[1]
        if direction in ("left", "right"):
            H2 = shape[1]
            W2 = int(H2 * aspect)
        else:
            W2 = shape[2]
            H2 = int(W2 / aspect)
        if H2 < 1 or W2 < 1:  # the pack's resize then fails too (a size of 0 px)
            side = "height" if direction in ("left", "right") else "width"
            raise NodeInputError("match_image_size",
                                 f"image2 ({image2.shape[1]}x{image2.shape[2]} px) scaled to image1's {side} "
                                 f"would be {H2}x{W2} px", "turn match_image_size off, or join images of closer "
                                 "aspect ratios")
    else:
        H2, W2 = image2.shape[1], image2.shape[2]
    if direction in ("right", "left"):
        out_h, out_w = max(H1, H2), W1 + W2
    else:
        out_h, out_w = H1 + H2, max(W1, W2)
    y1, x1, y2, x2 = {
        "right": ((out_h - H1) // 2, 0, (out_h - H2) // 2, W1),
        "left": ((out_h - H1) // 2, W2, (out_h - H2) // 2, 0),
        "down": (0, (out_w - W1) // 2, H1, (out_w - W2) // 2),
    }.get(direction, (H2, (out_w - W1) // 2, 0, (out_w - W2) // 2))
    out = torch.zeros((B, out_h, out_w, max(C1, C2)), dtype=torch.float32)

    def write(dst: torch.Tensor, src: torch.Tensor, channels: int) -> None:
        dst[..., :channels].copy_(src)
        if dst.shape[-1] > channels:
            dst[..., channels:].fill_(1.0)

    slot1 = out[:, y1:y1 + H1, x1:x1 + W1, :]
    write(slot1[:bs1], image1, C1)
    if bs1 < B:
        write(slot1[bs1:], image1[-1:].expand(B - bs1, -1, -1, -1), C1)
    slot2 = out[:, y2:y2 + H2, x2:x2 + W2, :]
    if match_image_size:
        for i in range(B):
            src = min(i, bs2 - 1)
            frame = image2[src:src + 1].float().permute(0, 3, 1, 2)
            resized = F.interpolate(frame, size=(H2, W2), mode="bicubic", antialias=True).permute(0, 2, 3, 1)
            write(slot2[i:i + 1], resized, C2)
    else:
        write(slot2[:bs2], image2, C2)
        if bs2 < B:
            write(slot2[bs2:], image2[-1:].expand(B - bs2, -1, -1, -1), C2)
    return out.squeeze(-1) if as_mask else out


def _image_or_mask(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim not in (3, 4):
        raise NodeInputError(name, "expected an IMAGE or a MASK", "connect an IMAGE or MASK output here")
    return value


@executor("ImageConcanate")
def image_concanate(ctx: ExecContext, image1: torch.Tensor, image2: torch.Tensor, direction: str,
                    match_image_size: bool, **_: Any) -> tuple:
    return (concatenate(_image_or_mask(image1, "image1"), _image_or_mask(image2, "image2"),
                        direction, match_image_size),)


@executor("ImageConcatMulti")
def image_concat_multi(ctx: ExecContext, inputcount: int, image_1: torch.Tensor, direction: str,
                       match_image_size: bool, **kwargs: Any) -> tuple:
    """image_1 … image_<inputcount> in turn; a missing input counts as a black image of image_1's shape."""
    image = _image_or_mask(image_1, "image_1")
    first_shape = image.shape
    for c in range(1, int(inputcount)):
        key = f"image_{c + 1}"
        new = kwargs.get(key)
        new = torch.zeros(first_shape, dtype=torch.float32) if new is None else _image_or_mask(new, key)
        image = concatenate(image, new, direction, match_image_size, first_image_shape=first_shape)
    return (image,)


@executor("ImageBatchMulti")
def image_batch_multi(ctx: ExecContext, inputcount: int, image_1: torch.Tensor, **kwargs: Any) -> tuple:
    """One batch of image_1 … image_<inputcount>: others are resized (bilinear, centre crop) to
    image_1's size, channels padded with 1; a missing input adds black frames."""
    first = _image(image_1, "image_1")
    h, w = first.shape[1], first.shape[2]
    inputs = [first] + [kwargs.get(f"image_{c + 1}") for c in range(1, int(inputcount))]
    max_ch = max(img.shape[-1] for img in inputs if img is not None)
    parts = []
    for c, img in enumerate(inputs):
        if img is None:
            img = torch.zeros((first.shape[0], h, w, max_ch), dtype=first.dtype)
        img = _image(img, f"image_{c + 1}")
        if tuple(img.shape[1:3]) != (h, w):
            img = common_upscale(img.movedim(-1, 1), w, h, "bilinear", "center").movedim(1, -1)
        if img.shape[-1] < max_ch:
            img = F.pad(img, (0, max_ch - img.shape[-1]), mode="constant", value=1.0)
        parts.append(img.to(first.dtype))
    return (torch.cat(parts, dim=0).cpu(),)


@executor("GetImageRangeFromBatch")
def get_image_range_from_batch(ctx: ExecContext, start_index: int, num_frames: int,
                               images: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                               **_: Any) -> tuple:
    """``num_frames`` frames from ``start_index`` (-1: the last ``num_frames``), clipped at the end."""
    chosen = []
    start = start_index  # as in the pack, -1 is resolved on the images and reused for the masks
    for value, what in ((images, "images"), (masks, "masks")):
        if value is None:
            chosen.append(None)
            continue
        if start == -1:
            start = max(0, len(value) - num_frames)
        if start < 0 or start >= len(value):
            raise NodeInputError("start_index", f"start index {start_index} is out of range for {len(value)} {what}",
                                 f"use 0..{len(value) - 1}, or -1 for the last frames")
        chosen.append(value[start:min(start + num_frames, len(value))])
    return chosen[0], chosen[1]


@executor("GetImageSizeAndCount")
def get_image_size_and_count(ctx: ExecContext, image: torch.Tensor, **_: Any) -> tuple:
    image = _image(image, "image")
    return image, image.shape[2], image.shape[1], image.shape[0]


@executor("INTConstant", pure=True)
def int_constant(ctx: ExecContext, value: int, **_: Any) -> tuple:
    return (value,)
