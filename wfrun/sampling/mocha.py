"""MoCha (Orange-3DV-Team/MoCha, a Wan 2.1 T2V 14B fine-tune that replaces a masked subject
of a video by a reference character) in the wrapper's sampler (``nodes_sampler.py`` and
``mocha/nodes.py``, 2025-10-21 on).

MochaEmbeds gives ``[16, T + 1 + R, h, w]``: the source video's T latent frames, one mask
frame and R (1 or 2) reference latents. Every model call (cond and uncond alike) gets them
after the T noisy frames along the frame axis; only the first T frames of the prediction
are stepped, as ReCamMaster's source video.

The tokens' RoPE positions are the pack's ``rope_apply_mocha`` (its tables start at
position -1, ``rope_params_mocha(..., start=-1)``), on the patched grid of h x w cells:

- the noisy frames and the source frames: frame positions 0 .. T-1 each (the same
  positions twice), rows 0 .. h-1, columns 0 .. w-1;
- the mask frame: frame 0;
- the first reference: frame -1;
- a second reference: frame -1, rows h .. 2h-1 and columns w .. 2w-1 (beside the first).

The pack uses these whatever ``rope_function`` says; RIFLEx moves the frame axis's
frequency ``k-1`` as for the plain tables (``L_test`` the video's latent frames).
"""

from __future__ import annotations

import torch


class MochaError(ValueError):
    """MoCha embeds that do not fit the video or the model; the message names the problem."""


def positions(frames: int, height: int, width: int, num_refs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each token's (frame, row, column) RoPE position for ``frames`` noisy latent frames of
    ``height`` x ``width`` patches followed by MoCha's embeds: three float64 vectors of
    ``(2 * frames + 1 + num_refs) * height * width`` entries, in token order (frame-major,
    then rows, then columns)."""
    if num_refs not in (1, 2):
        raise MochaError(f"{num_refs} MoCha references; the model takes 1 or 2")
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)

    def grid(frame_pos: torch.Tensor, row_pos: torch.Tensor, col_pos: torch.Tensor):
        f, h, w = torch.meshgrid(frame_pos, row_pos, col_pos, indexing="ij")
        return f.reshape(-1), h.reshape(-1), w.reshape(-1)

    video = torch.arange(frames, dtype=torch.float64)
    parts = [grid(video, rows, cols), grid(video, rows, cols),
             grid(torch.zeros(1, dtype=torch.float64), rows, cols),
             grid(torch.full((1,), -1.0, dtype=torch.float64), rows, cols)]
    if num_refs == 2:
        parts.append(grid(torch.full((1,), -1.0, dtype=torch.float64), rows + height, cols + width))
    return tuple(torch.cat([p[axis] for p in parts]) for axis in range(3))  # type: ignore[return-value]


def check(latents: torch.Tensor, num_refs: int, noise: torch.Tensor) -> None:
    """The embeds carry the video's frames, one mask frame and the references, on the noise's grid."""
    expected = noise.shape[1] + 1 + num_refs
    if latents.ndim != 4 or latents.shape[0] != noise.shape[0] or latents.shape[2:] != noise.shape[2:]:
        raise MochaError(f"MoCha embeds of shape {tuple(latents.shape)} do not fit the video's latents "
                         f"{tuple(noise.shape)}")
    if latents.shape[1] != expected:
        raise MochaError(f"MoCha embeds of {latents.shape[1]} latent frames for a video of {noise.shape[1]}: "
                         f"expected {expected} (the video's, one mask frame, {num_refs} reference(s))")
