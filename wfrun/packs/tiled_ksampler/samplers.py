"""Tiled KSampler and Asymmetric Tiled KSampler (``tilingSampler.py``, 2023-08).

Both are ComfyUI's KSampler (``nodes.common_ksampler`` with the same widgets) run after
changing the padding of every ``torch.nn.Conv2d`` in the diffusion model: Tiled KSampler
sets ``padding_mode`` to ``circular`` when ``tiling`` is 1 (``zeros``, the default,
otherwise); the asymmetric one pads circularly along x and/or y (``tileX``, ``tileY``) for
its run only. A Wan transformer in ComfyUI convolves its patches in 3D (``Conv3d``), so on
the Wan models wfrun runs there is no 2D convolution to change and the node samples exactly
as KSampler: wfrun runs the core KSampler executor. A model that does hold 2D convolutions
(an adapter with ``Conv2d`` layers) is refused when circular padding is asked for, rather
than sampled without it. The first version's ``SEED`` input (a seed node's ``{"seed": n}``)
is read as that number.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered


def _seed(seed: Any) -> Any:
    return seed.get("seed") if isinstance(seed, dict) else seed


def _check_no_conv2d(model: Any, input_name: str) -> None:
    network = getattr(model, "transformer", None)
    if isinstance(network, torch.nn.Module) and any(isinstance(m, torch.nn.Conv2d) for m in network.modules()):
        raise NodeInputError(input_name, "this model has 2D convolutions, whose circular padding wfrun does not apply",
                             "set it to 0, or use KSampler")


def _sample(ctx: ExecContext, **inputs: Any) -> tuple:
    run = registered("KSampler")
    if run is None:  # core's sampler is part of wfrun; only a broken install lacks it
        raise NodeInputError("model", "ComfyUI's KSampler is not available in this wfrun")
    return run(ctx, **inputs)


@executor("Tiled KSampler")
def tiled_ksampler(ctx: ExecContext, model: Any, seed: Any, tiling: int, steps: int, cfg: float, sampler_name: str,
                   scheduler: str, positive: Any, negative: Any, latent_image: Any, denoise: float, **_: Any) -> tuple:
    if int(tiling) == 1:
        _check_no_conv2d(model, "tiling")
    return _sample(ctx, model=model, seed=_seed(seed), steps=steps, cfg=cfg, sampler_name=sampler_name,
                   scheduler=scheduler, positive=positive, negative=negative, latent_image=latent_image,
                   denoise=denoise)


@executor("Asymmetric Tiled KSampler")
def asymmetric_tiled_ksampler(ctx: ExecContext, model: Any, seed: Any, tileX: int, tileY: int, steps: int, cfg: float,
                              sampler_name: str, scheduler: str, positive: Any, negative: Any, latent_image: Any,
                              denoise: float, **_: Any) -> tuple:
    for name, value in (("tileX", tileX), ("tileY", tileY)):
        if int(value) == 1:
            _check_no_conv2d(model, name)
    return _sample(ctx, model=model, seed=_seed(seed), steps=steps, cfg=cfg, sampler_name=sampler_name,
                   scheduler=scheduler, positive=positive, negative=negative, latent_image=latent_image,
                   denoise=denoise)
