"""What the Wan model is given for one CONDITIONING entry, as ComfyUI's ``WAN21``/``WAN22``
model classes build it (``comfy/model_base.py``), then one call of diffusers' transformer.

- **Text**: the entry's tensor (``[1, L, 4096]``, L ≥ 512 from CLIPTextEncode), repeated to
  the latent batch.
- **CLIP vision**: ``clip_vision_output.penultimate_hidden_states``, used only by a model
  with a CLIP projection (ComfyUI's ``img_emb``); others ignore it, as ComfyUI does.
- **Concatenated channels** (``concat_cond``): the model's input channels beyond the
  latent's are filled from ``concat_latent_image`` (each 16-channel group normalised with
  the latent format, resized to the latent) — zeros when absent. Image-to-video models
  (36 channels) put a 4-channel mask in front (``1 - concat_mask``, averaged to one channel
  when it has another count, resized, padded with zeros at the end, repeated to 4), or at
  ``concat_mask_index`` (Wan 2.2 Fun: after the control latents).
- **Timestep**: ``sigma · multiplier`` per sample; with a ``noise_mask`` on a Wan 2.2 5B
  latent (``WAN22.process_timestep``) each latent frame gets its own, scaled by the mean of
  the mask over that frame — the given first frame sees timestep 0.
- **VACE** (a model with VACE blocks; ComfyUI ``WAN21_Vace``): each ``vace_frames``
  entry (32 channels: inactive and reactive latents, each 16 normalised with the latent
  format) joined with its ``vace_mask`` (64) is one 96-channel context, with its
  ``vace_strength``; no frames given: zeros and an all-ones mask at strength 1. A strength
  may also be WanVaceAdvanced's per-frame form (a list per batch item of one strength per
  latent frame; its model patch reads the first item's): each frame's tokens get their own
  (:func:`vace_strength`).
- **Phantom subjects** (``time_dim_concat``, from WanPhantomSubjectToVideo or
  WanVaceAdvanced): the subjects' latents, normalised with the latent format, follow the
  video's frames along time for the model call (ComfyUI ``WanModel._forward``), and the
  output is cut back to the video's frames. Not with concatenated image channels (ComfyUI's
  concatenation fails there too), context windows or per-frame timesteps.
- **Fun Camera**: ``camera_conditions`` (Plücker rays) for a model with a camera adapter.
- **Reference**: the last of ``reference_latents``, normalised, its first frame — used by a
  model with ``ref_conv`` (Wan 2.2 Fun Control), ignored by others as in ComfyUI.
- **Wan 2.2 Animate** (a model with ``pose_patch_embedding``; ComfyUI ``WAN22_Animate``):
  ``pose_video_latent`` normalised with the latent format, and ``face_video_pixels`` as
  given, each repeated to the latent batch; other models ignore both, as in ComfyUI. The
  face crops' tokens (motion and face encoders) are made once per entry and sampling run,
  where ComfyUI remakes them at every call: they depend on the crops alone.
- **NAG** (ComfyUI-NAG's samplers, ``nag``): the positive pass — the SkipLayerGuidanceDiT
  pass too, which ComfyUI also runs as a positive one — is guided with the NAG negative
  while its sigma is at least ``sigma_end``; the negative pass never.
- **Wan 2.2 S2V** (a model with S2V's parts; ComfyUI ``WAN22_S2V``): ``audio_embed`` as
  given, and ``reference_latents`` (the last, every frame), ``control_video`` and
  ``reference_motion`` normalised with the latent format; the call runs
  :func:`wfrun.sampling.s2v.s2v_forward`. Other models refuse ``audio_embed`` (ComfyUI's
  ignore it: the refusal says what would be lost). Not with context windows or step caches.
- **Several entries** (ConditioningCombine) and **timestep ranges** (ConditioningSetTimestepRange):
  see :class:`WanPredictor`.
- **Wan Animate 2** (WanAnimate2ToVideo's ``cross_attn_pose`` on a model shaped as Wan 2.1
  I2V 14B; ComfyUI ``WAN_Animate2``): ``pose_video_latent`` normalised with the latent
  format, ``cross_attn_pose`` and ``clip_vision_output_pose`` for the pose branch,
  ``pose_strength`` and ``reference_strength``; the call runs
  :func:`wfrun.sampling.animate2.animate2_forward`. ComfyUI picks its Animate 2 model from
  the checkpoint's metadata (the weights have I2V's shapes); wfrun from the conditioning,
  which only WanAnimate2ToVideo makes (ComfyUI would run a plain I2V checkpoint with the
  pose dropped). Not with context windows, NAG or step caches.
- **Bernini in-context streams** (``context_latents``, from BerniniConditioning; ComfyUI
  ``WAN21.extra_conds``): each clean latent normalised with the latent format, padded to the
  patch size, repeated to the batch; the forward appends their tokens to the video's
  (:func:`wfrun.sampling.forward.transformer_forward`). The model's input must be the
  latent alone (a text-to-video model such as Bernini-R: ComfyUI's patch embedding fails
  on another). Under context windows a stream as long as the latent is cut to the window,
  others stay whole (ComfyUI ``WAN21.resize_cond_for_context_window``). Not with per-frame
  timesteps, VACE, Wan 2.2 Animate, Enhance-A-Video, or the models with a forward of their
  own (S2V, HuMo, Wan Animate 2).
Inputs wfrun cannot run yet (audio outside S2V, areas and masks, SCAIL's, Wan Animate 2's on
another model) are refused by name
rather than dropped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import NodeInputError
from wfrun.packs.comfy_core_models.context_windows import window_inputs
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.types import CoreModel
from wfrun.sampling.forward import ForwardOptions, face_motion, transformer_forward
from wfrun.sampling.ksampler import FlowSampling
from wfrun.sampling.nag import NAGContext, NAGGuidance
from wfrun.sampling.humo import HuMoInputs, humo_forward, image_channels, reference_channels
from wfrun.sampling.s2v import S2VInputs, s2v_forward
from wfrun.sampling.animate2 import Animate2Inputs, animate2_forward, takes_animate2
from wfrun.models.humo_parts import feature_shape, is_humo
from wfrun.models.s2v_parts import is_s2v

UNSUPPORTED_KEYS = {"audio_embed": "audio",
                    "area": "an area (ConditioningSetArea…)", "mask": "a mask (ConditioningSetMask)",
                    # WanSCAILToVideo's (always sets the flag): no SCAIL model in wfrun yet
                    "ref_mask_flag": "SCAIL character conditioning (WanSCAILToVideo)",
                    "driving_mask_28ch": "SCAIL-2 identity masks (WanSCAILToVideo)",
                    "ref_mask_28ch": "SCAIL-2 reference masks (WanSCAILToVideo)",
                    # WanAnimate2ToVideo's (always set): read by a model shaped as Animate 2's
                    # checkpoint only (Wan 2.1 I2V 14B); its pose_video_latent must not reach
                    # Wan 2.2 Animate's reader either
                    "cross_attn_pose": "the Wan Animate 2 pose branch (WanAnimate2ToVideo) on a model not shaped as "
                                       "Animate 2's checkpoint (Wan 2.1 I2V 14B)"}


@dataclass(frozen=True)
class Entry:
    """One ``[tensor, dict]`` of a CONDITIONING as the sampler runs it (ComfyUI's
    ``get_area_and_mult`` without areas or masks): its ``strength`` (1.0 unless the dict says)
    and its timestep range as model timesteps (``percent_to_sigma`` of ``start_percent`` /
    ``end_percent``, rounded to float32 and times the multiplier, as the sampler's own
    timesteps are made), None where the dict sets no bound."""

    tensor: torch.Tensor
    options: dict
    strength: float = 1.0
    start: torch.Tensor | None = None
    end: torch.Tensor | None = None

    def applies(self, timestep: torch.Tensor) -> bool:
        """Whether the entry runs at this call: ComfyUI skips it while the first sample's
        sigma is above the start sigma or below the end sigma."""
        t = timestep.reshape(-1)[0].float().cpu()
        return not ((self.start is not None and t > self.start) or (self.end is not None and t < self.end))


def conditioning_entries(conditioning: Any, input_name: str, ms: FlowSampling | None = None,
                         allowed: frozenset[str] = frozenset()) -> tuple[Entry, ...]:
    """The entries of a CONDITIONING (several after ConditioningCombine), each checked; with
    ``ms`` their ``start_percent``/``end_percent`` become timestep bounds (ComfyUI's
    ``calculate_start_end_timesteps``). ``allowed``: keys of ``UNSUPPORTED_KEYS`` the model
    reads (S2V's ``audio_embed``)."""
    if not isinstance(conditioning, list) or not conditioning:
        raise NodeInputError(input_name, "expected a CONDITIONING (from CLIPTextEncode)")
    out = []
    for item in conditioning:
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], dict) \
                or not isinstance(item[0], torch.Tensor):
            raise NodeInputError(input_name, f"expected a CONDITIONING (from CLIPTextEncode), got an entry of "
                                 f"{type(item).__name__}")
        tensor, options = item
        for key, what in UNSUPPORTED_KEYS.items():
            if key not in allowed and options.get(key) is not None:
                raise NodeInputError(input_name, f"conditioning with {what} ({key}) is not supported by wfrun's "
                                     "KSampler yet")
        try:
            strength = 1.0 if options.get("strength") is None else float(options["strength"])
            bounds = [None if options.get(k) is None or ms is None else
                      torch.tensor(ms.percent_to_sigma(float(options[k])), dtype=torch.float32) * ms.multiplier
                      for k in ("start_percent", "end_percent")]
        except (TypeError, ValueError):
            raise NodeInputError(input_name, "a conditioning strength or timestep range that is not a number",
                                 "set it with ConditioningSetTimestepRange") from None
        out.append(Entry(tensor, options, strength, *bounds))
    return tuple(out)


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` [B, C, T, H, W] resized (bilinear, centre crop) to ``like``'s H and W."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    b, c, t = x.shape[:3]
    flat = x.movedim(2, 1).reshape(b * t, c, *x.shape[-2:])
    out = common_upscale(flat, like.shape[-1], like.shape[-2], "bilinear", "center")
    return out.reshape(b, t, c, *out.shape[-2:]).movedim(1, 2)


def _batch(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[0] == size:
        return x
    reps = -(-size // x.shape[0])
    return x.repeat(reps, *([1] * (x.ndim - 1)))[:size]


def concat_channels(model: CoreModel, options: dict, noise: torch.Tensor) -> torch.Tensor | None:
    """The channels concatenated to the latent (ComfyUI's ``WAN21.concat_cond``), or None."""
    extra = int(model.transformer.config.in_channels) - noise.shape[1]
    if extra <= 0:
        return None
    image = options.get("concat_latent_image")
    if image is None:
        image = noise.new_zeros(noise.shape[0], extra, *noise.shape[2:])
    else:
        image = _batch(_normalised(model, _resize(image.to(noise.device, torch.float32), noise)), noise.shape[0])
    if extra != image.shape[1] + 4 and (not model.image_to_video or extra == image.shape[1]):
        return image
    image = image[:, :extra - 4]
    mask = options.get("concat_mask", options.get("denoise_mask"))
    if mask is None:
        mask = noise.new_zeros(noise.shape[0], 4, *noise.shape[2:])
    else:
        mask = mask.to(noise.device, torch.float32)
        if mask.shape[1] != 4:
            mask = mask.mean(dim=1, keepdim=True)
        mask = _resize(1.0 - mask, noise)
        if mask.shape[2] < noise.shape[2]:
            mask = torch.nn.functional.pad(mask, (0, 0, 0, 0, 0, noise.shape[2] - mask.shape[2]))
        if mask.shape[1] == 1:
            mask = mask.repeat(1, 4, 1, 1, 1)
        mask = _batch(mask, noise.shape[0])
    index = int(options.get("concat_mask_index", 0) or 0)
    if index:
        return torch.cat([image[:, :index], mask, image[:, index:]], dim=1)
    return torch.cat([mask, image], dim=1)


def _normalised(model: CoreModel, latent: torch.Tensor) -> torch.Tensor:
    """Raw latents, each group of the format's channels normalised (``process_latent_in``)."""
    fmt = latent_format(model.latent_channels)
    return torch.cat([fmt.process_in(latent[:, i:i + fmt.channels]) for i in range(0, latent.shape[1], fmt.channels)],
                     dim=1)


def vace_contexts(model: CoreModel, options: dict, noise: torch.Tensor) -> tuple[tuple[torch.Tensor, float], ...]:
    """The VACE contexts and strengths of a conditioning entry (ComfyUI ``WAN21_Vace.extra_conds``)."""
    if getattr(model.transformer, "vace_blocks", None) is None:
        return ()
    shape = (noise.shape[0], 0, *noise.shape[2:])
    frames = options.get("vace_frames") or [noise.new_zeros(shape[0], 32, *shape[2:])]
    masks = options.get("vace_mask") or [noise.new_ones(shape[0], 64, *shape[2:])] * len(frames)
    strengths = options.get("vace_strength") or [1.0] * len(frames)
    if not len(frames) == len(masks) == len(strengths):
        raise NodeInputError("positive", f"{len(frames)} VACE frame sets, {len(masks)} masks and {len(strengths)} "
                             "strengths: they must match")
    out = []
    for latent, mask, strength in zip(frames, masks, strengths):
        latent = _normalised(model, latent.to(noise.device, torch.float32))
        context = torch.cat([latent, mask.to(noise.device, torch.float32)], dim=1)
        if context.shape[2:] != noise.shape[2:]:
            raise NodeInputError("positive", f"VACE context of {tuple(context.shape[2:])} latent frames x size "
                                 f"does not match the latent's {tuple(noise.shape[2:])}",
                                 "feed the sampler the latent of the same WanVaceToVideo node")
        out.append((_batch(context, noise.shape[0]), vace_strength(strength, context.shape[2])))
    return tuple(out)


def vace_strength(value: Any, frames: int) -> float | torch.Tensor:
    """One context's ``vace_strength``: a number, or WanVaceAdvanced's ``[[s per latent frame]
    per batch item]`` whose first item its model patch applies frame by frame. Equal
    per-frame values become one number (the same sums, and the plain path)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        try:
            per_frame = [float(v) for v in value[0]]
        except (TypeError, ValueError):
            per_frame = []
        if len(per_frame) != frames:
            raise NodeInputError("positive", f"{len(per_frame)} per-frame VACE strengths for a context of "
                                 f"{frames} latent frames", "build the VACE conditioning and the latent together")
        if len(set(per_frame)) == 1:
            return per_frame[0]
        return torch.tensor(per_frame, dtype=torch.float32)
    raise NodeInputError("positive", f"a VACE strength of {type(value).__name__}",
                         "a number, or a list of per-frame strengths per batch item")


def phantom_latents(model: CoreModel, options: dict, noise: torch.Tensor) -> torch.Tensor | None:
    """The entry's Phantom subject latents (``time_dim_concat``) normalised and repeated to the
    batch (ComfyUI ``WAN21.extra_conds``), or None; their height and width must be the latent's."""
    subjects = options.get("time_dim_concat")
    if subjects is None:
        return None
    if not isinstance(subjects, torch.Tensor) or subjects.ndim != 5 or subjects.shape[1] != noise.shape[1] \
            or subjects.shape[-2:] != noise.shape[-2:]:
        found = tuple(subjects.shape) if isinstance(subjects, torch.Tensor) else type(subjects).__name__
        raise NodeInputError("positive", f"Phantom subject latents of {found} for a latent of {tuple(noise.shape)}",
                             "make the subjects at the video's width and height")
    return _batch(_normalised(model, subjects.to(noise.device, torch.float32)), noise.shape[0])


def reference_latent(model: CoreModel, options: dict) -> torch.Tensor | None:
    """The last reference latent, normalised, first frame (``[B, C, H, W]``), or None."""
    refs = options.get("reference_latents")
    if not refs:
        return None
    return _normalised(model, refs[-1].float())[:, :, 0]


def context_streams(model: CoreModel, options: dict, batch: int, side: str) -> tuple[torch.Tensor, ...]:
    """An entry's Bernini in-context latents (``context_latents``), each normalised with the
    latent format, padded to the patch size and repeated to the batch; () when it has none."""
    latents = options.get("context_latents")
    if not latents:
        return ()
    tr = model.transformer
    channels = int(tr.config.in_channels)
    out = []
    for latent in latents:
        if not isinstance(latent, torch.Tensor) or latent.ndim != 5 or latent.shape[1] != model.latent_channels:
            found = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
            raise NodeInputError(side, f"an in-context latent (context_latents) of {found}; expected "
                                 f"[batch, {model.latent_channels}, frames, height, width]",
                                 "make it with BerniniConditioning and this model's VAE")
        if channels != latent.shape[1]:
            raise NodeInputError(side, f"in-context latents (BerniniConditioning) on a model taking {channels} "
                                 f"input channels: its patch embedding takes the {latent.shape[1]}-channel latent "
                                 "alone", "use Bernini-R (a Wan 2.2 A14B text-to-video model)")
        normalised = _normalised(model, latent.float())
        out.append(_batch(pad_to_patches(normalised, tuple(tr.config.patch_size)), batch))
    return tuple(out)


def _refuse_streams(model: CoreModel, extras: dict, t: torch.Tensor, side: str) -> None:
    """The inputs in-context streams do not run with here, named (ComfyUI fails on most of
    them, its token counts no longer matching; wfrun does not guess)."""
    if t.ndim > 1:
        raise NodeInputError(side, "in-context latents (BerniniConditioning) with per-frame timesteps (a noise mask "
                             "on a Wan 2.2 5B latent) are not supported")
    if extras["vace"]:
        raise NodeInputError(side, "in-context latents (BerniniConditioning) on a VACE model are not supported",
                             "use Bernini-R without VACE")
    if extras["pose"] is not None or extras["face"] is not None:
        raise NodeInputError(side, "in-context latents (BerniniConditioning) on a Wan 2.2 Animate model are not "
                             "supported")
    if model.feta is not None:
        raise NodeInputError("model", "Enhance-A-Video with in-context latents (BerniniConditioning) is not "
                             "supported", "remove the Enhance-A-Video node")


def animate_inputs(model: CoreModel, options: dict, batch: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Wan 2.2 Animate's pose latents (normalised) and face crops of a conditioning entry, for
    a model that has them (ComfyUI ``WAN22_Animate.extra_conds``), else (None, None)."""
    if getattr(model.transformer, "pose_patch_embedding", None) is None:
        return None, None
    pose = options.get("pose_video_latent")
    face = options.get("face_video_pixels")
    if pose is not None:
        pose = _batch(_normalised(model, pose.float()), batch)
    if face is not None:
        face = _batch(face.float(), batch)
    return pose, face


def timesteps(model: CoreModel, sigma: torch.Tensor, batch: int, denoise_mask: torch.Tensor | None) -> torch.Tensor:
    """``sigma · multiplier`` per sample, or per latent frame under a Wan 2.2 noise mask."""
    t = (sigma.reshape(-1) * model.multiplier).float()
    t = t.expand(batch) if t.numel() == 1 else t
    if denoise_mask is None or not model.per_frame_timesteps:
        return t
    per_frame = denoise_mask.float().mean(dim=(1, 3, 4))  # [B, T]
    return per_frame * t.view(-1, 1)


class WanPredictor:
    """``predict(x, timestep, which)`` for the KSampler library: ``which`` is ``"cond"``,
    ``"uncond"`` or ``("skip", layers)`` (the cond pass without those blocks, for
    SkipLayerGuidanceDiT; the blocks are skipped by the SLG hook of the sampling pass).
    ``denoise_mask`` is the latent's noise mask, if any; ``nag``: Normalized Attention
    Guidance of the positive passes (ComfyUI-NAG); ``ms``: the model sampling whose
    ``percent_to_sigma`` places the entries' timestep ranges (by default the MODEL's).

    Each side may hold several entries (ConditioningCombine), run as ComfyUI's
    ``calc_cond_batch``: every entry whose timestep range holds the call's sigma runs (one
    model call each), and the side's prediction is their mean weighted by ``strength``. ComfyUI
    averages the data predictions (x0); ``x0 = x - sigma·v`` is affine in the velocity with
    the same coefficients for every entry, so the weighted mean of the velocities returned
    here gives the same x0 (to rounding). When no entry applies (or their strengths sum to
    0) ComfyUI's x0 is zeros: this returns None, which the KSampler library turns into a zero
    data prediction. A side of one entry with no range runs exactly as before: one call, its
    output as it is (ComfyUI's ``out·s / (s + 1e-37)`` is the output for one entry)."""

    def __init__(self, model: CoreModel, positive: Any, negative: Any, device: Any,
                 denoise_mask: torch.Tensor | None = None, sigmas: torch.Tensor | None = None,
                 nag: NAGGuidance | None = None, ms: FlowSampling | None = None):
        self.model = model
        self.nag = nag
        self.device = device
        ms = ms if ms is not None else FlowSampling(shift=model.shift, multiplier=model.multiplier)
        audio = is_s2v(model.transformer) or is_humo(model.transformer)
        allowed = frozenset({"audio_embed"}) if audio else \
            frozenset({"cross_attn_pose"}) if takes_animate2(model.transformer) else frozenset()
        self.entries = {"cond": conditioning_entries(positive, "positive", ms, allowed),
                        "uncond": conditioning_entries(negative, "negative", ms, allowed)}
        self.denoise_mask = denoise_mask
        self._concat: dict[Any, torch.Tensor | None] = {}
        self._extras: dict[Any, dict] = {}
        self._subjects: dict[Any, torch.Tensor | None] = {}
        #: the run's sigmas (a step index for step caches) and each prediction's cache id
        self.sigmas = sigmas.float().cpu() if sigmas is not None else None
        self._pred_ids: dict[Any, int | None] = {}

    @property
    def most_entries(self) -> int:
        """The most entries either side holds (1 without ConditioningCombine)."""
        return max(len(e) for e in self.entries.values())

    def __call__(self, x: torch.Tensor, timestep: torch.Tensor, which: Any, window: Any = None) -> torch.Tensor | None:
        """``window``: a context window (``sampling.ksampler.context_windows.Window``) that
        ``x`` is; the per-frame inputs, built for the whole latent, are cut to it."""
        skip: tuple[int, ...] = ()
        if isinstance(which, tuple) and which[0] == "skip":
            which, skip = "cond", tuple(which[1])
        entries = self.entries[which]
        if len(entries) == 1 and entries[0].start is None and entries[0].end is None and entries[0].strength != 0:
            return self._forward(x, timestep, which, 0, skip, window)
        active = [i for i, entry in enumerate(entries) if entry.applies(timestep)]
        total = sum(entries[i].strength for i in active)
        if not active or total == 0:
            return None
        if len(active) == 1:
            return self._forward(x, timestep, which, active[0], skip, window)
        out = None
        for i in active:
            part = self._forward(x, timestep, which, i, skip, window) * entries[i].strength
            out = part if out is None else out + part
        return out / total

    def _forward(self, x: torch.Tensor, timestep: torch.Tensor, which: str, index: int,
                 skip: tuple[int, ...], window: Any = None) -> torch.Tensor:
        """The raw output of entry ``index`` of side ``which``."""
        entry = self.entries[which][index]
        tensor, options = entry.tensor, entry.options
        model, tr = self.model, self.model.transformer
        batch = x.shape[0]
        if options.get("context_latents") and (is_s2v(tr) or is_humo(tr) or options.get("cross_attn_pose") is not None):
            raise NodeInputError("positive" if which == "cond" else "negative",
                                 "in-context latents (BerniniConditioning) with Wan 2.2 S2V, HuMo or Wan Animate 2 "
                                 "are not supported", "use Bernini-R, a Wan 2.2 A14B text-to-video model")
        if is_s2v(tr):
            return self._forward_s2v(x, timestep, which, index, skip, window)
        if is_humo(tr):
            return self._forward_humo(x, timestep, which, index, skip, window)
        if options.get("cross_attn_pose") is not None or (options.get("reference_strength") is not None
                                                           and takes_animate2(tr)):
            # (an entry outside WanAnimate2ToVideo's pose window keeps its reference_strength)
            return self._forward_animate2(x, timestep, which, index, skip, window)
        full = x if window is None else window.full_shape(x)
        slot = (which, index)
        if slot not in self._concat:
            self._concat[slot] = concat_channels(model, options, full.float())
        extra = self._concat[slot]
        if slot not in self._subjects:
            self._subjects[slot] = phantom_latents(model, options, full.float())
        subjects = self._subjects[slot]
        if subjects is not None:
            if extra is not None:
                raise NodeInputError("positive", "Phantom subjects (time_dim_concat) on a model with concatenated "
                                     "image channels", "use a text-to-video or VACE model with Phantom subjects")
            if window is not None:
                raise NodeInputError("positive", "Phantom subjects (time_dim_concat) with context windows are not "
                                     "supported by wfrun yet", "sample without the context windows node")
            full = torch.cat([full, subjects.to(full.device, full.dtype)], dim=2)
        if slot not in self._extras:
            camera = options.get("camera_conditions")
            if camera is not None and getattr(tr, "control_adapter", None) is None:
                camera = None  # as ComfyUI: only a camera model reads the rays
            self._extras[slot] = {
                "vace": vace_contexts(model, options, full.float()),
                "camera": _batch(camera.to(self.device, torch.float32), batch) if camera is not None else None,
                "reference": reference_latent(model, options),
                "context": context_streams(model, options, batch, "positive" if which == "cond" else "negative")}
            pose, face = animate_inputs(model, options, batch)
            self._extras[slot].update(pose=None if pose is None else pose.to(self.device),
                                      face=None if face is None else face.to(self.device))
        extras, denoise_mask = self._extras[slot], self.denoise_mask
        side = "positive" if which == "cond" else "negative"
        for key, what in (("vace", "VACE control latents"), ("pose", "Wan 2.2 Animate pose latents"),
                          ("camera", "Fun Camera rays")):
            if (len(extras[key]) if key == "vace" else extras[key] is not None):
                refuse_partial_patches(tr, full.shape, what, side)
        if window is not None:
            if any(isinstance(s, torch.Tensor) for _, s in extras["vace"]):
                raise NodeInputError("positive", "per-frame VACE strengths with context windows are not supported "
                                     "by wfrun yet", "sample without the context windows node")
            extra, extras, denoise_mask = window_inputs(window, extra, extras, denoise_mask)
        hidden = torch.cat([x.float(), extra.to(x.device)], dim=1) if extra is not None else x.float()
        frames, height, width = hidden.shape[2:]
        if subjects is not None:
            hidden = torch.cat([hidden, pad_to_patches(subjects, tuple(tr.config.patch_size)).to(x.device)], dim=2)
        context = _batch(tensor.to(self.device, model.dtype), batch)
        clip = None
        cvo = options.get("clip_vision_output")
        if cvo is not None and getattr(tr.condition_embedder, "image_embedder", None) is not None:
            clip = _batch(cvo.penultimate_hidden_states.to(self.device, model.dtype), batch)
        sigma = timestep / model.multiplier
        t = timesteps(model, sigma.to(self.device), batch, denoise_mask)
        if extras["context"]:
            _refuse_streams(model, extras, t, "positive" if which == "cond" else "negative")
        if subjects is not None and t.ndim > 1:
            raise NodeInputError("positive", "Phantom subjects (time_dim_concat) with per-frame timesteps (a noise "
                                 "mask on a Wan 2.2 5B latent) are not supported by wfrun yet")
        # the skip pass is the one call marked uncond: the pass's SLG hook (ksampler_nodes)
        # skips its blocks there and nowhere else
        key = (which, skip, index)
        feta_weight, feta_frames = model.feta if model.feta is not None else (None, 0)
        step = step_index(self.sigmas, sigma)
        # SkipLayerGuidanceWanVideo marks the real uncond pass, at the step's percent (KJNodes:
        # step index / (sigmas - 1)); otherwise only SkipLayerGuidanceDiT's skip pass is marked
        uncond_skip = model.uncond_skip is not None and which == "uncond" and not skip
        if model.uncond_skip_sigmas is not None and which == "uncond" and not skip:
            uncond_skip = in_sigma_window(model.uncond_skip_sigmas, sigma)
        percent = step / (len(self.sigmas) - 1) if uncond_skip and self.sigmas is not None and len(self.sigmas) > 1 \
            else 0.5
        options_fwd = ForwardOptions(is_uncond=bool(skip) or uncond_skip, step_percent=percent, vace=extras["vace"],
                                     camera=extras["camera"], reference=extras["reference"],
                                     context_latents=tuple(c.to(self.device) for c in extras["context"]),
                                     pose=extras["pose"], face=extras["face"],
                                     step=step, pred_id=self._pred_ids.get(key),
                                     feta_weight=feta_weight, feta_frames=feta_frames,
                                     riflex_k=model.riflex[0] if model.riflex else 0,
                                     riflex_frames=model.riflex[1] if model.riflex else 0,
                                     rope_scale=model.rope_scale, nag=self._nag_context(which, sigma, batch))
        hidden = pad_to_patches(hidden, tuple(tr.config.patch_size))
        if extras["face"] is not None and "face_tokens" not in extras:  # once a run: they depend on the crops only
            extras["face_tokens"] = face_motion(tr, extras["face"], hidden.shape[2] // tr.config.patch_size[0], batch)
        options_fwd.face_tokens = extras.get("face_tokens")
        out, pred_id = transformer_forward(tr, hidden.to(self.device, model.dtype), t.to(self.device), context, clip,
                                           options_fwd)
        self._pred_ids[key] = pred_id
        return out.float()[:, :, :frames, :height, :width]

    def _forward_s2v(self, x: torch.Tensor, timestep: torch.Tensor, which: str, index: int,
                     skip: tuple[int, ...], window: Any = None) -> torch.Tensor:
        """One call of a Wan 2.2 S2V model (ComfyUI ``WAN22_S2V``): its own inputs and forward."""
        if window is not None:
            raise NodeInputError("model", "context windows are not supported with a Wan 2.2 S2V model (its audio, "
                                 "reference and motion tokens are made for the whole chunk)",
                                 "remove the context windows node; S2V makes long videos chunk by chunk "
                                 "(WanSoundImageToVideoExtend)")
        caches = [name for name, value in (("TeaCache", self.model.teacache), ("EasyCache", self.model.easycache),
                                           ("MagCache", self.model.magcache)) if value is not None]
        if caches:
            raise NodeInputError("model", f"{caches[0]} is not supported with a Wan 2.2 S2V model yet",
                                 "remove the step cache node")
        entry = self.entries[which][index]
        if entry.options.get("time_dim_concat") is not None:
            raise NodeInputError("positive" if which == "cond" else "negative", "Phantom subjects (time_dim_concat) "
                                 "on a Wan 2.2 S2V model are not supported")
        model, tr, batch = self.model, self.model.transformer, x.shape[0]
        slot = (which, index)
        if slot not in self._extras:
            self._extras[slot] = s2v_inputs(model, entry.options, self.device)
        if self._extras[slot].control is not None:
            refuse_partial_patches(tr, x.shape, "Wan 2.2 S2V control video latents",
                                   "positive" if which == "cond" else "negative")
        frames, height, width = x.shape[2:]
        hidden = pad_to_patches(x.float(), tuple(tr.config.patch_size)).to(self.device, model.dtype)
        sigma = timestep / model.multiplier
        t = (sigma.reshape(-1).to(self.device) * model.multiplier).float()
        t = t.expand(batch) if t.numel() == 1 else t
        context = _batch(entry.tensor.to(self.device, model.dtype), batch)
        step = step_index(self.sigmas, sigma)
        call = ForwardOptions(is_uncond=bool(skip), step=step, nag=self._nag_context(which, sigma, batch))
        out = s2v_forward(tr, hidden, t, context, self._extras[slot], call)
        return out.float()[:, :, :frames, :height, :width]

    def _refuse_for(self, what: str, window: Any) -> None:
        """The features a model with its own forward (HuMo, Wan Animate 2) does not run with yet."""
        if window is not None:
            raise NodeInputError("model", f"context windows are not supported with a {what} model yet (its extra "
                                 "tokens are made for the whole latent)", "turn the context windows off or remove "
                                 "the node")
        if self.nag is not None:
            raise NodeInputError("model", f"NAG is not supported with a {what} model yet")
        caches = [name for name, value in (("TeaCache", self.model.teacache), ("EasyCache", self.model.easycache),
                                           ("MagCache", self.model.magcache)) if value is not None]
        if caches:
            raise NodeInputError("model", f"{caches[0]} is not supported with a {what} model yet",
                                 "remove the step cache node")

    def _forward_humo(self, x: torch.Tensor, timestep: torch.Tensor, which: str, index: int,
                      skip: tuple[int, ...], window: Any = None) -> torch.Tensor:
        """One call of a HuMo model (ComfyUI ``WAN21_HuMo``): its own inputs and forward."""
        self._refuse_for("HuMo", window)
        entry = self.entries[which][index]
        side = "positive" if which == "cond" else "negative"
        if entry.options.get("time_dim_concat") is not None:
            raise NodeInputError(side, "Phantom subjects (time_dim_concat) on a HuMo model are not supported")
        model, tr, batch = self.model, self.model.transformer, x.shape[0]
        slot = (which, index)
        if slot not in self._extras:
            self._extras[slot] = humo_inputs(model, entry.options, self.device, x.shape[2], side)
        frames, height, width = x.shape[2:]
        hidden = x.float()
        if int(tr.config.in_channels) > x.shape[1]:  # the 17B: mask and grey-video image channels
            hidden = torch.cat([hidden, image_channels(batch, frames, height, width).to(hidden.device)], dim=1)
        hidden = pad_to_patches(hidden, tuple(tr.config.patch_size)).to(self.device, model.dtype)
        sigma = timestep / model.multiplier
        t = (sigma.reshape(-1).to(self.device) * model.multiplier).float()
        t = t.expand(batch) if t.numel() == 1 else t
        context = _batch(entry.tensor.to(self.device, model.dtype), batch)
        call = ForwardOptions(is_uncond=bool(skip), step=step_index(self.sigmas, sigma))
        out = humo_forward(tr, hidden, t, context, self._extras[slot], call)
        return out.float()[:, :, :frames, :height, :width]

    def _forward_animate2(self, x: torch.Tensor, timestep: torch.Tensor, which: str, index: int,
                          skip: tuple[int, ...], window: Any = None) -> torch.Tensor:
        """One call of Wan Animate 2 (ComfyUI ``WAN_Animate2``): the I2V input plus the pose branch."""
        side = "positive" if which == "cond" else "negative"
        self._refuse_for("Wan Animate 2", window)
        model, tr, batch = self.model, self.model.transformer, x.shape[0]
        entry = self.entries[which][index]
        options = entry.options
        if options.get("time_dim_concat") is not None:
            raise NodeInputError(side, "Phantom subjects (time_dim_concat) with Wan Animate 2 are not supported")
        slot = (which, index)
        if slot not in self._extras:
            self._extras[slot] = {"concat": concat_channels(model, options, x.float()),
                                  "animate2": animate2_inputs(model, options, batch, self.device)}
        extra, inputs = self._extras[slot]["concat"], self._extras[slot]["animate2"]
        hidden = torch.cat([x.float(), extra.to(x.device)], dim=1) if extra is not None else x.float()
        frames, height, width = hidden.shape[2:]
        hidden = pad_to_patches(hidden, tuple(tr.config.patch_size)).to(self.device, model.dtype)
        if inputs.pose is not None:
            inputs = dataclasses.replace(inputs, pose=pad_to_patches(inputs.pose, tuple(tr.config.patch_size)))
        sigma = timestep / model.multiplier
        t = timesteps(model, sigma.to(self.device), batch, self.denoise_mask)
        context = _batch(entry.tensor.to(self.device, model.dtype), batch)
        cvo = options.get("clip_vision_output")
        clip = None if cvo is None else _batch(cvo.penultimate_hidden_states.to(self.device, model.dtype), batch)
        out = animate2_forward(tr, hidden, t.to(self.device), context, clip, inputs)
        return out.float()[:, :, :frames, :height, :width]

    def _nag_context(self, which: str, sigma: torch.Tensor, batch: int) -> NAGContext | None:
        """NAG for a positive pass while the sigma has not gone below ``sigma_end``."""
        nag = self.nag
        if nag is None or which != "cond" or not nag.active(float(sigma.reshape(-1)[0])):
            return None
        return NAGContext(_batch(nag.negative.to(self.device, self.model.dtype), batch), nag.params)


def animate2_inputs(model: CoreModel, options: dict, batch: int, device: Any) -> Animate2Inputs:
    """A conditioning entry's Wan Animate 2 inputs (ComfyUI ``WAN_Animate2.extra_conds``): the
    pose latents normalised with the latent format, the pose branch's prompt and CLIP states
    as given, each repeated to the batch; the two strengths (1 when unset)."""
    pose = options.get("pose_video_latent")
    clip = options.get("clip_vision_output_pose")
    text = options.get("cross_attn_pose")
    if text is None:
        pose = None  # outside the pose window: no branch (ComfyUI sets the pose values together)
    if pose is not None:
        pose = _batch(_normalised(model, pose.float()), batch).to(device, model.dtype)
    return Animate2Inputs(
        pose=pose, context=None if text is None else _batch(text.to(device, model.dtype), batch),
        clip=None if clip is None else _batch(clip.penultimate_hidden_states.to(device, model.dtype), batch),
        pose_strength=float(options.get("pose_strength", 1.0)),
        reference_strength=float(options.get("reference_strength", 1.0)))


def s2v_inputs(model: CoreModel, options: dict, device: Any) -> S2VInputs:
    """A conditioning entry's S2V inputs (ComfyUI ``WAN22_S2V.extra_conds``): the audio
    features as given; the last reference latent, the control video and the motion latents
    normalised with the latent format."""
    def normalised(value: Any) -> torch.Tensor | None:
        return None if value is None else _normalised(model, value.float()).to(device)

    refs = options.get("reference_latents")
    audio = options.get("audio_embed")
    return S2VInputs(audio=None if audio is None else audio.float().to(device),
                     reference=normalised(refs[-1]) if refs else None,
                     control=normalised(options.get("control_video")),
                     motion=normalised(options.get("reference_motion")))


def humo_inputs(model: CoreModel, options: dict, device: Any, frames: int, side: str) -> HuMoInputs:
    """A conditioning entry's HuMo inputs (ComfyUI ``WAN21_HuMo.extra_conds``): the audio
    windows as given (one per latent frame, of the model's feature shape), the last reference
    latent normalised with the latent format (for the 17B widened to its input channels)."""
    audio = options.get("audio_embed")
    if audio is not None:
        wanted = feature_shape(model.transformer)
        if not isinstance(audio, torch.Tensor) or audio.ndim != 5 or tuple(audio.shape[2:]) != wanted \
                or audio.shape[1] != frames:
            found = list(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__
            raise NodeInputError(side, f"HuMo audio windows of shape {found}; the model takes [batch, {frames} latent "
                                 f"frames, {', '.join(map(str, wanted))}]",
                                 "make them with WanHuMoImageToVideo from a Whisper large-v3 encoding, with the "
                                 "latent's length")
        audio = audio.float().to(device)
    refs = options.get("reference_latents")
    reference = _normalised(model, refs[-1].float()).to(device) if refs else None
    if reference is not None and int(model.transformer.config.in_channels) > reference.shape[1]:
        reference = reference_channels(reference)
    return HuMoInputs(audio=audio, reference=reference)


def in_sigma_window(window: tuple[tuple[int, ...], float, float], sigma: torch.Tensor) -> bool:
    """SkipLayerGuidanceDiTSimple's test ``sigma_end <= sigma <= sigma_start`` on the call's
    sigma. The predictor gets ``sigma · multiplier`` and divides it back, which can move the
    last bit: the bounds allow a relative 1e-6 for that round trip."""
    _, high, low = window
    value = float(sigma.reshape(-1)[0])
    slack = 1e-6 * max(abs(value), 1e-12)
    return low - slack <= value <= high + slack


def pad_to_patches(x: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
    """ComfyUI's ``pad_to_patch_size`` (WanModel.forward): a latent whose frames, height or
    width is not a multiple of the patch is padded at the end *circularly* (wrapping around
    to the start); the model's output is cut back to the latent's size. So an odd latent
    (LatentUpscaleBy 1.4) runs as in ComfyUI rather than failing in the patch embedding."""
    pad: tuple[int, ...] = ()
    for i, size in enumerate(patch):
        pad = (0, (size - x.shape[i + 2] % size) % size) + pad
    return torch.nn.functional.pad(x, pad, mode="circular") if any(pad) else x


def refuse_partial_patches(tr: Any, shape: torch.Size, what: str, side: str) -> None:
    """Refuse an input that ComfyUI's Wan model embeds *without* padding it to whole patches
    beside a video latent it pads (VACE's ``vace_patch_embedding``, Animate's
    ``pose_patch_embedding``, the camera adapter, S2V's ``cond_encoder``): at a latent height
    or width that is not a multiple of the patch the two token grids differ and ComfyUI's
    sampler fails, so wfrun says so before running rather than differing."""
    patch = tuple(int(p) for p in tr.config.patch_size)
    h, w = int(shape[-2]), int(shape[-1])
    if h % patch[1] or w % patch[2]:
        raise NodeInputError(side, f"{what} on a latent of {w}x{h} (not whole {patch[2]}x{patch[1]} patches): "
                             "ComfyUI pads the video latent to whole patches but not these, and its model "
                             "fails on the mismatch",
                             f"use a width and height that are multiples of {8 * patch[2]} "
                             f"(the latent's {patch[2]}x{patch[1]} patches at the VAE's 8 pixels)")


def step_index(sigmas: torch.Tensor | None, sigma: torch.Tensor) -> int:
    """The step a sigma belongs to: its place in the run's sigmas, else the interval that
    holds it (how KJNodes' step caches find the step from the model's timestep)."""
    if sigmas is None or len(sigmas) < 2:
        return 0
    value = float(sigma.reshape(-1)[0])
    exact = (sigmas == value).nonzero()
    if len(exact):
        return int(exact[0])
    for i in range(len(sigmas) - 1):
        if (float(sigmas[i]) - value) * (float(sigmas[i + 1]) - value) <= 0:
            return i
    return 0
