"""WanI2VConditioningMaskPro and DropFirstFrames (``conditioning_nodes.py`` as of 2026-02-01).

WanI2VConditioningMaskPro, as the pack (1 in its mask keeps the start image, 0 fills):

- It needs the ``concat_latent_image`` WanImageToVideo put on ``positive`` (``[B, C, T, H, W]``).
- The mask, first source present: ``mask`` (resized bilinearly to the image, inverted), then
  ``depth_map`` (channel mean, resized; ``<= depth_threshold`` keeps, or ``1 - depth`` when
  the threshold is 0), else the preset ``mask_mode`` at the image's size (halves, centre
  quarter, edges, linear gradients ``i / size``, a vignette ``1 - min(d / d_max, 1)``).
  ``generate_person_mask`` (MediaPipe person and face masks, or, without MediaPipe
  installed, a printed warning and the next source) is refused: wfrun has neither.
- Then ``ignore_area`` (a strip set to keep), ``grow_mask`` (min- or max-pooling by
  ``int(|grow| * int(sqrt(filled pixels)))`` pixels, replicate-padded), ``feather`` (three
  box blurs of an odd kernel ``max(3, int(feather * max(3, min(h, w) // 4)))``, clamped),
  ``mask_strength`` (``m * s + 1 - s`` below 1) and ``invert_mask``.
- A mask that keeps everything (minimum above 0.999) returns the conditionings unchanged
  (``text_strength`` not applied either) and the mask.
- Otherwise a grey fill of ``fill_brightness`` (7 % towards ``tint_color`` when
  ``tint_fill``; a colour that is not 6 hex digits is ignored), resized to ``8W x 8H`` and
  repeated over ``4T`` frames, is VAE-encoded as one clip and cut to ``T`` latent frames;
  each entry's ``concat_latent_image`` becomes ``concat * m + fill * (1 - m)`` with the mask
  resized bilinearly to the latent, and its ``concat_mask`` (when present) the maximum of
  itself and ``1 - m`` at its size, on every frame. The positive's text tensors are scaled
  by ``text_strength``. The pack's ``8x`` is Wan 2.1's VAE: a VAE whose fill latent does not
  match the concat latent is refused, where the pack would fail in the blend.

DropFirstFrames: ``images[n:]``; all frames but the last dropped when ``n`` reaches the
batch; ``n`` 0 passes the batch through.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import check
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

#: The signature these rules are read from; earlier saves had other inputs and rules.
SIGNATURE_DATE = "2026-02-01"
PRESETS = ("full", "top_half", "bottom_half", "left_half", "right_half", "center", "edges", "gradient_top",
           "gradient_bottom", "gradient_left", "gradient_right", "vignette")
TINT = 0.07


def preset_mask(mode: str, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """The preset shape at ``[1, 1, h, w]``: 1 keeps, 0 fills (gradients computed in double
    precision, as the pack's Python floats, then stored in ``dtype``)."""
    m = torch.ones(1, 1, h, w, dtype=dtype)
    rows = torch.arange(h, dtype=torch.float64) / h
    cols = torch.arange(w, dtype=torch.float64) / w
    if mode == "top_half":
        m[:, :, :h // 2, :] = 0
    elif mode == "bottom_half":
        m[:, :, h // 2:, :] = 0
    elif mode == "left_half":
        m[:, :, :, :w // 2] = 0
    elif mode == "right_half":
        m[:, :, :, w // 2:] = 0
    elif mode == "center":
        m[:, :, h // 4:3 * h // 4, w // 4:3 * w // 4] = 0
    elif mode == "edges":
        m[:, :, :h // 4, :] = 0
        m[:, :, 3 * h // 4:, :] = 0
        m[:, :, :, :w // 4] = 0
        m[:, :, :, 3 * w // 4:] = 0
    elif mode == "gradient_top":
        m[:] = rows.view(h, 1).expand(h, w).to(dtype)
    elif mode == "gradient_bottom":
        m[:] = (1.0 - rows).view(h, 1).expand(h, w).to(dtype)
    elif mode == "gradient_left":
        m[:] = cols.view(1, w).expand(h, w).to(dtype)
    elif mode == "gradient_right":
        m[:] = (1.0 - cols).view(1, w).expand(h, w).to(dtype)
    elif mode == "vignette":
        cy, cx = h // 2, w // 2
        max_dist = ((h / 2) ** 2 + (w / 2) ** 2) ** 0.5
        y = torch.arange(h, dtype=torch.float64).view(h, 1) - cy
        x = torch.arange(w, dtype=torch.float64).view(1, w) - cx
        m[:] = (1.0 - torch.clamp(torch.sqrt(y ** 2 + x ** 2) / max_dist, max=1.0)).to(dtype)
    elif mode != "full":
        raise NodeInputError("mask_mode", f"unknown mask mode {mode!r}", f"use one of {', '.join(PRESETS)}")
    return m


def shape_mask(work: torch.Tensor, *, ignore_area: str, ignore_percent: float, grow_mask: float, feather: float,
               mask_strength: float, invert_mask: bool) -> torch.Tensor:
    """The steps after the mask source, in the pack's order."""
    h, w = work.shape[-2:]
    if ignore_area != "none":
        n = int(ignore_percent * (w if ignore_area in ("left", "right") else h))
        if ignore_area == "left":
            work[:, :, :, :n] = 1.0
        elif ignore_area == "right":
            work[:, :, :, -n:] = 1.0
        elif ignore_area == "top":
            work[:, :, :n, :] = 1.0
        elif ignore_area == "bottom":
            work[:, :, -n:, :] = 1.0
        else:
            raise NodeInputError("ignore_area", f"unknown area {ignore_area!r}", "use none, left, right, top or bottom")
    if grow_mask != 0.0:
        filled = (work < 0.5).float().sum().item()
        size = max(1, int(filled ** 0.5))
        grow = int(abs(grow_mask) * size)
        if grow >= 1:
            padded = F.pad(work, (grow, grow, grow, grow), mode="replicate")
            kernel = grow * 2 + 1
            work = -F.max_pool2d(-padded, kernel, stride=1) if grow_mask > 0 else F.max_pool2d(padded, kernel, stride=1)
    if feather > 0:
        kernel = max(3, int(feather * max(3, min(h, w) // 4)))
        kernel += 1 - kernel % 2
        pad = kernel // 2
        for _ in range(3):
            work = F.avg_pool2d(F.pad(work, (pad, pad, pad, pad), mode="replicate"), kernel, stride=1)
        work = torch.clamp(work, 0.0, 1.0)
    if mask_strength < 1.0:
        work = work * mask_strength + (1.0 - mask_strength)
    if invert_mask:
        work = 1.0 - work
    return work


def fill_colour(fill_brightness: float, tint_fill: bool, tint_color: Any) -> list[float]:
    """The fill's RGB: grey, moved 7 % towards a valid 6-digit hex tint."""
    rgb = [float(fill_brightness)] * 3
    if tint_fill and isinstance(tint_color, str) and tint_color:
        hex_str = tint_color.strip().lstrip("#")
        if len(hex_str) == 6:
            try:
                tint = [int(hex_str[i:i + 2], 16) / 255.0 for i in (0, 2, 4)]
            except ValueError:
                return rgb
            rgb = [c * (1 - TINT) + t * TINT for c, t in zip(rgb, tint)]
    return rgb


@executor("WanI2VConditioningMaskPro")
def wan_i2v_conditioning_mask_pro(ctx: ExecContext, positive: Any, negative: Any, vae: Any, image: Any,
                                  mask_mode: str, depth_threshold: float, fill_brightness: float, tint_fill: bool,
                                  tint_color: str, mask_strength: float, grow_mask: float, feather: float,
                                  invert_mask: bool, text_strength: float, generate_person_mask: bool,
                                  ignore_area: str, ignore_percent: float, mask: Any = None, depth_map: Any = None,
                                  **_: Any) -> tuple:
    if ctx.saved_date is not None and ctx.saved_date < SIGNATURE_DATE:
        raise NodeInputError("mask_mode", f"this node was saved with the pack's version of {ctx.saved_date}; wfrun "
                             f"runs it as of {SIGNATURE_DATE}", "re-create the node in ComfyUI with that version")
    if generate_person_mask:
        raise NodeInputError("generate_person_mask", "MediaPipe's person and face masks are not available in wfrun",
                             "switch it off and connect a mask, or use a mask_mode preset")
    check(positive, "positive")
    check(negative, "negative")
    if not positive or "concat_latent_image" not in positive[0][1]:
        raise NodeInputError("positive", "the conditioning has no concat_latent_image",
                             "connect the positive output of WanImageToVideo")
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE batch [frames, height, width, channels]")
    original = positive[0][1]["concat_latent_image"]
    _, channels, frames, lat_h, lat_w = original.shape
    img_h, img_w = image.shape[1], image.shape[2]

    if mask is not None:
        work = mask.clone().float()
        if work.ndim == 2:
            work = work.unsqueeze(0)
        if work.ndim == 3:
            work = work.unsqueeze(1)
        work = 1.0 - F.interpolate(work, size=(img_h, img_w), mode="bilinear", align_corners=False)
    elif depth_map is not None:
        depth = depth_map.clone().float()
        depth = depth[..., :3].mean(dim=-1) if depth.shape[-1] >= 3 else depth[..., 0]
        depth = F.interpolate(depth.unsqueeze(1), size=(img_h, img_w), mode="bilinear", align_corners=False)
        work = (depth <= depth_threshold).float() if depth_threshold > 0 else 1.0 - depth
    else:
        work = preset_mask(mask_mode, img_h, img_w, image.dtype)
    work = shape_mask(work, ignore_area=ignore_area, ignore_percent=float(ignore_percent), grow_mask=float(grow_mask),
                      feather=float(feather), mask_strength=float(mask_strength), invert_mask=bool(invert_mask))
    mask_out = work.squeeze(1)
    if work.min() > 0.999:
        return (positive, negative, mask_out)

    fill = torch.tensor(fill_colour(fill_brightness, tint_fill, tint_color), dtype=image.dtype)
    fill = fill.expand(image.shape[0], img_h, img_w, 3).contiguous()
    fill = upscale_image(fill, lat_w * 8, lat_h * 8, "bilinear", "center")
    video = fill.unsqueeze(1).expand(-1, frames * 4, -1, -1, -1).reshape(-1, lat_h * 8, lat_w * 8, 3)
    fill_latent = builtin_executor("VAEEncode", "vae")(ctx, pixels=video, vae=vae)[0]["samples"][:, :, :frames]
    if tuple(fill_latent.shape[1:]) != (channels, frames, lat_h, lat_w):
        raise NodeInputError("vae", f"the fill encodes to {tuple(fill_latent.shape[1:])}, the concat latent is "
                             f"{(channels, frames, lat_h, lat_w)}", "use the VAE that made the conditioning (Wan 2.1's)")
    m_lat = F.interpolate(work, size=(lat_h, lat_w), mode="bilinear", align_corners=False)
    m_lat = m_lat.unsqueeze(2).expand(-1, channels, frames, -1, -1)

    def update(conditioning: list, scale_text: bool) -> list:
        out = []
        for text, options in conditioning:
            options = dict(options)
            if scale_text and text_strength != 1.0:
                text = text * text_strength
            orig = options.get("concat_latent_image", original)
            options["concat_latent_image"] = orig * m_lat + fill_latent * (1.0 - m_lat)
            if "concat_mask" in options:
                cm = options["concat_mask"]
                inv = 1.0 - F.interpolate(work, size=cm.shape[-2:], mode="bilinear", align_corners=False)
                options["concat_mask"] = torch.max(cm, inv.unsqueeze(2).expand(-1, -1, cm.shape[2], -1, -1))
            out.append([text, options])
        return out

    return (update(positive, True), update(negative, False), mask_out)


@executor("DropFirstFrames")
def drop_first_frames(ctx: ExecContext, images: Any, frames_to_drop: int, **_: Any) -> tuple:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE batch [frames, height, width, channels]")
    n = int(frames_to_drop)
    if n == 0:
        return (images,)
    if images.shape[0] <= n:
        return (images[-1:],)
    return (images[n:],)
