"""``FILM VFI`` (ComfyUI-Frame-Interpolation) on wfrun's own FILM network (``models.film``)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.film import FilmNet, load_film, read_film_state_dict
from wfrun.models.header import CheckpointError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve
from wfrun.packs.frame_interpolation.nodes import _frames, _multipliers

#: The models sub-folder wfrun reads FILM checkpoints from (the pack downloads into its own
#: ``ckpts/film/``; copy ``film_net_fp32.pt`` to ``<models>/film/``).
FOLDER = "film"


def bisection_schedule(inbetweens: int) -> list[tuple[int, int, int, float]]:
    """The order in which the pack makes ``inbetweens`` frames between two frames, as
    ``(new, left, right, dt)``: positions ``0 .. inbetweens + 1`` stand for the times
    ``linspace(0, 1, inbetweens + 2)`` (float32, as the pack computes them). Each step takes,
    among the positions not made yet, the one closest to the middle of the gap between made
    neighbours (relative distance; ties go to the earliest gap, then the earliest position),
    and makes it from those two neighbours, which may themselves be made frames. ``dt`` is its
    time relative to the gap, the value the pack passes to the model."""
    times = torch.linspace(0, 1, inbetweens + 2)
    made = [0, inbetweens + 1]
    todo = list(range(1, inbetweens + 1))
    order = []
    while todo:
        lo, hi = times[made[:-1]], times[made[1:]]
        offset = ((times[todo][None, :] - lo[:, None]) / (hi[:, None] - lo[:, None]) - 0.5).abs()
        gap, pick = divmod(int(torch.argmin(offset)), len(todo))
        new, left, right = todo.pop(pick), made[gap], made[gap + 1]
        dt = (times[new] - times[left]) / (times[right] - times[left])
        order.append((new, left, right, float(dt)))
        made.insert(gap + 1, new)
    return order


def effective_times(inbetweens: int, midpoint: bool = True) -> list[float]:
    """The moment each in-between frame shows (by position), given the schedule: with the
    release's network (``midpoint``) every made frame is the middle of its two neighbours,
    so for a multiplier that is not a power of two these are not ``k / multiplier``."""
    when = {0: 0.0, inbetweens + 1: 1.0}
    for new, left, right, dt in bisection_schedule(inbetweens):
        when[new] = when[left] + (0.5 if midpoint else dt) * (when[right] - when[left])
    return [when[i] for i in range(1, inbetweens + 1)]


def interpolate_pair(net: FilmNet, frame0: torch.Tensor, frame1: torch.Tensor, inbetweens: int,
                     device: torch.device) -> list[torch.Tensor]:
    """``[frame0, in-betweens …]`` (frame1 left out), each [1, 3, H, W] float32 on the CPU;
    each made frame clamped to 0..1 before it is used or kept, as in the pack."""
    made = {0: frame0, inbetweens + 1: frame1}
    for new, left, right, dt in bisection_schedule(inbetweens):
        x0, x1 = made[left].to(device), made[right].to(device)
        t = torch.full((1, 1), dt, dtype=torch.float32, device=device)
        made[new] = net(x0, x1, t).clamp(0, 1).float().cpu()
    return [made[i] for i in range(inbetweens + 1)]


@executor("FILM VFI", pth_inputs=("ckpt_name",), torchscript_inputs=("ckpt_name",),
          oom_hint="interpolate fewer or smaller frames")
def film_vfi(ctx: ExecContext, ckpt_name: str, frames: torch.Tensor, multiplier: Any,
             clear_cache_after_n_frames: int, optional_interpolation_states: Any = None,
             **unused: Any) -> tuple:
    """Frames between each pair of input frames with FILM: ``(n - 1) * multiplier + 1`` out.

    As in the pack: each original frame (its first three channels, as float32, bit for bit),
    then ``multiplier - 1`` made frames, then the next; the last frame closes. The frames
    between two originals are made by bisection (:func:`bisection_schedule`): the one nearest
    the middle first, from the two originals, then the others from their nearest made
    neighbours. The released network always makes the midpoint of its two inputs (the time
    the pack passes is ignored, as in Google's film_net), so a multiplier that is a power of
    two gives the times ``k / multiplier`` and any other gives the midpoints of the bisection
    (multiplier 3: 1/4 and 1/2, in the places of 1/3 and 2/3): :func:`effective_times`.
    A checkpoint from the port's later export (every convolution in its own ``Sequential``)
    honours the time, as it does in the pack. Made frames are clamped to 0..1; inputs are not.
    Sizes are not padded: the network resizes to each level's size itself, so any size from
    64x64 up works, as in the pack. The network runs in float32 (the release's precision).
    A list ``multiplier`` gives one per pair (missing ones are 2), as in the pack.

    ``clear_cache_after_n_frames`` only paces the pack's CUDA cache clearing; wfrun frees
    memory as each result is moved off the device.

    Differences: the checkpoint is read from ``<models>/film/`` and never downloaded; it is
    read as data (tensors only), never run as TorchScript, so a file whose network differs
    from FILM's film_net is refused rather than run; ``optional_interpolation_states`` (skip
    lists) is not supported yet; frames with a side under the pyramid's minimum (64 pixels
    for the release), on which the pack's network fails, are padded at their edges to it and
    every frame is cropped back (so small frames, such as a smoke run's, interpolate)."""
    if optional_interpolation_states is not None:
        raise NodeInputError("optional_interpolation_states",
                             "interpolation state lists are not supported by wfrun yet",
                             "disconnect this input to interpolate every pair of frames")
    frames = _frames(frames)
    multipliers = _multipliers(multiplier, frames.shape[0] - 1)
    if multipliers and min(multipliers) < 1:
        raise NodeInputError("multiplier", f"must be at least 1, found {min(multipliers)}")
    path = resolve(ctx, FOLDER, ckpt_name, "ckpt_name")
    try:
        net = load_film(read_film_state_dict(path))
    except (CheckpointError, ValueError) as err:
        raise NodeInputError("ckpt_name", f"{path}: {str(err).splitlines()[0]}",
                             "use the pack's film_net_fp32.pt (or a .safetensors copy of it)") from None
    smallest = net.cfg.min_size
    device = torch.device(ctx.device)
    pixels = frames[..., :3].movedim(-1, 1).float()
    height, width = pixels.shape[-2:]
    # FILM's pyramid needs sides of at least `smallest`; the pack fails on smaller frames.
    # wfrun pads them at their edges and crops every frame back (larger frames are untouched).
    pad_h, pad_w = max(0, smallest - height), max(0, smallest - width)
    if pad_h or pad_w:
        pixels = torch.nn.functional.pad(pixels, (0, pad_w, 0, pad_h), mode="replicate")
    bar = ctx.progress.chunks(sum(m - 1 for m in multipliers), "FILM frames") if ctx.progress is not None else None
    net.to(device)
    pieces: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for i, m in enumerate(multipliers):
                if ctx.check_interrupt is not None:
                    ctx.check_interrupt()
                pieces.extend(interpolate_pair(net, pixels[i:i + 1], pixels[i + 1:i + 2], m - 1, device))
                if bar is not None:
                    bar.update(m - 1)
    finally:
        net.to("cpu")
        if bar is not None:
            bar.close()
    pieces.append(pixels[-1:])
    out = torch.cat(pieces)[..., :height, :width]
    return (out.movedim(1, -1).contiguous(),)
