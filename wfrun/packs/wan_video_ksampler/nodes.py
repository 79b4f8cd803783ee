"""``WanVideoKsampler``: ComfyUI's KSampler under another input order.

The pack's node (``nodes.py``, as stored at 0a26a6d and 00694e9; the corpus files carry
e92a703, whose inputs the registry snapshot shows the same) calls ComfyUI's
``common_ksampler`` with its inputs unchanged (``video_latents`` is KSampler's
``latent_image``), between memory statistics logged and ``torch.cuda.empty_cache``: the
numbers are KSampler's. wfrun runs the core KSampler executor (through the registry; packs
never import each other).

``WanVideoKsampler (Advanced)`` has a spec only: at 0a26a6d its ``sample`` is not valid
Python (an indented block after a comment), so ComfyUI cannot import the pack there, and at
00694e9 it calls an undefined ``common_ksampler``; there is no working behaviour to follow.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered


@executor("WanVideoKsampler", oom_hint="load the model with weight_dtype fp8_e4m3fn, or make fewer frames or a smaller size")
def wan_video_ksampler(ctx: ExecContext, model: Any, positive: Any, negative: Any, video_latents: Any, seed: int,
                       steps: int, cfg: float, sampler_name: str, scheduler: str, denoise: float, **_: Any) -> tuple:
    if not isinstance(video_latents, dict) or "samples" not in video_latents:
        raise NodeInputError("video_latents", f"expected a LATENT, got {type(video_latents).__name__}",
                             "connect a LATENT (e.g. from WanVaceToVideo)")
    ksampler = registered("KSampler")
    if ksampler is None:  # comfy_core_models is part of wfrun; only a broken install lacks it
        raise NodeInputError("model", "the core KSampler is not available in this wfrun")
    return ksampler(ctx, model=model, seed=seed, steps=steps, cfg=cfg, sampler_name=sampler_name,
                    scheduler=scheduler, positive=positive, negative=negative, latent_image=video_latents,
                    denoise=denoise)
