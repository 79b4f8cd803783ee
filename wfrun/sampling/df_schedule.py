"""Diffusion forcing's step matrix: which timestep each latent frame has at each iteration.

SkyReels-V2 (``generate_timestep_matrix`` in its ``diffusion_forcing_pipeline.py``; the
wrapper's ``skyreels/nodes.py`` carries the same function) denoises the frames of a video
at different noise levels. Each frame (or each block of ``causal_block_size`` frames)
keeps a counter into the schedule extended at both ends, ``[999, t_0 … t_{n-1}, 0]``:
counter 0 is "not started" (pure noise), ``k`` in ``1..n`` means "take the step from
``t_{k-1}``", ``n + 1`` is "finished". Per iteration a block advances by one when it is
the first block or its predecessor had reached ``n`` on the previous iteration; otherwise
it trails its predecessor's new counter by ``ar_step`` (clamped at 0). With ``ar_step = 0``
every unfinished block moves together (synchronous denoising, what the wrapper's node
always uses); with ``ar_step > 0`` later frames start later (the autoregressive staircase).
Frames given as a prefix (``num_pre_ready``) start finished. Iterations run until every
counter is at least ``n``.

A block is *updated* on an iteration when its counter changed and is not ``n + 1``; the
sampler steps only those frames. For a video longer than the model's window
(``base_num_frames``) each iteration also has a *valid interval* of frames that go through
the model: it ends at ``base_num_frames`` and slides right by one block whenever the block
just past it is updated; it spans at most ``base_num_frames``. ``ar_step`` must then be at
least ``steps / base blocks``, or a frame would leave the window before it is finished.

The matrix is integer: the template is cast to int64 (``torch.long``) first, so a
schedule of fractional timesteps (Euler's) reaches the model truncated, as in the pack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


class StepMatrixError(ValueError):
    """Settings from which no step matrix can be made."""


@dataclass(frozen=True)
class StepMatrix:
    """One row per iteration, one column per latent frame."""

    timesteps: torch.Tensor            # [rows, frames] int64: the timestep each frame is at
    index: torch.Tensor                # [rows, frames] int64: the counter into [999, t…, 0]
    update: torch.Tensor               # [rows, frames] bool: frames stepped on this iteration
    intervals: tuple[tuple[int, int], ...]  # per row: [start, end) of the frames given to the model

    @property
    def rows(self) -> int:
        return int(self.timesteps.shape[0])


def timestep_matrix(num_frames: int, template: torch.Tensor, base_num_frames: int | None = None, ar_step: int = 0,
                    num_pre_ready: int = 0, causal_block_size: int = 1,
                    shrink_interval_with_mask: bool = False) -> StepMatrix:
    """The step matrix for ``num_frames`` latent frames and the schedule ``template``
    (its ``n`` timesteps, highest first); see the module docs for the rules."""
    steps = int(len(template))
    if steps < 1:
        raise StepMatrixError("the schedule has no timesteps")
    if causal_block_size < 1:
        raise StepMatrixError(f"causal_block_size is {causal_block_size}; it must be 1 or more")
    if ar_step < 0:
        raise StepMatrixError(f"ar_step is {ar_step}; it must be 0 or more")
    base_num_frames = num_frames if base_num_frames is None else int(base_num_frames)
    blocks = num_frames // causal_block_size
    base_blocks = base_num_frames // causal_block_size
    if blocks < 1 or base_blocks < 1:
        raise StepMatrixError(f"{num_frames} frames make no block of {causal_block_size}")
    if base_blocks < blocks and ar_step < steps / base_blocks:
        raise StepMatrixError(f"ar_step {ar_step} is too small for {steps} steps over a window of {base_blocks} "
                              f"blocks: it must be at least {math.ceil(steps / base_blocks)}")
    finished = steps + 1
    extended = torch.cat([torch.tensor([999], dtype=torch.int64), torch.as_tensor(template).cpu().long(),
                          torch.tensor([0], dtype=torch.int64)])
    previous = torch.zeros(blocks, dtype=torch.int64)
    previous[:num_pre_ready // causal_block_size] = finished
    if bool((previous >= steps).all()):
        raise StepMatrixError(f"all {num_frames} frames are given as the prefix ({num_pre_ready}): nothing is "
                              "left to denoise")
    counters, updates = [], []
    while not bool((previous >= steps).all()):
        row = torch.zeros(blocks, dtype=torch.int64)
        for i in range(blocks):
            if i == 0 or previous[i - 1] >= steps:  # free to move: the first block, or its predecessor is done
                row[i] = previous[i] + 1
            else:  # trailing its predecessor by ar_step
                row[i] = row[i - 1] - ar_step
        row = row.clamp(0, finished)
        updates.append((row != previous) & (row != finished))
        counters.append(row)
        previous = row

    end = base_blocks
    if shrink_interval_with_mask:
        updated = torch.nonzero(updates[0]).flatten()
        end = int(updated[-1]) + 1
    intervals = []
    for mask in updates:
        if end < blocks and bool(mask[end]):
            end += 1
        intervals.append((max(end - base_blocks, 0), end))

    index = torch.stack(counters)
    update = torch.stack(updates)
    if causal_block_size > 1:
        index = index.repeat_interleave(causal_block_size, dim=1)
        update = update.repeat_interleave(causal_block_size, dim=1)
        intervals = [(s * causal_block_size, e * causal_block_size) for s, e in intervals]
    return StepMatrix(timesteps=extended[index], index=index, update=update, intervals=tuple(intervals))
