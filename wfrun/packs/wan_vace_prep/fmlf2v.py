"""WanFMLF2V and WanFirstLastMiddleFrameToVideo (its first name, 2026-06-23; same arithmetic,
inputs in another order): ComfyUI's first/last-frame I2V conditioning with a middle frame.

As ComfyUI's WanFirstLastFrameToVideo: an empty latent of the VAE's shape; a grey (0.5)
video of ``length`` frames with the start images (the first ``length``) at the start and the
end images (the last ``length``) at the end, each resized bilinearly with a centre crop;
encoded as ``concat_latent_image``. The mask has 4 slots per latent frame, pixel frame ``i``
in slot ``i + 3`` (the first frame fills the first latent's 4 slots): 0 over the start
images' slots ``0 .. n + 2`` and the end images' last ``n`` slots. Added here: the middle
images start at ``(middle_frame * length) // 4 * 4`` (at most the last frame), as many as
fit, with their slots shifted by 3 too. The CLIP vision outputs given (start, middle, end)
are joined along the token axis into one ``clip_vision_output``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.models import residency
from wfrun.models.handles import WanVAE
from wfrun.models.vae_codec import encode_raw
from wfrun.nodes.conditioning import fold_frame_mask, set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _vae(vae: Any) -> WanVAE:
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected a VAE from VAELoader, got {type(vae).__name__}")
    return vae


def _fit(name: str, image: Any, width: int, height: int) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]", f"connect {name}")
    return upscale_image(image.float(), width, height, "bilinear", "center")[..., :3]


def _encode(ctx: ExecContext, vae: WanVAE, images: torch.Tensor) -> torch.Tensor:
    """IMAGE → raw latents, the frame cropped to the VAE's grid as ComfyUI's encode does."""
    ratio = int(vae.vae.spatial_compression_ratio)
    h, w = images.shape[1] // ratio * ratio, images.shape[2] // ratio * ratio
    y, x = (images.shape[1] % ratio) // 2, (images.shape[2] % ratio) // 2
    video = images[:, y:y + h, x:x + w].movedim(-1, 0).unsqueeze(0) * 2.0 - 1.0
    residency.bring(vae.vae, ctx.device, ctx.offload_device)
    return encode_raw(vae.vae, vae.dtype, video, ctx.device, ctx=ctx).cpu()


def _join_clip(outputs: list[tuple[str, Any]]) -> Any:
    joined = None
    for name, output in outputs:
        if output is None:
            continue
        if not isinstance(getattr(output, "penultimate_hidden_states", None), torch.Tensor):
            raise NodeInputError(name, "expected a CLIP_VISION_OUTPUT from CLIPVisionEncode")
        joined = output if joined is None else dataclasses.replace(joined, penultimate_hidden_states=torch.cat(
            [joined.penultimate_hidden_states, output.penultimate_hidden_states], dim=-2))
    return joined


def first_middle_last(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                      length: int, batch_size: int, start_image: Any, middle_image: Any, middle_frame: float,
                      end_image: Any, clips: list[tuple[str, Any]]) -> tuple:
    vae = _vae(vae)
    width, height, length = int(width), int(height), int(length)
    stride = int(vae.vae.spatial_compression_ratio)
    latent = torch.zeros(int(batch_size), int(vae.vae.config.z_dim), (length - 1) // 4 + 1, height // stride,
                         width // stride)
    image = torch.full((length, height, width, 3), 0.5)
    mask = torch.ones(1, 1, latent.shape[2] * 4, latent.shape[-2], latent.shape[-1])
    if start_image is not None:
        start = _fit("start_image", start_image[:length], width, height)
        image[:start.shape[0]] = start
        mask[:, :, :start.shape[0] + 3] = 0.0
    if end_image is not None:
        end = _fit("end_image", end_image[-length:], width, height)
        image[-end.shape[0]:] = end
        mask[:, :, -end.shape[0]:] = 0.0
    if middle_image is not None:
        middle = _fit("middle_image", middle_image[:length], width, height)
        begin = min(int((float(middle_frame) * length) // 4 * 4), length - 1)
        stop = min(begin + middle.shape[0], length)
        image[begin:stop] = middle[:stop - begin]
        mask[:, :, begin + 3:stop + 3] = 0.0
    values = {"concat_latent_image": _encode(ctx, vae, image), "concat_mask": fold_frame_mask(mask)}
    positive = set_values(positive, values, input_name="positive")
    negative = set_values(negative, values, input_name="negative")
    clip = _join_clip(clips)
    if clip is not None:
        positive = set_values(positive, {"clip_vision_output": clip}, input_name="positive")
        negative = set_values(negative, {"clip_vision_output": clip}, input_name="negative")
    return positive, negative, {"samples": latent}


@executor("WanFMLF2V")
def wan_fmlf2v(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int, length: int,
               batch_size: int, middle_frame: float, start_image: Any = None, middle_image: Any = None,
               end_image: Any = None, clip_vision_start_image: Any = None, clip_vision_middle_image: Any = None,
               clip_vision_end_image: Any = None, **_: Any) -> tuple:
    return first_middle_last(ctx, positive, negative, vae, width, height, length, batch_size, start_image,
                             middle_image, middle_frame, end_image,
                             [("clip_vision_start_image", clip_vision_start_image),
                              ("clip_vision_middle_image", clip_vision_middle_image),
                              ("clip_vision_end_image", clip_vision_end_image)])


@executor("WanFirstLastMiddleFrameToVideo")
def wan_first_last_middle_frame_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int,
                                         height: int, length: int, batch_size: int, middle_frame: float,
                                         start_image: Any = None, end_image: Any = None, middle_image: Any = None,
                                         clip_vision_start_image: Any = None, clip_vision_end_image: Any = None,
                                         clip_vision_middle_image: Any = None, **_: Any) -> tuple:
    return wan_fmlf2v(ctx, positive, negative, vae, width, height, length, batch_size, middle_frame,
                      start_image=start_image, middle_image=middle_image, end_image=end_image,
                      clip_vision_start_image=clip_vision_start_image,
                      clip_vision_middle_image=clip_vision_middle_image,
                      clip_vision_end_image=clip_vision_end_image)
