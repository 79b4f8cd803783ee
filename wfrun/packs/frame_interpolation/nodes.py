"""``RIFE VFI`` (ComfyUI-Frame-Interpolation)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.rife import CHECKPOINT_ARCH, UNBUILT_ARCH, scale_list
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import load_rife

#: The models sub-folder wfrun reads RIFE checkpoints from (the pack downloads into its own
#: ``ckpts/rife/``; copy them to ``<models>/rife/``).
FOLDER = "rife"

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _frames(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] < 3:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError("frames", f"expected an IMAGE [frames, height, width, 3], got {shape}")
    if value.shape[0] < 1:
        raise NodeInputError("frames", "frame interpolation needs at least one frame, found none")
    return value  # one frame has no pair: the pack's loop gives it back alone


def _multipliers(multiplier: Any, pairs: int) -> list[int]:
    """One multiplier per pair of frames: an INT for all, or a list (the pack fills missing
    pairs with 2)."""
    if isinstance(multiplier, (list, tuple)):
        out = [int(m) for m in multiplier][:pairs]
        return out + [2] * (pairs - len(out))
    return [int(multiplier)] * pairs


def interpolate(frames: torch.Tensor, middle, multipliers: list[int], *, batch_size: int = 1,
                dtype: torch.dtype = torch.float32, check_interrupt=None, bar=None) -> torch.Tensor:
    """The pack's frame loop: each original frame, then ``multiplier - 1`` frames between it
    and the next at ``t = k / multiplier``, then the last frame. Originals are copied as they
    are (bit for bit in float32). ``middle(frame0, frame1, t)`` takes [B, 3, H, W] batches."""
    pixels = frames[..., :3].movedim(-1, 1)
    tasks = [(i, k / m) for i, m in enumerate(multipliers) for k in range(1, m)]
    results: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(multipliers))}
    with torch.inference_mode():
        for start in range(0, len(tasks), max(1, batch_size)):
            if check_interrupt is not None:
                check_interrupt()
            batch = tasks[start:start + max(1, batch_size)]
            f0 = torch.cat([pixels[i:i + 1] for i, _ in batch]).to(dtype)
            f1 = torch.cat([pixels[i + 1:i + 2] for i, _ in batch]).to(dtype)
            t = torch.tensor([dt for _, dt in batch], dtype=dtype).view(-1, 1, 1, 1)
            out = middle(f0, f1, t).clamp(0, 1).float().cpu()
            for j, (i, _) in enumerate(batch):
                results[i].append(out[j:j + 1])
            if bar is not None:
                bar.update(len(batch))
    pieces = []
    for i in range(len(multipliers)):
        pieces.append(pixels[i:i + 1].float().cpu())
        pieces.extend(results[i])
    pieces.append(pixels[-1:].float().cpu())
    return torch.cat(pieces).movedim(1, -1).contiguous()


@executor("RIFE VFI", pth_inputs=("ckpt_name",), oom_hint="lower batch_size, or interpolate fewer or smaller frames")
def rife_vfi(ctx: ExecContext, ckpt_name: str, frames: torch.Tensor, multiplier: Any, scale_factor: float,
             dtype: str, batch_size: int, optional_interpolation_states: Any = None,
             **unused: Any) -> tuple:
    """Frames between each pair of input frames with RIFE: ``(n - 1) * multiplier + 1`` frames out.

    As in the pack: frames are clamped to 0..1, padded to multiples of 64; the blocks run at
    ``[8, 4, 2, 1] / scale_factor`` (``[16, 8, 4, 2, 1]`` for 4.26); the originals are kept in
    place; ``dtype`` (2026-02 on) is the compute precision, ``batch_size`` how many
    in-between frames one forward makes.

    ``fast_mode`` and ``ensemble`` change nothing, as in the pack: it passes them
    positionally into IFNet's ``training`` and ``fastmode`` parameters, and with 4.7 and
    later architectures neither has an effect (ensemble itself is never turned on).
    ``clear_cache_after_n_frames`` only paces the pack's CUDA cache clearing; wfrun frees
    memory as each result is moved off the device. ``torch_compile`` is not honoured.

    Differences: the checkpoint is read from ``<models>/rife/`` and never downloaded;
    ``optional_interpolation_states`` (skip lists) is not supported yet; the 4.0-4.6
    checkpoints (rife40-46, sudo_rife4) are refused."""
    if optional_interpolation_states is not None:
        raise NodeInputError("optional_interpolation_states", "interpolation state lists are not supported by wfrun yet",
                             "disconnect this input to interpolate every pair of frames")
    frames = _frames(frames)
    arch = CHECKPOINT_ARCH.get(str(ckpt_name).replace("\\", "/").rsplit("/", 1)[-1])
    if arch is None and ckpt_name in UNBUILT_ARCH:
        raise NodeInputError("ckpt_name", f"{ckpt_name} is a RIFE {UNBUILT_ARCH[ckpt_name]} checkpoint, which wfrun "
                             "does not build", f"pick one of {', '.join(CHECKPOINT_ARCH)}")
    net = load_rife(ctx, FOLDER, ckpt_name, "ckpt_name", "use a RIFE checkpoint the pack lists (rife47.pth, "
                    "rife49.pth, rife417.pth, rife426.pth)", arch)
    multipliers = _multipliers(multiplier, frames.shape[0] - 1)
    if multipliers and min(multipliers) < 1:
        raise NodeInputError("multiplier", f"must be at least 1, found {min(multipliers)}")
    compute = DTYPES.get(dtype)
    if compute is None:
        raise NodeInputError("dtype", f"unknown dtype {dtype!r}", f"use one of {', '.join(DTYPES)}")
    device = torch.device(ctx.device)
    if device.type == "cpu" and compute == torch.float16:
        compute = torch.float32  # half-precision convolutions are not what CPUs run; same results up to rounding
    scales = scale_list(net.arch.name, float(scale_factor))
    bar = None
    net.to(device, compute)
    try:
        def middle(f0: torch.Tensor, f1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return net(f0.to(device), f1.to(device), t.to(device), scales)

        bar = ctx.progress.chunks(sum(m - 1 for m in multipliers), "RIFE frames") if ctx.progress is not None else None
        out = interpolate(frames, middle, multipliers, batch_size=int(batch_size), dtype=compute,
                          check_interrupt=ctx.check_interrupt, bar=bar)
    finally:
        net.to("cpu")
        if ctx.progress is not None and bar is not None:
            bar.close()
    return (out,)
