"""ReCamMaster's camera conditioning (KwaiVGI/ReCamMaster; the wrapper's ``WanAttentionBlock``
with ``camera_embed``, 2025-04 on), as hooks on diffusers' blocks.

ReCamMaster re-renders a source video along a new camera path. The sampler puts the
source video's latents after the noisy frames (one sequence of ``2T`` frames, the same
timestep for all, RoPE over all of them) and keeps only the first ``T`` frames of the
prediction. In every block:

- the self-attention *input* (the modulated, normalised hidden states) gets
  ``cam_encoder(pose)`` added, where ``pose`` is the 12 numbers of each latent frame's
  camera (3x4, relative to the first), tiled over the source frames too (frame ``T + i``
  takes frame ``i``'s) and over each frame's tokens;
- the self-attention *output* (after its output projection) goes through ``projector``
  before the gated residual.

diffusers' ``WanTransformerBlock`` computes exactly these two tensors around ``attn1``, so a
pre-hook and a hook on ``attn1`` do it without a block of our own.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from wfrun.sampling import context_parallel


class ReCamMasterError(ValueError):
    """A camera embedding that cannot condition this model or video."""


def has_camera_layers(transformer: Any) -> bool:
    blocks = getattr(transformer, "blocks", None)
    return bool(blocks) and getattr(blocks[0], "cam_encoder", None) is not None


@contextlib.contextmanager
def camera_conditioning(transformer: Any, poses: torch.Tensor | None) -> Iterator[None]:
    """While open, every block's self-attention is conditioned on ``poses`` (``[T, 12]``,
    one row per latent frame of the video to make; the sequence holds ``2T`` frames)."""
    if poses is None:
        yield
        return
    if not has_camera_layers(transformer):
        raise ReCamMasterError("ReCamMaster camera embeds given to a model without camera layers "
                               "(blocks.N.cam_encoder / projector)")
    frames = int(poses.shape[0])
    handles = []

    def before(block):
        def add_camera(_module: Any, args: tuple) -> tuple:
            hidden = args[0]
            tokens = hidden.shape[1]
            if context_parallel.active() is not None:
                raise context_parallel.ContextParallelError("ReCamMaster is not supported with --gpus: run on one GPU")
            if tokens % (2 * frames):
                raise ReCamMasterError(f"{frames} camera poses do not fit a sequence of {tokens} tokens "
                                       f"(the video and its source video: {2 * frames} latent frames)")
            cam = block.cam_encoder(poses.to(hidden.device, block.cam_encoder.weight.dtype)).to(hidden.dtype)
            cam = cam.repeat(2, 1).repeat_interleave(tokens // (2 * frames), dim=0)  # [2T·h·w, dim]
            return (hidden + cam, *args[1:])
        return add_camera

    def after(block):
        def project(_module: Any, _args: tuple, out: torch.Tensor) -> torch.Tensor:
            return block.projector(out.to(block.projector.weight.dtype)).to(out.dtype)
        return project

    try:
        for block in transformer.blocks:
            handles.append(block.attn1.register_forward_pre_hook(before(block)))
            handles.append(block.attn1.register_forward_hook(after(block)))
        yield
    finally:
        for handle in handles:
            handle.remove()
