"""What the pack's nodes share: the empty latent and the VAE encode (ComfyUI's core Wan
nodes, through the executor registry: packs do not import each other), frames fitted to the
output size, the placement of a frame on the 4-frames-per-latent grid, the per-frame mask
and the CLIP vision merge.

The pack's masks are built per pixel frame, ``[1, 1, 4·T', h, w]`` with ``T'`` the latent
frames of ``length`` (so 4 slots more than ``length`` frames at the end), and folded to the
``[1, 4, T', h, w]`` that ComfyUI's sampler reads (:func:`wfrun.nodes.conditioning.fold_frame_mask`):
slot ``k`` of latent frame ``t`` is mask frame ``4·t + k``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor

GREY = 0.5


def core(class_type: str) -> Any:
    return builtin_executor(class_type, "vae")


def empty_latent(ctx: ExecContext, vae: Any, width: int, height: int, length: int, batch_size: int) -> torch.Tensor:
    """Zeros ``[B, C, T', H/s, W/s]`` in the VAE's latent shape, as ComfyUI's WanImageToVideo
    makes them with no start image (it also checks that ``vae`` is a Wan VAE)."""
    _, _, latent = core("WanImageToVideo")(ctx, positive=[], negative=[], vae=vae, width=int(width),
                                           height=int(height), length=int(length), batch_size=int(batch_size))
    return latent["samples"]


def encode(ctx: ExecContext, vae: Any, frames: torch.Tensor) -> torch.Tensor:
    """Raw VAE latents ``[1, C, T', h, w]`` of an IMAGE batch (ComfyUI's ``vae.encode``)."""
    (latent,) = core("VAEEncode")(ctx, pixels=frames[..., :3], vae=vae)
    return latent["samples"]


def image_input(name: str, image: Any) -> torch.Tensor | None:
    if image is None:
        return None
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, 3]", f"connect an image to {name}")
    if image.shape[0] == 0:
        raise NodeInputError(name, "the image batch is empty", f"connect at least one frame to {name}")
    return image


def fit(image: torch.Tensor, width: int, height: int, method: str = "bilinear") -> torch.Tensor:
    """Frames resized to ``width`` x ``height`` (ComfyUI's ``common_upscale``, centre crop), RGB."""
    return upscale_image(image.float(), int(width), int(height), method, "center")[..., :3]


def grey_video(length: int, height: int, width: int) -> torch.Tensor:
    return torch.full((int(length), int(height), int(width), 3), GREY)


def mask_frames(latent: torch.Tensor) -> torch.Tensor:
    """Ones ``[1, 1, 4·T', h, w]``: the pack's per-frame mask before anything is placed."""
    return torch.ones(1, 1, latent.shape[2] * 4, latent.shape[-2], latent.shape[-1])


def aligned_position(ratio: float, length: int) -> int:
    """The pack's frame for a position given as a fraction of ``length``: ``int(length·ratio)``
    rounded down to a multiple of 4 (a latent frame's start), within the video."""
    index = int(int(length) * float(ratio)) // 4 * 4
    return max(0, min(index, int(length) - 1))


def place(video: torch.Tensor, index: int, frames: torch.Tensor, input_name: str) -> None:
    """``video[index:index + n] = frames``, refused (as the pack would fail) where it does not fit."""
    stop = index + frames.shape[0]
    if index < 0 or stop > video.shape[0]:
        raise NodeInputError(input_name, f"{frames.shape[0]} frame(s) at frame {index} do not fit in a video of "
                             f"{video.shape[0]} frames", "raise length or move the frame")
    video[index:stop] = frames


def merge_clip_vision(**outputs: Any) -> Any:
    """The given CLIP_VISION_OUTPUTs as one: the first alone, or their
    ``penultimate_hidden_states`` joined on the token axis (the pack's merge)."""
    given = [(name, value) for name, value in outputs.items() if value is not None]
    for name, value in given:
        if not dataclasses.is_dataclass(value) or not isinstance(getattr(value, "penultimate_hidden_states", None),
                                                                  torch.Tensor):
            raise NodeInputError(name, "expected a CLIP_VISION_OUTPUT from CLIPVisionEncode")
    if not given:
        return None
    if len(given) == 1:
        return given[0][1]
    states = torch.cat([value.penultimate_hidden_states for _, value in given], dim=-2)
    return dataclasses.replace(given[0][1], penultimate_hidden_states=states)


def with_concat(conditioning: Any, concat: torch.Tensor, mask: torch.Tensor, input_name: str) -> list:
    return set_values(conditioning, {"concat_latent_image": concat, "concat_mask": mask}, input_name=input_name)


def with_clip(conditioning: Any, clip: Any, input_name: str) -> Any:
    if clip is None:
        return conditioning
    return set_values(conditioning, {"clip_vision_output": clip}, input_name=input_name)


def refuse_other_layouts(ctx: ExecContext, node: str, first: str, last: str, inputs: dict[str, Any],
                         foreign: tuple[str, ...], before: str, after: str) -> None:
    """Refuse, by input name, a node saved with a widget layout wfrun does not implement:
    one of ``foreign`` (inputs only older or passing layouts had) was bound, or the saved
    signature's date (``ctx.saved_date``) is before ``first`` (named by ``before``, an input
    the old layout lacked or had otherwise) or after ``last`` (named by ``after``, an input
    the later layout added). Inputs a newer layout added reach an older save at their newest
    default, so only the date tells those layouts apart."""
    fix = "re-create the node in ComfyUI with a release of ComfyUI-Wan22FMLF of that period"
    period = f"{first} to {last}"
    for name in foreign:
        if inputs.get(name) is not None:
            raise NodeInputError(name, f"this {node} was saved with a layout of the pack that has {name}; wfrun "
                                 f"implements the layout of {period} only", fix)
    date = ctx.saved_date
    if date is not None and date < first:
        raise NodeInputError(before, f"this {node} was saved with the pack's layout of {date}; wfrun implements "
                             f"the layout of {period} only (the one with {before} as it is now)", fix)
    if date is not None and date > last:
        raise NodeInputError(after, f"this {node} was saved with the pack's layout of {date}, which has {after}; "
                             f"wfrun implements the layout of {period} only", fix)
