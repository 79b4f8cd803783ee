"""WanVideoVACES4frames (rauldlnx10's wrapper ``nodes.py``, 2025-06-19): frames and masks for
VACE with up to four images at fixed places, the way the wrapper's WanVideoVACEStartToEndFrame
places two.

The places: 0, ``round(n / 3)``, ``round(2n / 3)`` and ``n - 1`` (Python's round, half to
even), each moved one past the previous when it would not be after it; fewer than 4 frames,
or places that end up out of order, are refused as the node raises. The first connected image
gives the size; every frame starts as ``empty_frame_level`` grey with mask 1, an image
placed is resized to that size (ComfyUI's Lanczos ``common_upscale``) when it differs and its
mask set to 0. A placed image of several frames takes all of them at its place, so the
batch grows, as the node's list of frames joined by ``torch.cat`` does. ``control_images``,
resized likewise, fill the frames whose mask is still all 1 (frame ``i`` from control frame
``i``). An ``inpaint_mask`` (nearest-exact to the size, cut or repeated to ``num_frames``)
replaces the masks altogether, placed images included, as in the node.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def places(num_frames: int) -> tuple[int, int, int, int]:
    """The node's four frame indices for ``num_frames``."""
    if num_frames < 4:
        raise NodeInputError("num_frames", f"num_frames is {num_frames}; the node needs at least 4 frames for its "
                             "four images")
    start, end = 0, num_frames - 1
    first, second = round(num_frames / 3), round(num_frames * 2 / 3)
    if first <= start:
        first = start + 1
    if second <= first:
        second = first + 1
    if end <= second:
        end = second + 1
    if not 0 <= start < first < second < end < num_frames:
        raise NodeInputError("num_frames", f"the frame places {start}, {first}, {second}, {end} are out of order "
                             f"for {num_frames} frames")
    return start, first, second, end


def _fit(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    image = image.unsqueeze(0) if image.dim() == 3 else image
    if image.shape[1] != height or image.shape[2] != width:
        image = common_upscale(image.movedim(-1, 1).float(), width, height, "lanczos").movedim(1, -1)
    return image


@executor("WanVideoVACES4frames")
def wanvideo_vace_s4frames(ctx: ExecContext, num_frames: int, empty_frame_level: float, *,
                           start_image: torch.Tensor | None = None,
                           first_intermediate_image: torch.Tensor | None = None,
                           second_intermediate_image: torch.Tensor | None = None,
                           end_image: torch.Tensor | None = None, control_images: torch.Tensor | None = None,
                           inpaint_mask: torch.Tensor | None = None, **_: Any) -> tuple:
    num_frames = int(num_frames)
    indices = places(num_frames)
    images = (start_image, first_intermediate_image, second_intermediate_image, end_image)
    ref = next((i for i in images if i is not None), None)
    if ref is None:
        raise NodeInputError("start_image", "no start, intermediate or end image to take the size from",
                             "connect at least one of them")
    height, width = (ref.shape[0], ref.shape[1]) if ref.dim() == 3 else (ref.shape[1], ref.shape[2])
    masks = torch.ones((num_frames, height, width))
    frames = [torch.ones((1, height, width, 3)) * float(empty_frame_level) for _ in range(num_frames)]
    for index, image in zip(indices, images):
        if image is not None:
            frames[index] = _fit(image, width, height).float().cpu()
            masks[index] = 0
    if control_images is not None:
        control = control_images.unsqueeze(0) if control_images.dim() == 3 else control_images
        control = common_upscale(control.movedim(-1, 1).float(), width, height, "lanczos").movedim(1, -1).cpu()
        for i in range(num_frames):
            if torch.all(masks[i] == 1) and i < control.shape[0]:
                frames[i] = control[i:i + 1]
    out = torch.cat(frames, dim=0)
    if inpaint_mask is not None:
        m = inpaint_mask.float().cpu()
        m = m.unsqueeze(0) if m.dim() == 2 else m
        m = common_upscale(m.unsqueeze(1), width, height, "nearest-exact").squeeze(1)
        if m.shape[0] > num_frames:
            m = m[:num_frames]
        elif m.shape[0] < num_frames:
            m = m.repeat(num_frames // m.shape[0] + 1, 1, 1)[:num_frames]
        masks = m * torch.ones_like(masks)
    return out.float(), masks.float()
