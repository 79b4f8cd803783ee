"""What a sampler is asked to do: text and image conditioning and the optional features of
one sampling pass, as small frozen dataclasses.

They live in ``sampling`` (not in the pack whose nodes produce them) so the sampling loop
depends on nothing above it; the WanVideoWrapper pack re-exports them from its ``types``
module, where its node values are gathered. Tensors follow the pack's shapes: latents are
``[C, T, H/8, W/8]`` per video (no batch dimension), text embeddings ``[tokens, 4096]``
trimmed to each prompt's real length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

# --- conditioning ---------------------------------------------------------------------

@dataclass(frozen=True)
class TextEmbeds:
    """WANVIDEOTEXTEMBEDS: one tensor ``[tokens, 4096]`` per positive prompt (prompts
    split on ``|`` spread over the video), and the negative prompt's."""

    prompt_embeds: tuple[torch.Tensor, ...]
    negative_prompt_embeds: tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class ClipEmbeds:
    """WANVIDIMAGE_CLIPEMBEDS: CLIP ViT-H penultimate hidden states ``[tokens, 1280]``."""

    clip_embeds: torch.Tensor
    negative_clip_embeds: torch.Tensor | None = None


@dataclass(frozen=True)
class ControlEmbeds:
    """The ``control_embeds`` of WanVideoControlEmbeds / WanVideoAddControlEmbeds: Fun-control
    latents and window, and the Fun reference image's latent (``[1, 16, H/8, W/8]``). No
    control latents (WanVideoAddControlEmbeds without ``latents``, a reference alone): the
    sampler gives the model's control channels zeros. WanVideoFunCameraEmbeds' camera rays
    come here too, without control latents: a Fun-Camera model has no control channels."""

    control_images: torch.Tensor | None  # [16, T, H/8, W/8]
    start_percent: float = 0.0
    end_percent: float = 1.0
    fun_ref_image: torch.Tensor | None = None
    #: WanVideoFunCameraEmbeds' Plücker rays ``[1, 24, T, H, W]`` (pixels; times its strength)
    #: and their step window (:mod:`wfrun.sampling.fun_camera`).
    camera: torch.Tensor | None = None
    camera_start_percent: float = 0.0
    camera_end_percent: float = 1.0


@dataclass(frozen=True)
class PhantomArgs:
    """From WanVideoPhantomEmbeds: reference-image latents the Phantom model sees after the
    video's own frames, with the guidance scale of the extra pass and its step window."""

    latents: torch.Tensor  # [16, T, H/8, W/8], T reference frames
    cfg_scale: float | tuple[float, ...] = 5.0
    start_percent: float = 0.0
    end_percent: float = 1.0


@dataclass(frozen=True)
class VaceEmbeds:
    """One VACE input of WanVideoVACEEncode: its context and when and how strongly it acts.

    ``context`` is ``[96, T, H/8, W/8]``: the inactive and reactive video latents (16 + 16,
    normalised as the pack's VAE gives them; a reference image's latent, and zeros, in
    front when ``has_ref``) and the mask folded 8x8 into 64 channels. ``scale`` is one
    strength or one per step (the pack indexes ``scale[step]``)."""

    context: torch.Tensor
    scale: float | tuple[float, ...] = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    has_ref: bool = False


@dataclass(frozen=True)
class ExtraLatent:
    """One entry of WanVideoAddExtraLatent: encoded latents ``[1, C, n, H, W]`` that take the
    place of the noise from latent frame ``index`` on (negative: counted from the end; moved
    inside the video when they would reach past it), as the wrapper's sampler puts them."""

    samples: torch.Tensor
    index: int = 0


@dataclass(frozen=True)
class ReCamMasterEmbeds:
    """WanVideoReCamMasterCameraEmbed's ``recammaster``: ``camera_embed`` ``[T, 12]`` (each
    latent frame's camera relative to the first, 3x4 row-major) and ``source_latents``
    ``[16, T, H/8, W/8]``, the video to re-render (:mod:`wfrun.sampling.recammaster`)."""

    camera_embed: torch.Tensor
    source_latents: torch.Tensor


@dataclass(frozen=True)
class AnimateEmbeds:
    """Wan 2.2 Animate's extra inputs of WanVideoAnimateEmbeds: ``pose_latents``
    ``[16, T-1, H/8, W/8]`` (normalised; added to latent frames 1…), ``face_pixels``
    ``[1, 3, frames, 512, 512]`` in -1..1 (the motion and face encoders' input; the uncond
    pass gets the same shape all -1), and the pack's multipliers of each. ``masked``: a
    character mask was given (the pack's sampler then makes blank face crops when there
    are none: masking needs the face adapters)."""

    pose_latents: torch.Tensor | None = None
    face_pixels: torch.Tensor | None = None
    pose_strength: float = 1.0
    face_strength: float = 1.0
    masked: bool = False


@dataclass(frozen=True)
class WanMoveEmbeds:
    """WanVideoAddWanMoveTracks' ``wanmove_embeds``: each track's latent cell per latent
    frame (``positions`` ``[N, T', 2]`` long, ``-1`` where hidden;
    :func:`~wfrun.sampling.tracks.wanmove_positions`) and the copy's ``strength``."""

    positions: torch.Tensor
    strength: float = 1.0


@dataclass(frozen=True)
class TtmEmbeds:
    """WanVideoAddTTMLatents' Time-to-Move inputs: the reference latents ``[C, T, H, W]``
    (normalised, WanVideoEncode's), the motion mask ``[1, T, H, W]`` at latent size, and the
    node's step window (:mod:`.ttm`)."""

    reference: torch.Tensor
    mask: torch.Tensor
    start_step: int = 0
    end_step: int = 1


@dataclass(frozen=True)
class MochaEmbeds:
    """MochaEmbeds' ``mocha_embeds``: the source video's latents, one mask frame (16
    channels of +1 inside the subject, -1 outside) and the reference latents, ``[16, T + 1 +
    refs, H/8, W/8]`` (normalised), put after the noise along the frames in every model call
    (:mod:`wfrun.sampling.mocha`); ``num_refs`` reference frames (1 or 2)."""

    latents: torch.Tensor
    num_refs: int = 1


@dataclass(frozen=True)
class RemoverEmbeds:
    """WanVideoMiniMaxRemoverEmbeds' latents for a MiniMax-Remover model: the video's and the
    mask video's, ``[16, T, H/8, W/8]`` each (WanVideoEncode's, batch dropped), concatenated
    after the noisy latents channel-wise in every model call (:mod:`wfrun.sampling.remover`)."""

    latents: torch.Tensor
    mask_latents: torch.Tensor


@dataclass(frozen=True)
class StandInEmbeds:
    """WanVideoAddStandInLatent's identity reference: the reference image's latent and the
    RoPE frequency offset between it and the video (the sampler refuses it: see
    :mod:`wfrun.sampling.loop`)."""

    ip_image_latent: torch.Tensor
    freq_offset: int = 1


@dataclass(frozen=True)
class ImageEmbeds:
    """WANVIDIMAGE_EMBEDS: what the sampler needs to know about the video to make.

    From WanVideoEmptyEmbeds (T2V): ``target_shape`` = (16, latent frames, H/8, W/8).
    From WanVideoImageToVideoEncode (I2V, FLF2V, Fun): ``image_embeds`` is the pack's
    ``y`` (mask channels + VAE latents, ``[20, T, H/8, W/8]``, or 16 channels when
    ``control_embeds`` is given), with ``clip_context``, ``max_seq_len``, ``lat_h``,
    ``lat_w``. From WanVideoControlEmbeds: ``target_shape`` and ``control_embeds``;
    WanVideoAddControlEmbeds sets ``control_embeds`` on any of these. From
    WanVideoPhantomEmbeds: ``target_shape`` (video frames plus reference frames) and ``phantom``.
    From WanVideoVACEEncode: ``target_shape`` and ``vace``, its own input first, then those
    chained in through ``prev_vace_embeds`` in the pack's order.
    """

    num_frames: int
    target_shape: tuple[int, int, int, int] | None = None
    image_embeds: torch.Tensor | None = None
    clip_context: torch.Tensor | None = None
    negative_clip_context: torch.Tensor | None = None
    max_seq_len: int | None = None
    lat_h: int | None = None
    lat_w: int | None = None
    control_embeds: ControlEmbeds | None = None
    end_image: torch.Tensor | None = None
    fun_or_fl2v_model: bool = False
    has_ref: bool = False
    #: From WanVideoImageToVideoEncode given ``control_embeds``: its mask and latents before
    #: the control zeroing (20 channels), for a Fun-Camera model that takes the mask (Wan 2.2
    #: Fun Camera A14B, 36 input channels), as the pack's later sampler gives them.
    masked_image_embeds: torch.Tensor | None = None
    #: WanVideoEmptyEmbeds' LATENT (the leading frames), or WanVideoAddExtraLatent's entries
    #: (a tuple of :class:`ExtraLatent`).
    extra_latents: Any = None
    #: WanVideoAddPusaNoise: the noise multipliers of the given frames (one per latent frame,
    #: or one per given frame) and the steps that re-noise them (-1: all); :mod:`.pusa`.
    pusa_noise_multipliers: tuple[float, ...] | None = None
    pusa_noisy_steps: int = -1
    phantom: PhantomArgs | None = None
    vace: tuple[VaceEmbeds, ...] = ()
    #: From WanVideoAnimateEmbeds (Wan 2.2 Animate): pose latents and face crops; the
    #: reference/background latents are ``image_embeds``.
    animate: AnimateEmbeds | None = None
    #: From WanVideoReCamMasterCameraEmbed: the camera path and the source video's latents.
    recammaster: ReCamMasterEmbeds | None = None
    #: From WanVideoImageToVideoMultiTalk: the long-video loop's settings
    #: (``sampling.multitalk_long.LongVideo``).
    multitalk_long: Any = None
    #: From HuMoEmbeds: HuMo's audio and image conditioning (``sampling.humo.HuMoEmbeds``).
    humo: Any = None
    #: From WanVideoAddS2VEmbeds: the wrapper's Wan 2.2 S2V audio, reference and pose
    #: (``sampling.s2v_wrapper.WrapperS2V``).
    s2v: Any = None
    #: From WanVideoAddWanMoveTracks: Wan-Move's track cells, copied into ``y`` for the
    #: cond pass only.
    wanmove: WanMoveEmbeds | None = None
    #: From WanVideoAddTTMLatents: Time-to-Move's reference latents and motion mask.
    ttm: TtmEmbeds | None = None
    #: From WanVideoAddStandInLatent: Stand-In's identity reference (refused by the sampler).
    standin: StandInEmbeds | None = None
    #: From MochaEmbeds: MoCha's source video, mask and reference latents.
    mocha: MochaEmbeds | None = None
    #: From WanVideoMiniMaxRemoverEmbeds: MiniMax-Remover's video and mask latents.
    remover: RemoverEmbeds | None = None

    @property
    def is_image_conditioned(self) -> bool:
        return self.image_embeds is not None


# --- sampler options (the pack's *ARGS dicts) ------------------------------------------

@dataclass(frozen=True)
class TeaCacheArgs:
    """CACHEARGS from WanVideoTeaCache: skip transformer blocks while the modulated input
    changes less than ``rel_l1_thresh`` (accumulated) since the last full step."""

    rel_l1_thresh: float = 0.3
    start_step: int = 1
    end_step: int = -1
    cache_device: str = "cpu"
    use_coefficients: bool = True
    mode: str = "e"


@dataclass(frozen=True)
class EasyCacheArgs:
    """CACHEARGS from WanVideoEasyCache: skip the blocks while the blocks' input has changed,
    relative to their last output, by less than ``easycache_thresh`` since the last full step."""

    easycache_thresh: float = 0.015
    start_step: int = 10
    end_step: int = -1
    cache_device: str = "cpu"


@dataclass(frozen=True)
class SLGArgs:
    """SLGARGS: skip-layer guidance, uncond pass skips ``blocks`` inside the window."""

    blocks: tuple[int, ...]
    start_percent: float = 0.1
    end_percent: float = 1.0


@dataclass(frozen=True)
class FetaArgs:
    """FETAARGS from WanVideoEnhanceAVideo."""

    weight: float = 2.0
    start_percent: float = 0.0
    end_percent: float = 1.0


@dataclass(frozen=True)
class ContextOptions:
    """WANVIDCONTEXT: context windows for long videos (sizes in *pixel* frames)."""

    context_schedule: str = "uniform_standard"
    context_frames: int = 81
    context_stride: int = 4
    context_overlap: int = 16
    freenoise: bool = True
    verbose: bool = False
    fuse_method: str = "linear"
    reference_latent: torch.Tensor | None = None


@dataclass(frozen=True)
class ExperimentalArgs:
    """EXPERIMENTALARGS from WanVideoExperimentalArgs."""

    video_attention_split_steps: str = ""
    cfg_zero_star: bool = False
    use_zero_init: bool = False
    zero_star_steps: int = 0
    use_fresca: bool = False
    fresca_scale_low: float = 1.0
    fresca_scale_high: float = 1.25
    fresca_freq_cutoff: int = 20


@dataclass(frozen=True)
class LoopArgs:
    """LOOPARGS from WanVideoLoopArgs: Mobius-style latent shift for looping videos."""

    shift_skip: int = 6
    start_percent: float = 0.0
    end_percent: float = 1.0


@dataclass(frozen=True)
class SamplerOptions:
    """Everything optional a WanVideoSampler receives, gathered for the sampling loop."""

    teacache: TeaCacheArgs | None = None
    slg: SLGArgs | None = None
    feta: FetaArgs | None = None
    context: ContextOptions | None = None
    experimental: ExperimentalArgs | None = None
    batched_cfg: bool = False
    rope_function: str = "default"
    #: WanVideoRoPEFunction's NTK factors (frames, height, width); they act with the
    #: ``comfy`` rope functions only, as in the wrapper.
    ntk_alphas: tuple[float, float, float] = (1.0, 1.0, 1.0)
    riflex_freq_index: int = 0
    loop: LoopArgs | None = None
    extra: dict[str, Any] = field(default_factory=dict)
