"""VantageI2VSingleLooper ("Vantage I2V Single Model Looper"): the dual looper's loop on one
model (a Wan 2.1 I2V model, or an all-in-one Wan 2.2 checkpoint), one KSampler per segment.

The pack's ``single_looper.py`` (first committed e4ad5ae, 2025-09-23, with the example
workflow "Vantage + Wan 2.2 AIO") runs the same plan as the dual looper (:mod:`.schedule`:
five seconds per prompt line, 81-frame windows at 16 fps and 129 at 25, the first
``max(overlap, 1)`` frames of every later segment dropped, the ``max(overlap, 1)``-th frame
from the end seeding the next segment) and builds each segment's conditioning the same way
(:func:`.looper.segment_conditioning`: the prompt line, CLIPVisionEncode of the seed image,
WanImageToVideo's concat latent and mask). Where the dual looper runs three
KSamplerAdvanced-like passes over the experts, the single looper calls ComfyUI's
``common_ksampler`` once with no step window: KSampler itself (``steps`` at ``denoise``,
``cfg``, ``seed``, noise added, denoised to the end). Here that is wfrun's core KSampler.

``clip_vision`` is required, as in the pack. The output is every kept frame as the pack reads
back its PNGs: 8-bit, RGBA with alpha 1 (:func:`.looper.as_saved_png`). The differences from the
pack are the dual looper's (see :mod:`.looper`): no PNG folders are written and no earlier run
is resumed (``start_prompt`` > 0 renders every prompt from the start image, as the pack does for
a project with no saved frames), and wfrun follows the 2025-09-26 plan, which the 2025-09-23
one matches at 16 fps with one or two batch items (see :mod:`.schedule`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.vantage_long_wan_video import looper as lp

log = logging.getLogger(__name__)


def _clip_vision(value: Any) -> Any:
    if value is None:
        raise NodeInputError("clip_vision", "not connected: the single looper needs a CLIP vision model",
                             "connect a CLIPVisionLoader (clip_vision_h)")
    return value


@executor("VantageI2VSingleLooper", oom_hint=lp.OOM_HINT)
def vantage_single_looper(ctx: ExecContext, model: Any, clip: Any, project_data: Any, negative_text: Any, seed: Any,
                          steps: Any, cfg: Any, sampler_name: Any, scheduler: Any, width: Any, height: Any,
                          batch_size: Any, denoise: Any, fps: Any, overlap: Any, crop: Any, vae: Any,
                          start_image: Any, clip_vision: Any = None, **_: Any) -> tuple:
    model = lp._model("model", model)
    clip_vision = _clip_vision(clip_vision)
    segments, overlap_n, batch = lp.checked_segments("VantageI2VSingleLooper", scheduler, crop, project_data, fps,
                                                     overlap, batch_size)
    width, height = lp._align(width), lp._align(height)
    seed_image = lp._start_image(start_image)
    negative = lp.negative_conditioning(ctx, clip, negative_text or "")
    ksampler = lp.core("KSampler")
    kept: list[torch.Tensor] = []
    for segment in segments:
        ctx.check_interrupt()
        log.info("VantageI2VSingleLooper: segment %d of %d, %d frames: %s", segment.index + 1, len(segments),
                 segment.length, segment.prompt[:80])
        positive, seg_negative, latent = lp.segment_conditioning(
            ctx, segment, clip, vae, clip_vision, negative, seed_image, width=width, height=height, batch=batch,
            crop=crop)
        (latent,) = ksampler(ctx, model=model, seed=int(seed), steps=int(steps), cfg=float(cfg),
                             sampler_name=sampler_name, scheduler=scheduler, positive=positive,
                             negative=seg_negative, latent_image=latent, denoise=float(denoise))
        images = lp.segment_frames(ctx, segment, latent, vae)
        kept.append(images[segment.dropped:])
        seed_image = lp.seed_frame(images, overlap_n)
    return (lp.as_saved_png(torch.cat(kept, dim=0)),)
