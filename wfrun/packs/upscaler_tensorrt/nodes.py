"""``LoadUpscalerTensorrtModel`` and ``UpscalerTensorrt`` without TensorRT.

The pack downloads ``<model>.onnx`` (the network of a well-known upscaler's PyTorch release,
exported whole: ``spandrel``'s module, no padding, no clamp) and builds a TensorRT engine
from it, in fp16 or fp32, for images of 256 to 1280 pixels a side. wfrun runs the same
network from that PyTorch release, found in ``upscale_models`` under the pack's model name
(``4x-UltraSharp.pth`` or ``.safetensors``; ``RealESRGAN_x4`` also as its release name
``RealESRGAN_x4plus``), through wfrun's upscale model loader (``models.upscale``).

What follows the pack, and what differs:

- each frame goes through the network whole (no tiles), one at a time, and the output is
  **not clamped** (the exported module has no clamp), then resized with bicubic antialiased
  interpolation to the size ``resize_to`` asks for (``sizes.final_size``) when that is not the
  network's 4x size;
- images outside 256..1280 pixels a side are refused, as the pack refuses them, and so are
  networks whose scale is not 4 (the pack allocates a 4x output for every engine);
- ``precision``: ``fp16`` runs the network under fp16 autocast on a CUDA device (TensorRT's
  fp16 engine computes in half precision where it pays off; results differ from it at fp16
  rounding level); on the CPU, and with ``fp32``, it runs in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.functional import interpolate

from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, find_model
from wfrun.models.upscale import UpscaleModel, load_upscale_model
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import roots_of

from .sizes import MAX_SIDE, MIN_SIDE, SCALE, final_size

FOLDER = "upscale_models"
SUFFIXES = (".safetensors", ".pth")
#: Pack model names whose PyTorch release is usually kept under another name.
RELEASE_NAMES = {"RealESRGAN_x4": ("RealESRGAN_x4plus",)}
PRECISIONS = ("fp16", "fp32")


@dataclass(frozen=True)
class UpscalerTrtModel:
    """``UPSCALER_TRT_MODEL``: the network the pack's engine would hold, and the precision
    the engine would be built in."""

    upscaler: UpscaleModel
    name: str
    precision: str


def candidate_files(model: str) -> list[str]:
    """The file names looked for in ``upscale_models`` for the pack's model name."""
    stems = (model, *RELEASE_NAMES.get(model, ()))
    return [stem + suffix for stem in stems for suffix in SUFFIXES]


@executor("LoadUpscalerTensorrtModel")
def load_upscaler_tensorrt_model(ctx: ExecContext, model: str, precision: str, **unused: Any) -> tuple:
    """The network named ``model``, from its PyTorch release in ``upscale_models`` (the
    first of :func:`candidate_files` found), in place of the pack's TensorRT engine."""
    if not isinstance(model, str) or not model or "/" in model or "\\" in model:
        raise NodeInputError("model", f"expected one of the pack's model names, got {model!r}")
    if precision not in PRECISIONS:
        raise NodeInputError("precision", f"expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    roots = roots_of(ctx)
    names = candidate_files(model)
    path = None
    for name in names:
        try:
            path = find_model(roots, FOLDER, name)
            break
        except ModelPathError:
            continue
    if path is None:
        searched = ", ".join(str(p) for p in roots.folders(FOLDER)) or f"<models>/{FOLDER} (no models folder given)"
        raise NodeInputError(
            "model", "wfrun has no TensorRT and runs the upscaler's PyTorch weights instead of a TensorRT "
            f"engine, from {FOLDER}; none of {', '.join(names)} was found in {searched}",
            f"put the {model} release (.pth or .safetensors, the file the pack's ONNX was exported from) "
            f"in the {FOLDER} folder under one of those names, or give the models folder with --models DIR")
    try:
        upscaler = load_upscale_model(path)
    except CheckpointError as err:
        raise NodeInputError("model", str(err).splitlines()[0],
                             f"put {model}'s PyTorch release (an image upscale model) under that name") from None
    if upscaler.scale != SCALE:
        raise NodeInputError("model", f"{path.name} is a {upscaler.scale}x network; the pack builds its engines "
                             f"for {SCALE}x networks only and would not run it",
                             f"use a {SCALE}x model, or this model with ComfyUI's UpscaleModelLoader and "
                             "ImageUpscaleWithModel")
    return (UpscalerTrtModel(upscaler, model, precision),)


def _images(images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError("images", f"expected an IMAGE [frames, height, width, 3], got {shape}")
    height, width = images.shape[1:3]
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise NodeInputError("images", f"the images are {width}x{height}; the pack's engines take {MIN_SIDE} to "
                             f"{MAX_SIDE} pixels a side and it refuses other sizes",
                             f"resize the images into {MIN_SIDE}..{MAX_SIDE} pixels a side before this node")
    return images


@executor("UpscalerTensorrt", oom_hint="upscale smaller frames")
def upscaler_tensorrt(ctx: ExecContext, images: Any, resize_width: int, resize_height: int,
                      upscaler_trt_model: Any = None, resize_to: Any = None, **unused: Any) -> tuple:
    """Each frame through the network whole, unclamped, then resized (bicubic, antialiased)
    to ``resize_to``'s size when that is not the 4x size (see the module docstring).

    ``resize_width``/``resize_height`` are the spec's defaults where a save before
    2026-01-12 has none (only ``custom``, added then, reads them). ``upscaler_trt_model`` and
    ``resize_to`` are absent only from the pack's first layout (an engine file list), refused."""
    if upscaler_trt_model is None and "engine" in unused:
        raise NodeInputError("engine", "this UpscalerTensorrt was saved with the pack's first layout (an engine "
                             "file list, before 2025-03-04), which wfrun does not run",
                             "re-create it in ComfyUI with LoadUpscalerTensorrtModel feeding upscaler_trt_model")
    if not isinstance(upscaler_trt_model, UpscalerTrtModel):
        raise NodeInputError("upscaler_trt_model",
                             f"expected an UPSCALER_TRT_MODEL, got {type(upscaler_trt_model).__name__}",
                             "connect LoadUpscalerTensorrtModel's output")
    if not isinstance(resize_to, str):
        raise NodeInputError("resize_to", f"expected one of the pack's choices, got {resize_to!r}")
    pixels = _images(images)
    frames, height, width = pixels.shape[:3]
    try:
        out_w, out_h = final_size(width, height, resize_to, resize_width, resize_height)
    except ValueError:
        raise NodeInputError("resize_to", f"unknown choice {resize_to!r}") from None
    if out_w < 1 or out_h < 1:
        raise NodeInputError("resize_to", f"gives an empty output size {out_w}x{out_h}")
    device = torch.device(ctx.device)
    half = upscaler_trt_model.precision == "fp16" and device.type == "cuda"
    network = upscaler_trt_model.upscaler
    out = torch.empty((frames, 3, out_h, out_w), dtype=torch.float32)
    bar = ctx.progress.chunks(frames, "upscale frames") if ctx.progress is not None else None
    network.to(device)
    try:
        with torch.inference_mode():
            for i in range(frames):
                ctx.check_interrupt()
                frame = pixels[i:i + 1].movedim(-1, 1).to(device, torch.float32)
                with torch.autocast("cuda", dtype=torch.float16, enabled=half):
                    result = network.module(frame)
                result = result.float()
                if result.shape[-2:] != (height * SCALE, width * SCALE):
                    raise NodeInputError("upscaler_trt_model", f"the network made {tuple(result.shape[-2:])} "
                                         f"from {height}x{width}, not the 4x size the pack's engine gives")
                if result.shape[-2:] != (out_h, out_w):
                    result = interpolate(result, size=(out_h, out_w), mode="bicubic", antialias=True)
                out[i] = result[0].to(out.device)
                if bar is not None:
                    bar.update(1)
    finally:
        network.to("cpu")
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    return (out.movedim(1, -1),)
