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
  A model denoising Wan 2.2 VAE latents (TI2V-5B) draws ``[48, T, H/16, W/16]``, and its
  start image (extra latents) is held clean with timestep 0 (:mod:`.image_latent`).
- **Step range** (the sampler from 2025-07-28, rules as of 2026-05; ``step_range``): the
  schedule is built for ``steps`` and cut from ``start_step`` to before ``end_step``
  (:func:`~wfrun.sampling.schedulers.step_slice`); ``denoise_strength < 1`` becomes
  ``start_step = steps - int(steps*denoise) - 1`` with noise added to the input latents;
  a cfg list is cut or extended to the steps that run. The pack's three weeks of
  intermediate rules (2025-07-28 to 2025-08-20: both ends could not be combined, noise
  added only for a "first sampler") are not reproduced.
- **video2video**: ``samples`` (padded at the front with their first frame when shorter)
  are mixed with the noise at the first timestep: ``noise*t/1000 + (1-t/1000)*samples``,
  when ``denoise_strength < 1`` (or ``add_noise_to_samples``); with a step range and no
  noise added they are the starting latents (a second sampler continuing a first), and
  the generator state saved with them is restored.
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
- **VACE** (WanVideoVACEEncode's embeds, a VACE model): each context acts on the steps
  inside its start/end percent (step 0 too when end > 0) with that step's strength, in the
  cond and uncond passes; a context shorter than the video gets zero tokens *in front*
  (the pack's ``forward_vace``); context windows cut each context to the window, keeping
  the reference frame first.
- **FantasyTalking** (``audio``: the wrapper's ``fantasytalking_embeds``): every call
  carries the audio windows to the blocks' audio cross-attention (:mod:`.audio`, a hook of
  the pass), each context window its own frames' windows. Where the step's audio CFG scale
  is not 1 (and cfg is), the uncond call goes without audio and one more call, the cond one
  without audio, makes ``uncond + cfg*(no_audio - uncond) + audio_cfg*(cond - no_audio)``
  (the pack's guidance since 2025-04-29; CFG-Zero* and FreSca are not applied to it, as in
  the pack). The audio CFG list follows the cfg list's rules. wfrun refuses batched cfg
  with audio (the pack's batched call reshapes the audio for one video only) and a video
  whose latent frames differ from the audio's windows (the pack's reshape fails there).
- **ATI** (WanVideoATITracks on the model): inside the tracks' start/end percent (step 0
  too when end > 0) ``y`` is replaced by its motion-patched copy (:mod:`.tracks`), in the
  cond and uncond passes alike.
- **Wan-Move** (WanVideoAddWanMoveTracks' ``image_embeds.wanmove``): the cond pass's ``y``
  has the start frame's latent features copied along the tracks (mask channels untouched);
  the uncond pass keeps the unmoved ``y`` (the pack's ``image_cond_neg``).
- **Time-to-Move** (WanVideoAddTTMLatents' ``image_embeds.ttm``, :mod:`.ttm`): the loop walks
  the timesteps from the window's start (the pack's step index restarts at 0 there, as here;
  its step percentages divide that index by all the steps, wfrun's by the steps walked),
  starting from the noised reference, and holds the reference inside the mask after each
  step of the window.
- **Stand-In** (WanVideoAddStandInLatent) is refused by name: its reference tokens run
  through the blocks beside the video's, which wfrun's transformer forward does not do.
- **NAG** (WanVideoApplyNAG's text embeds): every cond pass (each window's too) guides its
  cross-attention with the NAG prompt (:mod:`.nag`); not with several prompts or batched cfg.
- **Conditioning**: ``y`` (image embeds) is concatenated to the latents channel-wise; Fun
  control prepends the control latents (zeros outside ``[start, end]`` percent; inside at
  step 0 too if ``end > 0``; zeros throughout without control latents, a reference-only
  WanVideoAddControlEmbeds); T2V-style calls on a Fun-InP (36-channel) model get zeros,
  and T2V Fun control zeros for every channel after the control's (Wan 2.2 Fun: a zero
  mask too). The Fun reference image (``fun_ref_image``) is read on the T2V path only, as
  the pack (2025-08 to 2026-05): its ``ref_conv`` tokens go in front of the video's.
- Returns the pack's LATENT: ``samples [1, 16, T, H, W]`` (CPU, float32) with
  ``looped``, ``end_image``, ``has_ref``, ``drop_last`` and ``generator_state``, and
  ``denoised``: the last step's clean-latent estimate ``x - v*t/1000`` (the pack's
  ``denoised_samples`` output). Step-cache states are not handed to a following sampler.

The code runs in phases, each a function here: :func:`prepare` (steps, cfg and schedule;
noise and conditioning layout; text context; context windows; video2video and extra
latents), :func:`denoise_step` (one step: a prediction per window, the loop shift, the
scheduler's step), guidance (:mod:`.guidance` objects, applied in :func:`predict`) and
:func:`finish` (the LATENT dict). Pass-long features (SLG, TeaCache state, block probes, the
control LoRA's switch) are hooks attached for the pass (:mod:`.hooks`). Channel layouts come
from the model-family registry (``models/families``), never from numbers here.

- **ReCamMaster** (WanVideoReCamMasterCameraEmbed's embeds): the source video's latents go
  after the frames in every model call and only the first frames of the guided prediction
  are stepped; the camera poses condition every block (:mod:`.recammaster`).
- **MoCha** (MochaEmbeds): the source video's latents, the mask frame and the references go
  after the frames in every call, with MoCha's per-token RoPE positions (:mod:`.mocha`);
  only the first frames of the prediction are stepped. Context windows and the other
  extras are refused with it (``_mocha_positions`` lists them).
- **MiniMax-Remover** (WanVideoMiniMaxRemoverEmbeds, on a model without text): the video's
  and the mask's latents follow the noise channel-wise in every call, and the calls get a
  placeholder context in place of the prompts (:mod:`.remover`).
- **Fun-Camera** (WanVideoFunCameraEmbeds): the Plücker rays go to the model's camera
  adapter in every call inside their window; no control channels (:mod:`.fun_camera`).
- **Uni3C** (WanVideoUni3C_embeds): inside its window every call runs the controlnet on
  the render latents and adds its states after the blocks (:mod:`.uni3c`).

Where wfrun differs (all are errors, never silent): no text embeds (the pack then skips
cross-attention, which diffusers' blocks cannot), diff-diff masks in ``samples``, ReCamMaster
with context windows, and the pack's extras outside Wan 2.1 core (UniAnimate, FreeInit). FlowEdit runs
its own steps over :func:`prepare` and :func:`predict` (:mod:`.flowedit_sampling`).

- **Wan 2.2 S2V** (WanVideoAddS2VEmbeds' ``image_embeds.s2v`` on an S2V model): every call
  goes through the shared S2V forward (:mod:`.s2v`) with the call's audio, reference and
  pose as the wrapper gives them (:mod:`.s2v_wrapper`, which lists what it refuses).
- **MultiTalk / InfiniteTalk** (``multitalk``): every call carries the audio to the patch's
  hooks (:mod:`.multitalk`); audio CFG keeps the audio in the uncond call and adds one with
  the negative prompt and a silent speaker (:func:`~.multitalk.multitalk_guidance`). The
  long-video loop (:mod:`.multitalk_long`) runs :func:`prepare` and :func:`run_steps` per window.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from wfrun.models import module_hooks
from wfrun.models.fantasytalking import has_audio_maps
from wfrun.models.families.wan_transformer import sampler_channels
from wfrun.sampling import context as ctxwin
from wfrun.sampling import fun_camera
from wfrun.sampling.audio import FantasyAudio
from wfrun.sampling.conditioning import (AnimateEmbeds, ControlEmbeds, EasyCacheArgs, ImageEmbeds, PhantomArgs,
                                        SamplerOptions, TextEmbeds, VaceEmbeds)
from wfrun.sampling.forward import EasyCache, ForwardOptions, TeaCache, transformer_forward
from wfrun.sampling.magcache import MagCache, MagCacheArgs, MagCacheError, wrapper_variant
from wfrun.sampling.multitalk import MultiTalkAudio, multitalk_guidance, multitalk_pass
from wfrun.sampling.guidance import CFG, PhantomCFG, audio_guidance, fourier_filter, wrapper_guidance  # noqa: F401 (re-export)
from wfrun.sampling.hooks import sampling_pass
from wfrun.sampling.freeinit import low_pass_filter, reinitialize
from wfrun.sampling.pusa import PusaError, PusaNoise, pusa_noise, pusa_step, timestep_row
from wfrun.sampling.image_latent import (clean_frames, embeds_scale, holds_clean_frames, latent_channels,
                                        step_noisy_frames)
from wfrun.sampling.nag import NAGContext
from wfrun.sampling import mocha as mocha_run
from wfrun.sampling.recammaster import camera_conditioning, has_camera_layers
from wfrun.sampling import s2v_wrapper
from wfrun.sampling.s2v import S2VInputs, s2v_forward
from wfrun.sampling.schedulers import Schedule, build_schedule
from wfrun.sampling.tracks import AtiTracks, TrackError, ati_patch, wanmove_replace
from wfrun.sampling import ttm as ttm_method
from wfrun.sampling import remover
from wfrun.models.no_text import placeholder_context
from wfrun.sampling.uni3c import Uni3CEmbeds, Uni3CError, render_for, uni3c_pass
from wfrun.sampling import uni3c as uni3c_checks


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
    #: The model's file name (the wrapper picks its Wan 2.2 MagCache tables by it).
    model_file: str = ""
    cache_device: str | torch.device = "cpu"
    #: ``ctx.progress`` (``steps(total, description)`` → bar with ``update``/``close``) or None.
    progress: Any = None
    check_interrupt: Callable[[], None] = lambda: None
    #: Called with the block index before each block runs (a hook of the pass); tests count
    #: transformer block calls with it.
    on_block: Callable[[int], None] | None = None
    #: The diffusers attention backend for this pass (the loader's ``attention_mode``).
    attention: str = "native"
    #: Another backend for some blocks' self-attention at some steps
    #: (:class:`~wfrun.sampling.attention.AttentionOverride`), or None.
    attention_override: Any = None
    #: The sampler's step range (``start_step``, ``end_step``, ``add_noise_to_samples``), or
    #: None for a sampler saved before it had one (2025-07-27 and earlier), whose
    #: ``denoise_strength`` divides the steps instead (see :func:`_steps_and_cfg`).
    step_range: tuple[int | float, int | float, bool] | None = None
    #: FantasyTalking's audio (its ``cfg`` ignored) and its audio CFG scale: one value, or
    #: one per step (CreateCFGScheduleFloatList).
    audio: FantasyAudio | None = None
    audio_cfg: float | Sequence[float] = 1.0
    #: MultiTalk / InfiniteTalk audio (:class:`~wfrun.sampling.multitalk.MultiTalkAudio`, its
    #: ``cfg`` replaced by ``audio_cfg`` per step): the wrapper's ``multitalk_embeds``.
    multitalk: Any = None
    #: WanVideoATITracks' tracks on the model: a motion-patched copy of ``y`` used inside
    #: their step window (:mod:`.tracks`).
    ati: AtiTracks | None = None
    #: WanVideoUni3C_embeds' controlnet and render latents (:mod:`.uni3c`).
    uni3c: Uni3CEmbeds | None = None
    #: UltraViCo attention's alpha (the loader's ``sageattn_ultravico``), or None.
    ultravico_alpha: float | None = None
    #: Settings of the scheduler itself (WanVideoSchedulerSA_ODE's), by name.
    scheduler_options: Any = None
    #: Custom ``sigmas`` taken as the schedule by every scheduler that accepts them (the
    #: pack from 2025-12-04 on; :func:`~wfrun.sampling.schedulers.build_schedule`).
    sigmas_as_given: bool = False
    #: WanVideoScheduler's ``enhance_hf`` tail (:func:`~wfrun.sampling.schedulers.enhance_hf_tail`).
    enhance_hf: bool = False
    #: WanVideoFreeInitArgs (:class:`~wfrun.sampling.freeinit.FreeInitArgs`): the passes run
    #: again from re-initialized latents; None: one pass.
    freeinit: Any = None


# --- what prepare() hands the loop ------------------------------------------------------

@dataclass
class Conditioning:
    """The model's conditioning inputs, on the device (``y``, control, CLIP, Phantom)."""

    image_cond: torch.Tensor | None = None       # y: concatenated to the latents channel-wise
    control_latents: torch.Tensor | None = None  # Fun control (prepended to y) or control-LoRA input
    control: ControlEmbeds | None = None
    control_lora: Any = None                     # the model's control LoRA switch (module_hooks.CONTROL_LORA)
    clip_fea: torch.Tensor | None = None
    clip_neg: torch.Tensor | None = None
    phantom: PhantomArgs | None = None
    phantom_latents: torch.Tensor | None = None
    vace: tuple[tuple[torch.Tensor, VaceEmbeds], ...] = ()  # VACE contexts on the device, with their settings
    animate: AnimateEmbeds | None = None  # Wan 2.2 Animate's pose latents and face crops (WanVideoAnimateEmbeds)
    fun_ref: torch.Tensor | None = None   # Fun reference latent [1, 16, H/8, W/8]: ref_conv tokens in front
    image_cond_ati: torch.Tensor | None = None  # y with ATI's motion patch, used inside the tracks' window
    camera: torch.Tensor | None = None    # Fun-Camera's Plücker rays [1, 24, T, H, W] (pixels; :mod:`.fun_camera`)
    image_cond_uncond: torch.Tensor | None = None  # y of the uncond pass where it differs (Wan-Move: unmoved)


@dataclass
class TextContext:
    """Prompts padded to 512 tokens: ``positive [P, 512, D]``, ``negative [1, 512, D]``."""

    positive: torch.Tensor
    negative: torch.Tensor | None

    @property
    def num_prompts(self) -> int:
        return self.positive.shape[0]


@dataclass
class Windows:
    """Context windows in latent frames, and how to schedule and fuse them."""

    options: Any  # ContextOptions
    frames: int
    stride: int
    overlap: int
    schedule: Callable[..., list[list[int]]]
    tracker: ctxwin.WindowTracker = field(default_factory=ctxwin.WindowTracker)


@dataclass(frozen=True)
class TTMRun:
    """WanVideoAddTTMLatents' inputs on the device with the pass's window (:mod:`.ttm`):
    ``timesteps`` are all the sampler's, ``start`` the first one walked."""

    reference: torch.Tensor
    mask: torch.Tensor
    noise: torch.Tensor
    timesteps: torch.Tensor
    start: int
    end: int

    def after_step(self, latent: torch.Tensor, idx: int) -> torch.Tensor:
        return ttm_method.inject(latent, self.reference, self.mask, self.noise, self.timesteps, idx + self.start,
                                 self.end)


@dataclass
class Prepared:
    """Everything the steps need, fixed before the first one."""

    req: SamplingRequest
    steps: int
    cfg: list[float]
    schedule: Schedule
    generator: torch.Generator
    latent: torch.Tensor                 # [C, T, H, W] float32 on the device: the initial latents
    cond: Conditioning
    text: TextContext
    windows: Windows | None
    is_looped: bool
    extra_count: int = 0                 # leading frames taken from extra latents (timestep 0)
    empty_idx: Sequence[int] | None = None
    #: Wan 2.2 VAE latents with encoded frames (TI2V-5B image-to-video): those frames get
    #: timestep 0 and are not stepped (:mod:`.image_latent`).
    hold_clean: bool = False
    #: WanVideoAddPusaNoise's multipliers on the given frames (:mod:`.pusa`), or None.
    pusa: PusaNoise | None = None
    guidance: CFG = field(default_factory=CFG)
    phantom_guidance: PhantomCFG | None = None
    feta: Any = None
    feta_frames: int = 0
    split_steps: tuple[int, ...] = ()
    teacache: TeaCache | EasyCache | MagCache | None = None  # the step cache of the pass
    #: Input latents replace the noise (mixed with it when ``add_noise``): the step-range era.
    add_noise: bool = False
    #: WanVideoApplyNAG's guidance of every cond pass (the NAG prompt padded to 512 tokens).
    nag: NAGContext | None = None
    #: FantasyTalking's audio on the device, or MultiTalk's (``sampling.multitalk``), with
    #: its audio CFG scale per step.
    audio: Any = None
    #: HuMo's inputs (``sampling.humo_guidance.HuMoRun``) from the wrapper's HuMoEmbeds.
    humo: Any = None
    #: Time-to-Move's reference, mask, noise and window for the pass (:class:`TTMRun`), or None.
    ttm: Any = None
    #: MoCha: each token's RoPE position (:func:`wfrun.sampling.mocha.positions`), or None.
    rope_positions: Any = None

    @property
    def timesteps(self) -> torch.Tensor:
        return self.schedule.timesteps

    @property
    def latent_len(self) -> int:
        return self.latent.shape[1]


@dataclass
class LoopState:
    """What changes from step to step."""

    latent: torch.Tensor
    shift_idx: int = 0
    #: TeaCache prediction ids without windows: cond, uncond, Phantom's reference pass.
    cache_state: list = field(default_factory=lambda: [None, None, None])
    #: The last step's prediction of the clean latent (the sampler's ``denoised_samples``).
    denoised: torch.Tensor | None = None


# --- prepare ------------------------------------------------------------------------------

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


def _steps_and_cfg(req: SamplingRequest) -> tuple[int, list[float], Schedule, bool]:
    """Steps, the cfg per step, the schedule, and whether input latents get noise added.

    Without a step range (the pack to 2025-07-27): divide by denoise, a cfg list overrides
    the count, build, slice. With one (2025-07-28 on, the pack's rules as of 2026-05): a
    denoise below 1 becomes ``start_step = steps - int(steps*denoise) - 1`` with noise added
    to the input latents (``start_step`` must then be 0); the schedule is built for
    ``steps`` and cut to the range; a cfg list is cut or extended (by its last value) to the
    steps that run, and indexed from the first of them."""
    tr = req.transformer
    denoise = float(req.denoise_strength)
    if denoise <= 0:
        raise SamplingError("denoise_strength", "denoise_strength must be above 0")
    dim = int(tr.config.num_attention_heads * tr.config.attention_head_dim)
    cfg = req.cfg
    if isinstance(cfg, (list, tuple)):
        cfg = [float(c) for c in cfg]
        if not cfg:
            raise SamplingError("cfg", "the cfg list is empty")
    if req.step_range is not None:
        start, end, add_noise = req.step_range[0], req.step_range[1], bool(req.step_range[2])  # float: a sigma
        steps = int(req.steps)
        if denoise < 1.0:
            if start != 0:
                raise SamplingError("start_step", f"start_step = {start} together with denoise_strength {denoise}",
                                    "use one of them: the sampler turns a denoise below 1 into a start step")
            start, add_noise = steps - int(steps * denoise) - 1, True
        schedule = build_schedule(req.scheduler, steps, req.shift, denoise_strength=denoise, sigmas=req.sigmas,
                                  transformer_dim=dim, device=torch.device(req.device), step_range=(start, end),
                                  options=req.scheduler_options, sigmas_as_given=req.sigmas_as_given,
                                  enhance_hf=req.enhance_hf)
        count = len(schedule.timesteps)
        if isinstance(cfg, list):
            cfg = cfg[:count] + [cfg[-1]] * (count - len(cfg))
        else:
            cfg = [float(cfg)] * (count + 1)
        return steps, cfg, schedule, add_noise
    steps = int(int(req.steps) / denoise)
    if isinstance(cfg, list):
        steps = len(cfg)
    else:
        cfg = [float(cfg)] * (steps + 1)
    schedule = build_schedule(req.scheduler, steps, req.shift, denoise_strength=denoise, sigmas=req.sigmas,
                              transformer_dim=dim, device=torch.device(req.device), steps_divided=True,
                              options=req.scheduler_options, sigmas_as_given=req.sigmas_as_given,
                                  enhance_hf=req.enhance_hf)
    if len(cfg) < len(schedule.timesteps):  # the pack would index past a short list; say so instead
        raise SamplingError("cfg", f"{len(cfg)} cfg values for {len(schedule.timesteps)} steps")
    return steps, cfg, schedule, denoise < 1.0


def _control_refused(in_ch: int) -> SamplingError:
    return SamplingError("image_embeds", "control embeds only work with a Wan-Fun control model "
                         "or a model with a control LoRA", f"this model has {in_ch} input channels and no control LoRA")


def _control_latents(control: ControlEmbeds, noise: torch.Tensor) -> torch.Tensor:
    """The Fun control latents, or zeros of the noise's shape without any (the pack's input
    outside the control window, which a reference-only control gets at every step)."""
    return control.control_images if control.control_images is not None else torch.zeros_like(noise)


def _noise_and_conditioning(req: SamplingRequest, generator: torch.Generator) -> tuple[torch.Tensor, Conditioning]:
    """The noise draw (its shape is the pack's) and the conditioning laid out for the model."""
    emb = req.image_embeds
    device = torch.device(req.device)
    dtype = req.dtype
    in_ch = int(req.transformer.config.in_channels)
    latent_ch = latent_channels(req.transformer)  # 16, or 48 for Wan 2.2 VAE latents (TI2V-5B)
    # how the model's family fills its input channels
    layout = fun_camera.layout(req.transformer, in_ch, latent_ch) or sampler_channels(in_ch, latent_ch)
    takes_control = layout is not None and layout.control > 0
    cond = Conditioning(control=emb.control_embeds,
                        control_lora=module_hooks.find(req.transformer, module_hooks.CONTROL_LORA))
    control = cond.control
    try:
        cond.camera = fun_camera.camera_rays(req.transformer, control)
    except fun_camera.FunCameraError as err:
        raise SamplingError("image_embeds", str(err)) from None
    if cond.camera is not None:  # camera embeds carry no control latents: the channels are as without control
        control = None
    image_cond = emb.image_embeds
    if (cond.camera is not None and emb.masked_image_embeds is not None and layout is not None
            and image_cond is not None and image_cond.shape[0] != layout.image
            and emb.masked_image_embeds.shape[0] == layout.image):
        # a Fun-Camera model that takes the mask (Wan 2.2 A14B): mask and unzeroed latents
        image_cond = emb.masked_image_embeds
    if image_cond is not None:
        if emb.lat_h is None or emb.lat_w is None:
            raise SamplingError("image_embeds", "image embeds without latent size (lat_h/lat_w)")
        separate_end = emb.end_image is not None and not emb.fun_or_fl2v_model
        frames = (int(emb.num_frames) - 1) // 4 + (2 if separate_end else 1)
        noise = torch.randn(latent_ch, frames, emb.lat_h, emb.lat_w, dtype=torch.float32, generator=generator,
                            device="cpu")
        cond.clip_fea = emb.clip_context.to(device, dtype) if emb.clip_context is not None else None
        cond.clip_neg = emb.negative_clip_context.to(device, dtype) if emb.negative_clip_context is not None else None
        if control is not None:
            if not takes_control:
                raise _control_refused(in_ch)
            cond.control_latents = _control_latents(control, noise)
            if image_cond.shape[0] == layout.image + 4:
                # mask + latents (WanVideoAddControlEmbeds on I2V embeds) for a Fun model that
                # takes no mask (Wan 2.1 Fun Control): the pack from 2025-08-14 drops the mask
                # and zeroes the latents after the first frame
                image_cond = image_cond[4:].clone()
                image_cond[:, 1:] = 0
    else:
        if emb.target_shape is None:
            raise SamplingError("image_embeds", "image embeds without target_shape",
                                "use WanVideoEmptyEmbeds for text-to-video")
        _c, t, h, w = emb.target_shape
        scale = embeds_scale(req.transformer)  # the pack's 5B noise: 48 channels, half the /8 size
        noise = torch.randn(latent_ch, t + 1 if emb.has_ref else t, h // scale, w // scale, dtype=torch.float32,
                            device="cpu", generator=generator)
        if emb.remover is not None:  # MiniMax-Remover: video and mask latents after the noise (.remover)
            cond.image_cond = _remover_input(req, noise).to(device)
        elif control is not None and cond.control_lora is not None:
            if control.control_images is None:
                raise SamplingError("image_embeds", "a control LoRA needs control latents",
                                    "connect WanVideoEncode's latents to the control embeds node")
            cond.control_latents = control.control_images  # the model input's second half, in the window
        elif control is not None:
            if not takes_control:
                raise _control_refused(in_ch)
            cond.control_latents = _control_latents(control, noise)
            # zero mask (Wan 2.2 Fun) and zero image latents: every channel after the control's
            image_cond = noise.new_zeros(in_ch - layout.latent - layout.control, *noise.shape[1:])
            cond.clip_fea = None
            cond.fun_ref = control.fun_ref_image  # read on this path only, as the pack
        elif layout is not None and layout.control == 0 and layout.image > 0:
            # an image model (Fun-InP) without an image: zero mask and zero image latents
            image_cond = noise.new_zeros(layout.image, *noise.shape[1:])
    if cond.camera is not None:
        try:
            fun_camera.check_fits(req.transformer, cond.camera, noise)
        except fun_camera.FunCameraError as err:
            raise SamplingError("image_embeds", str(err)) from None
        cond.camera = cond.camera.to(device)
    if cond.control_latents is not None and tuple(cond.control_latents.shape[1:]) != tuple(noise.shape[1:]):
        raise SamplingError("image_embeds", f"control latents of {tuple(cond.control_latents.shape[1:])} "
                            f"(frames, height, width) for a video of {tuple(noise.shape[1:])}",
                            "encode the control video at the video's size and frame count")
    if cond.fun_ref is not None:
        if getattr(req.transformer, "ref_conv", None) is None:
            raise SamplingError("image_embeds", "a Fun reference image for a model without a reference "
                                "embedding (ref_conv)", "use a Fun 1.1 or Wan 2.2 Fun Control model, "
                                "or disconnect fun_ref_image")
        cond.fun_ref = cond.fun_ref.to(device)
    if emb.humo is not None:  # HuMo's image conditioning goes with its own calls (sampling.humo_guidance)
        image_cond = None
    if image_cond is not None:
        if layout is None:
            raise SamplingError("image_embeds", f"image conditioning for a model with {in_ch} input channels, "
                                "which no Wan family wfrun samples has")
        expected = in_ch - layout.latent - (layout.control if cond.control_latents is not None else 0)
        if image_cond.shape[0] != expected:
            raise SamplingError("image_embeds", f"image conditioning has {image_cond.shape[0]} channels, "
                                f"the model expects {expected} (it takes {in_ch} input channels)")
        cond.image_cond = image_cond.to(device)
    if cond.control_latents is not None:
        cond.control_latents = cond.control_latents.to(device)
    cond.vace = _vace_contexts(req, emb, device)
    cond.animate = _animate_inputs(req, emb)
    cond.phantom = emb.phantom
    if cond.phantom is not None:
        cond.phantom_latents = cond.phantom.latents.to(device)
        if req.options.context is not None:
            raise SamplingError("context_options", "context windows with Phantom reference frames are not "
                                "supported", "disconnect context_options")
    cond.image_cond_ati = _ati_cond(req, cond)
    _wanmove_cond(req, cond)
    return noise, cond


def _remover_input(req: SamplingRequest, noise: torch.Tensor) -> torch.Tensor:
    try:
        return remover.model_input(req.transformer, req.image_embeds.remover, noise)
    except remover.RemoverError as err:
        raise SamplingError(err.input_name, str(err), err.hint) from None


def _wanmove_cond(req: SamplingRequest, cond: Conditioning) -> None:
    """WanVideoAddWanMoveTracks: the cond pass's ``y`` gets the start frame's latent features
    copied along the tracks (:func:`~wfrun.sampling.tracks.wanmove_replace`, mask channels
    untouched); the uncond pass keeps the unmoved ``y``, as the wrapper's sampler (its
    ``image_cond_neg``). The pack skips the copy inside context windows (and with no image
    embeds); wfrun refuses both, and ATI tracks on the same run."""
    wanmove = req.image_embeds.wanmove
    if wanmove is None:
        return
    if cond.image_cond is None:
        raise SamplingError("image_embeds", "Wan-Move tracks need image embeds (WanVideoImageToVideoEncode): they move "
                            "the start image's latent features", "connect image embeds to WanVideoAddWanMoveTracks")
    if req.options.context is not None:
        raise SamplingError("context_options", "context windows with Wan-Move tracks are not supported (the pack "
                            "then leaves the tracks out)", "disconnect context_options")
    if cond.image_cond_ati is not None:
        raise SamplingError("image_embeds", "ATI tracks and Wan-Move tracks on one run", "keep one of them")
    y = cond.image_cond
    channels = latent_channels(req.transformer)
    if y.shape[0] < channels:
        raise SamplingError("image_embeds", f"image embeds of {y.shape[0]} channels; Wan-Move needs the "
                            f"{channels} latent channels")
    moved = y.clone()
    try:
        moved[-channels:] = wanmove_replace(y[-channels:], wanmove.positions.to(y.device), float(wanmove.strength))
    except TrackError as err:
        raise SamplingError("image_embeds", f"Wan-Move tracks: {err}") from None
    cond.image_cond_uncond = y
    cond.image_cond = moved


def _ati_cond(req: SamplingRequest, cond: Conditioning) -> torch.Tensor | None:
    """``y`` with WanVideoATITracks' motion patch: its 4 mask channels replaced by the
    tracks' weights, its latents by the features moved along the tracks (the pack's sampler,
    ``patch_motion`` on ``image_cond``), the tracks resampled to the video's frames
    (:class:`~wfrun.sampling.tracks.AtiTracks`). The pack skips the tracks with control
    latents and would fail inside context windows; wfrun refuses both, and tracks without
    image embeds."""
    ati = req.ati
    if ati is None:
        return None
    if cond.image_cond is None:
        raise SamplingError("image_embeds", "ATI tracks need image embeds (WanVideoImageToVideoEncode): they move "
                            "the start image's latent features", "connect image embeds, or remove WanVideoATITracks")
    if cond.control_latents is not None:
        raise SamplingError("image_embeds", "ATI tracks together with control embeds: the pack then ignores the tracks",
                            "remove WanVideoATITracks or the control embeds")
    if req.options.context is not None:
        raise SamplingError("context_options", "context windows with ATI tracks are not supported: the tracks cover "
                            "the whole video", "disconnect context_options")
    y = cond.image_cond
    if y.shape[0] <= 4:
        raise SamplingError("image_embeds", f"ATI needs mask and latent channels; the image embeds have {y.shape[0]}")
    try:
        mask, features = ati_patch(ati.for_latent(y.shape[1]), y[4:].float(), ati.temperature, ati.topk)
    except TrackError as err:
        raise SamplingError("image_embeds", f"ATI tracks: {err}") from None
    return torch.cat([mask.unsqueeze(0).expand(4, -1, -1, -1), features]).to(y.dtype)


#: The face crops' side Wan 2.2 Animate's motion encoder takes.
FACE_SIZE = 512


def _animate_inputs(req: SamplingRequest, emb: ImageEmbeds) -> AnimateEmbeds | None:
    """WanVideoAnimateEmbeds' pose latents and face crops, for an Animate model only (the
    pack's model ignores them elsewhere, wfrun says so). Batched cfg is refused: the
    uncond half needs its own (blank) face crops."""
    animate = emb.animate
    if animate is None:
        return None
    if getattr(req.transformer, "pose_patch_embedding", None) is None:
        raise SamplingError("image_embeds", "WanVideoAnimateEmbeds need a Wan 2.2 Animate model",
                            "load a Wan2_2-Animate-14B file in WanVideoModelLoader")
    if req.options.batched_cfg:
        raise SamplingError("batched_cfg", "batched cfg with Wan 2.2 Animate is not supported (the uncond pass "
                            "has its own blank face input)", "turn batched_cfg off")
    if animate.face_pixels is None and animate.masked:
        # the pack's sampler: zero crops, one per pixel frame but the first (of a window with context options)
        context = req.options.context
        frames = (int(context.context_frames) if context is not None else int(emb.num_frames)) - 1
        animate = dataclasses.replace(animate, face_pixels=torch.zeros(1, 3, frames, FACE_SIZE, FACE_SIZE))
    return animate


def _animate_window(animate: AnimateEmbeds | None, window: list[int]) -> AnimateEmbeds | None:
    """The pack's slices for one context window ``window`` (latent frames, frame 0 the
    reference): face crops from pixel frame ``4·first`` to ``4·last`` (exclusive), pose
    latents from ``first`` to ``last`` (exclusive) — each clamped to what there is, so
    that the pose of latent frame ``j + 1`` meets it at the window's frame ``j + 1``."""
    if animate is None:
        return None
    first, last = window[0], window[-1]
    face = pose = None
    if animate.face_pixels is not None:
        idx = torch.arange(first * 4, last * 4).clamp(0, animate.face_pixels.shape[2] - 1)
        face = animate.face_pixels[:, :, idx]
    if animate.pose_latents is not None:
        idx = torch.arange(first, last).clamp(0, animate.pose_latents.shape[1] - 1)
        pose = animate.pose_latents[:, idx][:, :len(window) - 1]
    return AnimateEmbeds(pose_latents=pose, face_pixels=face, pose_strength=animate.pose_strength,
                         face_strength=animate.face_strength)


def _vace_contexts(req: SamplingRequest, emb: ImageEmbeds, device: torch.device) -> tuple:
    """VACE embeds on the device, each with a strength for every step (a single one repeated)."""
    if not emb.vace:
        return ()
    if getattr(req.transformer, "vace_blocks", None) is None:
        raise SamplingError("image_embeds", "VACE embeds need a VACE model, and this model has no VACE blocks",
                            "load a VACE model, or a T2V model with its VACE module (WanVideoVACEModelSelect)")
    out = []
    for vace in emb.vace:
        if isinstance(vace.scale, (list, tuple)) and not vace.scale:
            raise SamplingError("image_embeds", "a VACE strength list is empty")
        out.append((vace.context.to(device, torch.float32), vace))
    return tuple(out)


def _vace_at(p: "Prepared", contexts: tuple, idx: int, pct: float) -> tuple[tuple[torch.Tensor, float], ...]:
    """The contexts acting at step ``idx`` (inside their start/end percent, as the pack's
    ``forward``: step 0 too when end > 0) with this step's strength."""
    out = []
    for context, vace in contexts:
        if not _in_window(vace.start_percent, vace.end_percent, pct, idx):
            continue
        scale = vace.scale
        if isinstance(scale, (list, tuple)):
            if idx >= len(scale):
                raise SamplingError("image_embeds", f"a VACE strength list of {len(scale)} values for step {idx}",
                                    "give a strength per step")
            scale = scale[idx]
        out.append((context.unsqueeze(0), float(scale)))
    return tuple(out)


def _text_context(req: SamplingRequest) -> TextContext:
    device = torch.device(req.device)
    if remover.is_remover(req.transformer):  # no text: a placeholder no layer reads, for cond and uncond
        blank = placeholder_context(1, device, req.dtype)
        return TextContext(blank, blank)
    positive = [p.to(device, req.dtype) for p in req.text_embeds.prompt_embeds]
    negative = [n.to(device, req.dtype) for n in req.text_embeds.negative_prompt_embeds]
    text = TextContext(_pad_context(positive), _pad_context(negative[:1]) if negative else None)
    if req.options.batched_cfg and text.num_prompts > 1:
        raise SamplingError("batched_cfg", "batched cfg with several prompts is not supported (the pack's batch "
                            "would mismatch)", "turn batched_cfg off")
    return text


def _nag(req: SamplingRequest) -> NAGContext | None:
    """The NAG of the text embeds (WanVideoApplyNAG), padded like the prompt, or None."""
    params = getattr(req.text_embeds, "nag", None)
    if params is None or remover.is_remover(req.transformer):  # NAG guides a cross-attention it lacks
        return None
    if len(req.text_embeds.prompt_embeds) > 1:
        raise SamplingError("text_embeds", "NAG with several prompts over the video is not supported (nor in the "
                            "pack)", "use one prompt, or remove WanVideoApplyNAG")
    if req.options.batched_cfg:
        raise SamplingError("batched_cfg", "NAG with batched cfg is not supported (the pack's batch would mix the "
                            "NAG prompt into the uncond half)", "turn batched_cfg off")
    embeds = [e.to(torch.device(req.device), req.dtype) for e in req.text_embeds.nag_prompt_embeds[:1]]
    return NAGContext(_pad_context(embeds), params)


def _per_step(values: Any, count: int, step_range: bool, name: str) -> list[float]:
    """A scale for each of ``count`` steps, by the cfg list's rules (:func:`_steps_and_cfg`):
    one value repeated; a list cut or extended by its last value with a step range, else
    used as it is (too short: an error, where the pack would index past it)."""
    if not isinstance(values, (list, tuple)):
        return [float(values)] * (count + 1)
    values = [float(v) for v in values]
    if not values:
        raise SamplingError(name, f"the {name} list is empty")
    if step_range:
        return values[:count] + [values[-1]] * (count - len(values))
    if len(values) < count:
        raise SamplingError(name, f"{len(values)} {name} values for {count} steps", "give a value per step")
    return values


def _audio(req: SamplingRequest, latent_len: int, count: int) -> Any:
    """FantasyTalking's audio on the device with its per-step audio CFG, checked against
    the video and the model; or MultiTalk's with its per-step audio CFG."""
    audio = req.audio
    if req.multitalk is not None:
        if audio is not None:
            raise SamplingError("multitalk_embeds", "FantasyTalking and MultiTalk audio together",
                                "connect one of fantasytalking_embeds and multitalk_embeds")
        if req.options.batched_cfg:
            raise SamplingError("batched_cfg", "batched cfg with MultiTalk audio is not supported (the pack's "
                                "batched call does not carry the audio)", "turn batched_cfg off")
        return dataclasses.replace(req.multitalk, cfg=_per_step(req.audio_cfg, count, req.step_range is not None,
                                                                "audio_cfg_scale"))
    if audio is None:
        return None
    if not has_audio_maps(req.transformer):
        raise SamplingError("fantasytalking_embeds", "FantasyTalking embeds for a model without FantasyTalking's "
                            "audio layers", "connect FantasyTalkingModelLoader to the model loader's "
                            "fantasytalking_model input")
    if req.options.batched_cfg:
        raise SamplingError("batched_cfg", "batched cfg with FantasyTalking audio is not supported (the pack's "
                            "batched call cannot split the audio between the two halves)", "turn batched_cfg off")
    if audio.frames != latent_len:
        raise SamplingError("fantasytalking_embeds", f"the audio embeds cover {audio.frames} latent frames, the video "
                            f"has {latent_len}", "give FantasyTalkingWav2VecEmbeds the video's num_frames")
    return FantasyAudio(tokens=audio.tokens.to(torch.device(req.device)), lens=audio.lens, scale=float(audio.scale),
                        cfg=_per_step(req.audio_cfg, count, req.step_range is not None, "audio_cfg_scale"))


def _context_windows(options: Any, noise: torch.Tensor, generator: torch.Generator) -> Windows | None:
    """Window sizes from pixel frames to latent frames; FreeNoise shuffles ``noise`` in place."""
    if options is None:
        return None
    if options.context_schedule not in ctxwin.SCHEDULES:
        raise SamplingError("context_options", f"unknown context schedule '{options.context_schedule}'",
                            "use one of " + ", ".join(ctxwin.SCHEDULES))
    windows = Windows(options=options, frames=(int(options.context_frames) - 1) // 4 + 1,
                      stride=int(options.context_stride) // 4, overlap=int(options.context_overlap) // 4,
                      schedule=ctxwin.SCHEDULES[options.context_schedule])
    if options.freenoise:
        ctxwin.freenoise_shuffle(noise, windows.frames, windows.overlap, generator)
    return windows


def _video2video(req: SamplingRequest, noise: torch.Tensor, timesteps: torch.Tensor, add_noise: bool,
                 generator: torch.Generator) -> torch.Tensor:
    """Input latents (``samples``): mixed with the noise at the first timestep that runs
    (``noise*t/1000 + (1-t/1000)*samples``) when ``add_noise``; else, in the step-range era,
    they *are* the starting latents (a second sampler continuing the first), and before it
    they were ignored. A generator state saved with them (the previous sampler's) is
    restored, so stochastic schedulers continue its noise stream."""
    if req.samples is None:
        return noise
    if req.samples.get("mask") is not None or req.samples.get("noise_mask") is not None:
        raise SamplingError("samples", "latents with a noise mask (differential diffusion) are not supported")
    inp = req.samples["samples"].squeeze(0).to(noise)
    if inp.shape[1] < noise.shape[1]:
        inp = torch.cat([inp[:, :1].repeat(1, noise.shape[1] - inp.shape[1], 1, 1), inp], dim=1)
    if inp.shape != noise.shape:
        raise SamplingError("samples", f"input latents {tuple(inp.shape)} do not fit the video {tuple(noise.shape)}")
    if req.step_range is not None:
        state = req.samples.get("generator_state")
        if isinstance(state, torch.Tensor) and state.dtype == torch.uint8:
            generator.set_state(state)
    if add_noise and len(timesteps):
        lt = timesteps[:1].to(noise)
        return noise * lt / 1000 + (1 - lt / 1000) * inp
    return inp if req.step_range is not None else noise


def _extra_latents(emb: ImageEmbeds, noise: torch.Tensor,
                   inserted: bool = True) -> tuple[torch.Tensor, int, Sequence[int] | None]:
    """Encoded frames (``extra_latents``) replace noise: at ``empty_latent_indices`` the
    noise stays, else the leading frames are the encoded ones; WanVideoAddExtraLatent's
    entries go where each says (:func:`_extra_latent_entries`; ``inserted`` False: a
    sampler continuing from a later step, whose latents have them already). Returns
    (latents, leading count, empty indices: the frames not given)."""
    extra = emb.extra_latents
    if extra is None:
        return noise, 0, None
    if isinstance(extra, tuple):
        return _extra_latent_entries(extra, noise, inserted)
    enc = extra["samples"].squeeze(0).to(noise)
    if enc.ndim != 4 or enc.shape[0] != noise.shape[0] or enc.shape[2:] != noise.shape[2:] \
            or enc.shape[1] > noise.shape[1]:
        raise SamplingError("image_embeds", f"the extra latents {tuple(enc.shape)} do not fit the video's latents "
                            f"{tuple(noise.shape)}", "encode the image at the video's width and height with the "
                            "model's VAE (the Wan 2.2 VAE for TI2V-5B; sizes a multiple of 32 there)")
    empty_idx = extra.get("empty_latent_indices")
    if empty_idx:
        out = enc.clone()
        for i in empty_idx:
            out[:, i] = noise[:, i]
        return out, 0, empty_idx
    noise[:, :enc.shape[1]] = enc
    return noise, enc.shape[1], empty_idx


def _entry_span(entry: Any, length: int) -> tuple[int, int]:
    """Where an extra-latent entry goes: a negative index counts from the end, and the index
    moves so that all the entry's frames lie inside the video."""
    count = int(entry.samples.shape[2])
    index = int(entry.index)
    index = length + index if index < 0 else index
    return max(0, min(index, length - count)), count


def _given_order(emb: ImageEmbeds, length: int, extra_count: int, empty_idx: Sequence[int] | None) -> list[int]:
    """The given latent frames in the order the extra latents give them (entry by entry,
    repeats kept, as the wrapper's ``clean_latent_indices``)."""
    if isinstance(emb.extra_latents, tuple):
        order: list[int] = []
        for entry in emb.extra_latents:
            index, count = _entry_span(entry, length)
            order.extend(range(index, index + count))
        return order
    return clean_frames(length, extra_count, empty_idx)


def _pusa(req: SamplingRequest, schedule: Schedule, length: int, extra_count: int,
          empty_idx: Sequence[int] | None, hold_clean: bool) -> PusaNoise | None:
    """WanVideoAddPusaNoise's multipliers for this pass (:mod:`.pusa`): with the
    ``flowmatch_pusa`` scheduler and given frames only, as the pack."""
    emb = req.image_embeds
    values = getattr(emb, "pusa_noise_multipliers", None)
    if values is None or emb.extra_latents is None:
        return None
    if schedule.name != "flowmatch_pusa":
        if hold_clean:
            raise SamplingError("image_embeds", "Pusa noise multipliers on a Wan 2.2 VAE model's given frames need "
                                "the flowmatch_pusa scheduler in wfrun", "use flowmatch_pusa, or remove "
                                "WanVideoAddPusaNoise")
        return None  # the pack's other schedulers take one timestep: the multipliers do nothing
    try:
        return pusa_noise(values, int(emb.pusa_noisy_steps), _given_order(emb, length, extra_count, empty_idx),
                          length, len(schedule.timesteps))
    except PusaError as err:
        raise SamplingError("image_embeds", str(err), "give one multiplier per latent frame, or one per given "
                            "frame") from None


def _extra_latent_entries(entries: tuple, noise: torch.Tensor,
                          inserted: bool) -> tuple[torch.Tensor, int, Sequence[int] | None]:
    """The wrapper's list of extra latents: entry by entry, a negative index counts from the
    end, the index is moved so the entry fits inside the video, and (from the first step
    only) the entry's frames replace the noise there. The frames given are those entries
    cover, in the form :func:`_extra_latents` returns."""
    length = noise.shape[1]
    given: set[int] = set()
    for entry in entries:
        enc = entry.samples.squeeze(0).to(noise)
        if enc.ndim != 4 or enc.shape[0] != noise.shape[0] or enc.shape[2:] != noise.shape[2:] \
                or enc.shape[1] > length:
            raise SamplingError("image_embeds", f"the extra latents {tuple(enc.shape)} do not fit the video's latents "
                                f"{tuple(noise.shape)}", "encode the frames at the video's width and height with "
                                "the model's VAE")
        index, count = _entry_span(entry, length)
        if inserted:
            noise[:, index:index + count] = enc
        given.update(range(index, index + count))
    if len(given) == length:
        return noise, length, None
    return noise, 0, [i for i in range(length) if i not in given]


def _check_patches(transformer: Any, noise: torch.Tensor) -> None:
    """The latents must split into the model's 2x2 patches: width and height a multiple of
    16 with Wan 2.1 VAE latents, of 32 with Wan 2.2's (TI2V-5B). The pack says so since
    2025-08-05, though its test asks 4 latents a side for the 5B (64 pixels)."""
    patch = getattr(transformer.config, "patch_size", None)
    if patch is None:  # a stand-in without patches (tests' fake transformers)
        return
    _pt, ph, pw = patch
    if noise.shape[2] % ph or noise.shape[3] % pw:
        pixels = embeds_scale(transformer) * 8
        raise SamplingError("image_embeds", f"the video's latents are {noise.shape[3]}x{noise.shape[2]} "
                            f"({noise.shape[3] * pixels}x{noise.shape[2] * pixels} pixels), not a multiple of the "
                            f"model's {pw}x{ph} patches", f"make width and height multiples of {pixels * pw}")


def _check_recammaster(req: SamplingRequest, noise: torch.Tensor, windows: Windows | None) -> None:
    """ReCamMaster's embeds need a model with camera layers, one pose per latent frame and
    source latents of the video's shape; context windows are not supported."""
    recam = req.image_embeds.recammaster
    if recam is None:
        return
    if not has_camera_layers(req.transformer):
        raise SamplingError("image_embeds", "ReCamMaster camera embeds need a ReCamMaster model (camera layers in "
                            "its blocks)", "load a ReCamMaster checkpoint in WanVideoModelLoader")
    if windows is not None:
        raise SamplingError("context_options", "context windows with ReCamMaster are not supported",
                            "disconnect context_options")
    if tuple(recam.source_latents.shape) != tuple(noise.shape):
        raise SamplingError("image_embeds", f"ReCamMaster's source latents {tuple(recam.source_latents.shape)} do "
                            f"not fit the video's {tuple(noise.shape)}")
    if recam.camera_embed.shape[0] != noise.shape[1]:
        raise SamplingError("image_embeds", f"{recam.camera_embed.shape[0]} camera poses for {noise.shape[1]} latent "
                            "frames", "give one pose per latent frame: poses for (frames - 1) / 4 + 1 frames")


def _mocha_positions(req: SamplingRequest, cond: Conditioning, noise: torch.Tensor,
                     windows: Windows | None) -> Any:
    """MochaEmbeds' latents fit the video, nothing wfrun cannot combine with them comes along,
    and each token's RoPE position (:mod:`.mocha`); None without MoCha."""
    emb = req.image_embeds
    mocha = emb.mocha
    if mocha is None:
        return None
    others = {"context_options": windows is not None, "recammaster": emb.recammaster is not None,
              "image conditioning": cond.image_cond is not None, "control embeds": cond.control_latents is not None,
              "phantom": cond.phantom is not None, "vace": bool(cond.vace), "animate": cond.animate is not None,
              "s2v": emb.s2v is not None, "humo": emb.humo is not None, "multitalk": req.multitalk is not None,
              "fantasytalking_embeds": req.audio is not None, "uni3c_embeds": req.uni3c is not None,
              "feta_args": req.options.feta is not None, "loop_args": req.options.loop is not None,
              "fun reference": cond.fun_ref is not None,
              "WanVideoAddPusaNoise": emb.pusa_noise_multipliers is not None,
              "several prompts": req.text_embeds is not None and len(req.text_embeds.prompt_embeds) > 1}
    found = [name for name, on in others.items() if on]
    if found:
        raise SamplingError("image_embeds", f"MoCha embeds together with {found[0]} are not supported by wfrun",
                            f"remove {found[0]} from this sampler")
    try:
        mocha_run.check(mocha.latents, mocha.num_refs, noise)
        p_t, p_h, p_w = req.transformer.config.patch_size
        return mocha_run.positions(noise.shape[1] // p_t, noise.shape[2] // p_h, noise.shape[3] // p_w, mocha.num_refs)
    except mocha_run.MochaError as err:
        raise SamplingError("image_embeds", str(err)) from None


def _check_s2v(req: SamplingRequest, cond: Conditioning, windows: Windows | None, latent_len: int) -> None:
    """The wrapper's S2V embeds and model agree, and nothing the S2V path cannot take comes with them."""
    emb = req.image_embeds
    others = {"text_embeds": getattr(req.text_embeds, "nag", None) is not None,
              "fantasytalking_embeds": req.audio is not None, "multitalk_embeds": req.multitalk is not None,
              "uni3c_embeds": req.uni3c is not None, "image conditioning": cond.image_cond is not None,
              "control embeds": cond.control_latents is not None or cond.camera is not None,
              "phantom": cond.phantom is not None, "vace": bool(cond.vace), "animate": cond.animate is not None,
              "recammaster": emb.recammaster is not None, "extra latents": emb.extra_latents is not None}
    try:
        s2v_wrapper.check(req.transformer, emb.s2v, req.options, latent_len, windows is not None, others)
    except s2v_wrapper.S2VError as err:
        raise SamplingError(err.input_name, str(err), err.hint) from None


def _check_ultravico(req: SamplingRequest, latent_len: int) -> None:
    """UltraViCo attention (the loader's ``sageattn_ultravico``) replaces the blocks'
    self-attention; wfrun's forward cannot combine it with the other self/cross-attention
    replacements (Enhance-A-Video, several prompts over the video, NAG): named by the input
    that brings them, before any step (was an error from inside the forward)."""
    if req.ultravico_alpha is None:
        return
    what = ("feta_args", "Enhance-A-Video") if req.options.feta is not None and latent_len > 1 else \
        ("text_embeds", "several prompts over the video") if len(req.text_embeds.prompt_embeds) > 1 else \
        ("text_embeds", "NAG") if getattr(req.text_embeds, "nag", None) is not None else None
    if what is not None:
        raise SamplingError(what[0], f"UltraViCo attention (attention_mode sageattn_ultravico) together with "
                            f"{what[1]} is not supported by wfrun", "use another attention_mode in the model "
                            f"loader, or drop {what[1]}")


def _check_riflex(transformer: Any, k: int) -> None:
    """RIFLEx replaces the temporal RoPE frequency number ``k`` (the wrapper's ``rope_params``
    sets ``omega[k - 1]``): a ``riflex_freq_index`` past the model's temporal frequencies
    (22 on the released Wan models, head dim 128) is an IndexError in the pack; named here
    before any step runs."""
    t_dim = getattr(getattr(transformer, "rope", None), "t_dim", None)
    if k > 0 and isinstance(t_dim, int) and k > t_dim // 2:
        raise SamplingError("riflex_freq_index", f"riflex_freq_index {k}: the model has {t_dim // 2} temporal "
                            "RoPE frequencies", f"use 0 (off) or 1 to {t_dim // 2}")


def prepare(req: SamplingRequest) -> Prepared:
    """Check the request and fix everything the steps need, in the pack's order (the one
    CPU generator feeds the noise, then FreeNoise, then stochastic schedulers)."""
    if not remover.is_remover(req.transformer) and (req.text_embeds is None or not req.text_embeds.prompt_embeds):
        raise SamplingError("text_embeds", "no text embeds given",
                            "connect WanVideoTextEncode; diffusers' Wan blocks always cross-attend to a prompt")
    if req.image_embeds.standin is not None:
        raise SamplingError("image_embeds", "Stand-In identity references (WanVideoAddStandInLatent) are not supported "
                            "by wfrun: the wrapper's model runs the reference latent's tokens through its blocks beside "
                            "the video's (joined in self-attention, RoPE-shifted by freq_offset), which wfrun's "
                            "transformer forward does not do", "remove WanVideoAddStandInLatent")
    opts = req.options
    _check_riflex(req.transformer, int(opts.riflex_freq_index))
    steps, cfg, schedule, add_noise = _steps_and_cfg(req)
    try:  # MiniMax-Remover: the model and its embeds go together, alone
        remover.check(req.transformer, req.image_embeds, windows=opts.context is not None, ati=req.ati is not None)
    except remover.RemoverError as err:
        raise SamplingError(err.input_name, str(err), err.hint) from None
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(req.seed))
    noise, cond = _noise_and_conditioning(req, generator)
    _check_patches(req.transformer, noise)
    latent_len = noise.shape[1]
    text = _text_context(req)
    windows = _context_windows(opts.context, noise, generator)
    _check_recammaster(req, noise, windows)
    rope_positions = _mocha_positions(req, cond, noise, windows)
    if req.uni3c is not None:
        try:
            uni3c_checks.check(req.transformer, req.uni3c, noise, windows.frames if windows is not None else None,
                               cond.fun_ref is not None)
        except Uni3CError as err:
            raise SamplingError("uni3c_embeds", str(err)) from None
    _check_s2v(req, cond, windows, latent_len)
    noise = _video2video(req, noise, schedule.timesteps, add_noise, generator)
    ttm_noise = noise
    first_step = req.step_range is None or not req.step_range[0]
    noise, extra_count, empty_idx = _extra_latents(req.image_embeds, noise, inserted=first_step)
    ttm, noise = _ttm(req, schedule, noise, ttm_noise)
    hold_clean = holds_clean_frames(req.transformer, req.image_embeds.extra_latents)
    pusa = _pusa(req, schedule, noise.shape[1], extra_count, empty_idx, hold_clean)
    if hold_clean and windows is not None:
        raise SamplingError("context_options", "context windows with a start image on a Wan 2.2 VAE model "
                            "(TI2V-5B image-to-video) are not supported", "disconnect context_options")

    exp = opts.experimental
    split_steps: tuple[int, ...] = ()
    if exp is not None and exp.video_attention_split_steps:
        split_steps = tuple(int(x.strip()) for x in str(exp.video_attention_split_steps).split(",") if x.strip())
    teacache = None
    if isinstance(opts.teacache, EasyCacheArgs):
        teacache = EasyCache.create(opts.teacache, len(schedule.timesteps), req.cache_device)
    elif isinstance(opts.teacache, MagCacheArgs):
        try:
            teacache = MagCache.create(opts.teacache, len(schedule.timesteps),
                                       wrapper_variant(req.teacache_variant, req.model_file), req.cache_device)
        except MagCacheError as err:
            raise SamplingError(err.input_name, str(err), err.hint) from None
    elif opts.teacache is not None:
        teacache = TeaCache.create(opts.teacache, len(schedule.timesteps), req.teacache_variant, req.cache_device)
    is_looped = (windows is not None and windows.options.context_schedule == "uniform_looped") or opts.loop is not None
    _check_ultravico(req, latent_len)
    return Prepared(
        req=req, steps=steps, cfg=cfg, schedule=schedule, generator=generator, latent=noise.to(torch.device(req.device)),
        cond=cond, text=text, windows=windows, is_looped=is_looped, extra_count=extra_count, empty_idx=empty_idx,
        hold_clean=hold_clean, pusa=pusa,
        guidance=wrapper_guidance(exp, bool(opts.batched_cfg)),
        phantom_guidance=PhantomCFG(cond.phantom.cfg_scale) if cond.phantom is not None else None,
        feta=opts.feta if (opts.feta is not None and latent_len > 1) else None,
        feta_frames=windows.frames if windows is not None else latent_len,
        split_steps=split_steps, teacache=teacache, add_noise=add_noise, nag=_nag(req),
        audio=_audio(req, latent_len, len(schedule.timesteps)),
        humo=_humo(req, latent_len, windows, schedule, teacache), ttm=ttm, rope_positions=rope_positions)


def _ttm(req: SamplingRequest, schedule: Schedule, latent: torch.Tensor,
         noise: torch.Tensor) -> tuple[TTMRun | None, torch.Tensor]:
    """WanVideoAddTTMLatents (:mod:`.ttm`): the window made relative to the sampler's step
    range, the schedule cut to start there (the pack walks ``timesteps[start:]`` with its
    scheduler finding its place from the first timestep it is given, which the cut stepper
    does too), and the starting latents the reference noised to the first timestep walked
    when the window is not empty (the noise held with it is the pass's, FreeNoise-shuffled in
    context windows, as the pack's). FreeInit (which rebuilds the schedule per pass) is
    refused with it."""
    emb = req.image_embeds.ttm
    if emb is None:
        return None, latent
    if req.freeinit is not None:
        raise SamplingError("freeinit_args", "FreeInit with Time-to-Move latents is not supported", "disconnect one")
    sampler_start = req.step_range[0] if req.step_range is not None else 0
    if isinstance(sampler_start, float):
        raise SamplingError("start_step", "a sigma start step with Time-to-Move latents is not supported",
                            "give the sampler's start_step as a step number")
    timesteps = schedule.timesteps
    try:
        start, end = ttm_method.window(emb.start_step, emb.end_step, int(sampler_start), len(timesteps))
        ttm_method.check_fits(emb.reference, emb.mask, latent)
    except ttm_method.TTMError as err:
        raise SamplingError("image_embeds", f"Time-to-Move: {err}") from None
    device = latent.device
    reference = emb.reference.to(device, torch.float32)
    run = TTMRun(reference=reference, mask=emb.mask.to(device, torch.float32), noise=noise.to(device),
                 timesteps=timesteps.clone(), start=start, end=end)
    if start > 0:
        schedule.timesteps = timesteps[start:]
        schedule.stepper.restrict(start, len(schedule.timesteps))
    if end > start:
        latent = ttm_method.noised(reference, run.noise, timesteps[start]).to(latent)
    return run, latent


def _humo(req: SamplingRequest, latent_len: int, windows: Windows | None, schedule: Schedule, cache: Any) -> Any:
    """HuMo's inputs for the pass (HuMoEmbeds), checked against the model and the options."""
    from wfrun.models.humo_parts import is_humo
    from wfrun.sampling.humo_guidance import prepare_humo

    embeds = req.image_embeds.humo
    if embeds is None:
        return None
    if not is_humo(req.transformer):
        raise SamplingError("image_embeds", "HuMoEmbeds need a HuMo model", "load a HuMo file in WanVideoModelLoader")
    refused = [name for name, on in (("context_options", windows is not None), ("batched_cfg", req.options.batched_cfg),
                                     ("cache_args", cache is not None), ("slg_args", req.options.slg is not None),
                                     ("fantasytalking_embeds", req.audio is not None),
                                     ("multitalk_embeds", req.multitalk is not None)) if on]
    if refused:
        raise SamplingError(refused[0], f"{refused[0]} with HuMo is not supported by wfrun yet", "disconnect it")
    if schedule.per_frame_timesteps:
        raise SamplingError("scheduler", "per-frame timesteps with HuMo are not supported", "pick another scheduler")
    run = prepare_humo(embeds, int(req.image_embeds.num_frames), int(req.transformer.config.in_channels),
                       latent_channels(req.transformer), len(schedule.timesteps), torch.device(req.device), req.dtype)
    if run.audio.shape[0] != latent_len:
        raise SamplingError("image_embeds", f"HuMo's audio covers {run.audio.shape[0]} latent frames, the video has "
                            f"{latent_len}", "sample HuMoEmbeds' own latent (no input samples of another length)")
    return run


def _predict_humo(p: Prepared, z: torch.Tensor, cfg_scale: float, pos: torch.Tensor, t: torch.Tensor, idx: int,
                  pct: float) -> torch.Tensor:
    """A HuMo step's prediction (:func:`wfrun.sampling.humo_guidance.humo_predict`), each call
    through :func:`wfrun.sampling.humo.humo_forward`."""
    from wfrun.sampling.humo import HuMoInputs, humo_forward
    from wfrun.sampling.humo_guidance import humo_predict

    run, tr = p.humo, p.req.transformer
    tt = t.reshape(-1)[:1].to(torch.device(p.req.device)).float()

    def call(latents: torch.Tensor, y: torch.Tensor | None, prompt: torch.Tensor,
             audio: torch.Tensor | None) -> torch.Tensor:
        x = torch.cat([latents, y.to(latents)]) if y is not None else latents
        inputs = HuMoInputs(audio=None if audio is None else audio.unsqueeze(0), audio_scale=run.scale)
        out = humo_forward(tr, x.unsqueeze(0), tt, prompt, inputs, ForwardOptions(step=idx, step_percent=pct))
        return out[0].float()

    guidance = p.guidance
    needs_uncond = guidance.needs_uncond(cfg_scale, idx)
    out = humo_predict(run, call, z, float(tt[0]), idx, pct, cfg_scale, pos, lambda: _negative(p),
                       lambda c, u: guidance.combine(c, u, cfg_scale, idx), needs_uncond)
    return out if needs_uncond else guidance.cond_only(out, idx)


# --- one prediction and its guidance -------------------------------------------------------

def _forward(p: Prepared, z: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor, clip: torch.Tensor | None, idx: int,
             pct: float, uncond: bool, pred_id: int | None, feta_on: bool,
             vace: tuple = (), animate: AnimateEmbeds | None = None,
             audio: FantasyAudio | None = None, camera: torch.Tensor | None = None,
             render: torch.Tensor | None = None, s2v: S2VInputs | None = None) -> tuple[torch.Tensor, int | None]:
    """One transformer call with this step's per-call values; output in float32. NAG guides
    the cond calls only (the pack passes its context when not ``is_uncond``). Animate's
    uncond call gets face crops all -1 (the pack's ``predict_with_cfg``). ``s2v``: this
    call's Wan 2.2 S2V inputs (:mod:`.s2v_wrapper`), run by the S2V forward."""
    req = p.req
    pose = face = None
    if animate is not None:
        pose = animate.pose_latents.unsqueeze(0) if animate.pose_latents is not None else None
        face = animate.face_pixels
        if face is not None and uncond:
            face = torch.full_like(face, -1.0)
    fo = ForwardOptions(step=idx, step_percent=pct, is_uncond=uncond,
                        feta_weight=float(p.feta.weight) if feta_on else None, feta_frames=p.feta_frames,
                        riflex_k=int(req.options.riflex_freq_index), riflex_frames=p.latent_len,
                        ntk_alphas=req.options.ntk_alphas if "comfy" in req.options.rope_function else (1.0, 1.0, 1.0),
                        split_attn_steps=p.split_steps, pred_id=pred_id, vace=vace, vace_pad_front=True,
                        nag=None if uncond else p.nag, pose=pose, face=face, reference=p.cond.fun_ref,
                        pose_strength=animate.pose_strength if animate is not None else 1.0,
                        face_strength=animate.face_strength if animate is not None else 1.0, audio=audio,
                        camera=camera, uni3c=render, ultravico_alpha=req.ultravico_alpha,
                        rope_positions=p.rope_positions)
    bsz = z.shape[0]
    tt = t.to(torch.device(req.device))
    tt = tt.repeat(bsz, 1) if tt.ndim == 2 and tt.shape[0] != bsz else (tt.repeat(bsz) if tt.ndim == 1 and tt.shape[0] != bsz else tt)
    clip_in = clip.unsqueeze(0) if clip is not None and clip.ndim == 2 else clip
    if clip_in is not None and clip_in.shape[0] != bsz and ctx.shape[0] == bsz:
        clip_in = clip_in.expand(bsz, -1, -1)
    if s2v is not None:
        return s2v_forward(req.transformer, z, tt, ctx, s2v, fo).float(), None
    out, pid = transformer_forward(req.transformer, z, tt, ctx, clip_in, fo)
    return out.float(), pid


def _model_y(p: Prepared, z: torch.Tensor, cond: torch.Tensor | None, ctl: torch.Tensor | None, idx: int,
             pct: float) -> torch.Tensor | None:
    """What is concatenated to the latents: image conditioning, with Fun control before it
    (zeros outside the control window); with a control LoRA the control latents alone, inside
    the window only, where the LoRA is switched on."""
    control, control_lora = p.cond.control, p.cond.control_lora
    if ctl is not None and control_lora is not None:
        inside = _in_window(control.start_percent, control.end_percent, pct, idx)
        control_lora.set(inside)
        return ctl.to(z) if inside else None
    if ctl is not None:
        return torch.cat([ctl.to(z) if _in_window(control.start_percent, control.end_percent, pct, idx)
                          else torch.zeros_like(ctl, dtype=z.dtype), cond.to(z)])
    return cond


def _negative(p: Prepared) -> torch.Tensor:
    if p.text.negative is None:
        raise SamplingError("text_embeds", "cfg is not 1.0 but there is no negative prompt embedding")
    return p.text.negative


def predict(p: Prepared, z: torch.Tensor, cfg_scale: float, pos: torch.Tensor, t: torch.Tensor, idx: int,
            cond: torch.Tensor | None, ctl: torch.Tensor | None, cache_state: list, feta_on: bool,
            vace: tuple | None = None, animate: AnimateEmbeds | None = None,
            audio: FantasyAudio | None = None, camera: torch.Tensor | None = None,
            window: list[int] | None = None, s2v_call: S2VInputs | None = None,
            cond_uncond: torch.Tensor | None = None) -> torch.Tensor:
    """The guided prediction for latents ``z`` ``[16, F, H, W]`` (one window or the video);
    ``vace``: this window's VACE contexts (default: the whole video's); ``animate``: this
    window's Animate inputs (default: the whole video's); ``audio``: this window's
    FantasyTalking audio (default: the whole video's); ``camera``: this window's Fun-Camera
    rays (default: the whole video's); ``window``: the context window's latent frames (Uni3C
    cuts its render latents to them); ``s2v_call``: the cond call's S2V inputs when the caller
    makes them (the framepack loop), else they come from the embeds; ``cond_uncond``: the
    uncond call's image conditioning where it differs from ``cond`` (Wan-Move)."""
    animate = p.cond.animate if animate is None else animate
    audio = p.audio if audio is None else audio
    camera = p.cond.camera if camera is None else camera
    guidance = p.guidance
    z = z.to(p.req.dtype)
    if guidance.zero_init(idx):
        return torch.zeros_like(z, dtype=torch.float32)
    pct = idx / len(p.timesteps)
    if p.humo is not None:
        return _predict_humo(p, z, cfg_scale, pos, t, idx, pct)
    camera = fun_camera.at_step(p.cond.control, camera, pct, idx)  # cond and uncond alike, as the pack
    render = render_for(p.req.uni3c, pct, idx, window)  # Uni3C's render latents, in every call of the step
    y = _model_y(p, z, cond, ctl, idx, pct)
    y_neg = _model_y(p, z, cond_uncond, ctl, idx, pct) if cond_uncond is not None else y
    hints = _vace_at(p, p.cond.vace if vace is None else vace, idx, pct)  # cond and uncond alike, as the pack
    s2v = s2v_call
    if s2v is None and p.req.image_embeds.s2v is not None:  # the wrapper's S2V: this call's audio, reference, pose
        try:
            s2v = s2v_wrapper.call_inputs(p.req.image_embeds.s2v, window, p.latent_len, idx, pct,
                                          torch.device(p.req.device), p.req.dtype)
        except s2v_wrapper.S2VError as err:
            raise SamplingError(err.input_name, str(err), err.hint) from None
    z_neg = z
    phantom = p.cond.phantom
    with_phantom = phantom is not None and _in_window(phantom.start_percent, phantom.end_percent, pct, idx)
    if with_phantom:  # the last frames become the references (cond) or zeros (uncond)
        refs = p.cond.phantom_latents
        n = refs.shape[1]
        z = torch.cat([z[:, :-n], refs.to(z)], dim=1)
        z_neg = torch.cat([z[:, :-n], torch.zeros_like(refs, dtype=z.dtype)], dim=1)
        if guidance.batched:  # the pack's Phantom pass is unbatched
            guidance = guidance.inner
    zin = (torch.cat([z, y.to(z)]) if y is not None else z).unsqueeze(0)
    zin_neg = (torch.cat([z_neg, y_neg.to(z)]) if y_neg is not None else z_neg).unsqueeze(0)
    clip_fea = p.cond.clip_fea
    clip_neg = p.cond.clip_neg if p.cond.clip_neg is not None else clip_fea
    if not guidance.batched:
        c_out, cache_state[0] = _forward(p, zin, t, pos, clip_fea, idx, pct, False, cache_state[0], feta_on, hints,
                                         animate, audio, camera, render, s2v)
        c_out = c_out[0]
        if not guidance.needs_uncond(cfg_scale, idx):
            return guidance.cond_only(c_out, idx)
        audio_cfg = audio is not None and not math.isclose(audio.cfg[idx], 1.0)
        talk = isinstance(audio, MultiTalkAudio)
        # audio CFG: FantasyTalking's other calls go without audio, MultiTalk's uncond keeps it
        rest_audio = audio if (talk or not audio_cfg) else None
        neg = _negative(p)
        u_out, cache_state[1] = _forward(p, zin_neg, t, neg, clip_neg, idx, pct, True, cache_state[1], feta_on, hints,
                                         animate, rest_audio, camera, render, s2v_wrapper.for_uncond(s2v))
        u_out = u_out[0]
        if with_phantom and p.phantom_guidance.needs_reference(idx):
            # references with the negative prompt: guidance toward the subject, then the text
            r_out, cache_state[2] = _forward(p, zin, t, neg, clip_neg, idx, pct, True, cache_state[2], feta_on,
                                             audio=rest_audio, camera=camera, render=render)
            return p.phantom_guidance.combine(c_out, u_out, r_out[0], cfg_scale, idx)
        if audio_cfg:  # the call without audio (the pack's third TeaCache state)
            n_out, cache_state[2] = _forward(p, zin, t, neg if talk else pos, clip_fea, idx, pct, False,
                                             cache_state[2], feta_on, hints, animate,
                                             audio.without_audio() if talk else None, camera, render)
            combine = multitalk_guidance if talk else audio_guidance
            return combine(c_out, u_out, n_out[0], cfg_scale, audio.cfg[idx])
    else:
        both, cache_state[0] = _forward(p, torch.cat([zin, zin_neg]), t, torch.cat([pos, _negative(p)]), clip_fea, idx,
                                        pct, False, cache_state[0], feta_on, hints, camera=camera, render=render)
        c_out, u_out = both[0], both[1]
    return guidance.combine(c_out, u_out, cfg_scale, idx)


# --- one step ------------------------------------------------------------------------------

def _timestep(p: Prepared, t: torch.Tensor) -> torch.Tensor:
    """``[1]``, or ``[1, F]`` for per-frame schedulers and TI2V-5B's given frames (0 on
    frames given as extra latents)."""
    timestep = torch.tensor([float(t)])
    if p.schedule.per_frame_timesteps or p.hold_clean:
        timestep = timestep.unsqueeze(1).repeat(1, p.latent_len)
        if p.req.image_embeds.extra_latents is not None:
            if p.empty_idx:
                keep = [i for i in range(p.latent_len) if i not in p.empty_idx]
                timestep[:, keep] = 0
            else:
                timestep[:, :p.extra_count] = 0
    return timestep


def _predict_windows(p: Prepared, model_in: torch.Tensor, timestep: torch.Tensor, idx: int,
                     feta_on: bool) -> torch.Tensor:
    """Each context window predicted with its own conditioning slice, TeaCache state and
    prompt section, fused by the window masks."""
    win = p.windows
    cond = p.cond
    latent_len, num_prompts = p.latent_len, p.text.num_prompts
    section = latent_len / num_prompts
    noise_pred = torch.zeros_like(model_in, dtype=torch.float32)
    counter = torch.zeros_like(model_in, dtype=torch.float32)
    for window in win.schedule(idx, p.steps, latent_len, win.frames, win.stride, win.overlap):
        wid = win.tracker.window_id(window)
        state = win.tracker.cache_states.setdefault(wid, [None, None, None])
        p_idx = min(int(max(window) / section), num_prompts - 1)
        pos = p.text.positive[p_idx:p_idx + 1] if num_prompts > 1 else p.text.positive
        w_cond = w_ctl = None
        if cond.image_cond is not None:
            image_cond = cond.image_cond
            w_cond = image_cond[:, window].clone()
            ref = win.options.reference_latent
            if window[0] != 0 and ref is not None:
                first = ref[:, 0].to(w_cond)
                w_cond[:, 0] = torch.cat([image_cond[:4, 0], first]) if first.shape[0] + 4 == w_cond.shape[0] else first
            else:
                w_cond[:, 0] = image_cond[:, 0]
        if cond.control_latents is not None:
            w_ctl = cond.control_latents[:, window]
        wt = timestep[:, window] if timestep.ndim == 2 else timestep
        pred = predict(p, model_in[:, window], p.cfg[idx], pos, wt, idx, w_cond, w_ctl, state, feta_on,
                       _window_vace(p, window), _animate_window(cond.animate, window),
                       p.audio.frames_of(window) if p.audio is not None else None,
                       fun_camera.window(cond.camera, window), window)
        mask = ctxwin.window_mask(pred, window, latent_len, win.overlap, looped=p.is_looped,
                                  method=win.options.fuse_method)
        noise_pred[:, window] += pred * mask
        counter[:, window] += mask
    return noise_pred / counter


def _window_vace(p: Prepared, window: list[int]) -> tuple:
    """Each VACE context cut to the window's frames; with a reference its frame 0 stays the
    reference (the pack's window loop)."""
    out = []
    for context, vace in p.cond.vace:
        if max(window) >= context.shape[1]:
            raise SamplingError("context_options", f"a VACE context of {context.shape[1]} latent frames is shorter "
                                f"than the context window (frame {max(window)})",
                                "give WanVideoVACEEncode as many frames as the video")
        part = context[:, window].clone()
        if p.req.image_embeds.has_ref:
            part[:, 0] = context[:, 0]
        out.append((part, vace))
    return tuple(out)


def denoise_step(p: Prepared, state: LoopState, idx: int, t: torch.Tensor) -> None:
    """Step ``idx``: predict (per window), undo the loop shift, let the scheduler step."""
    opts = p.req.options
    if p.pusa is not None:  # the given frames re-noised in place before the model sees them
        timestep = timestep_row(p.pusa, t, state.latent, p.schedule.stepper, p.generator, idx)
    else:
        timestep = _timestep(p, t)
    pct = idx / len(p.timesteps)
    latent_len = p.latent_len
    model_in = state.latent
    loop = opts.loop
    shifted = loop is not None and loop.start_percent <= pct <= loop.end_percent
    if shifted:
        model_in = torch.cat([model_in[:, state.shift_idx:], model_in[:, :state.shift_idx]], dim=1)
    feta_on = p.feta is not None and p.feta.start_percent <= pct <= p.feta.end_percent
    recam = p.req.image_embeds.recammaster
    if recam is not None:  # ReCamMaster: the source video's latents after the frames
        model_in = torch.cat([model_in, recam.source_latents.to(model_in)], dim=1)
    mocha = p.req.image_embeds.mocha
    if mocha is not None:  # MoCha: the video, its mask and the references after the frames
        model_in = torch.cat([model_in, mocha.latents.to(model_in)], dim=1)

    if p.windows is None:
        y = p.cond.image_cond
        ati = p.req.ati
        if p.cond.image_cond_ati is not None and _in_window(ati.start_percent, ati.end_percent, pct, idx):
            y = p.cond.image_cond_ati
        noise_pred = predict(p, model_in, p.cfg[idx], p.text.positive, timestep, idx, y,
                             p.cond.control_latents, state.cache_state, feta_on,
                             cond_uncond=p.cond.image_cond_uncond)
        if recam is not None or mocha is not None:
            noise_pred = noise_pred[:, :latent_len]
    else:
        noise_pred = _predict_windows(p, model_in, timestep, idx, feta_on)

    if shifted:
        shift = state.shift_idx
        noise_pred = torch.cat([noise_pred[:, latent_len - shift:], noise_pred[:, :latent_len - shift]], dim=1)
        state.shift_idx = (shift + int(loop.shift_skip)) % latent_len
    device = torch.device(p.req.device)
    # the pack's preview latent, returned as ``denoised_samples`` after the last step
    state.denoised = state.latent - noise_pred.to(state.latent) * (t.to(state.latent.device).float() / 1000)
    if p.pusa is not None:
        state.latent = pusa_step(p.pusa, p.schedule.stepper, noise_pred, timestep, state.latent).float()
        return
    if p.hold_clean and not p.schedule.per_frame_timesteps:  # the given frames stay as encoded
        clean = clean_frames(latent_len, p.extra_count, p.empty_idx)
        state.latent = step_noisy_frames(p.schedule.stepper, noise_pred, t.reshape(1).to(device), state.latent,
                                         clean, p.generator)
        return
    step_t = timestep.to(device) if timestep.ndim == 2 else t.reshape(1).to(device)
    state.latent = p.schedule.stepper.step(noise_pred.unsqueeze(0).to(state.latent.device), step_t,
                                           state.latent.unsqueeze(0), generator=p.generator).squeeze(0).float()


# --- finish and the entry -------------------------------------------------------------------

def _free_init_passes(p: Prepared) -> LoopState:
    """FreeInit (:mod:`.freeinit`): every pass with a fresh scheduler; before each pass after
    the first, the last result diffused back with the first pass's initial latents and its
    low frequencies mixed with fresh noise from the sampler's generator."""
    args = p.req.freeinit
    low_pass = low_pass_filter(tuple(p.latent.shape), args)
    initial = p.latent.clone()
    current = p.latent
    state = LoopState(latent=current)
    for iteration in range(int(args.num_iters)):
        if iteration > 0:
            p.schedule = _steps_and_cfg(p.req)[2]  # the pack builds its scheduler anew for each pass
            current = reinitialize(current, initial, low_pass, p.generator)
        state = LoopState(latent=current)
        run_steps(p, state, description=f"WanVideoSampler (FreeInit {iteration + 1}/{args.num_iters})")
        current = state.latent
    return state


def finish(p: Prepared, latent: torch.Tensor) -> dict:
    """The pack's LATENT (reference frames of Phantom dropped) and wfrun's TeaCache record."""
    emb = p.req.image_embeds
    if p.cond.phantom_latents is not None:  # the reference frames are not part of the video
        latent = latent[:, :-p.cond.phantom_latents.shape[1]]
    fun_or_fl2v = bool(emb.fun_or_fl2v_model)
    return {
        "samples": latent.unsqueeze(0).cpu(),
        "looped": p.is_looped,
        "end_image": emb.end_image if not fun_or_fl2v else None,
        "has_ref": bool(emb.has_ref),
        "drop_last": False,
        "generator_state": p.generator.get_state(),
        "teacache_skipped": p.teacache.skipped_steps() if p.teacache is not None else None,
    }


def planned_forwards(p: Prepared) -> int:
    """Transformer calls the pass will make, about: one per step at cfg 1, two otherwise
    and three with audio CFG (a third prompt or reference pass is left out), times the
    windows of the first step."""
    count = len(p.timesteps)
    audio = p.audio.cfg if p.audio is not None else [1.0] * count
    calls = sum(1 if float(c) == 1.0 else (2 if math.isclose(a, 1.0) else 3) for c, a in zip(p.cfg[:count], audio))
    if p.windows is not None:
        win = p.windows
        calls *= max(1, len(list(win.schedule(0, p.steps, p.latent_len, win.frames, win.stride, win.overlap))))
    return calls


def run_steps(p: Prepared, state: LoopState, on_step: Callable[[int, str], None] | None = None,
              description: str = "WanVideoSampler") -> None:
    """Every step of ``p`` on ``state`` with the pass's hooks attached to the transformer;
    ``on_step(idx, "before"/"after")`` around each (the long-video loop pins its motion
    frames there)."""
    req = p.req
    bar = req.progress.steps(len(p.timesteps), description) if req.progress is not None else None
    try:
        recam = req.image_embeds.recammaster
        talk = p.audio if isinstance(p.audio, MultiTalkAudio) else None
        with sampling_pass(req.transformer, slg=req.options.slg, teacache=p.teacache, on_block=req.on_block,
                           control=p.cond.control_lora, attention=req.attention, forwards=planned_forwards(p),
                           audio=p.audio is not None and talk is None,
                           attention_override=req.attention_override), \
                camera_conditioning(req.transformer, recam.camera_embed if recam is not None else None), \
                multitalk_pass(req.transformer, talk), uni3c_pass(req.transformer, req.uni3c):
            for idx, t in enumerate(p.timesteps):
                req.check_interrupt()
                if on_step is not None:
                    on_step(idx, "before")
                denoise_step(p, state, idx, t)
                if p.ttm is not None:  # Time-to-Move: the reference held inside its mask
                    state.latent = p.ttm.after_step(state.latent, idx)
                if on_step is not None:
                    on_step(idx, "after")
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def sample(req: SamplingRequest) -> dict:
    """Run WanVideoSampler's loop: :func:`prepare`, :func:`run_steps`, :func:`finish`; with
    FreeInit, the steps run once per iteration (:func:`_free_init_passes`)."""
    p = prepare(req)
    state = LoopState(latent=p.latent)
    if req.freeinit is not None:
        state = _free_init_passes(p)
    else:
        run_steps(p, state)
    out = finish(p, state.latent)
    if state.denoised is not None:
        denoised = state.denoised
        if p.cond.phantom_latents is not None:
            denoised = denoised[:, :-p.cond.phantom_latents.shape[1]]
        out["denoised"] = denoised.unsqueeze(0).cpu()
    return out
