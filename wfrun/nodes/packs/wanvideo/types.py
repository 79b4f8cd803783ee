"""The values WanVideoWrapper nodes pass to each other, as small frozen dataclasses.

The pack passes plain dicts (``{"prompt_embeds": ..., "negative_prompt_embeds": ...}``,
``{"target_shape": ..., "num_frames": ...}``) and ComfyUI ``ModelPatcher`` objects. wfrun
keeps the same fields under the same names, typed, and holding diffusers/transformers
modules instead of ComfyUI ones (see ../shared/DESIGN.md, "Values that flow between
nodes"). One module for all of them, so executors written by different hands agree.

Tensors follow the pack's shapes: latents are ``[C, T, H/8, W/8]`` per video (no batch
dimension), text embeddings are ``[tokens, 4096]`` trimmed to each prompt's real length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


# --- models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LoraSpec:
    """One LoRA to merge or apply (WANVIDLORA): resolved file path and strength."""

    path: Path
    strength: float = 1.0
    low_mem_load: bool = False
    blocks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BlockSwapArgs:
    """WanVideoBlockSwap (BLOCKSWAPARGS): how many transformer blocks live off the GPU."""

    blocks_to_swap: int = 0
    offload_img_emb: bool = False
    offload_txt_emb: bool = False
    use_non_blocking: bool = True
    vace_blocks_to_swap: int = 0


@dataclass(frozen=True)
class VRAMManagementArgs:
    """WanVideoVRAMManagement (VRAM_MANAGEMENTARGS): offload a fraction of parameters."""

    offload_percent: float = 1.0


@dataclass(frozen=True)
class CompileArgs:
    """WanVideoTorchCompileSettings (WANCOMPILEARGS): passed to ``torch.compile``."""

    backend: str = "inductor"
    fullgraph: bool = False
    mode: str = "default"
    dynamic: bool = False
    dynamo_cache_size_limit: int = 64
    compile_transformer_blocks_only: bool = True
    dynamo_recompile_limit: int = 128


@dataclass(frozen=True)
class WanVideoModel:
    """WANVIDEOMODEL: a loaded Wan 2.1 transformer and how the workflow wants it run.

    ``transformer`` is a diffusers ``WanTransformer3DModel``. ``model_type`` is what the
    checkpoint *is*, detected from its weights: ``t2v``, ``i2v``, ``fl2v``,
    ``fun_control`` or ``fun_inp`` (the in-channel count tells them apart).
    """

    transformer: Any
    model_type: str
    path: Path
    base_dtype: torch.dtype
    quantization: str = "disabled"
    attention_backend: str = "native"
    load_device: str = "cpu"
    offload_device: str = "cpu"
    block_swap: BlockSwapArgs | None = None
    vram_management: VRAMManagementArgs | None = None
    compile_args: CompileArgs | None = None
    loras: tuple[LoraSpec, ...] = ()

    @property
    def in_channels(self) -> int:
        return int(self.transformer.config.in_channels)

    @property
    def is_image_model(self) -> bool:
        """Whether the model expects image conditioning (``y`` channels, CLIP context)."""
        return self.model_type in ("i2v", "fl2v", "fun_inp", "fun_control")


@dataclass(frozen=True)
class WanVAE:
    """WANVAE: a diffusers ``AutoencoderKLWan`` and the dtype it runs in."""

    vae: Any
    dtype: torch.dtype
    path: Path | None = None


@dataclass(frozen=True)
class WanTextEncoder:
    """WANTEXTENCODER: a transformers ``UMT5EncoderModel``, its tokenizer, and devices."""

    encoder: Any
    tokenizer: Any
    dtype: torch.dtype
    load_device: str = "cpu"
    offload_device: str = "cpu"
    text_len: int = 512
    path: Path | None = None


@dataclass(frozen=True)
class ClipVision:
    """CLIP_VISION / the clip half of LoadWanVideoClipTextEncoder: a ``CLIPVisionModel``."""

    model: Any
    dtype: torch.dtype
    path: Path | None = None


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
    """The ``control_embeds`` of WanVideoControlEmbeds: Fun-control latents and window."""

    control_images: torch.Tensor  # [16, T, H/8, W/8]
    start_percent: float = 0.0
    end_percent: float = 1.0
    fun_ref_image: torch.Tensor | None = None


@dataclass(frozen=True)
class PhantomArgs:
    """From WanVideoPhantomEmbeds: reference-image latents the Phantom model sees after the
    video's own frames, with the guidance scale of the extra pass and its step window."""

    latents: torch.Tensor  # [16, T, H/8, W/8], T reference frames
    cfg_scale: float | tuple[float, ...] = 5.0
    start_percent: float = 0.0
    end_percent: float = 1.0


@dataclass(frozen=True)
class ImageEmbeds:
    """WANVIDIMAGE_EMBEDS: what the sampler needs to know about the video to make.

    From WanVideoEmptyEmbeds (T2V): ``target_shape`` = (16, latent frames, H/8, W/8).
    From WanVideoImageToVideoEncode (I2V, FLF2V, Fun): ``image_embeds`` is the pack's
    ``y`` (mask channels + VAE latents, ``[20, T, H/8, W/8]``, or 16 channels when
    ``control_embeds`` is given), with ``clip_context``, ``max_seq_len``, ``lat_h``,
    ``lat_w``. From WanVideoControlEmbeds: ``target_shape`` and ``control_embeds``. From
    WanVideoPhantomEmbeds: ``target_shape`` (video frames plus reference frames) and ``phantom``.
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
    extra_latents: Any = None
    phantom: PhantomArgs | None = None

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
    riflex_freq_index: int = 0
    loop: LoopArgs | None = None
    extra: dict[str, Any] = field(default_factory=dict)
