"""WanVideoSampler with ``flowedit_args``: the loop's :func:`~.loop.prepare` for the
conditioning, the noise stream and the timesteps, then :class:`~.flowedit.FlowEditPhase`
steps whose two velocities are the loop's guided :func:`~.loop.predict` (the source pass
with the source prompt, and the source image conditioning when given).

What wfrun refuses here, where the pack ran on (each a clear error): FlowEdit without input
latents (the pack fails on ``None``), latents of another shape than the video the image
embeds describe, context windows and loop args (the pack's FlowEdit had a window loop of
its own), conditioning the pack's FlowEdit calls never passed to the model (VACE, Animate,
Phantom, ReCamMaster, audio, Uni3C), custom sigmas, and a step range other than the whole
schedule at denoise 1 for a sampler saved from 2025-07-28 (the pack's new step arithmetic
with FlowEdit was not re-derived).

Differences: the pack's FlowEdit on 2025-03-05 to 2025-03-24 gave the source pass no CLIP
image features (it read a key the image embeds never had); from 2025-03-25 it gave the
target's, which wfrun gives on every date (diffusers' image-to-video blocks cannot run
without them).
"""

from __future__ import annotations

import dataclasses
import torch

from wfrun.sampling.flowedit import FlowEditArgs, FlowEditPhase, cfg_per_step, pack_sampling_sigmas, with_drift
from wfrun.sampling.hooks import sampling_pass
from wfrun.sampling.loop import (Prepared, SamplingError, SamplingRequest, _pad_context, finish, prepare,
                                 predict)

#: Schedulers for which the pack's FlowEdit path built the timesteps itself (double shift).
EULER = ("euler", "euler/beta")


def _refuse_extras(req: SamplingRequest, p: Prepared) -> None:
    opts = req.options
    if opts.context is not None:
        raise SamplingError("context_options", "context windows with FlowEdit are not supported",
                            "disconnect context_options")
    if opts.loop is not None:
        raise SamplingError("loop_args", "loop args with FlowEdit are not supported", "disconnect loop_args")
    emb = req.image_embeds
    cond = p.cond
    if cond.vace or cond.animate is not None or cond.phantom is not None or emb.recammaster is not None \
            or p.audio is not None or req.uni3c is not None or p.hold_clean or cond.camera is not None \
            or emb.s2v is not None:
        raise SamplingError("flowedit_args", "FlowEdit runs with text, image and control conditioning only (the "
                            "pack's FlowEdit never passed VACE, Animate, Phantom, ReCamMaster, camera, audio, "
                            "S2V or Uni3C inputs to the model)", "disconnect flowedit_args or those embeds")


def _check_request(req: SamplingRequest) -> None:
    if req.samples is None or not isinstance(req.samples.get("samples"), torch.Tensor):
        raise SamplingError("samples", "FlowEdit edits input latents: samples is not connected",
                            "connect WanVideoEncode of the source video to samples")
    if req.sigmas is not None:
        raise SamplingError("sigmas", "custom sigmas with FlowEdit are not supported", "disconnect sigmas")
    if req.step_range is not None:
        start, end, _ = req.step_range
        if start != 0 or end != -1 or float(req.denoise_strength) < 1.0:
            raise SamplingError("flowedit_args", "FlowEdit with a step range or denoise_strength below 1 on a "
                                "sampler saved from 2025-07-28 is not supported",
                                "use start_step 0, end_step -1 and denoise_strength 1 (skip_steps sets where "
                                "the edit starts)")


def _euler_request(req: SamplingRequest) -> SamplingRequest:
    """For ``euler``: the request whose schedule is the pack's FlowEdit one (its sigmas given
    to diffusers' Euler scheduler, which shifts them again)."""
    if req.scheduler not in EULER:
        return req
    steps = int(int(req.steps) / float(req.denoise_strength))
    if isinstance(req.cfg, (list, tuple)):
        steps = len(req.cfg)
    sigmas = torch.tensor(pack_sampling_sigmas(steps, float(req.shift)), dtype=torch.float32)
    return dataclasses.replace(req, sigmas=sigmas)


def _source_prepared(p: Prepared, args: FlowEditArgs) -> Prepared:
    """``p`` with the source prompt and (when given) the source image conditioning."""
    req = p.req
    device = torch.device(req.device)
    src = args.source_embeds
    positive = _pad_context([e.to(device, req.dtype) for e in src.prompt_embeds])
    negative = [n.to(device, req.dtype) for n in src.negative_prompt_embeds]
    text = dataclasses.replace(p.text, positive=positive, negative=_pad_context(negative[:1]) if negative else None)
    cond = p.cond
    emb = args.source_image_embeds
    if emb is not None and emb.image_embeds is not None:
        image = emb.image_embeds
        if p.cond.image_cond is None or tuple(image.shape) != tuple(p.cond.image_cond.shape):
            raise SamplingError("flowedit_args", "the source image embeds do not fit the target's "
                                f"({tuple(image.shape)} against "
                                f"{None if p.cond.image_cond is None else tuple(p.cond.image_cond.shape)})",
                                "encode the source image at the same size and frame count")
        cond = dataclasses.replace(cond, image_cond=image.to(device))
    return dataclasses.replace(p, text=text, cond=cond)


def sample_flowedit(req: SamplingRequest, args: FlowEditArgs) -> dict:
    """WanVideoSampler's FlowEdit pass: the LATENT of the edited video (``denoised``: the
    last step's preview latent)."""
    _check_request(req)
    p = prepare(_euler_request(req))
    _refuse_extras(req, p)
    x_src = req.samples["samples"].squeeze(0).float()
    if tuple(x_src.shape) != tuple(p.latent.shape):
        raise SamplingError("samples", f"the source latents {tuple(x_src.shape)} do not fit the video the image "
                            f"embeds describe {tuple(p.latent.shape)}",
                            "encode the source video at the size and frame count of the image embeds")
    timesteps = p.timesteps.detach().float().cpu()  # before the drift replacement
    count = len(timesteps)
    drift, skip = int(args.drift_steps), int(args.skip_steps)
    if drift > count:
        raise SamplingError("flowedit_args", f"drift_steps = {drift} for a schedule of {count} steps",
                            f"use at most {count} drift steps")
    if skip >= count:
        raise SamplingError("flowedit_args", f"skip_steps = {skip} skips every one of the {count} steps",
                            f"use fewer than {count}")
    reduced = p.schedule.steps  # the step count after the denoise arithmetic, as the pack's drift schedule
    timesteps = with_drift(timesteps, reduced, drift, float(args.drift_flow_shift))
    drift_cfg = cfg_per_step(args.drift_cfg, reduced + 1)
    if len(drift_cfg) < count or len(p.cfg) < count:
        raise SamplingError("flowedit_args", f"a cfg list shorter than the {count} steps")
    device = torch.device(req.device)
    phase = FlowEditPhase(x_src=x_src.to(device), timesteps=timesteps, skip_steps=skip, drift_steps=drift,
                          drift_cfg=drift_cfg, sampler_cfg=list(p.cfg))
    source = _source_prepared(p, args)
    states: dict[str, list] = {"source": [None, None, None], "target": [None, None, None]}

    def velocity(prep: Prepared, key: str):
        def call(z: torch.Tensor, idx: int, t: torch.Tensor, scale: float) -> torch.Tensor:
            pct = idx / count
            feta_on = prep.feta is not None and prep.feta.start_percent <= pct <= prep.feta.end_percent
            return predict(prep, z, scale, prep.text.positive, torch.tensor([float(t)]), idx, prep.cond.image_cond,
                           prep.cond.control_latents, states[key], feta_on)
        return call

    bar = req.progress.steps(count - skip, "WanVideoSampler (FlowEdit)") if req.progress is not None else None
    try:
        with sampling_pass(req.transformer, slg=req.options.slg, teacache=p.teacache, on_block=req.on_block,
                           control=p.cond.control_lora, attention=req.attention,
                           forwards=2 * 2 * (count - skip)):
            for idx in range(count):
                if not phase.runs(idx):
                    continue
                req.check_interrupt()
                noise = torch.randn(x_src.shape, generator=p.generator, device=torch.device("cpu"))
                phase.step(idx, noise.to(device), velocity(source, "source"), velocity(p, "target"))
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    out = finish(p, phase.x_tgt)
    out["denoised"] = phase.preview.unsqueeze(0).cpu()
    return out
