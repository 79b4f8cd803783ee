"""WanVideoDiffusionForcingSampler: SkyReels-V2 diffusion forcing (:mod:`wfrun.sampling.diffusion_forcing`).

The pack's node (``skyreels/nodes.py``, 2025-04-21 on; the same process through 2026) makes
a video that continues from ``prefix_samples`` (latents of an image or of the last frames of
an earlier clip, from WanVideoEncode): those frames are held clean while the rest is
denoised, the model seeing them slightly noised (``addnoise_condition``), and, on
SkyReels-V2's 1.3B DF model, the ``fps`` as one of two sample-info embeddings. The node
fixes ``ar_step = 0`` and ``causal_block_size = 1``: all new frames share one timestep.
Its output is the whole video, prefix included (the workflows cut the overlap after decoding).

Inputs as the pack uses them: ``cache_args`` (or the older ``teacache_args``), ``slg_args``,
``experimental_args`` (CFG-Zero*, FreSca, split attention steps) as in WanVideoSampler;
``rope_function`` ``default``/``comfy`` are the same rotary embedding; ``image_embeds`` must
give the video's size (WanVideoEmptyEmbeds; VACE embeds work too, as in the pack).

Where wfrun differs from the pack:

- ``denoise_strength`` below 1 is refused: the pack's node then fails (it slices a
  schedule it never built), so no workflow can have used it;
- ``samples`` are not used, as in the pack at ``denoise_strength`` 1 (it reads them only for
  that broken path);
- ``unianimate_poses`` is refused (wfrun has no UniAnimate);
- the ``addnoise_condition`` noise is drawn from a generator seeded with ``seed + 1`` (the
  pack's comes from torch's unseeded global generator; see the loop's docs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.models.lora_files import LoraError, lora_paths, merged
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.sampler import (SAMPLER_OOM_HINT, check_conditioning, place_for_sampling,
                                          release_after_sampling)
from wfrun.packs.wanvideo.types import (ExperimentalArgs, ImageEmbeds, SamplerOptions, SLGArgs,
                                        TeaCacheArgs, TextEmbeds, WanVideoModel)
from wfrun.sampling.diffusion_forcing import DiffusionForcingRequest, fps_index, sample
from wfrun.sampling.forward import teacache_variant
from wfrun.sampling.loop import SamplingError, SamplingRequest
from wfrun.sampling.schedulers import SchedulerError, normalize_name

#: The node's scheduler choices (its combo; the wider list of WanVideoSampler is not offered).
DF_SCHEDULERS = ("unipc", "unipc/beta", "euler", "euler/beta", "lcm", "lcm/beta")


def _prefix(prefix_samples: Any) -> torch.Tensor | None:
    if prefix_samples is None:
        return None
    if not isinstance(prefix_samples, dict) or not isinstance(prefix_samples.get("samples"), torch.Tensor):
        raise NodeInputError("prefix_samples", f"expected LATENT, got {type(prefix_samples).__name__}",
                             "connect WanVideoEncode's samples")
    latents = prefix_samples["samples"]
    if latents.ndim == 5:
        latents = latents[0]
    if latents.ndim != 4:
        raise NodeInputError("prefix_samples", f"prefix latents of shape {tuple(latents.shape)}",
                             "expected video latents [1, 16, frames, height/8, width/8] from WanVideoEncode")
    return latents.float()


@executor("WanVideoDiffusionForcingSampler", oom_hint=SAMPLER_OOM_HINT)
def wanvideo_diffusion_forcing_sampler(ctx: ExecContext, model: WanVideoModel, text_embeds: TextEmbeds,
                                       image_embeds: ImageEmbeds, addnoise_condition: int, fps: float, steps: int,
                                       cfg: Any, shift: float, seed: int, force_offload: bool, scheduler: str, *,
                                       samples: dict | None = None, prefix_samples: dict | None = None,
                                       denoise_strength: float, cache_args: TeaCacheArgs | None = None,
                                       teacache_args: TeaCacheArgs | None = None, slg_args: SLGArgs | None = None,
                                       rope_function: str, experimental_args: ExperimentalArgs | None = None,
                                       unianimate_poses: Any = None, **_: Any) -> tuple:
    if unianimate_poses is not None:
        raise NodeInputError("unianimate_poses", "UniAnimate poses are not supported by wfrun", "disconnect them")
    if not isinstance(model, WanVideoModel):
        raise NodeInputError("model", f"expected WANVIDEOMODEL, got {type(model).__name__}")
    if not isinstance(text_embeds, TextEmbeds):
        raise NodeInputError("text_embeds", f"expected WANVIDEOTEXTEMBEDS, got {type(text_embeds).__name__}")
    check_conditioning(model, image_embeds)
    if image_embeds.target_shape is None:
        raise NodeInputError("image_embeds", "the diffusion forcing sampler needs the video's size (target_shape)",
                             "connect WanVideoEmptyEmbeds; the prefix latents carry the images")
    if float(denoise_strength) < 1.0:
        raise NodeInputError("denoise_strength", f"denoise_strength {denoise_strength} below 1: the pack's diffusion "
                             "forcing sampler fails there (it never built the schedule it slices)",
                             "set denoise_strength to 1.0")
    if scheduler not in DF_SCHEDULERS:
        raise NodeInputError("scheduler", f"unknown scheduler '{scheduler}' for the diffusion forcing sampler",
                             "use one of " + ", ".join(DF_SCHEDULERS))
    try:
        normalize_name(scheduler)
    except SchedulerError as err:
        raise NodeInputError("scheduler", str(err), err.hint) from None
    if rope_function not in ("default", "comfy", "comfy_chunked"):
        raise NodeInputError("rope_function", f"unknown rope function '{rope_function}'", "use default or comfy")
    prefix = _prefix(prefix_samples)
    cache = cache_args if cache_args is not None else teacache_args

    transformer = model.transformer
    device = ctx.device
    exec_device, swap = place_for_sampling(model, device)

    options = SamplerOptions(teacache=cache, slg=slg_args, experimental=experimental_args,
                             rope_function=str(rope_function))
    dim = int(transformer.config.num_attention_heads * transformer.config.attention_head_dim)
    base = SamplingRequest(
        transformer=transformer, image_embeds=image_embeds, text_embeds=text_embeds, steps=int(steps),
        cfg=float(cfg), shift=float(shift), seed=int(seed), scheduler=str(scheduler), dtype=model.base_dtype,
        device=exec_device, options=options,
        teacache_variant=teacache_variant(model.model_type, Path(str(model.path)).name, dim),
        model_file=Path(str(model.path)).name, cache_device=cache.cache_device if cache is not None else "cpu",
        progress=ctx.progress, check_interrupt=ctx.check_interrupt, attention=model.attention_backend,
        attention_override=model.attention_override)
    request = DiffusionForcingRequest(base=base, prefix=prefix, addnoise_condition=int(addnoise_condition),
                                      fps_id=fps_index(fps))
    try:
        with merged(transformer, lora_paths(model.pass_loras)), torch.no_grad():
            latent = sample(request)
    except (SamplingError, SchedulerError) as err:
        raise NodeInputError(err.input_name, str(err), err.hint) from None
    except LoraError as err:
        raise NodeInputError("model", str(err)) from None
    finally:
        release_after_sampling(model, device, swap, force_offload)
    latent.pop("teacache_skipped", None)
    return (latent,)
