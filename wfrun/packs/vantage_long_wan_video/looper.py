"""VantageI2VDualLooper ("Vantage I2V Dual Model Looper"): one image-to-video segment per
prompt line, each started from a frame of the one before, on the Wan 2.2 A14B experts.

Per segment (the plan in :mod:`.schedule`), what the pack does, here with wfrun's core
executors (through the registry: packs do not import each other):

1. the prompt line through CLIPTextEncode (the negative text once, for all segments);
2. the segment's conditioning as WanImageToVideo makes it, with the width and height
   rounded down to multiples of 16: the seed image (``start_image`` for the first segment,
   then the frame the previous one left, see ``overlap``) fitted bilinear / centre into a
   grey video of the segment's length, VAE-encoded as ``concat_latent_image``, its latent
   frames masked 0; with ``clip_vision``, CLIPVisionEncode of the seed image (``crop``);
3. three KSamplerAdvanced-like passes over one schedule of ``steps_init + steps_high +
   steps_low`` steps at ``denoise`` (KSampler's sigmas: the tail of a longer schedule below
   1), all with ``seed``: ``model_init`` (only when connected; else ``steps_init`` counts
   as 0) adds the noise and runs steps ``[0, steps_init]`` at ``cfg_init``, leaving its
   noise; ``model_high`` runs ``[steps_init, +steps_high]`` at ``cfg`` (adding the noise
   itself when there is no ``model_init``); ``model_low`` runs the rest to the end at
   ``cfg``, denoised fully. A window past the schedule's end returns its latent as it is;
4. VAEDecode; the first ``max(overlap, 1)`` frames of every segment after the first are
   dropped, and the ``max(overlap, 1)``-th frame from the end (as decoded, before that)
   seeds the next segment.

The output is every kept frame in order, as the pack returns them: it saves each segment's
frames as 8-bit PNGs in ``vantage/<project id>/<segment>/`` and reads them all back as RGBA,
so the IMAGE has four channels (alpha 1) and its colours are rounded to 1/255.

Differences: the pack writes those PNGs into ComfyUI's folder and, for ``start_prompt`` > 0,
resumes from the frames an earlier run left there (when the folder of the segment before
holds any; else it steps back to the first prompt). wfrun writes no such files and keeps no
earlier frames, so it renders every prompt from the start image, as the pack does for a
project with no saved frames (VantageProject refuses the resume request it would make). An
empty ``negative_text`` gives the pack no negative conditioning at all: ComfyUI's negative
prediction is then zeros wherever CFG is not 1; here the negative side holds one entry of
strength 0, which wfrun's sampler turns into the same zeros.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.packs.vantage_long_wan_video.schedule import ScheduleError, Segment, plan_segments, read_project
from wfrun.sampling import ksampler as ks

log = logging.getLogger(__name__)

OOM_HINT = "load the models with weight_dtype fp8_e4m3fn or as GGUF, or use a smaller width and height"
#: The pack's latents: the Wan 2.1 VAE's 16 channels.
LATENT_CHANNELS = 16


def core(class_type: str) -> Any:
    return builtin_executor(class_type, "model_high")


def _model(name: str, model: Any) -> CoreModel:
    if not isinstance(model, CoreModel):
        raise NodeInputError(name, f"expected a MODEL (a Wan 2.2 image-to-video expert), got {type(model).__name__}")
    return model


def _align(value: int) -> int:
    """The pack's ``_align_px``: down to a multiple of 16, at least 16."""
    return max(16, (int(value) // 16) * 16)


def _start_image(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0 or value.shape[-1] not in (3, 4):
        raise NodeInputError("start_image", "expected an IMAGE batch [frames, height, width, 3]")
    return value.float()


def _fps(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 16


def as_saved_png(frames: torch.Tensor) -> torch.Tensor:
    """Frames as the pack reads its PNGs back: 8-bit (``x·255 + 0.5`` truncated), RGBA, alpha 1."""
    rgb = torch.floor(frames.float().clamp(0, 1) * 255.0 + 0.5) / 255.0
    return torch.cat([rgb, torch.ones_like(rgb[..., :1])], dim=-1)


def negative_conditioning(ctx: ExecContext, clip: Any, text: str) -> list:
    """The negative text's conditioning; for no text, one entry of strength 0 (see the module docs)."""
    (negative,) = core("CLIPTextEncode")(ctx, text=text, clip=clip)
    if text:
        return negative
    return [[tensor, {**options, "strength": 0.0}] for tensor, options in negative]


def seed_frame(images: torch.Tensor, overlap: int) -> torch.Tensor:
    """The frame that starts the next segment: the ``max(overlap, 1)``-th from the end, or the
    last when there are fewer frames."""
    pick = max(1, overlap)
    if images.shape[0] >= pick:
        return images[images.shape[0] - pick:images.shape[0] - pick + 1]
    return images[-1:]


def expert_passes(steps_init: int, steps_high: int, steps_low: int, with_init: bool) -> list[tuple[str, int, int]]:
    """``(expert, first step, last step)`` of the three passes over one schedule of
    ``init + high + low`` steps; ``steps_init`` counts only with ``model_init`` connected."""
    init = steps_init if with_init else 0
    high, low = init + steps_high, init + steps_high + steps_low
    passes = [("init", 0, init)] if with_init else []
    return passes + [("high", init, high), ("low", high, low)]


def _sample(ctx: ExecContext, model: CoreModel, positive: list, negative: list, latent: dict, *, seed: int,
            steps: int, cfg: float, sampler: Any, sampler_name: str, scheduler: str, denoise: float,
            add_noise: bool, first: int, last: int, full: bool, input_name: str) -> dict:
    """One KSamplerAdvanced-like pass (ComfyUI's ``common_ksampler`` with a step window and
    ``denoise``), as SamplerCustom over those sigmas."""
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    try:
        sigmas = ks.advanced_sigmas(ms, scheduler, steps, first, last, full, sampler_name=sampler_name,
                                    denoise=denoise)
    except ks.SchedulerStepsError as err:
        raise NodeInputError(input_name, str(err), "use more steps or another scheduler") from None
    if len(sigmas) == 0:  # KSampler.sample: a window past the end returns the latent as it is
        return latent
    out, _ = core("SamplerCustom")(ctx, model=model, add_noise=add_noise, noise_seed=seed, cfg=cfg,
                                   positive=positive, negative=negative, sampler=sampler, sigmas=sigmas,
                                   latent_image=latent)
    return {"samples": out["samples"]}


def checked_segments(node: str, scheduler: Any, crop: Any, project_data: Any, fps: Any, overlap: Any,
                     batch_size: Any) -> tuple[list, int, int]:
    """The loopers' shared settings checked and their segment plan: (segments, overlap, batch).
    A project's ``start_prompt`` is noted: wfrun keeps no project folders, so every prompt is
    rendered from the start image, as the pack does for a project with no saved frames."""
    if scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}",
                             f"use one of {', '.join(ks.SCHEDULER_NAMES)}")
    if crop not in ("center", "none"):
        raise NodeInputError("crop", f"unknown crop {crop!r}", "use center or none")
    try:
        project = read_project(project_data)
    except ValueError as err:
        raise NodeInputError("project_data", str(err), "connect a VantageProject node's project_data") from None
    if project.start_prompt > 0:
        log.warning("%s: start_prompt %d: wfrun keeps no Vantage project folders, so, as the pack does for a "
                    "project with no saved frames, every prompt is rendered from the start image", node,
                    project.start_prompt)
    overlap_n, batch = int(overlap), int(batch_size)
    try:
        segments = plan_segments(project.prompt_lines, _fps(fps), overlap_n, batch)
    except ScheduleError as err:
        raise NodeInputError(err.input_name, str(err), err.hint) from None
    return segments, overlap_n, batch


@executor("VantageI2VDualLooper", oom_hint=OOM_HINT)
def vantage_dual_looper(ctx: ExecContext, model_high: Any, model_low: Any, clip: Any, project_data: Any,
                        negative_text: Any, seed: Any, steps_init: Any, steps_high: Any, steps_low: Any,
                        cfg_init: Any, cfg: Any, sampler_name: Any, scheduler: Any, width: Any, height: Any,
                        batch_size: Any, denoise: Any, fps: Any, overlap: Any, crop: Any, vae: Any,
                        start_image: Any, model_init: Any = None, clip_vision: Any = None, **_: Any) -> tuple:
    models = {"high": _model("model_high", model_high), "low": _model("model_low", model_low)}
    if model_init is not None:
        models["init"] = _model("model_init", model_init)
    segments, overlap_n, batch = checked_segments("VantageI2VDualLooper", scheduler, crop, project_data, fps, overlap,
                                                  batch_size)
    width, height = _align(width), _align(height)
    image = _start_image(start_image)
    negative_text = negative_text or ""
    negative = negative_conditioning(ctx, clip, negative_text)
    (sampler,) = core("KSamplerSelect")(ctx, sampler_name=sampler_name)
    passes = expert_passes(int(steps_init), int(steps_high), int(steps_low), "init" in models)
    total_steps = passes[-1][2]
    cfgs = {"init": float(cfg_init), "high": float(cfg), "low": float(cfg)}
    kept: list[torch.Tensor] = []
    seed_image = image
    for segment in segments:
        ctx.check_interrupt()
        log.info("VantageI2VDualLooper: segment %d of %d, %d frames: %s", segment.index + 1, len(segments),
                 segment.length, segment.prompt[:80])
        images = _segment(ctx, segment, models, passes, total_steps, cfgs, clip, vae, clip_vision, negative,
                          seed_image, width=width, height=height, batch=batch, seed=int(seed), sampler=sampler,
                          sampler_name=sampler_name, scheduler=scheduler, denoise=float(denoise), crop=crop)
        kept.append(images[segment.dropped:])
        seed_image = seed_frame(images, overlap_n)
    return (as_saved_png(torch.cat(kept, dim=0)),)


def segment_conditioning(ctx: ExecContext, segment: Segment, clip: Any, vae: Any, clip_vision: Any,
                         negative: list, seed_image: torch.Tensor, *, width: int, height: int, batch: int,
                         crop: str) -> tuple[list, list, dict]:
    """A segment's positive and negative conditioning and its empty latent, as both loopers build
    them: the prompt line through CLIPTextEncode, CLIPVisionEncode of the seed image (with a
    ``clip_vision``), WanImageToVideo's concat latent and mask."""
    (positive,) = core("CLIPTextEncode")(ctx, text=segment.prompt, clip=clip)
    vision = None
    if clip_vision is not None:
        (vision,) = core("CLIPVisionEncode")(ctx, clip_vision=clip_vision, image=seed_image, crop=crop)
    positive, negative, latent = core("WanImageToVideo")(ctx, positive=positive, negative=negative, vae=vae,
                                                         width=width, height=height, length=segment.length,
                                                         batch_size=batch, start_image=seed_image,
                                                         clip_vision_output=vision)
    if latent["samples"].shape[1] != LATENT_CHANNELS:
        raise NodeInputError("vae", f"a VAE of {latent['samples'].shape[1]} latent channels: the pack makes "
                             "16-channel latents (Wan 2.1's VAE, the one Wan 2.2 A14B uses)",
                             "load wan_2.1_vae.safetensors")
    return positive, negative, latent


def segment_frames(ctx: ExecContext, segment: Segment, latent: dict, vae: Any) -> torch.Tensor:
    """A sampled segment decoded (all batch items, one after another), clamped to 0..1."""
    (images,) = core("VAEDecode")(ctx, samples=latent, vae=vae)
    if images.shape[0] != segment.decoded:  # the plan counted on the Wan VAE's 4·(T - 1) + 1 frames per item
        raise NodeInputError("vae", f"the VAE decoded {images.shape[0]} frames where the Wan VAE gives "
                             f"{segment.decoded}", "load the Wan 2.1 VAE")
    return images.float().clamp(0, 1)


def _segment(ctx: ExecContext, segment: Segment, models: dict, passes: list, total_steps: int, cfgs: dict,
             clip: Any, vae: Any, clip_vision: Any, negative: list, seed_image: torch.Tensor, *, width: int,
             height: int, batch: int, seed: int, sampler: Any, sampler_name: str, scheduler: str, denoise: float,
             crop: str) -> torch.Tensor:
    """One segment of the dual looper: its decoded frames."""
    positive, negative, latent = segment_conditioning(ctx, segment, clip, vae, clip_vision, negative, seed_image,
                                                      width=width, height=height, batch=batch, crop=crop)
    for n, (name, first, last) in enumerate(passes):
        latent = _sample(ctx, models[name], positive, negative, latent, seed=seed, steps=total_steps,
                         cfg=cfgs[name], sampler=sampler, sampler_name=sampler_name, scheduler=scheduler,
                         denoise=denoise, add_noise=n == 0, first=first, last=last, full=name == "low",
                         input_name=f"steps_{name}")
    return segment_frames(ctx, segment, latent, vae)
