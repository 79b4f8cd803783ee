"""The diffusion-forcing loop: every latent frame at its own noise level.

ComfyUI-WanVideoWrapper's ``WanVideoDiffusionForcingSampler`` (``skyreels/nodes.py``,
2025-04-21 to 2026) runs SkyReels-V2's diffusion forcing (``diffusion_forcing_pipeline.py``)
inside the wrapper's sampler. What it does, and this loop reproduces:

- **Noise and schedule** as WanVideoSampler's (the same CPU generator and draw; the
  schedule of ``scheduler``, ``steps`` and ``shift``), so :func:`wfrun.sampling.loop.prepare`
  builds them here too, with the text context, guidance (CFG-Zero*, FreSca), NAG and the
  step cache (TeaCache, MagCache, EasyCache).
- **Prefix latents** (``prefix``, ``[C, n, H, W]``) replace the first ``n`` frames of the
  noise and count as finished: the step matrix (:mod:`.df_schedule`) starts them at
  timestep 0 and never steps them, so they come out as given.
- **Step matrix**: one row of per-frame timesteps per iteration (int64: the schedule is
  truncated to integers, as the pack's ``long()``); each row goes through the model as a
  ``[1, frames]`` timestep (``transformer_forward``'s per-frame path: each frame's tokens get
  their frame's time embedding and modulation), over the row's valid interval of frames.
- **addnoise_condition** (``a`` > 0): on every iteration the prefix frames given to the model
  are mixed with fresh noise, ``x·(1 - a/1000) + ε·a/1000``, and get timestep ``a``; the
  stored prefix stays clean.
- **Per-frame schedulers**: one scheduler per latent frame, each stepped only on the rows
  where its frame is updated, with that frame's prediction and the row's (integer)
  timestep, all sharing the seed's generator (``lcm`` draws its noise per frame, in frame
  order). Each frame goes to its scheduler as a *view* of the latents and the result is
  written back into it, as in the pack and SkyReels-V2: UniPC keeps its input of the first
  step for the corrector of the second, and that view then holds the second step's input
  (so a UniPC run differs from stepping the whole video with one scheduler; Euler and LCM
  keep no such history). For ``euler/beta`` the pack builds the frames' schedulers without the beta
  schedule (only the first, which gives the timesteps, has it), so the model sees beta
  timesteps and the frames step along plain Euler sigmas; wfrun does the same.
- **fps** (``fps_id``): a model with SkyReels-V2's sample-info embedding (the 1.3B DF
  release) adds ``fps_projection(fps_embedding[id])`` to the time projection of every
  frame (:func:`sample_info`); ``id`` is 0 at 16 fps and 1 otherwise.

The node itself always uses ``ar_step = 0``, ``causal_block_size = 1`` and the whole video
as the window (synchronous denoising: all unfinished frames share one timestep); the loop
takes the general values (SkyReels-V2's autoregressive staircase) for callers that want it.

Where wfrun differs: the ``addnoise_condition`` noise comes from a CPU generator seeded
with ``seed + 1`` (the pack draws it from torch's global generator, which nothing seeds,
so no run of the pack can be repeated); the model's per-frame timesteps are integers as
in the pack, but the schedulers look them up as floats (diffusers refuses integer
timesteps on the CPU: the pack only runs on CUDA tensors, where that test misses).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from wfrun.sampling.df_schedule import StepMatrix, StepMatrixError, timestep_matrix
from wfrun.sampling.hooks import sampling_pass
from wfrun.sampling.loop import SamplingError, SamplingRequest, planned_forwards, predict, prepare
from wfrun.sampling.schedulers import build_schedule, normalize_name

#: The pack's fps index: the sample-info embedding has one vector for 16 fps, one for any other.
FPS_16 = 16.0


def fps_index(fps: float) -> int:
    """SkyReels-V2's fps id: 0 for 16 fps (after the pack's rounding to 2 decimals), else 1."""
    return 0 if round(float(fps), 2) == FPS_16 else 1


@contextlib.contextmanager
def sample_info(transformer: Any, fps_id: int | None) -> Iterator[None]:
    """While open, every call of the model's ``condition_embedder`` gets
    ``fps_projection(fps_embedding[fps_id])`` added to its time projection (one vector of six
    modulations, the same for every frame and token, as SkyReels-V2's ``WanModel`` adds it
    to ``e0`` before the blocks). Nothing happens for a model without the embedding or
    with ``fps_id`` None."""
    embedding = getattr(transformer, "fps_embedding", None)
    embedder = getattr(transformer, "condition_embedder", None)
    if embedding is None or fps_id is None or embedder is None:
        yield
        return
    projection = transformer.fps_projection
    index = torch.tensor([int(fps_id)], dtype=torch.long, device=embedding.weight.device)
    extra = projection(embedding(index).to(projection[0].weight.dtype))[0]  # [6 * dim]

    def add(_module: Any, _args: Any, out: tuple) -> tuple:
        temb, proj, *rest = out
        return (temb, proj + extra.to(proj.device, proj.dtype), *rest)

    handle = embedder.register_forward_hook(add)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class DiffusionForcingRequest:
    """What :func:`sample` needs beyond WanVideoSampler's request (``base``: steps, cfg,
    shift, seed, scheduler, options, model; its ``samples`` are not used)."""

    base: SamplingRequest
    prefix: torch.Tensor | None = None     # [C, n, H, W] latents the video continues from
    addnoise_condition: int = 0
    fps_id: int | None = None
    ar_step: int = 0
    causal_block_size: int = 1
    base_num_frames: int | None = None     # the model's window in latent frames (None: the video)


def frame_scheduler_name(name: str) -> str:
    """The scheduler each frame steps with: the pack builds ``euler/beta``'s per-frame ones
    without the beta schedule."""
    name = normalize_name(name)
    return "euler" if name == "euler/beta" else name


def _place_prefix(latent: torch.Tensor, prefix: torch.Tensor | None) -> int:
    if prefix is None:
        return 0
    if prefix.ndim != 4 or prefix.shape[0] != latent.shape[0] or prefix.shape[2:] != latent.shape[2:]:
        raise SamplingError("prefix_samples", f"prefix latents of shape {tuple(prefix.shape)} do not fit the video's "
                            f"latents {tuple(latent.shape)} (channels, frames, height, width)",
                            "encode the prefix frames at the video's width and height")
    n = prefix.shape[1]
    if n >= latent.shape[1]:
        raise SamplingError("prefix_samples", f"the prefix has {n} latent frames and the video {latent.shape[1]}: "
                            "nothing is left to generate", "make the video longer than the prefix "
                            "(WanVideoEmptyEmbeds' num_frames) or give fewer prefix frames")
    latent[:, :n] = prefix.to(latent)
    return n


def build_matrix(req: DiffusionForcingRequest, frames: int, timesteps: torch.Tensor, prefix_len: int) -> StepMatrix:
    try:
        return timestep_matrix(frames, timesteps, req.base_num_frames or frames, int(req.ar_step), prefix_len,
                               int(req.causal_block_size))
    except StepMatrixError as err:
        raise SamplingError("steps", str(err)) from None


def _noised_condition(z: torch.Tensor, t: torch.Tensor, count: int, level: int, generator: torch.Generator) -> None:
    """The first ``count`` frames of the model input ``z`` mixed with fresh noise at
    ``level``/1000, their timesteps set to ``level`` (in place)."""
    part = z[:, :count]
    noise = torch.randn(part.shape, generator=generator, dtype=torch.float32).to(part)
    factor = 0.001 * level
    z[:, :count] = part * (1.0 - factor) + noise * factor
    t[:, :count] = level


def sample(req: DiffusionForcingRequest) -> dict:
    """Run the diffusion-forcing loop; returns the pack's LATENT (``samples`` only)."""
    base = dataclasses.replace(req.base, samples=None, step_range=None, denoise_strength=1.0)
    p = prepare(base)
    if p.cond.phantom is not None or p.cond.animate is not None or base.image_embeds.recammaster is not None:
        raise SamplingError("image_embeds", "the diffusion forcing sampler takes no Phantom, Animate or ReCamMaster "
                            "embeds (the pack's node ignores them)")
    latent = p.latent
    prefix_len = _place_prefix(latent, req.prefix)
    frames = latent.shape[1]
    matrix = build_matrix(req, frames, p.timesteps, prefix_len)
    if matrix.rows > len(p.cfg):
        p.cfg = p.cfg + [p.cfg[-1]] * (matrix.rows - len(p.cfg))
    frame_name = frame_scheduler_name(base.scheduler)
    dim = int(base.transformer.config.num_attention_heads * base.transformer.config.attention_head_dim)
    steppers = [build_schedule(frame_name, p.steps, base.shift, transformer_dim=dim,
                               device=torch.device(base.device), steps_divided=True).stepper for _ in range(frames)]
    noise_gen = torch.Generator(device="cpu").manual_seed((int(base.seed) + 1) % 2 ** 64)
    level = int(req.addnoise_condition)
    bar = base.progress.steps(matrix.rows, "WanVideoDiffusionForcingSampler") if base.progress is not None else None
    cache_state: list = [None, None, None]
    try:
        with sampling_pass(base.transformer, slg=base.options.slg, teacache=p.teacache, on_block=base.on_block,
                           attention=base.attention, forwards=planned_forwards(p),
                           attention_override=base.attention_override), \
                sample_info(base.transformer, req.fps_id):
            for i in range(matrix.rows):
                base.check_interrupt()
                row = matrix.timesteps[i]
                start, end = matrix.intervals[i]
                t = row[None, start:end].clone()
                z = latent[:, start:end].clone()
                if level > 0 and start < prefix_len:
                    _noised_condition(z, t, prefix_len - start, level, noise_gen)
                cond = p.cond.image_cond[:, start:end] if p.cond.image_cond is not None else None
                ctl = p.cond.control_latents[:, start:end] if p.cond.control_latents is not None else None
                vace = tuple((c[:, start:end], v) for c, v in p.cond.vace) if (start, end) != (0, frames) else None
                pred = predict(p, z, p.cfg[i], p.text.positive, t, i, cond, ctl, cache_state, False, vace)
                for f in range(start, end):
                    if bool(matrix.update[i, f]):
                        latent[:, f] = steppers[f].step(pred[:, f - start], row[f].float(), latent[:, f],
                                                        generator=p.generator).to(latent)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return {"samples": latent.unsqueeze(0).cpu(),
            "teacache_skipped": p.teacache.skipped_steps() if p.teacache is not None else None}
