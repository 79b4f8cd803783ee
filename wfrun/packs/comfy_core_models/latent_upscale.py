"""LatentUpscaleBy and LatentUpscale (ComfyUI ``nodes.py``), resampled with
``upscale_method`` frame by frame for a video latent [batch, channels, frames, height, width]
as ``comfy.utils.common_upscale`` reshapes it. ``bislerp`` (ComfyUI's spherical blend) is not
implemented and is refused on ``upscale_method``.

* LatentUpscaleBy: height and width times ``scale_by``, each rounded.
* LatentUpscale: to ``width // 8`` x ``height // 8`` latents (ComfyUI's fixed factor 8, which
  is the Wan VAEs' spatial one), each side at least 64 pixels; a side of 0 follows the other
  by the latent's aspect ratio, both 0 hand the latent on; ``crop`` ``center`` first cuts the
  latent to the new aspect ratio around its centre."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

METHODS = ("nearest-exact", "bilinear", "area", "bicubic")


def upscale_latent(samples: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled") -> torch.Tensor:
    shape = tuple(samples.shape)
    x = samples
    if len(shape) > 4:  # [B, C, T…, H, W] -> [B*T, C, H, W]
        x = x.reshape(shape[0], shape[1], -1, shape[-2], shape[-1]).movedim(2, 1).reshape(-1, shape[1], shape[-2], shape[-1])
    out = common_upscale(x, width, height, method, crop)
    if len(shape) == 4:
        return out
    return out.reshape((shape[0], -1, shape[1], height, width)).movedim(2, 1).reshape(shape[:-2] + (height, width))


def _check(samples: Any, upscale_method: Any) -> None:
    """Both nodes' LATENT and method, refused by name."""
    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor) \
            or samples["samples"].ndim < 4:
        raise NodeInputError("samples", "samples: expected a LATENT", "connect a latent output here")
    if upscale_method not in METHODS:
        raise NodeInputError("upscale_method", f"upscale_method {upscale_method!r} is not supported",
                             f"use one of {', '.join(METHODS)}")


@executor("LatentUpscaleBy")
def latent_upscale_by(ctx: ExecContext, samples: Any, upscale_method: Any, scale_by: Any, **_: Any) -> tuple:
    _check(samples, upscale_method)
    if isinstance(scale_by, bool) or not isinstance(scale_by, (int, float)) or scale_by <= 0:
        raise NodeInputError("scale_by", f"scale_by: expected a positive number, found {scale_by!r}")
    latent = samples["samples"]
    width, height = round(latent.shape[-1] * scale_by), round(latent.shape[-2] * scale_by)
    if width < 1 or height < 1:
        raise NodeInputError("scale_by", f"scale_by {scale_by} makes the latent {width}x{height}")
    out = dict(samples)
    out["samples"] = upscale_latent(latent, width, height, upscale_method)
    return (out,)


@executor("LatentUpscale")
def latent_upscale(ctx: ExecContext, samples: Any, upscale_method: Any, width: Any, height: Any, crop: Any,
                   **_: Any) -> tuple:
    _check(samples, upscale_method)
    if crop not in ("disabled", "center"):
        raise NodeInputError("crop", f"unknown crop {crop!r}", "use disabled or center")
    width, height = int(width), int(height)
    if width == 0 and height == 0:
        return (samples,)
    latent = samples["samples"]
    if width == 0:
        height = max(64, height)
        width = max(64, round(latent.shape[-1] * height / latent.shape[-2]))
    elif height == 0:
        width = max(64, width)
        height = max(64, round(latent.shape[-2] * width / latent.shape[-1]))
    else:
        width, height = max(64, width), max(64, height)
    out = dict(samples)
    out["samples"] = upscale_latent(latent, width // 8, height // 8, upscale_method, crop)
    return (out,)
