"""The wrapper's VACE nodes: WanVideoVACEModelSelect, WanVideoVACEEncode and
WanVideoVACEStartToEndFrame (ComfyUI-WanVideoWrapper ``nodes.py`` / ``nodes_utility.py`` /
``nodes_model_loading.py``, 2025-04 to 2025-12; the sampler's side is in
:mod:`wfrun.sampling.loop`, the hints in :mod:`wfrun.sampling.forward`).

WanVideoVACEEncode builds one VACE context the way the official VACE code does, which
ComfyUI's WanVaceToVideo follows too:

- the size is rounded down to multiples of 16; frames (``input_frames[:num_frames]``,
  resized with ComfyUI's lanczos, so 8-bit quantised, as the pack) go to -1..1; none given:
  zeros (mid-grey) for ``num_frames`` frames;
- the mask (``input_masks[:num_frames]``, nearest-exact; none given: all ones) splits the
  video into *inactive* ``frames * (1 - mask)`` and *reactive* ``frames * mask``, each
  encoded by the wrapper's VAE (normalised latents), joined to 32 channels;
- the mask is folded 8x8 into 64 channels per pixel frame and brought to the latent frame
  count with nearest-exact interpolation;
- reference images (several side by side in one image), padded with white to the video's
  aspect, resized (lanczos, centre crop), are encoded as one frame put in front, with zeros
  as its reactive half and a zero mask; the sampler then adds one latent frame to the noise
  (``has_ref``) and WanVideoDecode drops it;
- ``prev_vace_embeds`` chains inputs: the sampler applies them all, this node's first, in
  the pack's order, each with its strength and step window.

Where wfrun differs: a mask whose frame count differs from the frames' is refused by name
(the pack fails on a tensor broadcast); an RGBA start/end image in StartToEndFrame keeps
its RGB (the pack fails on the copy); before 2025-07-04 StartToEndFrame's ``inpaint_mask``
*replaced* the anchor frames' zero mask, since then it multiplies it — wfrun, which cannot
tell the saved version once migration fills ``start_index``/``end_index``, does the latter.
Likewise chains of three or more encodes follow the pack since 2025-05-21 ("Fix more VACEs
than 2"); before, each node kept only its direct predecessor, so the first input dropped out.
The wrapper's ``vace_blocks_to_swap`` (BlockSwap) is not applied: the VACE blocks stay on the
main device (memory only; the numbers are the same).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale as comfy_upscale
from wfrun.models import placement
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve
from wfrun.packs.wanvideo.image_ops import common_upscale
from wfrun.packs.wanvideo.types import ImageEmbeds, VaceEmbeds, VacePath, WanVAE
from wfrun.packs.wanvideo.vae import encode_video, set_tiling

VAE_STRIDE = (4, 8, 8)


@executor("WanVideoVACEModelSelect", gguf_inputs=("vace_model",))
def wanvideo_vace_model_select(ctx: ExecContext, vace_model: str, **_: Any) -> tuple:
    """A VACE module file for the model loader (its ``vace_model``/``extra_model`` input):
    safetensors, or GGUF for a GGUF main model (the loader checks the pair)."""
    return (VacePath(paths=(resolve(ctx, "diffusion_models", vace_model, "vace_model"),)),)


@executor("WanVideoExtraModelSelect", gguf_inputs=("extra_model",))
def wanvideo_extra_model_select(ctx: ExecContext, extra_model: str, prev_model: Any = None, **_: Any) -> tuple:
    """The pack's later, general form of WanVideoVACEModelSelect (2025-08-19 on): a file the
    model loader lays over the main model, after those of ``prev_model`` (2025-09-27 on).
    The pack lays any such file over the model (VACE, MTV-Crafter, Lynx, Ovi audio, the
    FlashVSR LQ projection); wfrun knows VACE modules only, and the model loader refuses
    any other file on its ``extra_model`` input, naming it."""
    if prev_model is not None and not isinstance(prev_model, VacePath):
        raise NodeInputError("prev_model", f"expected VACEPATH (WanVideoExtraModelSelect), got "
                             f"{type(prev_model).__name__}")
    previous = prev_model.paths if prev_model is not None else ()
    return (VacePath(paths=previous + (resolve(ctx, "diffusion_models", extra_model, "extra_model"),)),)


# --- WanVideoVACEEncode -------------------------------------------------------------------

def fold_mask(mask: torch.Tensor, ref_frames: int = 0) -> torch.Tensor:
    """A pixel mask ``[T, H, W]`` as VACE's 64 mask channels ``[64, T', H/8, W/8]``: each
    8x8 cell's pixels become channels, time goes to the latent frame count (nearest-exact),
    and ``ref_frames`` zero frames go in front."""
    frames, height, width = mask.shape
    sy, sx = VAE_STRIDE[1], VAE_STRIDE[2]
    h, w = height // sy, width // sx
    cells = mask.reshape(frames, h, sy, w, sx).permute(2, 4, 0, 1, 3).reshape(sy * sx, frames, h, w)
    latent_frames = (frames + 3) // VAE_STRIDE[0]
    cells = F.interpolate(cells.unsqueeze(0), size=(latent_frames, h, w), mode="nearest-exact").squeeze(0)
    if ref_frames:
        cells = torch.cat([cells.new_zeros(cells.shape[0], ref_frames, h, w), cells], dim=1)
    return cells


def reference_frame(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Reference IMAGE(s) ``[N, H, W, C]`` → one frame ``[3, 1, height, width]`` in -1..1:
    side by side, padded with white to the video's aspect (centred), then resized."""
    images = images[..., :3].float()
    if images.shape[0] > 1:
        images = torch.cat(list(images), dim=1).unsqueeze(0)  # along the width
    _, h, w, c = images.shape
    have, want = w / h, width / height
    if have > want:
        new_h = int(w / want)
        top = (new_h - h) // 2
        padded = images.new_ones(1, new_h, w, c)
        padded[:, top:top + h] = images
        images = padded
    elif have < want:
        new_w = int(h * want)
        left = (new_w - w) // 2
        padded = images.new_ones(1, h, new_w, c)
        padded[:, :, left:left + w] = images
        images = padded
    resized = comfy_upscale(images.movedim(-1, 1), width, height, "lanczos", "center").movedim(1, -1)
    return (resized[0].permute(2, 0, 1).unsqueeze(1)) * 2 - 1


def vace_context(ctx: ExecContext, vae: WanVAE, frames: torch.Tensor, mask: torch.Tensor,
                 reference: torch.Tensor | None) -> torch.Tensor:
    """``frames`` ``[3, T, H, W]`` in -1..1, ``mask`` ``[T, H, W]`` and an optional reference
    frame ``[3, 1, H, W]`` → the ``[96, T', H/8, W/8]`` context (normalised latents, mask)."""
    device = ctx.device
    m = mask.unsqueeze(0)
    inactive = encode_video(vae, frames * (1 - m), device, ctx=ctx)
    reactive = encode_video(vae, frames * m, device, ctx=ctx)
    latents = torch.cat([inactive, reactive], dim=0).float()
    if reference is not None:
        ref = encode_video(vae, reference, device, ctx=ctx).float()
        latents = torch.cat([torch.cat([ref, torch.zeros_like(ref)], dim=0), latents], dim=1)
    folded = fold_mask(mask.to(latents), ref_frames=1 if reference is not None else 0)
    return torch.cat([latents, folded], dim=0)


@executor("WanVideoVACEEncode")
@torch.no_grad()
def wanvideo_vace_encode(ctx: ExecContext, vae: WanVAE, width: int, height: int, num_frames: int, strength: Any,
                         vace_start_percent: float, vace_end_percent: float, *,
                         input_frames: torch.Tensor | None = None, ref_images: torch.Tensor | None = None,
                         input_masks: torch.Tensor | None = None, prev_vace_embeds: Any = None,
                         tiled_vae: bool, **_: Any) -> tuple:
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected WANVAE (WanVideoVAELoader), got {type(vae).__name__}")
    if prev_vace_embeds is not None and not (isinstance(prev_vace_embeds, ImageEmbeds) and prev_vace_embeds.vace):
        raise NodeInputError("prev_vace_embeds", "expected the vace_embeds of another WanVideoVACEEncode")
    width, height, num_frames = int(width) // 16 * 16, int(height) // 16 * 16, int(num_frames)
    if width <= 0 or height <= 0 or num_frames < 1:
        raise NodeInputError("width", f"{width}x{height}, {num_frames} frames: nothing to encode",
                             "use at least 16x16 pixels and one frame")
    target_shape = (16, (num_frames - 1) // VAE_STRIDE[0] + 1, height // VAE_STRIDE[1], width // VAE_STRIDE[2])
    if input_frames is None:
        frames = torch.zeros(3, num_frames, height, width)
    else:
        picked = input_frames[:num_frames, :, :, :3].float()
        frames = common_upscale(picked.movedim(-1, 1), width, height, "lanczos").movedim(1, 0) * 2 - 1
    if input_masks is None:
        mask = torch.ones(frames.shape[1], height, width)
    else:
        m = input_masks.float()
        m = m.unsqueeze(0) if m.ndim == 2 else m
        mask = comfy_upscale(m[:num_frames].unsqueeze(1), width, height, "nearest-exact").squeeze(1)
        if mask.shape[0] != frames.shape[1]:
            raise NodeInputError("input_masks", f"{mask.shape[0]} mask frames for {frames.shape[1]} video frames",
                                 "give one mask per frame (or a mask batch at least num_frames long)")
    reference = reference_frame(ref_images, width, height) if ref_images is not None else None

    placement.onload(vae.vae, ctx.device)
    set_tiling(vae.vae, bool(tiled_vae))
    try:
        context = vace_context(ctx, vae, frames, mask, reference)
    finally:
        placement.offload(vae.vae, ctx.offload_device)

    scale = tuple(float(s) for s in strength) if isinstance(strength, (list, tuple)) else float(strength)
    own = VaceEmbeds(context=context.cpu(), scale=scale, start_percent=float(vace_start_percent),
                     end_percent=float(vace_end_percent), has_ref=reference is not None)
    chain: tuple[VaceEmbeds, ...] = (own,)
    if prev_vace_embeds is not None:  # the pack: [this, *prev's additional inputs, prev]
        chain = (own, *prev_vace_embeds.vace[1:], prev_vace_embeds.vace[0])
    return (ImageEmbeds(num_frames=num_frames, target_shape=target_shape, vace=chain,
                        has_ref=any(v.has_ref for v in chain)),)


# --- WanVideoVACEStartToEndFrame ---------------------------------------------------------

@executor("WanVideoVACEStartToEndFrame")
def wanvideo_vace_start_to_end_frame(ctx: ExecContext, num_frames: int, empty_frame_level: float, *,
                                     start_image: torch.Tensor | None = None, end_image: torch.Tensor | None = None,
                                     control_images: torch.Tensor | None = None,
                                     inpaint_mask: torch.Tensor | None = None, start_index: int,
                                     end_index: int, **_: Any) -> tuple:
    """Frames for VACE with the given images at their places and grey (``empty_frame_level``)
    elsewhere, and masks: 0 where an image was placed, 1 where VACE should generate."""
    num_frames, level = int(num_frames), float(empty_frame_level)
    if start_image is None and end_image is None:
        if control_images is None:
            raise NodeInputError("start_image", "no start image, end image or control images",
                                 "connect at least one of them")
        frames = control_images[:num_frames].float()
        if frames.shape[0] < num_frames:
            grey = torch.full((num_frames - frames.shape[0], *frames.shape[1:]), level)
            frames = torch.cat([frames, grey])
        return frames.cpu(), torch.zeros(frames.shape[:3])
    first = start_image if start_image is not None else end_image
    _, height, width, _ = first.shape
    end_index = int(end_index) + num_frames if int(end_index) < 0 else int(end_index)
    start_index = int(start_index)
    out = torch.full((num_frames, height, width, 3), level)
    masks = torch.ones(num_frames, height, width)
    if end_image is not None and end_image.shape[1:3] != (height, width):
        end_image = common_upscale(end_image.movedim(-1, 1).float(), width, height, "lanczos").movedim(1, -1)
    if control_images is not None and control_images.shape[1:3] != (height, width):
        control_images = common_upscale(control_images.movedim(-1, 1).float(), width, height,
                                        "lanczos").movedim(1, -1)
    if start_image is not None:
        count = min(start_image.shape[0], num_frames - start_index)
        if count > 0:
            out[start_index:start_index + count] = start_image[:count, :, :, :3].float()
            masks[start_index:start_index + count] = 0
    if end_image is not None:
        begin = end_index - end_image.shape[0] + 1
        if begin < 0:
            end_image, begin = end_image[-begin:], 0
        count = min(end_image.shape[0], num_frames - begin)
        if count > 0:
            out[begin:begin + count] = end_image[:count, :, :, :3].float()
            masks[begin:begin + count] = 0
    if control_images is not None:
        empty = masks.sum(dim=(1, 2)) > 0.5 * height * width
        for i in range(min(num_frames, control_images.shape[0])):
            if empty[i]:
                out[i] = control_images[i, :, :, :3].float()
    if inpaint_mask is not None:
        m = inpaint_mask.float()
        m = m.unsqueeze(0) if m.ndim == 2 else m
        m = comfy_upscale(m.unsqueeze(1), width, height, "nearest-exact").squeeze(1)
        if m.shape[0] < num_frames:
            m = m.repeat(-(-num_frames // m.shape[0]), 1, 1)
        masks = m[:num_frames] * masks
    return out.cpu(), masks.cpu()
