"""WanVideoStartEndSampler_2frames: the fork's copy of Kijai's WanVideoSampler (2025-03).

The fork changed one number in the wrapper's sampler of that time: the latent video is
``(num_frames - 1) // 4 + 2`` frames long (the separately encoded end frame), for the noise
and for context windows. wfrun's WanVideoSampler draws exactly that noise for image embeds
carrying an end image on a non-Fun/FLF2V model (the wrapper adopted the fork's end-frame
mode later), and WanVideoStartEndImageClipEncode_2frames makes such embeds: so this node
runs the wrapper's sampler executor (from the executor registry), with the inputs the
wrapper's sampler of March 2025 had (no step range: ``denoise_strength`` divides the steps;
no batched cfg; the default rotary embedding).

The fork's transformer (``wanvideo/modules/model.py``) reads as Kijai's of mid-March 2025
(TeaCache state per prediction, Enhance-A-Video scores on the rotated q/k): no change for
the end frame, whose latent is an ordinary frame position to the model.

Refused: ``context_options``. The fork sizes a window as ``(context_frames - 1) // 4 + 2``
latent frames, one more than the wrapper, and wfrun's windows follow the wrapper.
``flowedit_args`` goes on to the wrapper's executor (FlowEdit, ``sampling.flowedit_sampling``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.sampling.conditioning import ImageEmbeds

#: The day the fork's sampler was saved: the wrapper's rules of before its step range apply.
FORK_DATE = "2025-03-19"
SAMPLER_OOM_HINT = ("keep transformer blocks on the CPU (WanVideoBlockSwap into the model loader's "
                    "block_swap_args), load the model with quantization fp8_e4m3fn, or make fewer frames")


@executor("WanVideoStartEndSampler_2frames", oom_hint=SAMPLER_OOM_HINT)
def start_end_sampler(ctx: ExecContext, model: Any, text_embeds: Any, image_embeds: Any, steps: int, cfg: float,
                      shift: float, seed: int, force_offload: bool, scheduler: str, riflex_freq_index: int,
                      denoise_strength: float, *, samples: dict | None = None, feta_args: Any = None,
                      context_options: Any = None, teacache_args: Any = None, flowedit_args: Any = None,
                      **_: Any) -> tuple:
    if context_options is not None:
        raise NodeInputError("context_options", "the fork's context windows (one latent frame longer than the "
                             "wrapper's) are not reproduced by wfrun", "disconnect context_options")
    if not isinstance(image_embeds, ImageEmbeds) or image_embeds.end_image is None:
        raise NodeInputError("image_embeds", "expected start/end image embeds",
                             "connect WanVideoStartEndImageClipEncode_2frames")
    sampler = registered("WanVideoSampler")
    if sampler is None:
        raise NodeInputError("model", "wfrun's WanVideoSampler is not available in this installation")
    march = dataclasses.replace(ctx, saved_date=FORK_DATE)
    latent, _denoised = sampler(
        march, model=model, text_embeds=text_embeds, image_embeds=image_embeds, steps=steps, cfg=cfg, shift=shift,
        seed=seed, force_offload=force_offload, scheduler=scheduler, riflex_freq_index=riflex_freq_index,
        samples=samples, denoise_strength=denoise_strength, feta_args=feta_args, teacache_args=teacache_args,
        flowedit_args=flowedit_args, batched_cfg=False, rope_function="default", start_step=0, end_step=-1,
        add_noise_to_samples=False)
    return (latent,)
