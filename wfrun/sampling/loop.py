"""The denoising loop of WanVideoSampler (ComfyUI-WanVideoWrapper ``nodes.py``,
``WanVideoSampler.process``, 2025-07, commit 069ebf7), on diffusers' transformer.

The pack's choices this reproduces:

- **Steps**: ``steps = int(steps / denoise_strength)``; a cfg *list* then sets the step
  count to its length; the scheduler is built for that count; with
  ``denoise_strength < 1`` the loop walks the last ``int(steps*denoise)+1`` timesteps.
  A single cfg becomes ``[cfg] * (steps + 1)``; ``cfg[idx]`` is used at step ``idx``.
- **Noise**: float32, on the CPU, from ``torch.Generator("cpu").manual_seed(seed)``, drawn
  once with shape ``[16, T, H/8, W/8]`` where T is ``target_shape[1]`` (+1 with a
  reference, T2V) or ``(num_frames-1)//4 + 1`` (+1 more for the pack's separate end frame
  when ``end_image`` is set on a non-Fun/FLF2V model) for image conditioning. The same
  generator then feeds FreeNoise shuffles and stochastic schedulers (dpm++_sde, lcm).
- **video2video**: ``samples`` (padded at the front with their first frame when shorter)
  are mixed with the noise at the first timestep: ``noise*t/1000 + (1-t/1000)*samples``,
  only when ``denoise_strength < 1``.
- **cfg**: skipped when ``cfg[idx]`` is 1.0 (isclose); otherwise
  ``uncond*a + cfg*(cond - uncond*a)`` with ``a`` = the CFG-Zero* projection
  ``<cond, uncond>/|uncond|²`` when ``cfg_zero_star`` (else 1); with ``use_zero_init`` the
  first ``zero_star_steps + 1`` predictions are zero. FreSca scales the FFT of
  ``cond - uncond`` (of ``cond`` alone without cfg) per frequency band.
  ``batched_cfg`` runs cond and uncond as one batch of 2.
- **Context windows**: sizes in pixel frames → latent (``(f-1)//4+1``, ``//4``, ``//4``),
  FreeNoise before sampling, each window predicted with its own slice of ``y``/control
  (first ``y`` frame replaced by the video's first, or by ``reference_latent``), its own
  TeaCache state, and the prompt of its section when several prompts are given; fused by
  the window masks of :mod:`.context`.
- **Conditioning**: ``y`` (image embeds) is concatenated to the latents channel-wise; Fun
  control prepends the control latents (zeros outside ``[start, end]`` percent; inside at
  step 0 too if ``end > 0``); T2V-style calls on a Fun-InP (36-channel) model get zeros.
- Returns the pack's LATENT: ``samples [1, 16, T, H, W]`` (CPU, float32) with
  ``looped``, ``end_image``, ``has_ref``, ``drop_last`` and ``generator_state``.

Where wfrun differs (all are errors, never silent): no text embeds (the pack then skips
cross-attention, which diffusers' blocks cannot), Fun 1.1 reference images (diffusers'
model has no ``ref_conv``), diff-diff masks in ``samples``, and the pack's extras outside
Wan 2.1 core (VACE, Phantom, ReCamMaster, UniAnimate, audio, FlowEdit, FreeInit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from wfrun.sampling.conditioning import ImageEmbeds, SamplerOptions, TextEmbeds
from wfrun.sampling import context as ctxwin
from wfrun.sampling.forward import ForwardOptions, TeaCache, transformer_forward
from wfrun.sampling.schedulers import Schedule, build_schedule


class SamplingError(ValueError):
    """A bad input for sampling; ``input_name`` is the sampler input to blame."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


@dataclass
class SamplingRequest:
    transformer: Any
    image_embeds: ImageEmbeds
    text_embeds: TextEmbeds | None
    steps: int
    cfg: float | Sequence[float]
    shift: float
    seed: int
    scheduler: str
    dtype: torch.dtype = torch.float32
    device: str | torch.device = "cpu"
    denoise_strength: float = 1.0
    samples: dict | None = None
    sigmas: Any = None
    options: SamplerOptions = field(default_factory=SamplerOptions)
    teacache_variant: str = "14B"
    cache_device: str | torch.device = "cpu"
    #: ``ctx.progress`` (``steps(total, description)`` → bar with ``update``/``close``) or None.
    progress: Any = None
    check_interrupt: Callable[[], None] = lambda: None
    #: Passed to the forward; tests count transformer block calls with it.
    on_block: Callable[[int], None] | None = None


def fourier_filter(x: torch.Tensor, scale_low: float, scale_high: float, freq_cutoff: int) -> torch.Tensor:
    """FreSca: scale the centred 2-D spectrum by ``scale_low`` inside ``±freq_cutoff`` and
    ``scale_high`` outside (slicing exactly as the pack, so small latents behave alike)."""
    dtype = x.dtype
    freq = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    h, w = freq.shape[-2:]
    mask = torch.full(freq.shape, float(scale_high), device=x.device)
    cr, cc = h // 2, w // 2
    mask[..., cr - freq_cutoff:cr + freq_cutoff, cc - freq_cutoff:cc + freq_cutoff] = scale_low
    out = torch.fft.ifftn(torch.fft.ifftshift(freq * mask, dim=(-2, -1)), dim=(-2, -1)).real
    return out.to(dtype)


def _pad_context(embeds: Sequence[torch.Tensor], text_len: int = 512) -> torch.Tensor:
    rows = []
    for e in embeds:
        e = e[0] if e.ndim == 3 else e
        if e.shape[0] > text_len:
            e = e[:text_len]
        rows.append(torch.cat([e, e.new_zeros(text_len - e.shape[0], e.shape[1])]))
    return torch.stack(rows)


def _in_window(start: float, end: float, pct: float, idx: int) -> bool:
    """The pack's window test for control/conditioning: inside, or step 0 when end > 0."""
    return (start <= pct <= end) or (end > 0 and idx == 0 and pct >= start)


def sample(req: SamplingRequest) -> dict:
    tr = req.transformer
    opts = req.options
    emb = req.image_embeds
    device = torch.device(req.device)
    dtype = req.dtype
    in_ch = int(tr.config.in_channels)
    control_lora = getattr(tr, "_wfrun_control_lora", None)  # packs/wanvideo/control_lora.py
    denoise = float(req.denoise_strength)
    if req.text_embeds is None or not req.text_embeds.prompt_embeds:
        raise SamplingError("text_embeds", "no text embeds given",
                            "connect WanVideoTextEncode; diffusers' Wan blocks always cross-attend to a prompt")

    # --- steps and cfg (pack order: divide, cfg list overrides, build, slice) -------------
    if denoise <= 0:
        raise SamplingError("denoise_strength", "denoise_strength must be above 0")
    steps = int(int(req.steps) / denoise)
    cfg = req.cfg
    if isinstance(cfg, (list, tuple)):
        cfg = [float(c) for c in cfg]
        if not cfg:
            raise SamplingError("cfg", "the cfg list is empty")
        steps = len(cfg)
    else:
        cfg = [float(cfg)] * (steps + 1)
    schedule: Schedule = build_schedule(req.scheduler, steps, req.shift, denoise_strength=denoise, sigmas=req.sigmas,
                                        transformer_dim=int(tr.config.num_attention_heads * tr.config.attention_head_dim),
                                        device=device, steps_divided=True)
    timesteps = schedule.timesteps
    if len(cfg) < len(timesteps):  # the pack would index past a short list; say so instead
        raise SamplingError("cfg", f"{len(cfg)} cfg values for {len(timesteps)} steps")

    seed_g = torch.Generator(device="cpu")
    seed_g.manual_seed(int(req.seed))

    # --- noise and conditioning ---------------------------------------------------------
    image_cond = emb.image_embeds
    clip_fea = clip_neg = control_latents = None
    control = emb.control_embeds
    has_ref = bool(emb.has_ref)
    fun_or_fl2v = bool(emb.fun_or_fl2v_model)
    end_image = emb.end_image
    if image_cond is not None:
        if emb.lat_h is None or emb.lat_w is None:
            raise SamplingError("image_embeds", "image embeds without latent size (lat_h/lat_w)")
        frames = (int(emb.num_frames) - 1) // 4 + (2 if end_image is not None and not fun_or_fl2v else 1)
        noise = torch.randn(16, frames, emb.lat_h, emb.lat_w, dtype=torch.float32, generator=seed_g, device="cpu")
        clip_fea = emb.clip_context.to(device, dtype) if emb.clip_context is not None else None
        clip_neg = emb.negative_clip_context.to(device, dtype) if emb.negative_clip_context is not None else None
        if control is not None:
            if in_ch not in (48, 32):
                raise SamplingError("image_embeds", "control embeds only work with a Wan-Fun control model "
                                    "or a model with a control LoRA",
                                    f"this model has {in_ch} input channels and no control LoRA")
            control_latents = control.control_images
    else:
        if emb.target_shape is None:
            raise SamplingError("image_embeds", "image embeds without target_shape",
                                "use WanVideoEmptyEmbeds for text-to-video")
        c, t, h, w = emb.target_shape
        noise = torch.randn(c, t + 1 if has_ref else t, h, w, dtype=torch.float32, device="cpu", generator=seed_g)
        if control is not None and control_lora is not None:
            control_latents = control.control_images  # the model input's second half, in the window
        elif control is not None:
            if in_ch not in (48, 32):
                raise SamplingError("image_embeds", "control embeds only work with a Wan-Fun control model "
                                    "or a model with a control LoRA",
                                    f"this model has {in_ch} input channels and no control LoRA")
            control_latents = control.control_images
            image_cond = torch.zeros_like(noise)
            clip_fea = None
        elif in_ch == 36:  # Fun-InP without an image: zero mask and zero video latents
            image_cond = torch.cat([torch.zeros_like(noise[:1]).repeat(4, 1, 1, 1), torch.zeros_like(noise)])
    if control is not None and control.fun_ref_image is not None:
        raise SamplingError("image_embeds", "Fun 1.1 reference images are not supported",
                            "diffusers' WanTransformer3DModel has no ref_conv; remove fun_ref_image")
    if image_cond is not None:
        expected = in_ch - 16 - (16 if control_latents is not None else 0)
        if image_cond.shape[0] != expected:
            raise SamplingError("image_embeds", f"image conditioning has {image_cond.shape[0]} channels, "
                                f"the model expects {expected} (it takes {in_ch} input channels)")
        image_cond = image_cond.to(device)
    if control_latents is not None:
        control_latents = control_latents.to(device)
    phantom = emb.phantom
    phantom_latents = phantom.latents.to(device) if phantom is not None else None
    if phantom is not None and opts.context is not None:
        raise SamplingError("context_options", "context windows with Phantom reference frames are not supported",
                            "disconnect context_options")
    latent_len = noise.shape[1]

    # --- text ---------------------------------------------------------------------------
    positive = [p.to(device, dtype) for p in req.text_embeds.prompt_embeds]
    negative = [n.to(device, dtype) for n in req.text_embeds.negative_prompt_embeds]
    pos_ctx = _pad_context(positive)
    neg_ctx = _pad_context(negative[:1]) if negative else None
    num_prompts = pos_ctx.shape[0]
    if opts.batched_cfg and num_prompts > 1:
        raise SamplingError("batched_cfg", "batched cfg with several prompts is not supported (the pack's batch "
                            "would mismatch)", "turn batched_cfg off")

    # --- context windows ------------------------------------------------------------------
    co = opts.context
    ctx_frames = ctx_stride = ctx_overlap = 0
    is_looped = False
    schedule_fn = None
    if co is not None:
        ctx_frames = (int(co.context_frames) - 1) // 4 + 1
        ctx_stride = int(co.context_stride) // 4
        ctx_overlap = int(co.context_overlap) // 4
        if co.context_schedule not in ctxwin.SCHEDULES:
            raise SamplingError("context_options", f"unknown context schedule '{co.context_schedule}'",
                                "use one of " + ", ".join(ctxwin.SCHEDULES))
        schedule_fn = ctxwin.SCHEDULES[co.context_schedule]
        is_looped = co.context_schedule == "uniform_looped"
        if co.freenoise:
            ctxwin.freenoise_shuffle(noise, ctx_frames, ctx_overlap, seed_g)

    # --- video2video ------------------------------------------------------------------------
    if req.samples is not None:
        if req.samples.get("mask") is not None:
            raise SamplingError("samples", "latents with a noise mask (differential diffusion) are not supported")
        inp = req.samples["samples"].squeeze(0).to(noise)
        if inp.shape[1] < noise.shape[1]:
            inp = torch.cat([inp[:, :1].repeat(1, noise.shape[1] - inp.shape[1], 1, 1), inp], dim=1)
        if inp.shape != noise.shape:
            raise SamplingError("samples", f"input latents {tuple(inp.shape)} do not fit the video {tuple(noise.shape)}")
        if denoise < 1.0:
            lt = timesteps[:1].to(noise)
            noise = noise * lt / 1000 + (1 - lt / 1000) * inp

    extra = emb.extra_latents
    extra_count = 0
    empty_idx = None
    if extra is not None:
        enc = extra["samples"].squeeze(0).to(noise)
        empty_idx = extra.get("empty_latent_indices")
        if empty_idx:
            out = enc.clone()
            for i in empty_idx:
                out[:, i] = noise[:, i]
            noise = out
        else:
            noise[:, :enc.shape[1]] = enc
            extra_count = enc.shape[1]

    latent = noise.to(device)

    # --- per-run settings ---------------------------------------------------------------------
    feta = opts.feta if (opts.feta is not None and latent_len > 1) else None
    feta_frames = ctx_frames if co is not None else latent_len
    exp = opts.experimental
    split_steps: tuple[int, ...] = ()
    zero_star = zero_init = fresca = False
    zero_star_steps = 0
    if exp is not None:
        if exp.video_attention_split_steps:
            split_steps = tuple(int(x.strip()) for x in str(exp.video_attention_split_steps).split(",") if x.strip())
        zero_star, zero_init, zero_star_steps = bool(exp.cfg_zero_star), bool(exp.use_zero_init), int(exp.zero_star_steps)
        fresca = bool(exp.use_fresca)
    teacache = None
    if opts.teacache is not None:
        teacache = TeaCache.create(opts.teacache, len(timesteps), req.teacache_variant, req.cache_device)
    loop = opts.loop
    if loop is not None:
        is_looped = True
    shift_idx = 0

    def filt(x: torch.Tensor) -> torch.Tensor:
        return fourier_filter(x, exp.fresca_scale_low, exp.fresca_scale_high, exp.fresca_freq_cutoff)

    def run(z: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor, clip: torch.Tensor | None, idx: int, pct: float,
            uncond: bool, pred_id: int | None, feta_on: bool) -> tuple[torch.Tensor, int | None]:
        fo = ForwardOptions(step=idx, step_percent=pct, is_uncond=uncond, slg=opts.slg,
                            feta_weight=float(feta.weight) if feta_on else None, feta_frames=feta_frames,
                            riflex_k=int(opts.riflex_freq_index), riflex_frames=latent_len,
                            split_attn_steps=split_steps, teacache=teacache, pred_id=pred_id, on_block=req.on_block)
        bsz = z.shape[0]
        tt = t.to(device)
        tt = tt.repeat(bsz, 1) if tt.ndim == 2 and tt.shape[0] != bsz else (tt.repeat(bsz) if tt.ndim == 1 and tt.shape[0] != bsz else tt)
        clip_in = clip.unsqueeze(0) if clip is not None and clip.ndim == 2 else clip
        if clip_in is not None and clip_in.shape[0] != bsz and ctx.shape[0] == bsz:
            clip_in = clip_in.expand(bsz, -1, -1)
        out, pid = transformer_forward(tr, z, tt, ctx, clip_in, fo)
        return out.float(), pid

    def predict(z: torch.Tensor, cfg_scale: float, pos: torch.Tensor, t: torch.Tensor, idx: int,
                cond: torch.Tensor | None, ctl: torch.Tensor | None, cache_state: list, feta_on: bool) -> torch.Tensor:
        z = z.to(dtype)
        if zero_star and idx <= zero_star_steps and zero_init:
            return torch.zeros_like(z, dtype=torch.float32)
        pct = idx / len(timesteps)
        y = cond
        if ctl is not None and control_lora is not None:  # inside the window: LoRA on, control appended
            inside = _in_window(control.start_percent, control.end_percent, pct, idx)
            control_lora.set(inside)
            y = ctl.to(z) if inside else None
        elif ctl is not None:
            y = torch.cat([ctl.to(z) if _in_window(control.start_percent, control.end_percent, pct, idx)
                           else torch.zeros_like(ctl, dtype=z.dtype), cond.to(z)])
        z_neg = z
        with_phantom = phantom is not None and _in_window(phantom.start_percent, phantom.end_percent, pct, idx)
        if with_phantom:  # the last frames become the references (cond) or zeros (uncond)
            n = phantom_latents.shape[1]
            z = torch.cat([z[:, :-n], phantom_latents.to(z)], dim=1)
            z_neg = torch.cat([z[:, :-n], torch.zeros_like(phantom_latents, dtype=z.dtype)], dim=1)
        zin = (torch.cat([z, y.to(z)]) if y is not None else z).unsqueeze(0)
        zin_neg = (torch.cat([z_neg, y.to(z)]) if y is not None else z_neg).unsqueeze(0)
        if not opts.batched_cfg or with_phantom:  # the pack's Phantom pass is unbatched
            c_out, cache_state[0] = run(zin, t, pos, clip_fea, idx, pct, False, cache_state[0], feta_on)
            c_out = c_out[0]
            if math.isclose(cfg_scale, 1.0):
                return filt(c_out) if fresca else c_out
            if neg_ctx is None:
                raise SamplingError("text_embeds", "cfg is not 1.0 but there is no negative prompt embedding")
            u_out, cache_state[1] = run(zin_neg, t, neg_ctx, clip_neg if clip_neg is not None else clip_fea, idx,
                                        pct, True, cache_state[1], feta_on)
            u_out = u_out[0]
            scales = phantom.cfg_scale if with_phantom else 1.0
            phantom_cfg = float(scales[min(idx, len(scales) - 1)]) if isinstance(scales, tuple) else float(scales)
            if with_phantom and not math.isclose(phantom_cfg, 1.0):
                # references with the negative prompt: guidance toward the subject, then the text
                p_out, cache_state[2] = run(zin, t, neg_ctx, clip_neg if clip_neg is not None else clip_fea, idx,
                                            pct, True, cache_state[2], feta_on)
                p_out = p_out[0]
                return u_out + phantom_cfg * (p_out - u_out) + cfg_scale * (c_out - p_out)
        else:
            both, cache_state[0] = run(torch.cat([zin, zin]), t, torch.cat([pos, neg_ctx]), clip_fea, idx, pct,
                                       False, cache_state[0], feta_on)
            c_out, u_out = both[0], both[1]
        alpha = 1.0
        if zero_star:
            cf, uf = c_out.reshape(1, -1), u_out.reshape(1, -1)
            alpha = ((cf * uf).sum(dim=1, keepdim=True) / ((uf ** 2).sum(dim=1, keepdim=True) + 1e-8)).view(1, 1, 1, 1)
        if fresca:
            return u_out * alpha + cfg_scale * filt(c_out - u_out) * alpha
        return u_out * alpha + cfg_scale * (c_out - u_out * alpha)

    # --- the loop -----------------------------------------------------------------------------
    bar = req.progress.steps(len(timesteps), "WanVideoSampler") if req.progress is not None else None
    cache_state: list = [None, None, None]  # cond, uncond, Phantom's reference pass
    tracker = ctxwin.WindowTracker()
    section = latent_len / num_prompts
    stepper = schedule.stepper
    try:
        for idx, t in enumerate(timesteps):
            req.check_interrupt()
            timestep = torch.tensor([float(t)])
            if schedule.per_frame_timesteps:
                timestep = timestep.unsqueeze(1).repeat(1, latent_len)
                if extra is not None:
                    if empty_idx:
                        keep = [i for i in range(latent_len) if i not in empty_idx]
                        timestep[:, keep] = 0
                    else:
                        timestep[:, :extra_count] = 0
            pct = idx / len(timesteps)
            model_in = latent
            shifted = loop is not None and loop.start_percent <= pct <= loop.end_percent
            if shifted:
                model_in = torch.cat([model_in[:, shift_idx:], model_in[:, :shift_idx]], dim=1)
            feta_on = feta is not None and feta.start_percent <= pct <= feta.end_percent

            if co is None:
                noise_pred = predict(model_in, cfg[idx], pos_ctx, timestep, idx, image_cond, control_latents,
                                     cache_state, feta_on)
            else:
                noise_pred = torch.zeros_like(model_in, dtype=torch.float32)
                counter = torch.zeros_like(model_in, dtype=torch.float32)
                for window in schedule_fn(idx, steps, latent_len, ctx_frames, ctx_stride, ctx_overlap):
                    wid = tracker.window_id(window)
                    state = tracker.cache_states.setdefault(wid, [None, None])
                    p_idx = min(int(max(window) / section), num_prompts - 1)
                    pos = pos_ctx[p_idx:p_idx + 1] if num_prompts > 1 else pos_ctx
                    w_cond = w_ctl = None
                    if image_cond is not None:
                        w_cond = image_cond[:, window].clone()
                        ref = co.reference_latent
                        if window[0] != 0 and ref is not None:
                            first = ref[:, 0].to(w_cond)
                            w_cond[:, 0] = torch.cat([image_cond[:4, 0], first]) if first.shape[0] + 4 == w_cond.shape[0] else first
                        else:
                            w_cond[:, 0] = image_cond[:, 0]
                    if control_latents is not None:
                        w_ctl = control_latents[:, window]
                    wt = timestep[:, window] if timestep.ndim == 2 else timestep
                    pred = predict(model_in[:, window], cfg[idx], pos, wt, idx, w_cond, w_ctl, state, feta_on)
                    mask = ctxwin.window_mask(pred, window, latent_len, ctx_overlap, looped=is_looped,
                                              method=co.fuse_method)
                    noise_pred[:, window] += pred * mask
                    counter[:, window] += mask
                noise_pred = noise_pred / counter

            if shifted:
                noise_pred = torch.cat([noise_pred[:, latent_len - shift_idx:], noise_pred[:, :latent_len - shift_idx]], dim=1)
                shift_idx = (shift_idx + int(loop.shift_skip)) % latent_len
            step_t = timestep.to(device) if timestep.ndim == 2 else t.reshape(1).to(device)
            latent = stepper.step(noise_pred.unsqueeze(0).to(latent.device), step_t, latent.unsqueeze(0),
                                  generator=seed_g).squeeze(0).float()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if control_lora is not None:
            control_lora.set(False)  # a cached model is reused as loaded

    if phantom_latents is not None:  # the reference frames are not part of the video
        latent = latent[:, :-phantom_latents.shape[1]]
    return {
        "samples": latent.unsqueeze(0).cpu(),
        "looped": is_looped,
        "end_image": end_image if not fun_or_fl2v else None,
        "has_ref": has_ref,
        "drop_last": False,
        "generator_state": seed_g.get_state(),
        "teacache_skipped": teacache.skipped_steps() if teacache is not None else None,
    }
