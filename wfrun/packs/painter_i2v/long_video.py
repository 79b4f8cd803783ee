"""PainterLongVideo (princepainter/ComfyUI-PainterLongVideo, ``nodes.py``): the next chunk of a
long Wan video, continuing from the last frame of the previous one.

Always: ``latent`` is zeros ``[batch_size, 16, (length - 1) // 4 + 1, height // 8,
width // 8]`` (a Wan 2.1 VAE is required, refused by name on ``vae`` otherwise);
``reference_latents`` gets appended a *last frame* latent and, with
``initial_reference_image``, that image's first frame's latent (zeros of the same shapes on
the negative); ``clip_vision_output`` is put on both when given. Images are fitted to
width x height by ComfyUI's bilinear scaling after a centre crop.

Two branches:

- **previous video only** (no ``start_image``/``end_image``): PainterI2V with the previous
  video's last frame as its start image (grey video, first-frame mask, the motion step at
  ``motion_amplitude``); the last frame latent is that frame's own; and ``reference_motion``
  = the last 19 latent frames of the encoded 73-frame video made of the previous video's
  last ``motion_frames`` frames (at most 73), fitted and preceded by grey (0.5) frames.
- **first/last frame** (a ``start_image`` or an ``end_image``): ComfyUI's
  WanFirstLastFrameToVideo (no motion step) on ``start_image`` and ``end_image``; with no
  start image, releases from 391ff7e on take the previous video's last frame as the start;
  ``reference_motion`` only when the previous video has two frames or more, as above but
  from its last 73 frames (``motion_frames`` unused); the last frame latent is the previous
  video's last frame, or (from 0263311 on, without a previous video) the first frame of the
  grey/start/end video that was encoded.

``reference_motion`` is what ComfyUI's Wan 2.2 S2V model reads as its motion latents; a
plain I2V model ignores it in ComfyUI, and in wfrun likewise (the core sampler reads it only
for an S2V model), so on the usual I2V model it is carried but unused.

Releases (the saved ``properties.ver``; without one, or an unknown one, the newest):
8a96b60 (2025-11-11) the first branch only; fd4364c added start/end images; 391ff7e used the
previous last frame as the start of an end-only video; 0263311 (2025-11-17, "1.0.1") made
``previous_video`` optional, failing when none of ``previous_video``/``start_image``/
``end_image`` is given (refused by name here). Where the pack fails, wfrun refuses by name:
a missing ``previous_video`` before 0263311, start/end images on the first release (no such
inputs), and a previous video with other than 3 channels where the pack pads it with grey
RGB frames.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.nodes.saved import saved_version
from wfrun.packs.painter_i2v.core_node import LATENT_CHANNELS, STRIDE, spread_motion, start_frame_conditioning

NODE = "PainterLongVideo"
#: The pack's motion reference: a video of this many frames whose last latent frames are kept.
MOTION_VIDEO_FRAMES = 73
MOTION_LATENT_FRAMES = 19
#: Releases by the saved ``ver`` (short commit ids; "1.01" was the __init__ version of 588b30a).
FIRST_RELEASE = ("8a96b60", "0e236b5", "64f9e2c")
START_END_RELEASE = ("fd4364c",)
PREVIOUS_AS_START_RELEASE = ("391ff7e", "49afdbe", "2099281", "588b30a", "3785138", "1.01")


def release_for(ver: str | None) -> int:
    """1 to 4: the release that saved the node (module docs), 4 for none or an unknown one."""
    saved = (ver or "").strip().lower()

    def among(ids: tuple[str, ...]) -> bool:
        return bool(saved) and any(saved == c or (len(saved) >= 7 and saved.startswith(c)) for c in ids)

    if among(FIRST_RELEASE):
        return 1
    if among(START_END_RELEASE):
        return 2
    if among(PREVIOUS_AS_START_RELEASE):
        return 3
    return 4


def fit(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's centre crop and bilinear scaling, as the pack fits every image."""
    return upscale_image(images.float(), width, height, "bilinear", "center")


def encode(ctx: ExecContext, vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """The VAE latent of ``pixels``' RGB channels."""
    return builtin_executor("VAEEncode", "vae")(ctx, pixels=pixels[..., :3], vae=vae)[0]["samples"]


def motion_reference(ctx: ExecContext, vae: Any, frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The last 19 latent frames of ``frames`` (at most their last 73, fitted) after grey frames
    up to 73 in all."""
    fitted = fit(frames[-MOTION_VIDEO_FRAMES:], width, height)
    if fitted.shape[0] < MOTION_VIDEO_FRAMES:
        if fitted.shape[-1] != 3:
            raise NodeInputError("previous_video", f"{NODE} pads the previous video with grey RGB frames; this one "
                                 f"has {fitted.shape[-1]} channels (the pack fails)", "give it an RGB video")
        grey = torch.full((MOTION_VIDEO_FRAMES - fitted.shape[0], height, width, 3), 0.5, dtype=fitted.dtype)
        fitted = torch.cat([grey, fitted])
    return encode(ctx, vae, fitted)[:, :, -MOTION_LATENT_FRAMES:]


def with_references(positive: Any, negative: Any, values: dict, refs: list[torch.Tensor]) -> tuple:
    """Both conditionings with ``values`` set and ``refs`` appended to their reference latents
    (zeros of the same shapes on the negative)."""
    positive = set_values(positive, values, input_name="positive")
    negative = set_values(negative, values, input_name="negative")
    positive = set_values(positive, {"reference_latents": refs}, append=True, input_name="positive")
    negative = set_values(negative, {"reference_latents": [torch.zeros_like(r) for r in refs]}, append=True,
                          input_name="negative")
    return positive, negative


def check_vae(latent: dict, height: int) -> None:
    """Refuse a VAE whose latents are not the pack's fixed Wan 2.1 shape."""
    samples = latent["samples"]
    if samples.shape[1] != LATENT_CHANNELS or samples.shape[-2] != height // STRIDE:
        raise NodeInputError("vae", f"{NODE} makes Wan 2.1 VAE latents (16 channels, 1/8 size); this VAE's differ",
                             f"use the Wan 2.1 VAE (wan_2.1_vae) with {NODE}")


def first_encoded_frame(start: torch.Tensor | None, end: torch.Tensor | None, width: int, height: int,
                        length: int) -> torch.Tensor:
    """Frame 0 of the first/last frame video: grey, the start image's, or the end images' when
    they fill the whole video."""
    frame = torch.full((1, height, width, 3), 0.5)
    if start is not None:
        frame = fit(start[:1], width, height)[..., :3]
    if end is not None and end[-length:].shape[0] >= length:
        frame = fit(end[-length:][:1], width, height)[..., :3]
    return frame


@executor(NODE)
def painter_long_video(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: Any, height: Any,
                       length: Any, batch_size: Any, motion_frames: Any, motion_amplitude: Any,
                       previous_video: torch.Tensor | None = None, initial_reference_image: torch.Tensor | None = None,
                       clip_vision_output: Any = None, start_image: torch.Tensor | None = None,
                       end_image: torch.Tensor | None = None, **_: Any) -> tuple:
    release = release_for(saved_version(ctx.workflow_json, ctx.node_id))
    w, h, n = int(width), int(height), int(length)
    if release == 1:
        for name, value in (("start_image", start_image), ("end_image", end_image)):
            if value is not None:
                raise NodeInputError(name, f"the {NODE} release that saved this node (8a96b60) has no {name}",
                                     "update the node, or disconnect it")
    if previous_video is None and (release < 4 or (start_image is None and end_image is None)):
        needs = "" if release < 4 else " (or a start_image or end_image)"
        raise NodeInputError("previous_video", f"{NODE} needs the previous video{needs}", "connect previous_video")
    values: dict[str, Any] = {}
    if start_image is None and end_image is None:
        positive, negative, latent, concat, last = start_frame_conditioning(
            ctx, NODE, positive, negative, vae, w, h, n, batch_size, clip_vision_output, previous_video[-1:])
        values["concat_latent_image"] = spread_motion(concat, float(motion_amplitude))
        values["reference_motion"] = motion_reference(ctx, vae, previous_video[-int(motion_frames):], w, h)
    else:
        start = start_image
        if start is None and previous_video is not None and release >= 3:
            start = previous_video[-1:]
        try:
            positive, negative, latent = builtin_executor("WanFirstLastFrameToVideo", "vae")(
                ctx, positive=positive, negative=negative, vae=vae, width=w, height=h, length=n,
                batch_size=batch_size, clip_vision_start_image=clip_vision_output, clip_vision_end_image=None,
                start_image=start, end_image=end_image)
        except NodeInputError as err:
            if err.input_name not in ("clip_vision_output", "clip_vision_start_image"):
                raise
            raise NodeInputError("clip_vision_output", str(err), err.hint) from None
        check_vae(latent, h)
        if previous_video is not None:
            last = encode(ctx, vae, fit(previous_video[-1:], w, h))
            if previous_video.shape[0] >= 2:
                values["reference_motion"] = motion_reference(ctx, vae, previous_video, w, h)
        else:
            last = encode(ctx, vae, fit(first_encoded_frame(start, end_image, w, h, n), w, h))
    refs = [last]
    if initial_reference_image is not None:
        refs.append(encode(ctx, vae, fit(initial_reference_image[:1], w, h)))
    positive, negative = with_references(positive, negative, values, refs)
    return (positive, negative, latent)
