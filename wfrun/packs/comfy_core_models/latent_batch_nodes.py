"""ComfyUI core's EmptySD3LatentImage (``comfy_extras/nodes_sd3.py``) and RebatchLatents
(``comfy_extras/nodes_rebatch.py``), as in the revision of our comfy-core specs.

EmptySD3LatentImage: zeros ``[batch, 16, height // 8, width // 8]`` and nothing else (unlike
EmptyLatentImage, no ``downscale_ratio_spacial``). ComfyUI's first version (2024-06) filled
it with 0.0609 instead of zeros; every Wan-era file was saved after the change to zeros. A
sampler takes it as any all-zero latent (``ksampler_nodes.fix_empty_latent``): the model's
channel count, one latent frame, and — having no ratio — its size kept.

RebatchLatents takes its list input whole (``INPUT_IS_LIST``) and gives a list output
(``wfrun.engine.lists``): the incoming LATENTs are joined in order while their height and
width (the last two axes) agree and cut into batches of ``batch_size`` (the last one
shorter); a LATENT of another size closes the batch being filled. Each output carries
``samples``, ``batch_index`` (the incoming ``batch_index``, else the running position over
all inputs) and ``noise_mask``, which is dropped when it is all ones. A LATENT without a
mask contributes ones ``[batch, 1, axis2 x 8, axis3 x 8]`` (the pack's rule; on a video
latent that is frames x 8 by height x 8). As in the pack, a mask of another size is not
resized (its resize result is discarded) and a shorter mask batch is repeated; masks that
then cannot be joined are refused by name instead of failing in ``torch.cat``.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The pixel size of one latent the pack's default mask assumes.
MASK_SCALE = 8


@executor("EmptySD3LatentImage")
def empty_sd3_latent_image(ctx: ExecContext, width: int, height: int, batch_size: int, **_: Any) -> tuple:
    return ({"samples": torch.zeros(int(batch_size), 16, int(height) // 8, int(width) // 8)},)


def _entry(latent: Any, offset: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """(samples, mask, batch indices) of one incoming LATENT (the pack's ``get_batch``)."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim < 4:
        raise NodeInputError("latents", f"expected LATENTs (dicts with 'samples' [batch, channels, …]), found "
                             f"{type(latent).__name__}", "connect a sampler's or an empty latent's LATENT")
    shape = samples.shape
    mask = latent.get("noise_mask")
    if mask is None:
        mask = torch.ones(shape[0], 1, shape[2] * MASK_SCALE, shape[3] * MASK_SCALE)
    elif not isinstance(mask, torch.Tensor) or mask.ndim < 1 or mask.shape[0] == 0:
        raise NodeInputError("latents", "a LATENT's noise_mask is not a mask tensor")
    if mask.shape[0] < shape[0]:
        mask = mask.repeat((shape[0] - 1) // mask.shape[0] + 1, *([1] * (mask.ndim - 1)))[:shape[0]]
    indices = list(latent["batch_index"]) if "batch_index" in latent else [offset + i for i in range(shape[0])]
    return samples, mask, indices


def _join(current: tuple, new: tuple) -> tuple:
    samples, mask, indices = current
    if mask.shape[1:] != new[1].shape[1:]:
        raise NodeInputError("latents", f"noise masks of shapes {list(mask.shape)} and {list(new[1].shape)} cannot "
                             "be joined into one batch (ComfyUI fails here too)",
                             "give the latents masks of one size, or none")
    return torch.cat((samples, new[0])), torch.cat((mask, new[1])), indices + new[2]


def _output(samples: torch.Tensor, mask: torch.Tensor, indices: list) -> dict:
    return {"samples": samples, "noise_mask": mask, "batch_index": indices}


@executor("RebatchLatents")
def rebatch_latents(ctx: ExecContext, latents: Any, batch_size: Any, **_: Any) -> tuple:
    if not isinstance(latents, list) or not isinstance(batch_size, list) or not batch_size:
        raise NodeInputError("latents", "expected the engine's lists (RebatchLatents takes its inputs whole)")
    size = batch_size[0]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise NodeInputError("batch_size", f"expected a whole number of at least 1, found {size!r}")
    out: list[dict] = []
    current: tuple | None = None
    processed = 0
    for latent in latents:
        new = _entry(latent, processed)
        processed += len(new[2])
        if current is None:
            current = new
        elif new[0].shape[-2:] != current[0].shape[-2:]:
            out.append(_output(current[0][:size], current[1][:size], current[2][:size]))
            current = new
        else:
            current = _join(current, new)
        if current[0].shape[0] > size:
            count = current[0].shape[0] // size
            for i in range(count):
                part = slice(i * size, (i + 1) * size)
                out.append(_output(current[0][part], current[1][part], current[2][part]))
            rest = slice(count * size, None)
            current = (current[0][rest], current[1][rest], current[2][rest]) if count * size < len(current[2]) \
                else None
    if current is not None:
        out.append(_output(current[0][:size], current[1][:size], current[2][:size]))
    for entry in out:
        if entry["noise_mask"].mean() == 1.0:
            del entry["noise_mask"]
    return (out,)
