"""ComfyUI's ``UpscaleModelLoader`` and ``ImageUpscaleWithModel`` (comfy_extras/nodes_upscale_model.py)
on spandrel, the model zoo ComfyUI itself uses, when installed, else on wfrun's own ESRGAN
and Real-ESRGAN compact networks (``models.upscale``)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.header import CheckpointError
from wfrun.models.upscale import UpscaleModel, load_upscale_model, upscale_tiled
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve

FOLDER = "upscale_models"


@executor("UpscaleModelLoader", pth_inputs=("model_name",))
def upscale_model_loader(ctx: ExecContext, model_name: str, **unused: Any) -> tuple:
    """An upscale model from ``<models>/upscale_models/``, as ComfyUI loads it: with the
    ``upscale`` extra any architecture spandrel detects (refused unless it is a single-image
    model), without it ESRGAN / Real-ESRGAN (RRDBNet) and Real-ESRGAN compact.

    ``.pth`` files (the usual release format of upscalers) are read without
    ``--allow-pickle``, through ``torch.load(weights_only=True)`` only; this loader and the
    frame-interpolation checkpoints are the only ones that do so."""
    path = resolve(ctx, FOLDER, model_name, "model_name")
    try:
        model = load_upscale_model(path)
    except CheckpointError as err:
        raise NodeInputError("model_name", str(err).splitlines()[0],
                             "pick an image upscale model in .pth or .safetensors (ESRGAN and Real-ESRGAN always; "
                             "SwinIR, DAT, SPAN, … with pip install 'wfrun[upscale]')") from None
    return (model,)


def upscale_model_input(value: Any, input_name: str = "upscale_model") -> UpscaleModel:
    if not isinstance(value, UpscaleModel):
        raise NodeInputError(input_name, f"expected an UPSCALE_MODEL, got {type(value).__name__}",
                             "connect UpscaleModelLoader's output")
    return value


def image_input(value: Any, input_name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] < 3:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(input_name, f"expected an IMAGE [frames, height, width, 3], got {shape}")
    return value


@executor("ImageUpscaleWithModel", oom_hint="upscale fewer or smaller frames; wfrun already halves the tile "
                                            "down to 128 pixels on running out of memory")
def image_upscale_with_model(ctx: ExecContext, upscale_model: Any, image: Any, **unused: Any) -> tuple:
    """Each image upscaled by the model in 512-pixel tiles overlapping by 32 (blended with
    linear ramps), the tile halved after each out-of-memory error down to 128, the result
    clamped to 0..1 (ComfyUI's tiled_scale). Computation is in float32 (ComfyUI's newest
    code may pick fp16 or bf16 on a GPU for models that support it)."""
    model = upscale_model_input(upscale_model)
    pixels = image_input(image, "image")
    steps = (lambda total: ctx.progress.chunks(total, "upscale tiles")) if ctx.progress is not None else None
    return (upscale_tiled(model, pixels, torch.device(ctx.device), steps=steps),)
