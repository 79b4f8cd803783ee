"""KJNodes' CLIPSeg nodes (``nodes/mask_nodes.py``): ``DownloadAndLoadCLIPSeg`` and
``BatchCLIPSeg``, on transformers' CLIPSeg (``models.clipseg``), as the pack does them since
2024-07-20 (unchanged up to the newest revision in our specs).

``BatchCLIPSeg`` runs the model on every frame with the same text, then builds the mask
from the logits (:func:`clipseg_masks`):

1. ``sigmoid``, then one min-max normalisation over the whole batch (not per frame);
2. values not above ``threshold`` become 0 (the others keep their value);
3. resized to the input frames by nearest neighbour;
4. ``binary_mask``: every value above 0 becomes 1;
5. ``blur_sigma`` > 0: torchvision's Gaussian blur of a ``6 * int(sigma) + 1`` kernel (the
   integer part of sigma sizes it, the full sigma shapes it), reflected at the borders;
6. ``combine_mask``: the per-pixel maximum over the frames, repeated for every frame;
7. ``prev_mask`` is added (not clamped: the pack's clamp result is thrown away);
8. ``invert``: ``1 - mask``.

The IMAGE output is ``image * mask + (1 - mask) * image_bg_level``, clamped to 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.models.paths import ModelPathError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import roots_of

#: The folder BatchCLIPSeg reads when no model is connected, then the one it falls back to
#: (the pack falls back to downloading ``CIDAS/clipseg-rd64-refined``).
DEFAULT_MODELS = ("Kijai/clipseg-rd64-refined-fp16", "CIDAS/clipseg-rd64-refined")
#: Frames one BatchCLIPSeg call takes (the processor holds every frame at 352x352 at once).
MAX_FRAMES = 4096


@dataclass(frozen=True, eq=False)
class ClipSegModel:
    """``CLIPSEGMODEL``: the pack's ``{"model", "processor"}`` dict, as a value.

    ``model`` is a ``transformers.CLIPSegForImageSegmentation`` in fp32, ``processor`` its
    ``CLIPSegProcessor``; ``folder`` where they were read from."""

    model: Any
    processor: Any
    folder: Path


def _load(ctx: ExecContext, model: str, input_name: str, fallbacks: tuple[str, ...] = ()) -> ClipSegModel:
    from wfrun.models.clipseg import ClipSegError, find_clipseg_folder, load_clipseg, missing_hint

    roots = roots_of(ctx)
    folder = None
    try:
        folder = find_clipseg_folder(roots, model)
    except ModelPathError as err:
        for other in fallbacks:
            try:
                folder = find_clipseg_folder(roots, other)
                break
            except ModelPathError:
                pass
        if folder is None:
            raise NodeInputError(input_name, str(err), missing_hint(roots, model)) from None
    try:
        parts = load_clipseg(folder)
    except ClipSegError as err:
        raise NodeInputError(input_name, str(err).splitlines()[0],
                             "the folder must hold a CLIPSeg model as its Hugging Face repository has it "
                             "(config.json, tokenizer and preprocessor files, model.safetensors)") from None
    return ClipSegModel(parts.model, parts.processor, folder)


@executor("DownloadAndLoadCLIPSeg", background=True)
def download_and_load_clipseg(ctx: ExecContext, model: str, **unused: Any) -> tuple:
    """Load the CLIPSeg repository ``model`` from ``<models>/clip_seg/<its last part>``.

    Differences from the pack: nothing is downloaded (a missing folder is an error saying
    where to get it and where to put it); weights are read from safetensors only (a
    ``pytorch_model.bin`` needs ``--allow-pickle``, and is then read weights-only) and kept
    in fp32 until BatchCLIPSeg runs them."""
    return (_load(ctx, model, "model"),)


def pil_frames(images: torch.Tensor) -> list:
    """The frames as 8-bit Pillow images, truncated as the pack makes them
    (``clip(255 * x, 0, 255).astype(uint8)``)."""
    from PIL import Image

    return [Image.fromarray(np.clip(255.0 * frame.numpy(), 0, 255).astype(np.uint8)) for frame in images]


def gaussian_kernel1d(size: int, sigma: float) -> torch.Tensor:
    """torchvision's Gaussian kernel: ``size`` points evenly from ``-(size-1)/2`` to
    ``(size-1)/2``, ``exp(-x^2 / 2 sigma^2)``, normalised to sum 1."""
    half = (size - 1) * 0.5
    x = torch.linspace(-half, half, steps=size, dtype=torch.float64)
    pdf = torch.exp(-0.5 * (x / sigma) ** 2)
    return (pdf / pdf.sum()).float()


def gaussian_blur(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """torchvision's ``GaussianBlur((k, k), (sigma, sigma))`` with ``k = 6 * int(sigma) + 1``
    on ``[frames, H, W]``: the outer product of the 1-D kernel, reflect padding of ``k // 2``.
    Reflect padding needs the pad smaller than each side; the pack fails otherwise, so does
    this (as a NodeInputError)."""
    size = int(6 * int(sigma) + 1)
    pad = size // 2
    height, width = masks.shape[-2:]
    if pad >= height or pad >= width:
        raise NodeInputError("blur_sigma", f"blur_sigma {sigma} blurs with a {size}x{size} kernel, too large for "
                             f"{width}x{height} frames (the pack fails on it too)",
                             f"use a blur_sigma below {min(height, width) // 3} for frames this size")
    k1 = gaussian_kernel1d(size, sigma).to(masks.device)
    kernel = torch.outer(k1, k1)[None, None]
    padded = F.pad(masks.unsqueeze(1), (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, kernel).squeeze(1)


def clipseg_masks(logits: torch.Tensor, height: int, width: int, *, threshold: float, binary_mask: bool,
                  blur_sigma: float, combine_mask: bool) -> torch.Tensor:
    """``[frames, height, width]`` masks from CLIPSeg logits ``[frames, h, w]`` (steps 1-6 of
    the module docstring). A batch whose probabilities are all equal divides 0 by 0, as
    the pack does; the NaNs fail the threshold and the mask is all 0."""
    probs = torch.sigmoid(logits.float())
    probs = (probs - probs.min()) / (probs.max() - probs.min())
    probs = torch.where(probs > threshold, probs, torch.zeros((), dtype=probs.dtype, device=probs.device))
    if probs.ndim == 2:  # older transformers squeezed a batch of one away
        probs = probs.unsqueeze(0)
    frames = probs.shape[0]
    mask = F.interpolate(probs.unsqueeze(1), size=(height, width), mode="nearest").squeeze(1)
    if binary_mask:
        mask = (mask > 0).float()
    if blur_sigma > 0:
        mask = gaussian_blur(mask, blur_sigma)
    if combine_mask:
        mask = mask.max(dim=0).values.unsqueeze(0).repeat(frames, 1, 1)
    return mask


def _compute_dtype(device: torch.device) -> torch.dtype:
    """ComfyUI's ``unet_dtype()`` on a GPU is fp16 (the pack casts the model and autocasts;
    wfrun autocasts fp32 weights); on the CPU wfrun stays in fp32 (half precision there is
    slow and only changes rounding)."""
    return torch.float16 if device.type == "cuda" else torch.float32


@executor("BatchCLIPSeg")
def batch_clipseg(ctx: ExecContext, images: torch.Tensor, text: str, threshold: float, binary_mask: bool,
                  combine_mask: bool, use_cuda: bool, blur_sigma: float, image_bg_level: float, invert: bool,
                  opt_model: Any = None, prev_mask: Any = None, **unused: Any) -> tuple:
    """``(Mask, Image)``: CLIPSeg's mask for ``text`` on every frame (see the module docstring).

    Without ``opt_model`` the pack's own folder is read, ``<models>/clip_seg/
    clipseg-rd64-refined-fp16``, else ``clip_seg/clipseg-rd64-refined`` (the pack downloads
    the first, or falls back to the second from the hub). ``use_cuda`` off runs the model on
    the CPU.

    Differences: the logits are taken to fp32 before the post-processing (the pack keeps
    the GPU's fp16 through the threshold; only rounding differs); a ``prev_mask`` of
    another size is resized to the frames and added as ``[frames, H, W]`` (the pack leaves a
    channel axis there and its outputs come out 4-D and 5-D); an RGBA image is segmented
    on its RGB channels."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise NodeInputError("images", "expected an IMAGE [frames, height, width, channels]")
    if images.shape[0] > MAX_FRAMES:
        raise NodeInputError("images", f"{images.shape[0]} frames; BatchCLIPSeg takes at most {MAX_FRAMES}")
    if opt_model is None:
        opt_model = _load(ctx, DEFAULT_MODELS[0], "opt_model", DEFAULT_MODELS[1:])
    elif not isinstance(opt_model, ClipSegModel):
        raise NodeInputError("opt_model", f"expected a CLIPSEGMODEL, got {type(opt_model).__name__}",
                             "connect DownloadAndLoadCLIPSeg's output")
    frames, height, width, _ = images.shape
    images = images.float().cpu()
    device = torch.device(ctx.device if use_cuda else "cpu")
    dtype = _compute_dtype(device)
    model = opt_model.model
    inputs = opt_model.processor(text=[text] * frames, images=pil_frames(images[..., :3]), return_tensors="pt")
    ctx.check_interrupt()
    model.to(device)  # fp32 weights; autocast computes in fp16 on a GPU (a round trip would round them)
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits = model(**{k: v.to(device) for k, v in inputs.items()}).logits
    finally:
        model.to(ctx.offload_device)
    mask = clipseg_masks(logits, height, width, threshold=threshold, binary_mask=binary_mask,
                         blur_sigma=blur_sigma, combine_mask=combine_mask).cpu()
    if prev_mask is not None:
        mask = mask + _prev_mask(prev_mask, frames, height, width)
    if invert:
        mask = 1 - mask
    m = mask.unsqueeze(-1)
    image = torch.clamp(images * m + (1 - m) * image_bg_level, 0.0, 1.0)
    return mask.float(), image.float()


def _prev_mask(prev_mask: Any, frames: int, height: int, width: int) -> torch.Tensor:
    if not isinstance(prev_mask, torch.Tensor) or prev_mask.ndim not in (2, 3):
        raise NodeInputError("prev_mask", "expected a MASK [frames, height, width]")
    prev = prev_mask.float().cpu().reshape(-1, *prev_mask.shape[-2:])
    if prev.shape[0] not in (1, frames):
        raise NodeInputError("prev_mask", f"{prev.shape[0]} masks for {frames} frames",
                             "give one mask, or one per frame")
    if tuple(prev.shape[-2:]) != (height, width):
        prev = F.interpolate(prev.unsqueeze(1), size=(height, width), mode="nearest").squeeze(1)
    return prev
