"""The values ComfyUI's core model nodes pass between them, holding diffusers modules.

ComfyUI's MODEL is a ``ModelPatcher``: the loaded network plus *patches* (LoRA weight
deltas, the sampling shift, guidance tweaks) that apply only while a sampler uses it, so
one loaded model can feed a LoRA branch and a plain branch of the same workflow (the Wan
2.2 templates switch between the two). :class:`CoreModel` (in ``models.handles``, as other
packs' loaders make MODELs too) keeps that contract: the transformer is shared and never
changed by a node; each patching node returns a new ``CoreModel`` with one more patch, and
the sampler applies them for its pass only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# CLIP_VISION, CLIP, VAE and MODEL, shared with other packs (ComfyUI-GGUF's loaders make MODELs too)
from wfrun.models.handles import ClipVision, CoreModel, LoraPatch, WanTextEncoder, WanVAE  # noqa: F401


@dataclass(frozen=True)
class CfgZeroStar:
    """CFGZeroStar: the guided result shifted by the CFG-Zero* projection of the uncond
    prediction, ``alpha = <x - cond, x - uncond> / |x - uncond|²`` per batch entry."""


@dataclass(frozen=True)
class SkipLayers:
    """SkipLayerGuidanceDiT: an extra pass without ``layers`` between the two percents,
    pushing the result away from it by ``scale`` (``rescaling_scale`` rescales its std)."""

    layers: tuple[int, ...]
    scale: float
    start_percent: float
    end_percent: float
    rescaling_scale: float = 0.0


@dataclass(frozen=True)
class ClipVisionOutput:
    """CLIP_VISION_OUTPUT: what Wan reads of it is ``penultimate_hidden_states`` [B, 257, 1280]."""

    penultimate_hidden_states: torch.Tensor


@dataclass(frozen=True)
class Sam3Model:
    """MODEL of a SAM 3.1 checkpoint (``CheckpointLoaderSimple``): a
    :class:`wfrun.models.sam3.Sam3Segmenter` (transformers ``Sam3Model`` and the
    ``Sam3TrackerModel`` heads) kept on ``offload_device`` between uses."""

    segmenter: Any
    dtype: torch.dtype
    path: Path
    offload_device: str = "cpu"


@dataclass(frozen=True)
class Sam3Clip:
    """CLIP of a SAM 3.1 checkpoint: the same segmenter (its CLIP text encoder) and the CLIP
    BPE tokenizer, encoding as ComfyUI's ``SAM3ClipModel`` (32-token chunks, pad 0)."""

    segmenter: Any
    tokenizer: Any
    dtype: torch.dtype
    path: Path
    offload_device: str = "cpu"
    max_length: int = 32
    tokenizer_error: str | None = None  # why ``tokenizer`` is None (said when a text is encoded)


@dataclass(frozen=True)
class Sam3TrackData:
    """SAM3_TRACK_DATA (SAM3_VideoTrack's output, read by SCAIL2ColoredMask): ``masks`` is
    ``[frames, objects, h, w]`` bool at the tracker's own resolution, or None when nothing
    was tracked; ``orig_size`` the frames' ``(height, width)``, ``n_frames`` their count and
    ``scores`` one per object. ComfyUI keeps the masks bit-packed (``packed_masks``) to save
    memory; wfrun keeps them as bools, as the value never leaves the process."""

    masks: torch.Tensor | None
    orig_size: tuple[int, int]
    n_frames: int
    scores: tuple[float, ...] = ()
