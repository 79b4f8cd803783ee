"""CRT-Nodes' ``CRT_UpscaleModelAdv`` (``py/Upscale_Model_Adv.py``): an upscale model by name,
run over the frames in batches, optionally in tiles, then resized to the asked size.

As the pack does it:

1. the model is loaded from ``upscale_models`` (ComfyUI's UpscaleModelLoader);
2. the frames go in groups of ``batch_size``; with ``tile_count`` above 1 each group is cut
   into square tiles of ``max(height, width) // tile_count`` pixels, no overlap, each
   upscaled alone and placed back at its position times the *name's* scale (``4x``/``x4``
   → 4, ``2x``/``x2`` → 2, ``8x``/``x8`` → 8, else 4 — the pack guesses it from the file
   name, so a file whose name lies gives the pack's misplaced tiles here too);
   every upscale is ComfyUI's ImageUpscaleWithModel (512-pixel tiles overlapping by 32);
3. the target size is ``fixed_width`` x ``fixed_height`` with ``use_fixed_resolution``,
   else the input's size times ``output_multiplier`` (truncated); when the upscaled frames
   differ from it they are resized with ComfyUI's Lanczos (8-bit, Pillow); then clamped.

Outputs: the frames, their width and height.

Differences, written down: the pack runs the model in ``precision`` (fp16 means bf16 off
CUDA) under autocast; wfrun computes in float32, as its ImageUpscaleWithModel does, so
results differ by that rounding only. The pack's result cache (keyed on the first 8x8
pixels of the first frame) and ``offload_model`` are not needed: wfrun's engine caches by
input fingerprint and moves the model back to the CPU after use. ``disable_cache`` is
accepted and changes nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import lanczos
from wfrun.models.header import CheckpointError
from wfrun.models.upscale import load_upscale_model, upscale_tiled
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve

TILE_COUNTS = ("1", "4", "8", "16")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: Largest side wfrun makes (a bound on untrusted files; the pack's widgets stop at 8192).
MAX_SIDE = 16384


def name_scale(name: str) -> int:
    """The pack's scale guess from a model's file name."""
    lower = name.lower()
    for scale in (4, 2, 8):
        if f"{scale}x" in lower or f"x{scale}" in lower:
            return scale
    return 4


def tiled(run: Any, frames: torch.Tensor, tile: int, scale: int) -> torch.Tensor:
    """The pack's tiling: square tiles of ``tile`` pixels, no overlap, each upscaled alone
    and written at ``position * scale``, cut to the output's edge."""
    b, h, w, c = frames.shape
    out = None
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            piece = run(frames[:, y:y + tile, x:x + tile])
            if out is None:
                out = torch.zeros((b, h * scale, w * scale, piece.shape[-1]), dtype=piece.dtype)
            oy, ox = y * scale, x * scale
            ph, pw = min(piece.shape[1], h * scale - oy), min(piece.shape[2], w * scale - ox)
            out[:, oy:oy + ph, ox:ox + pw] = piece[:, :ph, :pw]
    return out


@executor("CRT_UpscaleModelAdv", pth_inputs=("upscale_model_name",),
          oom_hint="use more tiles (tile_count) or a smaller batch_size")
def crt_upscale_model_adv(ctx: ExecContext, image: Any, upscale_model_name: Any, use_fixed_resolution: Any,
                          output_multiplier: Any, fixed_width: Any, fixed_height: Any, tile_count: Any, precision: Any,
                          batch_size: Any, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] == 0 or image.shape[-1] < 3:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, 3]")
    if str(tile_count) not in TILE_COUNTS:
        raise NodeInputError("tile_count", f"{tile_count!r} is not one of {', '.join(TILE_COUNTS)}")
    if precision not in PRECISIONS:
        raise NodeInputError("precision", f"{precision!r} is not one of {', '.join(PRECISIONS)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise NodeInputError("batch_size", f"expected a whole number of at least 1, found {batch_size!r}")
    height, width = int(image.shape[1]), int(image.shape[2])
    if use_fixed_resolution:
        target_w, target_h = int(fixed_width), int(fixed_height)
    else:
        target_w, target_h = int(width * float(output_multiplier)), int(height * float(output_multiplier))
    if not (1 <= target_w <= MAX_SIDE and 1 <= target_h <= MAX_SIDE):
        raise NodeInputError("output_multiplier", f"the target size {target_w}x{target_h} is outside 1..{MAX_SIDE}")
    path = resolve(ctx, "upscale_models", upscale_model_name, "upscale_model_name")
    try:
        model = load_upscale_model(path)
    except CheckpointError as err:
        raise NodeInputError("upscale_model_name", str(err).splitlines()[0],
                             "pick an image upscale model in .pth or .safetensors") from None
    device = torch.device(ctx.device)
    count = int(tile_count)
    tile = max(height, width) // count
    scale = name_scale(str(upscale_model_name))

    def run(frames: torch.Tensor) -> torch.Tensor:
        ctx.check_interrupt()
        return upscale_tiled(model, frames, device).cpu()

    outs = []
    for batch in torch.split(image, int(batch_size)):
        outs.append(tiled(run, batch, tile, scale) if count > 1 else run(batch))
    result = torch.cat(outs)
    if result.shape[1] != target_h or result.shape[2] != target_w:
        result = lanczos(result.movedim(-1, 1), target_w, target_h).movedim(1, -1)
    result = result.clamp(0, 1).to(image.dtype)
    return result, int(result.shape[2]), int(result.shape[1])
