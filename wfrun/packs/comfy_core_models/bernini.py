"""ComfyUI's BerniniConditioning (``comfy_extras/nodes_bernini.py``, PR #14216): in-context
streams for Bernini-R, ByteDance's Wan 2.2 A14B editing model (weights shaped as Wan 2.2
A14B text-to-video).

What it makes, as ComfyUI's node does:

- the latent: zeros ``[batch_size, 16, (length - 1) // 4 + 1, height // 8, width // 8]``;
- ``context_latents`` on both conditionings (only when something is connected), a list of
  raw VAE latents in this order — the streams' source ids 1, 2, … follow it:
  1. ``source_video``: its first ``length`` frames resized to ``width`` x ``height``
     (``area``, centre crop), encoded as one video;
  2. ``reference_video``: its first ``length`` frames resized so the long edge is at most
     ``ref_max_size`` (:func:`long_edge_size`, no crop), encoded as one video;
  3. each ``reference_images`` slot in slot order, and each image of a slot's batch alone,
     resized like the reference video and encoded as one frame.

The task (text-to-video, video editing, reference-to-video, insertion) follows from what is
connected; the model reads the streams through :mod:`.model_input` and
:func:`wfrun.sampling.forward.transformer_forward` (tokens after the video's, each with
RoPE positions of its own and its source id).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images

#: The side multiple the references are snapped to (the VAE's 8 px times the 2x2 patches).
STRIDE = 16
#: The Autogrow group of reference image slots (``reference_images.reference_image_N``).
REFERENCE_GROUP = "reference_images"


def long_edge_size(height: int, width: int, max_size: int, stride: int = STRIDE) -> tuple[int, int]:
    """(height, width) with the long edge at most ``max_size`` and the aspect kept, each side
    rounded to a multiple of ``stride`` (at least one stride): ComfyUI's ``_resize_long_edge``,
    scale ``min(max_size / long edge, 1)`` and Python's ``round`` (halves to even)."""
    scale = min(max_size / max(height, width), 1.0)
    return (max(stride, round(height * scale / stride) * stride), max(stride, round(width * scale / stride) * stride))


def _image(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0 \
            or not value.is_floating_point():
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]")
    return value.float()


def _at_long_edge(images: torch.Tensor, max_size: int) -> torch.Tensor:
    height, width = long_edge_size(images.shape[1], images.shape[2], max_size)
    return upscale_image(images[..., :3], width, height, "area", "disabled")


def _reference_slots(inputs: dict[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """The connected ``reference_images.reference_image_N`` in slot order (ComfyUI sorts the
    slot names; with at most 8 slots that is their number's order)."""
    found = []
    for name, value in inputs.items():
        if not name.startswith(REFERENCE_GROUP + ".") or value is None:
            continue
        digits = re.search(r"(\d+)$", name)
        found.append((int(digits.group(1)) if digits else -1, name, _image(value, name)))
    return [(name, value) for _, name, value in sorted(found, key=lambda item: (item[0], item[1]))]


@executor("BerniniConditioning")
def bernini_conditioning(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: Any, height: Any,
                         length: Any, batch_size: Any, source_video: Any = None, reference_video: Any = None, *,
                         ref_max_size: Any, **inputs: Any) -> tuple:
    width, height, length, batch_size = int(width), int(height), int(length), int(batch_size)
    max_size = int(ref_max_size)
    if width < 1 or height < 1 or length < 1 or batch_size < 1 or max_size < 1:
        raise NodeInputError("width", f"width {width}, height {height}, length {length}, batch_size {batch_size} "
                             f"and ref_max_size {max_size} must all be positive")
    latent = torch.zeros(batch_size, 16, latent_frames(length), height // 8, width // 8)
    pictures: list[torch.Tensor] = []
    if source_video is not None:
        frames = _image(source_video, "source_video")[:length, ..., :3]
        pictures.append(upscale_image(frames, width, height, "area", "center"))
    if reference_video is not None:
        pictures.append(_at_long_edge(_image(reference_video, "reference_video")[:length], max_size))
    for _, images in _reference_slots(inputs):
        pictures += [_at_long_edge(images[i:i + 1], max_size) for i in range(images.shape[0])]
    if pictures:
        vae = check_vae(vae)
        streams = [encode_images(ctx, vae, picture) for picture in pictures]
        positive = set_values(positive, {"context_latents": streams}, input_name="positive")
        negative = set_values(negative, {"context_latents": streams}, input_name="negative")
    return positive, negative, {"samples": latent}
