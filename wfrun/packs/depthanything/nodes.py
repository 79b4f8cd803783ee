"""``DownloadAndLoadDepthAnythingV2Model`` and ``DepthAnything_V2`` (kijai/ComfyUI-DepthAnythingV2)."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots, find_model
from wfrun.models.depth_anything.convert import SOURCES, NotDepthAnythingError, metric_settings
from wfrun.models.depth_anything.load import load_depth_anything
from wfrun.packs.depthanything.types import DepthAnythingModel

log = logging.getLogger(__name__)

#: The models sub-folder the pack downloads into (``ComfyUI/models/depthanything``).
FOLDER = "depthanything"

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PATCH = 14


def _roots(ctx: ExecContext) -> ModelRoots:
    if isinstance(ctx.models, ModelRoots):
        return ctx.models
    return ModelRoots.from_options(ctx.models)


def _source(model: str) -> str:
    return SOURCES["vitg"] if "vitg" in model else SOURCES["default"]


@executor("DownloadAndLoadDepthAnythingV2Model")
def load_depth_anything_v2(ctx: ExecContext, model: str, precision: str, **unused: Any) -> tuple:
    """Load a Depth Anything V2 file from ``<models>/depthanything/``.

    Differences from the pack:

    - Nothing is downloaded. A missing file is an error naming the folders searched and the
      Hugging Face repository to fetch it from (``Kijai/DepthAnythingV2-safetensors``, or
      ``Nap/depth_anything_v2_vitg`` for vitg), as the pack would have.
    - The model size is read from the weights (embedding width), not from the file name, so a
      renamed file still loads; the name still decides ``precision="auto"`` (fp16 when the
      name says fp16), metric vs relative head and ``max_depth`` (20 hypersim, 80 otherwise),
      exactly as in the pack.
    - Before 2025-06-16 (no ``precision`` input) the pack cast the weights of an fp16-named
      file to fp16; wfrun keeps fp32 weights and computes under fp16 autocast, as the pack does
      since then.
    - The pack loads with ``strict=False``, so a file missing tensors runs with random weights;
      wfrun refuses a file that does not hold every tensor of the model, and anything else.
    """
    roots = _roots(ctx)
    try:
        path = find_model(roots, FOLDER, model)
    except ModelPathError as err:
        searched = roots.folders(FOLDER)
        target = searched[0] if searched else Path("<models>") / FOLDER
        raise NodeInputError(
            "model", f"{err}",
            f"wfrun never downloads models: get {model} from {_source(model)} and put it in "
            f"{target} (or give the models folder with --models DIR)") from None
    if precision == "auto":
        dtype = torch.float16 if "fp16" in model else torch.float32
    elif precision in PRECISIONS:
        dtype = PRECISIONS[precision]
    else:
        raise NodeInputError("precision", f"unknown precision {precision!r}",
                             f"use one of auto, {', '.join(PRECISIONS)}")
    is_metric, max_depth = metric_settings(model)
    try:
        net, variant = load_depth_anything(path, is_metric=is_metric, max_depth=max_depth)
    except (CheckpointError, NotDepthAnythingError) as err:
        raise NodeInputError(
            "model", str(err),
            f"this file is not a Depth Anything V2 model; get {model} again from {_source(model)}") from None
    named = next((size for size in ("vits", "vitb", "vitl", "vitg") if size in model), None)
    if variant.name != "tiny" and named is not None and named != variant.name:
        log.warning("%s: the name says %s, the weights are %s; using %s", path, named,
                    variant.name, variant.name)
    return (DepthAnythingModel(net, dtype, is_metric, variant.name, path),)


@executor("DepthAnything_V2")
def depth_anything_v2(ctx: ExecContext, da_model: DepthAnythingModel, images: torch.Tensor,
                      **unused: Any) -> tuple:
    """Depth of each frame, as a grey IMAGE in 0..1 (near is bright for relative models).

    As in the pack: frames whose sides are not multiples of 14 are first resized (bilinear)
    down to the nearest multiple; ImageNet normalisation; one frame at a time; each frame's
    depth min-max normalised; the result resized (bilinear) to the input size rounded down to
    even sides; then normalised to 0..1 over the whole batch; metric models inverted
    (``1 - depth``). Computation runs under autocast in the loader's dtype when not fp32.

    This is the pack's behaviour since 2024-06-25 (commit 15f3c93, up to the 2026-03 head).
    The first versions (2024-06-14 to 06-24) resized with bicubic instead of bilinear and did
    not normalise over the whole batch; that is not reproduced.

    Differences from the pack, all for inputs the pack fails on or returns NaN for:

    - a constant depth map (max == min) gives zeros instead of NaN (0/0);
    - RGBA images use their first three channels (the pack's normalisation raises);
    - images smaller than 14 pixels on a side are refused with a clear error.
    """
    if not isinstance(da_model, DepthAnythingModel):
        raise NodeInputError("da_model", f"expected a DAMODEL, got {type(da_model).__name__}",
                             "connect DownloadAndLoadDepthAnythingV2Model's output")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError("images", f"expected an IMAGE [frames, height, width, 3], got {shape}")
    frames, orig_h, orig_w, _ = images.shape
    if frames == 0:
        raise NodeInputError("images", "no frames")
    if orig_h < PATCH or orig_w < PATCH:
        raise NodeInputError("images", f"{orig_w}x{orig_h} is too small: Depth Anything needs at "
                             f"least {PATCH} pixels on each side")
    model = da_model.model
    device = torch.device(ctx.device)
    pixels = images[..., :3].float().permute(0, 3, 1, 2)
    height, width = orig_h - orig_h % PATCH, orig_w - orig_w % PATCH
    if (height, width) != (orig_h, orig_w):
        pixels = F.interpolate(pixels, size=(height, width), mode="bilinear")
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = (pixels - mean) / std

    autocast = da_model.dtype != torch.float32 and device.type != "mps"
    out = []
    model.to(device)
    try:
        with torch.no_grad(), (torch.autocast(device.type, dtype=da_model.dtype) if autocast else nullcontext()):
            for frame in pixels:
                ctx.check_interrupt()
                depth = model(pixel_values=frame.unsqueeze(0).to(device)).predicted_depth
                out.append(_min_max(depth.float()).cpu())
    finally:
        model.to(ctx.offload_device)
    depth = torch.cat(out, dim=0).unsqueeze(-1).expand(-1, -1, -1, 3).float()
    final_h, final_w = (orig_h // 2) * 2, (orig_w // 2) * 2
    if depth.shape[1:3] != (final_h, final_w):
        depth = F.interpolate(depth.permute(0, 3, 1, 2), size=(final_h, final_w),
                              mode="bilinear").permute(0, 2, 3, 1)
    depth = _min_max(depth).clamp_(0, 1)
    if da_model.is_metric:
        depth = 1 - depth
    return (depth.contiguous(),)


def _min_max(x: torch.Tensor) -> torch.Tensor:
    low, high = x.min(), x.max()
    span = high - low
    if span == 0:
        return torch.zeros_like(x)
    return (x - low) / span
