"""A block-by-block forward of diffusers' ``WanTransformer3DModel`` with the pack's extras.

The pack (ComfyUI-WanVideoWrapper ``wanvideo/modules/model.py``, ``WanModel.forward`` at
2025-07, commit 069ebf7) runs its own copy of the Wan model; wfrun runs diffusers' module
and reuses its submodules in the same order as ``WanTransformer3DModel.forward``
(``rope``, ``patch_embedding``, ``condition_embedder``, ``blocks``, ``norm_out``,
``proj_out``), calling each block as a module so offloading hooks keep working. Around
that it adds what the pack's forward does:

Pass-long features come from the hooks of :func:`wfrun.sampling.hooks.sampling_pass`
(SLG skips blocks, TeaCache's state, block probes); per-call values from
:class:`ForwardOptions`.

- **TeaCache** (:class:`TeaCache`): on each step inside ``[start_step, end_step]`` the
  relative L1 change of the time embedding (``e``, the ``time_embedder`` output, or
  ``e0``, the ``time_proj`` output) since the last *computed* step is accumulated — through
  the pack's polynomial for the model (``use_coefficients``; then ``e`` or ``e0`` per
  ``mode``) or raw on ``e0`` — and while it stays below ``rel_l1_thresh`` the blocks are
  skipped and the residual of the last computed step is added instead. One state per
  prediction (cond, uncond, each context window), as the pack's ``pred_id``.
- **EasyCache** (:class:`EasyCache`): the same skip, decided on the blocks' input change
  relative to their last output. Both caches meet the forward through ``decide`` (on the
  whole sequence, so every ``--gpus`` rank agrees), ``reuse``, ``after_blocks`` and
  ``after_step``.
- **SLG** (a hook on each named block, :class:`wfrun.sampling.hooks.SkipLayerGuidance`):
  blocks in ``SLGArgs.blocks`` are skipped in the *uncond* pass while the step percentage
  is inside ``[start_percent, end_percent]``. As in the pack, SLG does not apply to batched
  cfg (the batched call is not marked uncond).
- **Enhance-A-Video** (FETA): self-attention output (after its output projection) is
  multiplied by the pack's score: mean off-diagonal cross-frame attention of q and k
  (after q/k norm, before RoPE), times ``frames + weight``, clamped at 1. The pack reshapes
  tokens as ``(spatial, frames)``; wfrun does the same, so scores match the pack's.
- **RIFLEx**: the temporal RoPE frequency ``k-1`` becomes ``0.9 * 2π / L`` (``L`` = latent
  frames of the whole video), as the pack's ``rope_params``/``rope_riflex``.
- **Multiple prompts over the video**: with several positive prompts and batch 1, each
  frame segment cross-attends to its own prompt (``frames // prompts`` frames each, the
  last one takes the rest) and, on the steps listed in ExperimentalArgs'
  ``video_attention_split_steps``, self-attention runs separately within frame chunks —
  the pack's ``split_cross_attn_ffn`` / ``forward_split``.
- I2V / Fun conditioning is concatenated channel-wise by the caller (``y``); CLIP context
  goes through the module's ``image_embedder`` like diffusers' forward.
- Per-frame timesteps ``[B, F]`` (flowmatch_pusa) give each frame its own modulation;
  per-token timesteps ``[B, tokens]`` (Wan 2.2 TI2V's noise mask) each token its own.
- **VACE** (``ForwardOptions.vace``, a ``WanVACETransformer3DModel``): each context is
  patch-embedded by ``vace_patch_embedding``; after main block ``i`` listed in the model's
  ``vace_layers``, VACE block ``n`` (the ``n``-th listed) runs on that context — the first
  one adding ``proj_in`` of it to the patch-embedded video — and its ``proj_out`` hint times
  the context's strength is added to the hidden states. ComfyUI's ``VaceWanModel`` order;
  diffusers' forward computes the same hints all before the main blocks.
- **Fun Camera** (``camera``): the model's ``control_adapter`` output is added to the patch
  embedding (ComfyUI ``CameraWanModel``).
- **NAG** (``nag``, :mod:`wfrun.sampling.nag`): the NAG negative prompt goes through the
  model's text embedder like the prompt, and each cross-attention (main and VACE blocks)
  combines its text attention with the prompt and with it. Not with several prompts over
  the video (the pack raises there too).
- **One video on several GPUs** (``--gpus``, :mod:`wfrun.sampling.context_parallel`): when
  a context-parallel group is active, the tokens (with their RoPE tables and per-token
  modulation) are split over the ranks after the embedding — after TeaCache's decision,
  which must see the whole sequence to agree on every rank — and gathered after the blocks.
- **Wan 2.2 Animate** (``pose``, ``face``; a ``WanAnimateTransformer3DModel``), as ComfyUI's
  ``AnimateWanModel``: the pose latents' ``pose_patch_embedding`` is added to the patch
  embedding of frames 1… (frame 0 is the reference image; a pose shorter than the video
  leaves the last frames alone, a longer one is cut); the face crops go through the motion
  encoder (eight frames at a time) and the face encoder, get a zero frame in front and are
  padded with zeros or cut to the latent's frames; after blocks 0, 5, 10, … the face
  adapter's output (each latent frame's tokens attending to that frame's face tokens) is
  added. Without face crops no adapter runs (ComfyUI; diffusers' forward needs them).
  diffusers' own forward insists on a pose exactly one frame shorter than the video and
  face crops whose encoded length fits it; ComfyUI's node hands over whatever the inputs
  give, so these rules are ComfyUI's.
- **Reference latent** (``reference``, Wan 2.2 Fun Control): ``ref_conv`` tokens go in
  front of the video's, RoPE runs over one more frame (the reference at frame 0, the video
  from 1), and the reference's tokens are dropped before the head (ComfyUI ``WanModel``).
- **In-context streams** (``context_latents``, Bernini-R through BerniniConditioning): each
  clean latent goes through the model's own ``patch_embedding`` and its tokens follow the
  video's (after any reference's), in order; each stream has RoPE positions of its own grid
  from 0, turned further by its source id (1, 2, …; :func:`wfrun.models.rope.turned_by_source`),
  shares the call's timestep embedding, and its tokens are dropped before the head (ComfyUI
  ``WanModel._forward``/``forward_orig``, PR #14216). Not with per-frame timesteps, VACE,
  Wan 2.2 Animate's pose and face, Enhance-A-Video, UltraViCo, several prompts over the
  video, FantasyTalking's audio or Uni3C (:func:`_refuse_with_streams`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from wfrun.models.rope import apply_rotary, turned_by_source
from wfrun.sampling.cache_store import back, keep
from wfrun.sampling import context_parallel
from wfrun.sampling.conditioning import EasyCacheArgs, TeaCacheArgs
from wfrun.sampling.hooks import active_pass
from wfrun.sampling.nag import NAGContext, nag_cross_attention

#: TeaCache polynomials by model variant (the pack's ``teacache_coefficients_map`` in
#: nodes_model_loading.py, from ali-vilab/TeaCache4Wan2.1).
TEACACHE_COEFFICIENTS: dict[str, dict[str, list[float]]] = {
    "1_3B": {
        "e": [2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01],
        "e0": [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02],
    },
    "14B": {
        "e": [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404],
        "e0": [-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01],
    },
    "i2v_480": {
        "e": [-3.02331670e+02, 2.23948934e+02, -5.25463970e+01, 5.87348440e+00, -2.01973289e-01],
        "e0": [2.57151496e+05, -3.54229917e+04, 1.40286849e+03, -1.35890334e+01, 1.32517977e-01],
    },
    "i2v_720": {
        "e": [-114.36346466, 65.26524496, -18.82220707, 4.91518089, -0.23412683],
        "e0": [8.10705460e+03, 2.13393892e+03, -3.72934672e+02, 1.66203073e+01, -4.17769401e-02],
    },
}


def teacache_variant(model_type: str, file_name: str, dim: int) -> str:
    """The pack's guess of the coefficient set: by task and file name, 1.3B by width."""
    variant = "14B"
    name = file_name.lower()
    if model_type in ("i2v", "fl2v", "fun_inp", "fun_control"):
        if "480" in name or "fun" in name or "a2" in name or "540" in name:
            variant = "i2v_480"
        elif "720" in name:
            variant = "i2v_720"
    if dim == 1536:
        variant = "1_3B"
    return variant


@dataclass
class TeaCache:
    """TeaCache state for one sampling run (all predictions)."""

    args: TeaCacheArgs
    coefficients: dict[str, list[float]]
    end_step: int
    cache_device: str | torch.device = "cpu"
    states: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, args: TeaCacheArgs, num_timesteps: int, variant: str, cache_device: Any) -> "TeaCache":
        end = num_timesteps - 1 if int(args.end_step) == -1 else int(args.end_step)
        return cls(args=args, coefficients=TEACACHE_COEFFICIENTS[variant], end_step=end, cache_device=cache_device)

    def active(self, step: int) -> bool:
        return int(self.args.start_step) <= step <= self.end_step

    def new_prediction(self) -> int:
        pred_id = len(self.states)
        self.states[pred_id] = {"previous_residual": None, "accumulated": 0.0,
                                "previous_modulated_input": None, "skipped_steps": []}
        return pred_id

    def skipped_steps(self) -> dict[int, list[int]]:
        return {k: list(v["skipped_steps"]) for k, v in self.states.items()}

    # --- the forward's step-cache protocol (shared with EasyCache) --------------------------

    def decide(self, pred_id: int | None, step: int, x: torch.Tensor, temb: torch.Tensor,
               proj: torch.Tensor) -> tuple[bool, int]:
        """(run the blocks?, pred_id), from the time embedding of the whole sequence."""
        should_calc, pred_id, current = _teacache_decide(self, pred_id, temb, proj)
        self.states[pred_id]["pending_modulated_input"] = current
        return should_calc, pred_id

    def reuse(self, pred_id: int, step: int, x: torch.Tensor) -> torch.Tensor:
        """The blocks' output when they are skipped: the input plus the last residual."""
        state = self.states[pred_id]
        state["skipped_steps"].append(step)
        return x.to(state["previous_residual"].dtype) + back(state["previous_residual"], x.device)

    def after_blocks(self, pred_id: int, original: torch.Tensor, x: torch.Tensor) -> None:
        state = self.states[pred_id]
        state["previous_residual"] = keep(x - back(original, x.device), self.cache_device, owned=True)
        state["previous_modulated_input"] = state.pop("pending_modulated_input")

    def after_step(self, pred_id: int, x: torch.Tensor) -> None:
        return None


@dataclass
class NativeTeaCache(TeaCache):
    """welltop-cn's ComfyUI-TeaCache on ComfyUI's Wan model (``teacache_wanmodel_forward``):
    the same accumulated, polynomial-weighted change of the time embedding, but its state
    moves on every call, inside the step window or not (only the skipping waits for the
    window), and the embedding it compares with is the last call's, computed or skipped."""

    tracks_all_steps = True

    def decide(self, pred_id: int | None, step: int, x: torch.Tensor, temb: torch.Tensor,
               proj: torch.Tensor) -> tuple[bool, int]:
        should_calc, pred_id, current = _teacache_decide(self, pred_id, temb, proj)
        self.states[pred_id]["previous_modulated_input"] = current
        return should_calc or not self.active(step), pred_id

    def after_blocks(self, pred_id: int, original: torch.Tensor, x: torch.Tensor) -> None:
        self.states[pred_id]["previous_residual"] = keep(x - back(original, x.device), self.cache_device, owned=True)


@dataclass
class EasyCache:
    """The wrapper's EasyCache for one sampling run (``cache_methods``, model.py, 2025-08 on).

    Per prediction, on steps ``start_step..end_step``: the change of the blocks' input
    since the last computed step, ``mean|x - x_computed| / mean|previous output|`` times
    ``k``, is compared with the threshold; below it the blocks are skipped and the input plus
    the last computed residual is used. ``k`` is the pack's output change over input change,
    two expressions of the same quantity there, so 1 (0/0 — blocks that changed nothing —
    gives NaN, and the blocks always run, as in the pack). The change is not carried from
    one skipped step to the next (the pack adds to a local only); it grows by itself, being
    measured from the last computed input. The previous output is updated on every step of
    the range, skipped or not."""

    args: EasyCacheArgs
    end_step: int
    cache_device: str | torch.device = "cpu"
    states: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, args: EasyCacheArgs, num_timesteps: int, cache_device: Any) -> "EasyCache":
        end = num_timesteps - 1 if int(args.end_step) == -1 else int(args.end_step)
        return cls(args=args, end_step=end, cache_device=cache_device)

    def active(self, step: int) -> bool:
        return int(self.args.start_step) <= step <= self.end_step

    def new_prediction(self) -> int:
        pred_id = len(self.states)
        self.states[pred_id] = {"previous_input": None, "previous_output": None, "cache": None, "k": 1.0,
                                "skipped_steps": []}
        return pred_id

    def skipped_steps(self) -> dict[int, list[int]]:
        return {k: list(v["skipped_steps"]) for k, v in self.states.items()}

    def decide(self, pred_id: int | None, step: int, x: torch.Tensor, temb: torch.Tensor,
               proj: torch.Tensor) -> tuple[bool, int]:
        if pred_id is None or pred_id not in self.states:
            return True, self.new_prediction()
        state = self.states[pred_id]
        if state["previous_input"] is None or state["previous_output"] is None:
            return True, pred_id
        change = (x - back(state["previous_input"], x.device)).abs().mean()
        norm = back(state["previous_output"], x.device).abs().mean()
        return not float(change / norm * state["k"]) < float(self.args.easycache_thresh), pred_id

    def reuse(self, pred_id: int, step: int, x: torch.Tensor) -> torch.Tensor:
        state = self.states[pred_id]
        state["skipped_steps"].append(step)
        return x + back(state["cache"], x.device, x.dtype)

    def after_blocks(self, pred_id: int, original: torch.Tensor, x: torch.Tensor) -> None:
        before = back(original, x.device)
        change = (x - before).abs().mean()
        self.states[pred_id].update(previous_input=original, previous_output=keep(x, self.cache_device),
                                    cache=keep(x - before, self.cache_device, owned=True),
                                    k=change / (before - x).abs().mean())

    def after_step(self, pred_id: int, x: torch.Tensor) -> None:
        self.states[pred_id]["previous_output"] = keep(x, self.cache_device)


@dataclass
class ForwardOptions:
    """Per-call values of :func:`transformer_forward` (what the pack passes as kwargs).

    Features that last a whole sampling pass — SLG, TeaCache's state, block probes, the
    control LoRA — are hooks attached by :func:`wfrun.sampling.hooks.sampling_pass`; the
    forward publishes these values to them (``SamplingPass.call``)."""

    step: int = 0
    step_percent: float = 0.0
    is_uncond: bool = False
    feta_weight: float | None = None
    feta_frames: int = 0
    riflex_k: int = 0
    riflex_frames: int = 0
    #: RoPE base scaling per axis (frames, height, width), WanVideoRoPEFunction's NTK factors.
    ntk_alphas: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: ComfyUI's ScaleROPE: RoPE positions scaled and shifted per axis (:data:`RopeScale`).
    rope_scale: RopeScale | None = None
    #: Each token's own (frame, row, column) RoPE position, three vectors as long as the
    #: tokens (MoCha's layout, :mod:`wfrun.sampling.mocha`); replaces the grid's positions.
    rope_positions: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    split_attn_steps: tuple[int, ...] = ()
    #: Which prediction this is (cond, uncond, a window's …), for TeaCache's per-prediction
    #: state; None on its first call (the forward returns the id it was given).
    pred_id: int | None = None
    #: VACE contexts (``[B, 96, F, H, W]``: inactive and reactive latents, latent-format
    #: normalised, and the folded mask) with their strengths; a VACE model only. A strength
    #: is one number, or a 1-D tensor of one per latent frame of the context (the per-frame
    #: strengths of WanVaceAdvanced's model patch: each frame's tokens get their own).
    vace: tuple[tuple[torch.Tensor, float | torch.Tensor], ...] = ()
    #: Where a VACE context shorter than the video gets its zero tokens: after it (ComfyUI,
    #: diffusers) or in front (the wrapper's ``forward_vace``, which lines a context without
    #: a reference frame up with a video that has one).
    vace_pad_front: bool = False
    #: Fun Camera's Plücker rays ``[B, 24, F, H·8, W·8]`` (one set per latent frame).
    camera: torch.Tensor | None = None
    #: Fun Control's reference image latent ``[B, C, H, W]`` (normalised), embedded by the
    #: model's ``ref_conv`` in front of the video's tokens.
    reference: torch.Tensor | None = None
    #: Wan 2.2 Animate: the pose video's latents ``[B, 16, F-1, H, W]`` (normalised), added
    #: through ``pose_patch_embedding`` to every frame but the first; ignored by other models.
    pose: torch.Tensor | None = None
    #: Wan 2.2 Animate: the face crops ``[B, 3, T, 512, 512]`` in -1..1, one per video frame,
    #: for the motion and face encoders and the face adapters; ignored by other models.
    face: torch.Tensor | None = None
    #: Wan 2.2 Animate: the face tokens :func:`face_motion` made of ``face`` for this video,
    #: when the caller keeps them across steps (they depend on the crops alone).
    face_tokens: torch.Tensor | None = None
    #: Wan 2.2 Animate through the wrapper (WanVideoAnimateEmbeds): multipliers of the pose
    #: embedding and of each face adapter's output (``pose_strength``/``face_strength``);
    #: ComfyUI's core path has none (1.0).
    pose_strength: float = 1.0
    face_strength: float = 1.0
    #: Normalized Attention Guidance for this call (:mod:`wfrun.sampling.nag`): every
    #: cross-attention, VACE blocks' included, guides its text attention away from this
    #: context. The caller gives it to the passes the pack guides (cond only).
    nag: NAGContext | None = None
    #: FantasyTalking's audio windows for this call (``sampling.audio.FantasyAudio``), read by
    #: the pass's audio hooks on the blocks' cross-attention; None: a call without audio.
    audio: Any = None
    #: UltraViCo attention (:mod:`wfrun.sampling.ultravico`): its alpha for self-attention,
    #: or None for the model's own attention.
    ultravico_alpha: float | None = None
    #: Uni3C's render latents for this call (``[1, 16, F, H, W]``), read by the pass's Uni3C
    #: hooks (:mod:`wfrun.sampling.uni3c`); None: a call without the controlnet.
    uni3c: Any = None
    #: In-context streams (Bernini): clean latents ``[B, C_in, T_i, H_i, W_i]`` (normalised,
    #: padded to the patch size), each its own grid, whose tokens follow the video's.
    context_latents: tuple[torch.Tensor, ...] = ()


# --- rope -----------------------------------------------------------------------------

#: The rotary embedding's base of Wan models (diffusers' ``WanRotaryPosEmbed`` default).
ROPE_THETA = 10000.0


def _axis_omega(dim: int, theta: float) -> torch.Tensor:
    """One axis's rotary frequencies (float64), as diffusers' ``get_1d_rotary_pos_embed``."""
    return 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64)[:dim // 2] / dim)


def _axis_tables(dim: int, length: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin ``[length, dim]`` of one axis, each frequency twice in a row, as diffusers'
    ``get_1d_rotary_pos_embed(..., use_real=True, repeat_interleave_real=True)``."""
    return _angles_to_tables(torch.outer(torch.arange(length, dtype=torch.float64), _axis_omega(dim, theta)))


def _angles_to_tables(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return angles.cos().repeat_interleave(2, dim=1).float(), angles.sin().repeat_interleave(2, dim=1).float()


#: ComfyUI's ScaleROPE options in its order: (scale_x, shift_x, scale_y, shift_y, scale_t, shift_t).
RopeScale = tuple[float, float, float, float, float, float]
NO_ROPE_SCALE: RopeScale = (1.0, 0.0, 1.0, 0.0, 1.0, 0.0)


def _scaled_rotary(transformer: Any, ppf: int, pph: int, ppw: int, riflex_k: int, riflex_frames: int,
                   ntk: tuple[float, float, float], scale: RopeScale, t_start: int,
                   w_start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE cos/sin at positions ComfyUI's ``rope_options`` give (ScaleROPE): on each axis
    ``start + shift + i * scale`` for the ``i``-th patch, fractional positions included, so
    the angles are computed from the positions instead of read from the integer table."""
    rope = transformer.rope
    scale_x, shift_x, scale_y, shift_y, scale_t, shift_t = (float(v) for v in scale)
    axes = ((rope.t_dim, ppf, t_start + shift_t, scale_t, ntk[0]), (rope.h_dim, pph, shift_y, scale_y, ntk[1]),
            (rope.w_dim, ppw, w_start + shift_x, scale_x, ntk[2]))
    tables = []
    for axis, (dim, count, start, step, factor) in enumerate(axes):
        omega = _axis_omega(dim, ROPE_THETA * float(factor))
        if axis == 0 and riflex_k > 0 and riflex_frames:
            if riflex_k > dim // 2:
                raise ValueError(f"riflex_freq_index {riflex_k} is above the {dim // 2} temporal frequencies")
            omega = omega.clone()
            omega[riflex_k - 1] = 0.9 * 2 * math.pi / riflex_frames
        positions = start + torch.arange(count, dtype=torch.float64) * step
        tables.append(_angles_to_tables(torch.outer(positions, omega)))
    out = []
    for which in (0, 1):
        f, h, w = (t[which] for t in tables)
        full = torch.cat([f.view(ppf, 1, 1, -1).expand(ppf, pph, ppw, -1),
                          h.view(1, pph, 1, -1).expand(ppf, pph, ppw, -1),
                          w.view(1, 1, ppw, -1).expand(ppf, pph, ppw, -1)], dim=-1)
        out.append(full.reshape(1, ppf * pph * ppw, 1, -1).to(rope.freqs_cos.dtype))
    return out[0], out[1]


def rotary_at_positions(transformer: Any, positions: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                        riflex_k: int = 0, riflex_frames: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE cos/sin ``[1, tokens, 1, head_dim]`` for tokens at the given (frame, row, column)
    positions (any, negative ones too), each axis with its own frequencies as
    :func:`rotary_embedding`'s tables; RIFLEx on the frame axis as there."""
    rope = transformer.rope
    dims = (rope.t_dim, rope.h_dim, rope.w_dim)
    if len({int(p.numel()) for p in positions}) != 1:
        raise ValueError("RoPE positions of different lengths per axis")
    cos_parts, sin_parts = [], []
    for axis, (dim, pos) in enumerate(zip(dims, positions)):
        omega = _axis_omega(dim, ROPE_THETA)
        if axis == 0 and riflex_k > 0 and riflex_frames:
            if riflex_k > dim // 2:
                raise ValueError(f"riflex_freq_index {riflex_k} is above the {dim // 2} temporal frequencies")
            omega = omega.clone()
            omega[riflex_k - 1] = 0.9 * 2 * math.pi / riflex_frames
        c, s_ = _angles_to_tables(torch.outer(pos.to(torch.float64).cpu(), omega))
        cos_parts.append(c)
        sin_parts.append(s_)
    dtype = rope.freqs_cos.dtype
    cos = torch.cat(cos_parts, dim=1)[None, :, None].to(dtype)
    sin = torch.cat(sin_parts, dim=1)[None, :, None].to(dtype)
    return cos, sin


def rotary_embedding(transformer: Any, frames: int, height: int, width: int, riflex_k: int = 0,
                     riflex_frames: int = 0, ntk: tuple[float, float, float] = (1.0, 1.0, 1.0),
                     t_start: int = 0, w_start: int = 0,
                     scale: RopeScale | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE cos/sin as diffusers' ``WanRotaryPosEmbed`` (patched sizes), with RIFLEx and
    NTK base scaling.

    ``ntk`` (frames, height, width): an axis whose factor is not 1 gets its frequencies from
    the base ``theta * factor`` (the wrapper's WanVideoRoPEFunction, as CineScale scales
    them). With ``riflex_k > 0`` the temporal frequency ``k-1`` is then replaced by
    ``0.9 * 2π / riflex_frames`` as the pack's ``rope_params(L_test, k)``.
    ``t_start`` and ``w_start``: the first frame's and column's positions (ComfyUI's
    ``rope_encode`` with ``t_start`` and a ``shift_x`` rope option; Wan Animate 2's pose
    branch). ``scale``: ComfyUI's ScaleROPE options (:data:`RopeScale`), positions scaled
    and shifted per axis (:func:`_scaled_rotary`).
    """
    rope = transformer.rope
    p_t, p_h, p_w = rope.patch_size
    ppf, pph, ppw = frames // p_t, height // p_h, width // p_w
    if scale is not None and tuple(float(v) for v in scale) != NO_ROPE_SCALE:
        return _scaled_rotary(transformer, ppf, pph, ppw, riflex_k, riflex_frames, ntk, scale, t_start, w_start)
    cos, sin = rope.freqs_cos, rope.freqs_sin
    if any(float(f) != 1.0 for f in ntk):
        dims = (rope.t_dim, rope.h_dim, rope.w_dim)
        cos_parts, sin_parts = list(cos.split(dims, dim=1)), list(sin.split(dims, dim=1))
        for axis, factor in enumerate(ntk):
            if float(factor) != 1.0:
                c, s = _axis_tables(dims[axis], cos.shape[0], ROPE_THETA * float(factor))
                cos_parts[axis], sin_parts[axis] = c.to(cos), s.to(sin)
        cos, sin = torch.cat(cos_parts, dim=1), torch.cat(sin_parts, dim=1)
    if riflex_k > 0 and riflex_frames:
        t_dim = rope.t_dim
        if riflex_k > t_dim // 2:
            raise ValueError(f"riflex_freq_index {riflex_k} is above the {t_dim // 2} temporal frequencies")
        omega = 0.9 * 2 * math.pi / riflex_frames
        pos = torch.arange(cos.shape[0], dtype=torch.float64) * omega
        cos, sin = cos.clone(), sin.clone()
        col = 2 * (riflex_k - 1)
        for c in (col, col + 1):
            cos[:, c] = torch.cos(pos).to(cos)
            sin[:, c] = torch.sin(pos).to(sin)
    sizes = [rope.t_dim, rope.h_dim, rope.w_dim]
    out = []
    for table in (cos, sin):
        f, h, w = table.split(sizes, dim=1)
        f, w = f[t_start:t_start + ppf], w[w_start:w_start + ppw]
        if f.shape[0] < ppf or w.shape[0] < ppw:
            raise ValueError(f"rotary positions past the table of {table.shape[0]}")
        full = torch.cat([f.view(ppf, 1, 1, -1).expand(ppf, pph, ppw, -1),
                          h[:pph].view(1, pph, 1, -1).expand(ppf, pph, ppw, -1),
                          w.view(1, 1, ppw, -1).expand(ppf, pph, ppw, -1)], dim=-1)
        out.append(full.reshape(1, ppf * pph * ppw, 1, -1))
    return out[0], out[1]


# --- attention processors for FETA and split prompts -----------------------------------

def feta_score(query: torch.Tensor, key: torch.Tensor, num_frames: int, weight: float) -> torch.Tensor:
    """Enhance-A-Video score of the pack (``enhance_a_video/enhance.py``), q/k ``[B, S, N, C]``."""
    b, s, n, c = query.shape
    spatial = s // num_frames
    q = query.reshape(b, spatial, num_frames, n, c).permute(0, 1, 3, 2, 4).reshape(b * spatial, n, num_frames, c)
    k = key.reshape(b, spatial, num_frames, n, c).permute(0, 1, 3, 2, 4).reshape(b * spatial, n, num_frames, c)
    attn = ((q * c ** -0.5) @ k.transpose(-2, -1)).to(torch.float32).softmax(dim=-1)
    attn = attn.reshape(-1, num_frames, num_frames)
    diag = torch.eye(num_frames, device=attn.device, dtype=torch.bool)
    off = attn.masked_fill(diag, 0)
    mean_scores = off.sum(dim=(1, 2)) / (num_frames * num_frames - num_frames)
    return (mean_scores.mean() * (num_frames + weight)).clamp(min=1)


class _SelfAttnProcessor:
    """Self-attention as diffusers' ``WanAttnProcessor`` plus FETA and frame-chunked attention."""

    def __init__(self, base: Any, feta: tuple[int, float] | None, chunks: list[tuple[int, int]] | None,
                 total: int = 0):
        self._attention_backend = getattr(base, "_attention_backend", None)
        self._parallel_config = getattr(base, "_parallel_config", None)  # --gpus (sampling/context_parallel.py)
        self.feta = feta
        self.chunks = chunks  # token ranges of the whole sequence
        self.total = total  # tokens of the whole sequence (under --gpus this rank holds a share)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from diffusers.models.attention_dispatch import dispatch_attention_fn
        from diffusers.models.transformers.transformer_wan import _get_qkv_projections

        query, key, value = _get_qkv_projections(attn, hidden_states, None)
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        cp = context_parallel.active() if self._parallel_config is not None else None
        score = None
        if self.feta:  # scores whole frames: under --gpus from every rank's q and k
            q, k = (query, key) if cp is None else (cp.gather(t, self.total) for t in (query, key))
            score = feta_score(q, k, *self.feta)
        if rotary_emb is not None:
            query = apply_rotary(query, *rotary_emb)
            key = apply_rotary(key, *rotary_emb)
        if self.chunks and cp is not None:
            outs = self._chunks_of_share(cp, query, key, value, attention_mask)
        else:
            spans = self.chunks or [(0, query.shape[1])]
            outs = [dispatch_attention_fn(query[:, a:b], key[:, a:b], value[:, a:b], attn_mask=attention_mask,
                                          dropout_p=0.0, is_causal=False, backend=self._attention_backend,
                                          parallel_config=self._parallel_config)
                    for a, b in spans]
        out = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
        out = out.flatten(2, 3).type_as(query)
        out = attn.to_out[1](attn.to_out[0](out))
        if score is not None:
            out = out * score.to(out.dtype)
        return out

    def _chunks_of_share(self, cp: Any, query, key, value, attention_mask) -> list[torch.Tensor]:
        """Frame-chunked attention under ``--gpus``: the chunks cross the ranks' shares, so
        keys and values are gathered whole and each of this rank's queries attends within its
        chunk (plain attention on the rank: no further exchange)."""
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        key, value = cp.gather(key, self.total), cp.gather(value, self.total)
        tagged = [(a, b, n) for n, (a, b) in enumerate(self.chunks)]
        return [dispatch_attention_fn(query[:, a:b], key[:, self.chunks[n][0]:self.chunks[n][1]],
                                      value[:, self.chunks[n][0]:self.chunks[n][1]], attn_mask=attention_mask,
                                      dropout_p=0.0, is_causal=False, backend=self._attention_backend)
                for a, b, n in cp.local_spans(tagged, self.total)]


class _SplitCrossAttnProcessor:
    """Cross-attention where each token segment attends to its own prompt (batch 1)."""

    def __init__(self, base: Any, segments: list[tuple[int, int, int]]):
        self.base = base
        self.segments = segments

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        out = torch.zeros_like(hidden_states)
        for a, b, p in self.segments:
            out[:, a:b] = self.base(attn, hidden_states[:, a:b], encoder_hidden_states[p:p + 1],
                                    attention_mask, rotary_emb).to(out.dtype)
        return out


@contextlib.contextmanager
def _ultravico(blocks: Any, alpha: float, frame_tokens: int) -> Iterator[None]:
    """Every block's attention as UltraViCo's for one call (:mod:`wfrun.sampling.ultravico`)."""
    from wfrun.sampling.ultravico import CROSS_ALPHA, CROSS_FRAME_TOKENS, UltraVicoProcessor

    saved = []
    try:
        for block in blocks:
            saved.append((block.attn1.processor, block.attn2.processor))
            block.attn1.processor = UltraVicoProcessor(alpha, frame_tokens)
            block.attn2.processor = UltraVicoProcessor(CROSS_ALPHA, CROSS_FRAME_TOKENS)
        yield
    finally:
        for block, (p1, p2) in zip(blocks, saved):
            block.attn1.processor, block.attn2.processor = p1, p2


@contextlib.contextmanager
def _processors(blocks: Any, self_proc: Any = None, cross_segments: list | None = None) -> Iterator[None]:
    saved = []
    try:
        for block in blocks:
            saved.append((block.attn1.processor, block.attn2.processor))
            if self_proc is not None:
                block.attn1.processor = _SelfAttnProcessor(block.attn1.processor, *self_proc)
            if cross_segments is not None:
                block.attn2.processor = _SplitCrossAttnProcessor(block.attn2.processor, cross_segments)
        yield
    finally:
        for block, (p1, p2) in zip(blocks, saved):
            block.attn1.processor, block.attn2.processor = p1, p2


def _cross_segments(frames: int, tokens_per_frame: int, prompts: int) -> list[tuple[int, int, int]]:
    per = max(1, frames // prompts)
    out = []
    for i in range(prompts):
        start = i * per
        end = min((i + 1) * per, frames) if i < prompts - 1 else frames
        if end > start:
            out.append((start * tokens_per_frame, end * tokens_per_frame, i % prompts))
    return out


def _frame_chunks(frames: int, tokens_per_frame: int, chunks: int) -> list[tuple[int, int]]:
    chunks = min(chunks, frames)
    base, extra = divmod(frames, chunks)
    out, start = [], 0
    for i in range(chunks):
        end = start + base + (1 if i < extra else 0)
        out.append((start * tokens_per_frame, end * tokens_per_frame))
        start = end
    return out


# --- the forward ------------------------------------------------------------------------

def _flf2v_image_tokens(transformer: Any, image: torch.Tensor | None) -> torch.Tensor | None:
    """FLF2V's two images' CLIP tokens as diffusers' image embedder takes them.

    The pack hands an FLF2V model both images' tokens concatenated (``[B, 2 x 257, 1280]``,
    WanVideoClipVisionEncode ``concat``) and adds the model's position table to them as they
    are; diffusers' ``WanImageEmbedding`` takes them stacked (``[2B, 257, 1280]``) and views
    them into that shape first. Concatenated tokens are split back, so both add the table to
    the same tokens."""
    embedder = getattr(getattr(transformer, "condition_embedder", None), "image_embedder", None)
    pos = getattr(embedder, "pos_embed", None)
    if image is None or pos is None or image.ndim != 3 or image.shape[1] != pos.shape[1]:
        return image
    return image.reshape(image.shape[0] * 2, image.shape[1] // 2, image.shape[2])


def transformer_forward(transformer: Any, hidden_states: torch.Tensor, timestep: torch.Tensor,
                        encoder_hidden_states: torch.Tensor, encoder_hidden_states_image: torch.Tensor | None = None,
                        options: ForwardOptions | None = None) -> tuple[torch.Tensor, int | None]:
    """One transformer call; returns ``(output [B, C_out, F, H, W], pred_id)``.

    ``hidden_states`` is ``[B, C_in, F, H, W]`` (latents with any ``y`` already concatenated),
    ``timestep`` ``[B]`` or ``[B, F]`` (per frame), ``encoder_hidden_states`` ``[B, 512, 4096]``
    — or ``[P, 512, 4096]`` with ``B == 1`` for P prompts spread over the video.
    """
    opt = options or ForwardOptions()
    batch, _, frames, height, width = hidden_states.shape
    p_t, p_h, p_w = transformer.config.patch_size
    ppf, pph, ppw = frames // p_t, height // p_h, width // p_w
    tokens_per_frame = pph * ppw
    reference = opt.reference
    if reference is not None and getattr(transformer, "ref_conv", None) is None:
        reference = None  # as ComfyUI: a model without ref_conv ignores the reference

    ntk = tuple(float(a) for a in opt.ntk_alphas)
    if opt.rope_positions is not None:
        if reference is not None or opt.context_latents:
            raise ValueError("per-token RoPE positions (MoCha) with a reference latent or in-context latents")
        if int(opt.rope_positions[0].numel()) != ppf * pph * ppw:
            raise ValueError(f"{opt.rope_positions[0].numel()} RoPE positions for {ppf * pph * ppw} tokens")
        rotary_emb = rotary_at_positions(transformer, opt.rope_positions, opt.riflex_k, opt.riflex_frames)
        rotary_emb = tuple(r.to(transformer.rope.freqs_cos.device) for r in rotary_emb)
    elif opt.riflex_k > 0 or reference is not None or ntk != (1.0, 1.0, 1.0) or opt.rope_scale is not None:
        rope_frames = frames + (p_t if reference is not None else 0)
        rotary_emb = rotary_embedding(transformer, rope_frames, height, width, opt.riflex_k, opt.riflex_frames, ntk,
                                      scale=opt.rope_scale)
        rotary_emb = tuple(r.to(transformer.rope.freqs_cos.device) for r in rotary_emb)
    else:
        rotary_emb = transformer.rope(hidden_states)
    streams = tuple(opt.context_latents)
    if streams:
        _refuse_with_streams(transformer, opt, timestep, encoder_hidden_states, batch)
        rotary_emb = _with_stream_rotary(transformer, rotary_emb, streams, opt, ntk)

    x = transformer.patch_embedding(hidden_states)
    animate = getattr(transformer, "pose_patch_embedding", None) is not None
    if animate and opt.pose is not None:
        x = add_pose(transformer, x, opt.pose, opt.pose_strength)
    motion = None
    if animate and opt.face_tokens is not None:
        motion = _batch_to(opt.face_tokens, batch)
    elif animate and opt.face is not None:
        motion = face_motion(transformer, opt.face, x.shape[2], batch)
    if opt.camera is not None:
        adapter = getattr(transformer, "control_adapter", None)
        if adapter is None:
            raise ValueError("camera conditions given to a model without a camera adapter (control_adapter)")
        x = x + adapter(opt.camera.to(x.device)).to(x.dtype)
    x = x.flatten(2).transpose(1, 2).contiguous()
    ref_tokens = 0
    if reference is not None:
        ref = transformer.ref_conv(reference.to(x.device, transformer.ref_conv.weight.dtype))
        ref = ref.flatten(2).transpose(1, 2).to(x.dtype)
        ref_tokens = ref.shape[1]
        x = torch.cat([_batch_to(ref, x.shape[0]), x], dim=1)
    main_tokens = x.shape[1]
    for latent in streams:  # in-context streams after the video (and its reference)
        tokens = transformer.patch_embedding(latent.to(x.device, hidden_states.dtype)).flatten(2).transpose(1, 2)
        x = torch.cat([x, _batch_to(tokens.to(x.dtype), batch)], dim=1)
    if getattr(transformer.condition_embedder, "image_embedder", None) is None:
        # The wrapper reads CLIP features only on a model with an ``img_emb`` (Wan 2.1 I2V):
        # Wan 2.2 A14B I2V has none, and workflows still feed it ClipVision embeds.
        encoder_hidden_states_image = None
    encoder_hidden_states_image = _flf2v_image_tokens(transformer, encoder_hidden_states_image)

    per_token = timestep.ndim == 2
    if per_token:  # [B, F] or [B, tokens]: every token gets its frame's (or its own) embedding
        temb, proj, context, context_img = transformer.condition_embedder(
            timestep.flatten(), encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len=timestep.shape[1])
        if timestep.shape[1] != ppf * tokens_per_frame:
            temb = temb.repeat_interleave(tokens_per_frame, dim=1)
            proj = proj.repeat_interleave(tokens_per_frame, dim=1)
        proj = proj.unflatten(2, (6, -1))
        if ref_tokens:  # the reference is a clean frame: it takes the first frame's embedding
            temb = torch.cat([temb[:, :1].expand(-1, ref_tokens, -1), temb], dim=1)
            proj = torch.cat([proj[:, :1].expand(-1, ref_tokens, -1, -1), proj], dim=1)
    else:
        temb, proj, context, context_img = transformer.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image)
        proj = proj.unflatten(1, (6, -1))
    if context_img is not None:
        if context_img.shape[0] != context.shape[0]:
            context_img = context_img.expand(context.shape[0], -1, -1)
        context = torch.cat([context_img, context], dim=1)

    sampling = active_pass(transformer)
    if sampling is not None:
        sampling.call = opt  # for the block hooks (SLG)
    should_calc = True
    cache = sampling.teacache if sampling is not None else None  # a step cache: TeaCache or EasyCache
    pred_id = opt.pred_id
    cache_on = cache is not None and (cache.active(opt.step) or getattr(cache, "tracks_all_steps", False))
    if cache_on:  # decided on the whole sequence: the same on every --gpus rank
        should_calc, pred_id = cache.decide(pred_id, opt.step, x, temb, proj)

    multi_prompt = context.shape[0] > 1 and batch == 1
    cp = context_parallel.active()
    total = x.shape[1]
    if cp is not None:  # --gpus: this rank's share of the tokens (sampling/context_parallel.py)
        x = cp.split(x)
        rotary_emb = tuple(cp.split(r) for r in rotary_emb)
        if proj.ndim == 4:  # per-token modulation
            proj = cp.split(proj)

    if motion is not None and cp is not None:
        raise context_parallel.ContextParallelError(
            "Wan 2.2 Animate's face adapters are not supported with --gpus (each latent frame attends to its own "
            "face tokens): run on one GPU")
    if cache_on and cp is not None and isinstance(cache, EasyCache):
        raise context_parallel.ContextParallelError(
            "EasyCache is not supported with --gpus (its decision reads every token): disconnect cache_args "
            "or run on one GPU")
    if cache_on and not should_calc:
        x = cache.reuse(pred_id, opt.step, x)

    if should_calc:
        original = keep(x, cache.cache_device) if cache_on else None
        feta = (int(opt.feta_frames), float(opt.feta_weight)) if opt.feta_weight is not None and opt.feta_frames > 1 else None
        chunks = None
        if multi_prompt and opt.step in opt.split_attn_steps:
            chunks = _frame_chunks(ppf, tokens_per_frame, context.shape[0])
        self_proc = (feta, chunks, total) if (feta or chunks) else None
        segments = _cross_segments(ppf, tokens_per_frame, context.shape[0]) if multi_prompt else None
        if segments is not None and cp is not None:  # this rank's tokens, in its own positions
            segments = cp.local_spans(segments, total)
        vace = (_Vace(transformer, opt.vace, x, context, proj, rotary_emb, opt.vace_pad_front, total, cp)
                if opt.vace else None)
        nag = _nag(transformer, opt.nag, multi_prompt, context_img, encoder_hidden_states)
        attached = cp.attached(transformer, total) if cp is not None else contextlib.nullcontext()
        ultravico = contextlib.nullcontext()
        if opt.ultravico_alpha is not None:
            if self_proc or segments or opt.nag is not None or cp is not None:
                raise ValueError("UltraViCo attention together with Enhance-A-Video, several prompts, NAG or --gpus "
                                 "is not supported")
            ultravico = _ultravico(transformer.blocks, float(opt.ultravico_alpha), total // max(1, ppf))
        with attached, _processors(transformer.blocks, self_proc, segments), nag, ultravico:
            for index, block in enumerate(transformer.blocks):  # hooks may skip a block (SLG) or count it
                x = block(x, context, proj, rotary_emb)
                if vace is not None:
                    x = vace.after_block(index, x)
                if motion is not None and index % transformer.config.inject_face_latents_blocks == 0:
                    adapter = transformer.face_adapter[index // transformer.config.inject_face_latents_blocks]
                    face = adapter(x, motion).to(x.device, x.dtype)
                    x = x + (face if opt.face_strength == 1.0 else face * opt.face_strength)
        if cache_on:
            cache.after_blocks(pred_id, original, x)
    if cp is not None:
        x = cp.gather(x, total)
    if cache_on:
        cache.after_step(pred_id, x)

    if streams:
        x = x[:, :main_tokens]
    if ref_tokens:
        x = x[:, ref_tokens:]
        if temb.ndim == 3:
            temb = temb[:, ref_tokens:]
    if temb.ndim == 3:
        shift, scale = (transformer.scale_shift_table.unsqueeze(0).to(temb.device) + temb.unsqueeze(2)).chunk(2, dim=2)
        shift, scale = shift.squeeze(2), scale.squeeze(2)
    else:
        shift, scale = (transformer.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    shift, scale = shift.to(x.device), scale.to(x.device)
    x = (transformer.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
    x = transformer.proj_out(x)
    x = x.reshape(batch, ppf, pph, ppw, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    out = x.flatten(6, 7).flatten(4, 5).flatten(2, 3)
    return out, pred_id


def _refuse_with_streams(transformer: Any, opt: ForwardOptions, timestep: torch.Tensor,
                         encoder_hidden_states: torch.Tensor, batch: int) -> None:
    """What in-context streams cannot be combined with here: features that count the tokens
    as the video's frames (per-frame modulation, Enhance-A-Video, frame chunks, per-frame
    prompts, Animate's face adapters, VACE hints, FantasyTalking, Uni3C, UltraViCo)."""
    clashes = [(timestep.ndim == 2, "per-frame timesteps"), (bool(opt.vace), "VACE"),
               (opt.pose is not None or opt.face is not None or opt.face_tokens is not None, "Wan 2.2 Animate"),
               (opt.feta_weight is not None and opt.feta_frames > 1, "Enhance-A-Video"),
               (opt.ultravico_alpha is not None, "UltraViCo"), (opt.audio is not None, "FantasyTalking audio"),
               (opt.uni3c is not None, "Uni3C"),
               (encoder_hidden_states.shape[0] > 1 and batch == 1, "several prompts over the video")]
    found = [name for clash, name in clashes if clash]
    if found:
        raise ValueError(f"in-context latents (Bernini) together with {found[0]} are not supported")
    channels = int(transformer.config.in_channels)
    for latent in opt.context_latents:
        if latent.ndim != 5 or latent.shape[1] != channels:
            raise ValueError(f"an in-context latent of shape {tuple(latent.shape)} for a model taking {channels} "
                             "input channels")


def _with_stream_rotary(transformer: Any, rotary_emb: tuple[torch.Tensor, torch.Tensor],
                        streams: tuple[torch.Tensor, ...], opt: ForwardOptions,
                        ntk: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The video's RoPE tables followed by each stream's: its own grid from position 0 (the
    same RIFLEx and NTK as the video's), turned by its source id ``i + 1``."""
    cos, sin = rotary_emb
    parts_cos, parts_sin = [cos], [sin]
    for source_id, latent in enumerate(streams, start=1):
        c, s = rotary_embedding(transformer, *latent.shape[2:], opt.riflex_k, opt.riflex_frames, ntk,
                                scale=opt.rope_scale)
        c, s = turned_by_source(c, s, source_id, ROPE_THETA)
        parts_cos.append(c.to(cos.device, cos.dtype))
        parts_sin.append(s.to(sin.device, sin.dtype))
    return torch.cat(parts_cos, dim=1), torch.cat(parts_sin, dim=1)


def add_pose(transformer: Any, x: torch.Tensor, pose: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """The patch embedding ``x`` [B, D, F, h, w] with the pose latents' embedding (times
    ``strength``, the wrapper's ``pose_strength``) added to frames 1… (ComfyUI
    ``AnimateWanModel.after_patch_embedding``: as many frames as both have)."""
    embed = transformer.pose_patch_embedding
    p = embed(pose.to(x.device, embed.weight.dtype)).to(x.dtype)
    if strength != 1.0:
        p = p * strength
    n = min(p.shape[2], x.shape[2] - 1)
    x = x.clone()
    x[:, :, 1:1 + n] += _batch_to(p[:, :, :n], x.shape[0])
    return x


#: Face crops the motion encoder takes at once (ComfyUI's and diffusers' default).
MOTION_BATCH = 8


def face_motion(transformer: Any, face: torch.Tensor, frames: int, batch: int) -> torch.Tensor:
    """The face tokens ``[B, frames, heads + 1, D]`` of ``face`` crops ``[B, 3, T, S, S]``: each
    crop's motion vector (the motion encoder, ``MOTION_BATCH`` crops at a time), the face
    encoder over time (T → about T/4), a zero frame in front for the reference frame, then
    zeros after or a cut to the latent's ``frames`` (ComfyUI ``after_patch_embedding``)."""
    encoder = transformer.motion_encoder
    dtype = encoder.conv_in.weight.dtype
    b, c, t, h, w = face.shape
    crops = face.movedim(2, 1).reshape(b * t, c, h, w).to(encoder.conv_in.weight.device, dtype)
    vectors = torch.cat([encoder(chunk) for chunk in crops.split(MOTION_BATCH)]).view(b, t, -1)
    tokens = transformer.face_encoder(vectors.to(transformer.face_encoder.out_proj.weight.dtype))
    tokens = torch.cat([torch.zeros_like(tokens[:, :1]), tokens], dim=1)
    if tokens.shape[1] < frames:
        tokens = torch.cat([tokens, tokens.new_zeros(b, frames - tokens.shape[1], *tokens.shape[2:])], dim=1)
    return _batch_to(tokens[:, :frames], batch)


def _nag(transformer: Any, nag: NAGContext | None, multi_prompt: bool, context_img: torch.Tensor | None,
         prompt: torch.Tensor) -> contextlib.AbstractContextManager:
    """NAG's processors on every cross-attention for this call, or nothing."""
    if nag is None:
        return contextlib.nullcontext()
    if multi_prompt:
        raise ValueError("NAG is not supported with several prompts over the video")
    negative = transformer.condition_embedder.text_embedder(nag.context.to(prompt.device, prompt.dtype))
    blocks = list(transformer.blocks) + list(getattr(transformer, "vace_blocks", None) or [])
    image_tokens = context_img.shape[1] if context_img is not None else 0
    return nag_cross_attention(blocks, negative, nag.params, image_tokens)


def _batch_to(x: torch.Tensor, batch: int) -> torch.Tensor:
    return x if x.shape[0] == batch else x.expand(batch, *x.shape[1:])


class _Vace:
    """VACE hints for one forward: the contexts' tokens, advanced one VACE block each time
    the main loop passes a block listed in ``vace_layers`` (ComfyUI's interleaving keeps one
    hint alive at a time; the sums equal diffusers' all-first order)."""

    def __init__(self, transformer: Any, contexts: tuple, x: torch.Tensor, context: torch.Tensor,
                 proj: torch.Tensor, rotary_emb: Any, pad_front: bool = False, total: int | None = None,
                 cp: Any = None):
        blocks = getattr(transformer, "vace_blocks", None)
        if blocks is None:
            raise ValueError("VACE conditioning given to a model without VACE blocks")
        self.blocks = blocks
        self.layers = {int(layer): n for n, layer in enumerate(transformer.config.vace_layers)}
        self.x0, self.context, self.proj, self.rotary_emb = x, context, proj, rotary_emb
        self.states, self.strengths = [], []
        embed = transformer.vace_patch_embedding
        for tensor, strength in contexts:
            grid = embed(tensor.to(x.device, embed.weight.dtype))
            c = grid.flatten(2).transpose(1, 2).to(x.dtype)
            c = _batch_to(c, x.shape[0])
            tokens = x.shape[1] if total is None else total  # the whole sequence (x is a share under --gpus)
            weight = _token_strengths(strength, grid.shape[2], grid.shape[3] * grid.shape[4], c.shape[1], tokens,
                                      pad_front)
            if c.shape[1] < tokens:  # fewer frames than the video: zeros after (diffusers) or before
                zeros = c.new_zeros(c.shape[0], tokens - c.shape[1], c.shape[2])
                c = torch.cat([zeros, c] if pad_front else [c, zeros], dim=1)
            c = c[:, :tokens]
            self.states.append(cp.split(c) if cp is not None else c)
            if isinstance(weight, torch.Tensor):
                weight = weight.to(x.device, x.dtype)
                weight = cp.split(weight) if cp is not None else weight
            self.strengths.append(weight)

    def after_block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        n = self.layers.get(index)
        if n is None:
            return x
        block = self.blocks[n]
        for i, state in enumerate(self.states):
            hint, self.states[i] = block(self.x0, self.context, state, self.proj, self.rotary_emb)
            x = x + hint.to(x.dtype) * self.strengths[i]
        return x


def _token_strengths(strength: float | torch.Tensor, frames: int, per_frame: int, length: int, tokens: int,
                     pad_front: bool) -> float | torch.Tensor:
    """A context's strength as a number, or as ``[1, tokens, 1]`` weights: each latent frame's
    tokens get that frame's strength (WanVaceAdvanced's ``_apply_separate_strengths``);
    tokens the context does not cover (its zero padding) get 0, the hint being zero there."""
    if not isinstance(strength, torch.Tensor):
        return float(strength)
    values = strength.reshape(-1).float()
    if values.numel() != frames:
        raise ValueError(f"{values.numel()} VACE strengths for a context of {frames} latent frames")
    weight = values.repeat_interleave(per_frame)[:length]
    if length < tokens:
        zeros = weight.new_zeros(tokens - length)
        weight = torch.cat([zeros, weight] if pad_front else [weight, zeros])
    return weight[:tokens].view(1, -1, 1)


def _teacache_decide(cache: TeaCache, pred_id: int | None, temb: torch.Tensor,
                     proj: torch.Tensor) -> tuple[bool, int, torch.Tensor]:
    """The pack's TeaCache decision; returns (compute?, pred_id, embedding to remember)."""
    args = cache.args
    use_e = bool(args.use_coefficients) and args.mode == "e"
    current = keep(temb if use_e else proj, cache.cache_device)
    if pred_id is None or pred_id not in cache.states:
        return True, cache.new_prediction(), current
    state = cache.states[pred_id]
    previous = state["previous_modulated_input"]
    if previous is None:
        return True, pred_id, current
    previous = back(previous, temb.device)
    probe = temb if (args.use_coefficients and args.mode == "e") else proj
    rel = ((probe - previous).abs().mean() / previous.abs().mean()).float().cpu().item()
    if args.use_coefficients:
        rel = float(np.poly1d(cache.coefficients[args.mode])(rel))
    accumulated = state["accumulated"] + rel
    if accumulated < float(args.rel_l1_thresh):
        state["accumulated"] = accumulated
        return False, pred_id, current
    state["accumulated"] = 0.0
    return True, pred_id, current
