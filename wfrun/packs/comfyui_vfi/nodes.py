"""``RIFEInterpolation`` (GACLove/ComfyUI-VFI): resample a clip from ``source_fps`` to
``target_fps``, making each new frame with Practical-RIFE.

Read at 6176a43 (2025-09-30). The network is Practical-RIFE 4.25's IFNet (five blocks,
a 4-channel encoder, an 8-channel feature map carried from block to block), the very layout
``models.rife`` builds as ``4.26`` for ComfyUI-Frame-Interpolation's ``RIFE VFI``; only the
way frames are chosen differs, and is done here as the pack does it:

- ``int(len(images) / source_fps * target_fps)`` frames come out (the clip's duration at
  the new rate, rounded down). Output frame ``k`` sits at source position
  ``k / target_fps * source_fps``: between frames ``i = floor(position)`` and ``i + 1``
  (the last frame alone past the end) at ``t = position - i``; ``t == 0`` copies frame
  ``i``, anything else is IFNet's frame at ``t``. Rates within 0.01 give the images back.
- Frames are padded on the right and bottom to multiples of ``max(128, int(128 / scale))``
  and not clipped to 0..1; the blocks run at ``[16, 8, 4, 2, 1] / scale``.
- ``use_fp16`` on a CUDA device: half-precision weights and frames under CUDA autocast, as
  the pack; on the CPU it computes in fp32, as the pack does there. ``batch_size`` only
  groups frames for the device transfers (each pair still runs through IFNet alone), so
  it changes nothing here.
- ``model_name`` (only ``flownet.pkl``) is read from ``<models>/rife/`` with
  ``torch.load(weights_only=True)``, never downloaded. The pack loads only the
  ``module.``-prefixed tensors of the file (the released one has nothing else) and
  ignores missing ones; wfrun loads the file's tensors with or without the prefix and
  refuses a file that is not a whole IFNet of that layout.
- Workflows saved by the pack's first commits (2025-07-23, before 899909a) got one frame
  more (``int(...) + 1``); those are refused rather than run with the later count.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models.rife import OTHER_CHECKPOINT_ARCH, scale_list
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import load_rife
from wfrun.nodes.saved import saved_version

FOLDER = "rife"
#: Commits whose frame count was one more (the +1 left out by 899909a, 2025-07-25).
PLUS_ONE_COMMITS = ("74bcef9", "2f913f6", "de8bb5a")


def frame_positions(count: int, source_fps: float, target_fps: float) -> list[tuple[int, int, float]]:
    """``(frame, next frame, t)`` for every output frame, in the pack's arithmetic."""
    total = int(count / source_fps * target_fps)
    out = []
    for k in range(total):
        position = k / target_fps * source_fps
        first = int(position)
        second = min(first + 1, count - 1)
        out.append((first, second, 0.0 if first == second else position - first))
    return out


def _check(images: Any, source_fps: float, target_fps: float, scale: float) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError("images", f"expected an IMAGE [frames, height, width, 3], got {shape}")
    if images.shape[0] == 0:
        raise NodeInputError("images", "no images given")
    if source_fps <= 0 or target_fps <= 0:
        raise NodeInputError("source_fps" if source_fps <= 0 else "target_fps", "frame rates must be positive")
    if scale <= 0:
        raise NodeInputError("scale", "scale must be positive")
    return images


def _load(ctx: ExecContext, model_name: str):
    base = str(model_name).replace("\\", "/").rsplit("/", 1)[-1]
    if base not in OTHER_CHECKPOINT_ARCH:
        raise NodeInputError("model_name", f"{model_name!r} is not a model the pack offers", "use flownet.pkl")
    return load_rife(ctx, FOLDER, model_name, "model_name", "use Practical-RIFE 4.25's flownet.pkl",
                     OTHER_CHECKPOINT_ARCH[base])


@executor("RIFEInterpolation", pth_inputs=("model_name",), oom_hint="interpolate fewer or smaller frames, or lower scale")
def rife_interpolation(ctx: ExecContext, images: Any, source_fps: float, target_fps: float, scale: float,
                       model_name: str, batch_size: int, use_fp16: bool, **_: Any) -> tuple:
    ver = saved_version(ctx.workflow_json, ctx.node_id)
    if ver and any(ver.lower().startswith(c) or c.startswith(ver.lower()[:7]) for c in PLUS_ONE_COMMITS):
        raise NodeInputError("images", f"saved by ComfyUI-VFI {ver[:7]}, whose frame count (one more frame) wfrun "
                             "does not reproduce", "update the node to 899909a (2025-07-25) or later and save again")
    images = _check(images, float(source_fps), float(target_fps), float(scale))
    source_fps, target_fps, scale = float(source_fps), float(target_fps), float(scale)
    if abs(source_fps - target_fps) < 0.01:
        return (images,)
    net = _load(ctx, model_name)
    device = torch.device(ctx.device)
    half = bool(use_fp16) and device.type == "cuda"
    dtype = torch.float16 if half else torch.float32
    count, height, width = images.shape[0], images.shape[1], images.shape[2]
    tile = max(128, int(128 / scale))
    padding = (0, ((width - 1) // tile + 1) * tile - width, 0, ((height - 1) // tile + 1) * tile - height)
    scales = scale_list("4.26", scale)
    autocast = torch.autocast("cuda") if half else contextlib.nullcontext()
    positions = frame_positions(count, source_fps, target_fps)
    jobs = sum(1 for _, _, t in positions if t != 0.0)
    bar = ctx.progress.chunks(jobs, "RIFE frames") if ctx.progress is not None and jobs else None
    out = []
    net.to(device, dtype)
    try:
        with torch.inference_mode(), autocast:
            for first, second, t in positions:
                if t == 0.0:
                    out.append(images[first])
                    continue
                ctx.check_interrupt()
                f0 = F.pad(images[first].to(device, dtype).permute(2, 0, 1).unsqueeze(0), padding)
                f1 = F.pad(images[second].to(device, dtype).permute(2, 0, 1).unsqueeze(0), padding)
                step = torch.tensor(t, dtype=dtype, device=device)
                frame = net(f0, f1, step, scales, clamp=False)
                out.append(frame[0, :, :height, :width].permute(1, 2, 0).float().cpu())
                if bar is not None:
                    bar.update(1)
    finally:
        net.to("cpu")
        if bar is not None:
            bar.close()
    if not out:
        return (images[:0],)
    return (torch.stack([f.to(images.device, torch.float32) if f.dtype != torch.float32 else f for f in out]),)
