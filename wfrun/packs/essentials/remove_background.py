"""``TransparentBGSession+`` and ``ImageRemoveBackground+`` (ComfyUI_essentials, since
2024-07-19): background removal with InSPyReNet through the ``transparent-background``
library, as the pack calls it.

The session node builds the library's ``Remover(mode, jit)``; the remove node turns each
frame into an 8-bit PIL image and calls ``Remover.process`` with its defaults (RGBA output,
no threshold), then stacks the RGBA results. Step by step, as those calls do it:

1. the frame's levels: ``x * 255`` truncated to 8 bits (torchvision's ``ToPILImage``);
2. resized to the mode's base size (1024x1024 for ``base`` and ``base-nightly``, 384x384 for
   ``fast``) with PIL's bilinear filter (antialiased when shrinking), whatever the frame's
   aspect;
3. divided by 255 in float32, then ImageNet's mean subtracted and std divided (numpy does
   these two in float64 against the float32 values, rounding back to float32 each time);
4. InSPyReNet on that one frame (``models.inspyrenet``): saliency in 0..1, min-max
   normalised per frame;
5. resized back to the frame's size (bilinear, corners aligned), times 255, truncated to 8
   bits: the alpha;
6. the output IMAGE is RGBA (the pack returns all four channels since 2024-08-30): the
   frame's 8-bit levels and that alpha, each divided by 255; the MASK is the alpha.

wfrun's tiny stand-in checkpoints (``--tiny-models``) declare a 64x64 base size, used in
place of the mode's (``models.inspyrenet.tiny``).

``use_jit`` changes nothing here: the library traces the same network at the same fixed
input size, which computes the same values.

Differences: wfrun never downloads (``models.inspyrenet.files`` says where it looks and the
refusal names the file and its release address); frames must have 3 channels (the library
fails on others); levels are clamped to 0..1 before step 1 (torchvision's byte cast would wrap
values outside it). transparent-background 1.3.4 (2025-05-14) and later, with pymatting
installed, also replace the RGB levels by a foreground colour estimate (pymatting's
``estimate_foreground_ml``) before step 6; wfrun returns the levels as earlier releases do.
The alpha and the MASK are the same for every release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from wfrun.models.header import CheckpointError
from wfrun.models.inspyrenet import MEAN, MODES, STD, InSPyReNet, NotInSPyReNetError, build_inspyrenet
from wfrun.models.inspyrenet.files import RELEASE, find_checkpoint, searched
from wfrun.models.upscale import read_release_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import roots_of


@dataclass(frozen=True)
class TransparentBGSession:
    """``REMBG_SESSION`` of ``TransparentBGSession+``: the network, its mode and base size
    (height, width) and the file it came from."""

    model: InSPyReNet
    mode: str
    base_size: tuple[int, int]
    path: Path


def load_session(ctx: ExecContext, mode: str) -> TransparentBGSession:
    if mode not in MODES:
        raise NodeInputError("mode", f"unknown mode {mode!r}", f"use one of {', '.join(MODES)}")
    name, base_size = MODES[mode]
    roots = roots_of(ctx)
    path = find_checkpoint(roots, name)
    if path is None:
        raise NodeInputError(
            "mode", f"TransparentBGSession+ mode {mode!r} needs the InSPyReNet checkpoint {name}, found in none of: "
            f"{', '.join(searched(roots))}",
            f"wfrun never downloads models: get {name} from {RELEASE}{name} and put it in "
            f"<models>/transparent-background/ (or leave it in ~/.transparent-background/, where the library keeps it)")
    try:
        model = build_inspyrenet(read_release_state_dict(path), base_size, source=str(path))
    except (CheckpointError, NotInSPyReNetError) as err:
        raise NodeInputError("mode", str(err).splitlines()[0],
                             f"get {name} again from {RELEASE}{name}") from None
    return TransparentBGSession(model, mode, model.base_size, path)


@executor("TransparentBGSession+")
def transparent_bg_session(ctx: ExecContext, mode: str, use_jit: bool, **unused: Any) -> tuple:
    """The library's ``Remover`` for ``mode`` (see the module docstring; ``use_jit`` has no effect)."""
    return (load_session(ctx, mode),)


def normalise(levels: np.ndarray) -> torch.Tensor:
    """Step 3 on one resized uint8 [H, W, 3] frame → [3, H, W] float32."""
    x = torch.from_numpy(levels.astype(np.float32)) / 255.0
    x = (x.double() - torch.tensor(MEAN, dtype=torch.float64)).float()
    x = (x.double() / torch.tensor(STD, dtype=torch.float64)).float()
    return x.permute(2, 0, 1)


def frame_alpha(session: TransparentBGSession, levels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Steps 2-5 for one frame's uint8 levels [H, W, 3] → uint8 alpha [H, W]."""
    h, w = levels.shape[:2]
    # PIL takes (width, height); the library hands it the base size as it is (square in every mode)
    resized = Image.fromarray(levels.numpy(), "RGB").resize(tuple(session.base_size), Image.BILINEAR)
    x = normalise(np.asarray(resized))[None].to(device)
    with torch.inference_mode():
        pred = session.model(x)
        pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=True)
    return (pred[0, 0].float().cpu() * 255).to(torch.uint8)


@executor("ImageRemoveBackground+", oom_hint="remove the background from fewer frames at a time")
def image_remove_background(ctx: ExecContext, rembg_session: Any, image: Any, **unused: Any) -> tuple:
    """RGBA frames and their alpha as MASK (see the module docstring)."""
    if not isinstance(rembg_session, TransparentBGSession):
        raise NodeInputError("rembg_session", f"expected the session of TransparentBGSession+, got "
                             f"{type(rembg_session).__name__}", "connect a TransparentBGSession+ node")
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise NodeInputError("image", f"expected an RGB IMAGE [frames, height, width, 3], got {shape}",
                             "the library removes backgrounds from 3-channel images only")
    device = torch.device(ctx.device)
    levels = (image.float().clamp(0, 1) * 255).to(torch.uint8).cpu()
    model = rembg_session.model
    alphas = []
    model.to(device)
    try:
        for frame in levels:
            ctx.check_interrupt()
            alphas.append(frame_alpha(rembg_session, frame, device))
    finally:
        model.to(ctx.offload_device)
    alpha = torch.stack(alphas)
    rgba = torch.cat([levels, alpha[..., None]], dim=-1).float() / 255.0
    return (rgba, rgba[..., 3].clone())
