"""Loaded models as the nodes pass them: a diffusers/transformers module with the dtype it
runs in and the file it came from. ComfyUI's core loaders and the WanVideoWrapper's give
the same objects, so both packs share these (each pack's ``types`` re-exports them).

ComfyUI's MODEL (:class:`CoreModel`) lives here too, not in the core model pack: ComfyUI's
own ``UNETLoader`` and ComfyUI-GGUF's ``UnetLoaderGGUF`` both make one, for the same core
samplers and patch nodes to take, and a pack never imports another pack.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


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
    #: Made by ComfyUI's CLIPVisionLoader (a ComfyUI ``ClipVisionModel`` in ComfyUI) rather
    #: than the wrapper's own loader: nodes that read ``encode_image().last_hidden_state``
    #: from such a model then get the last block's states, not the penultimate ones.
    comfy_loader: bool = False


@dataclass(frozen=True)
class LoraPatch:
    """One LoRA file merged into the weights while sampling, at ``strength``."""

    path: Path
    strength: float


@dataclass(frozen=True)
class BlockSwap:
    """Block swap asked for on a core MODEL (orssorbit's ComfyUI-wanBlockswap): while it
    samples on a GPU, the first ``blocks`` transformer blocks (and the embedders named) stay
    in host memory and stream in for their own forward (``placement.swapped``)."""

    blocks: int
    offload_img_emb: bool = False
    offload_txt_emb: bool = False
    non_blocking: bool = False


@dataclass(frozen=True)
class CoreModel:
    """MODEL: a Wan transformer (diffusers ``WanTransformer3DModel``), its family and the
    patches to apply while sampling.

    ComfyUI's MODEL is a ``ModelPatcher``: the loaded network plus *patches* (LoRA weight
    deltas, the sampling shift, guidance tweaks) that apply only while a sampler uses it, so
    one loaded model can feed a LoRA branch and a plain branch of the same workflow. The
    transformer is shared and never changed by a node; each patching node returns a new
    ``CoreModel`` with one more patch, and the sampler applies them for its pass only."""

    transformer: Any
    task: str                      # the family's task (models.families), e.g. t2v, i2v, ti2v-5b
    path: Path
    dtype: torch.dtype             # compute dtype
    latent_channels: int
    shift: float                   # ModelSamplingDiscreteFlow shift (ModelSamplingSD3 sets it)
    multiplier: float = 1000.0     # timestep = sigma * multiplier
    image_to_video: bool = False   # ComfyUI's WAN21(image_to_video=...): how concat_cond builds its mask
    per_frame_timesteps: bool = False  # ComfyUI's WAN22: a noise mask gives each latent frame its timestep
    loras: tuple[LoraPatch, ...] = ()
    #: Functions of ComfyUI's ``post_cfg`` chain, in the order the nodes added them.
    post_cfg: tuple[Any, ...] = ()
    #: How it runs (KJNodes' model patches): the diffusers attention backend for its
    #: sampling passes, fp16 matmul accumulation, torch.compile settings (None: eager).
    attention: str = "native"
    fp16_accumulation: bool = False
    compile: dict | None = None
    #: KJNodes' WanChunkFeedForward: (chunks, token threshold) of the blocks' feed-forward.
    ffn_chunks: tuple[int, int] | None = None
    #: KJNodes' native TeaCache (threshold, percent window, coefficient set, cache device)
    #: and Enhance-A-Video (weight, latent frames), applied by the core KSampler.
    teacache: dict | None = None
    #: ComfyUI's native EasyCache (its node's settings, ``sampling.ksampler.easycache``),
    #: applied around each model call by the core samplers.
    easycache: Any = None
    #: ComfyUI-MagCache's MagCache (its node's settings, ``sampling.magcache``), applied to
    #: the transformer blocks by the core samplers.
    magcache: Any = None
    feta: tuple[float, int] | None = None
    #: KJNodes' SkipLayerGuidanceWanVideo: (blocks, start_percent, end_percent) skipped on
    #: the uncond pass while the step percent is inside the window.
    uncond_skip: tuple[tuple[int, ...], float, float] | None = None
    #: ComfyUI's SkipLayerGuidanceDiTSimple: (blocks, sigma_start, sigma_end) skipped on the
    #: uncond pass while the step's sigma is inside ``sigma_end <= sigma <= sigma_start``.
    uncond_skip_sigmas: tuple[tuple[int, ...], float, float] | None = None
    #: ComfyUI's ``sampler_cfg_function`` set by a patch node: ``hook(sigmas)`` returns the
    #: cfg function for a run over ``sigmas`` (KJNodes' CFGZeroStarAndInit).
    cfg_function: Any = None
    #: NAG set on the model itself (KJNodes' WanVideoNAG): a ``sampling.nag.NAGGuidance``.
    nag: Any = None
    #: RIFLEx (KJNodes' ApplyRifleXRoPE_WanVideo): (k, latent frames) for the rotary embedding.
    riflex: tuple[int, int] | None = None
    #: ComfyUI's ScaleROPE: (scale_x, shift_x, scale_y, shift_y, scale_t, shift_t) of the
    #: rotary positions (``sampling.forward.RopeScale``).
    rope_scale: tuple[float, float, float, float, float, float] | None = None
    #: Block swap for its sampling passes on a GPU (:class:`BlockSwap`); None: the whole
    #: transformer goes to the GPU (``models.residency``).
    block_swap: BlockSwap | None = None
    #: ComfyUI's context windows (ContextWindowsManual / WanContextWindowsManual): a
    #: ``sampling.ksampler.context_windows.ContextWindowSettings`` the core samplers split
    #: the model's calls by; None: whole-latent calls.
    context_windows: Any = None
    #: ComfyUI's InfiniteTalk / MultiTalk audio patch (WanInfiniteTalkToVideo): a
    #: ``sampling.infinitetalk.InfiniteTalk`` the core samplers attach for their pass.
    infinitetalk: Any = None
    #: ComfyUI's WanAnimate2Cache: (store device, storage dtype) of the Wan Animate 2 pose
    #: branch's cache. Recorded only: wfrun re-runs the branch at every call.
    animate2_cache: tuple[str, str] | None = None
    #: ComfyUI's ARVideoI2V (``transformer_options["ar_config"]["initial_latent"]``): the
    #: start image's raw latents ``[1, C, T, h, w]`` that the ``ar_video`` sampler puts in
    #: front and seeds the KV cache with; None: text to video.
    ar_initial_latent: torch.Tensor | None = None

    @classmethod
    def of_family(cls, transformer: Any, family: Any, path: Path, dtype: torch.dtype, shift: float) -> "CoreModel":
        """The MODEL a loader returns for ``transformer`` of ``family`` (``models.families``):
        what ComfyUI's model class for that family (``WAN21``/``WAN22``) fixes; ``shift`` is the
        loader's default, unless the family has its own (Causal Forcing's 5.0)."""
        return cls(transformer=transformer, task=family.task, path=path, dtype=dtype,
                   latent_channels=family.latent_channels, shift=family.shift if family.shift is not None else shift,
                   image_to_video=family.takes_image_latents,
                   per_frame_timesteps=family.conditioning == "image-latent")

    def patched(self, **changes: Any) -> "CoreModel":
        """A copy with ``changes`` (the node's patch); the transformer stays shared."""
        return dataclasses.replace(self, **changes)
