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

from wfrun.sampling.tracks import AtiTracks

# --- models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SelectedBlocks:
    """SELECTEDBLOCKS from WanVideoLoraBlockEdit: the transformer blocks a LoRA may touch
    (``blocks.N``) and ``layer_filter``, text pieces whose layers it must not touch. As the
    pack's ``filter_state_dict_by_blocks``: a layer whose name (``diffusion_model.`` + the
    layer's original name) holds a filter piece is left out; a layer inside a block is kept
    when its block is selected; a layer outside the blocks (head, embeddings) is kept."""

    blocks: frozenset[str]
    layer_filter: tuple[str, ...] = ()

    def keeps(self, layer: str) -> bool:
        """Whether the LoRA's layer ``layer`` (original names: ``blocks.3.self_attn.q``) is merged."""
        if any(piece in f"diffusion_model.{layer}." for piece in self.layer_filter):
            return False
        if "blocks." in f"{layer}.":  # the pack keys on the name's first two parts (vace_blocks.N too)
            return ".".join(layer.split(".")[:2]) in self.blocks
        return True


def lora_blocks(value: Any) -> "tuple[str, ...] | SelectedBlocks | None":
    """A LoRA select node's ``blocks`` input as LoraSpec keeps it: WanVideoLoraBlockEdit's
    selection (None when it selects no block: the pack then filters nothing), or a list of
    block names."""
    if isinstance(value, SelectedBlocks):
        return value if value.blocks else None
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return None


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA to merge or apply (WANVIDLORA): resolved file path and strength; ``blocks``
    restricts it to some layers: block names (a layer merges when it lies in one), or
    WanVideoLoraBlockEdit's :class:`SelectedBlocks`."""

    path: Path
    strength: float = 1.0
    low_mem_load: bool = False
    blocks: "tuple[str, ...] | SelectedBlocks | None" = None

    def keeps(self, layer: str) -> bool:
        """Whether the LoRA's layer ``layer`` (original names) is merged."""
        if self.blocks is None:
            return True
        if isinstance(self.blocks, SelectedBlocks):
            return self.blocks.keeps(layer)
        return any(layer.startswith(f"{b}.") or layer == b for b in self.blocks)


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
    #: The loader's ``attention_mode`` as written (WanVideoSetRadialAttention asks for a radial one).
    attention_mode: str = "sdpa"
    #: WanVideoSetAttentionModeOverride's ``sampling.attention.AttentionOverride``, or None.
    attention_override: Any = None
    #: WanVideoUltraVicoSettings' alpha (used with ``attention_mode`` sageattn_ultravico).
    ultravico_alpha: float | None = None
    load_device: str = "cpu"
    offload_device: str = "cpu"
    block_swap: BlockSwapArgs | None = None
    vram_management: VRAMManagementArgs | None = None
    compile_args: CompileArgs | None = None
    loras: tuple[LoraSpec, ...] = ()
    #: LoRAs set after loading (WanVideoSetLoRAs): merged for each sampling pass only.
    pass_loras: tuple[LoraSpec, ...] = ()
    #: WanVideoATITracks' motion tracks, applied by the sampler to the image conditioning.
    ati: AtiTracks | None = None
    #: The MultiTalk / InfiniteTalk patch (``models.multitalk.MultiTalkPatch``) from the
    #: loader's ``multitalk_model``, and its kind (``MultiTalk`` or ``InfiniteTalk``).
    multitalk: Any = None
    multitalk_type: str | None = None

    @property
    def in_channels(self) -> int:
        return int(self.transformer.config.in_channels)

    @property
    def latent_channels(self) -> int:
        """Channels of the latents it denoises: 16, or 48 for TI2V-5B (Wan 2.2 VAE latents)."""
        config = self.transformer.config
        return int(getattr(config, "out_channels", None) or config.in_channels)

    @property
    def is_image_model(self) -> bool:
        """Whether the model expects image conditioning (``y`` channels, CLIP context)."""
        return self.model_type in ("i2v", "fl2v", "fun_inp", "fun_control")


@dataclass(frozen=True)
class TinyVAE:
    """WANVAE from WanVideoTinyVAELoader: a TAEHV (``wfrun.models.taehv``) in its dtype.
    WanVideoDecode/WanVideoEncode take it in place of the real Wan VAE, as the pack's do;
    ``parallel``: all frames at once (faster, more memory) instead of chunk by chunk."""

    model: Any
    dtype: torch.dtype
    parallel: bool = False
    path: Path | None = None


@dataclass(frozen=True)
class VacePath:
    """VACEPATH from WanVideoVACEModelSelect: VACE module files for the model loader's
    ``vace_model`` (later ``extra_model``) input, laid over the main model in this order."""

    paths: tuple[Path, ...]


@dataclass(frozen=True)
class ScheduleChoice:
    """The pack's scheduler dict (WanVideoScheduler / WanVideoSchedulerv2): a schedule for
    ``steps`` at ``shift`` (or custom ``sigmas``) cut to ``start_step``..``end_step`` (a
    float: a sigma threshold), built by the sampler that receives it."""

    name: str
    steps: int
    shift: float
    start_step: int | float = 0
    end_step: int | float = -1
    sigmas: Any = None
    #: Settings of the scheduler itself, by name (WanVideoSchedulerSA_ODE's).
    options: tuple[tuple[str, Any], ...] = ()
    #: Custom sigmas as the scheduler node's pack version takes them (``sigmas_era``): True
    #: as given (2025-12-04 on), False the earlier way, None not known.
    sigmas_as_given: bool | None = True
    #: The pack's high-frequency tail of timesteps (``sampling.schedulers.enhance_hf_tail``).
    enhance_hf: bool = False


# FREEINITARGS lives with the sampling pass that runs it.
from wfrun.sampling.freeinit import FreeInitArgs  # noqa: E402,F401

# Loaded models that ComfyUI's core nodes carry too live in the models layer.
from wfrun.models.handles import ClipVision, WanTextEncoder, WanVAE  # noqa: E402,F401


# The conditioning and sampler-option values live with the sampling loop that reads them.
from wfrun.sampling.conditioning import (  # noqa: E402,F401
                                         TextEmbeds,
                                         ClipEmbeds,
                                         ControlEmbeds,
                                         PhantomArgs,
                                         ImageEmbeds,
                                         VaceEmbeds,
                                         TeaCacheArgs,
                                         EasyCacheArgs,
                                         SLGArgs,
                                         FetaArgs,
                                         ContextOptions,
                                         ExperimentalArgs,
                                         LoopArgs,
                                         SamplerOptions,
                                         )


@dataclass(frozen=True)
class RopeChoice:
    """WanVideoRoPEFunction's output when an NTK factor is not 1 (the pack's dict): the rope
    function and the RoPE base scaling of each axis (frames, height, width)."""

    rope_function: str
    ntk_alphas: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SamplerSettings:
    """WanVideoSamplerSettings' output (SAMPLER_ARGS): every WanVideoSampler input it was
    given, by name, for WanVideoSamplerFromSettings; ``node_id``/``node_title`` name the
    settings node, so an error found while sampling points at the node that holds the value."""

    inputs: Any  # a read-only mapping {input name: value}
    node_id: str = ""
    node_title: str = ""


# --- FantasyTalking -----------------------------------------------------------------------

@dataclass(frozen=True)
class FantasyTalkingEmbeds:
    """FANTASYTALKING_EMBEDS (FantasyTalkingWav2VecEmbeds): the pack's dict, typed.
    ``audio_proj`` ``[1, latent frames, window, 2048]`` (each latent frame's window of audio
    tokens, filled up with zeros at the end), ``audio_context_lens`` ``[latent frames]`` (the
    audio tokens of each window), ``audio_scale`` and ``audio_cfg_scale`` (one value, or one
    per step from CreateCFGScheduleFloatList)."""

    audio_proj: torch.Tensor
    audio_context_lens: torch.Tensor
    audio_scale: float = 1.0
    audio_cfg_scale: float | tuple[float, ...] = 1.0


# --- MultiTalk / InfiniteTalk --------------------------------------------------------------

@dataclass(frozen=True)
class MultiTalkModel:
    """MULTITALKMODEL (MultiTalkModelLoader): the patch file, its kind (``InfiniteTalk`` when
    the file name says so, as the pack decides) and the audio projection's precision (the
    loader's ``base_precision`` up to 2025-08; None: the model loader's). The model loader
    reads it (``models.multitalk.load_multitalk``), as the pack's ``sd.update``."""

    path: Path
    model_type: str = "MultiTalk"
    proj_dtype: torch.dtype | None = None


@dataclass(frozen=True)
class MultiTalkEmbeds:
    """MULTITALK_EMBEDS (MultiTalkWav2VecEmbeds): each speaker's wav2vec features
    ``[video frames, layers, width]`` (float32, CPU), ``audio_scale``, ``audio_cfg_scale``
    (one value or one per step) and ``ref_target_masks`` (pixel masks ``[classes, H, W]``)."""

    audio_features: tuple[torch.Tensor, ...]
    audio_scale: float = 1.0
    audio_cfg_scale: float | tuple[float, ...] = 1.0
    ref_target_masks: torch.Tensor | None = None
