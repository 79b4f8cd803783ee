"""Loaded models as the nodes pass them: a diffusers/transformers module with the dtype it
runs in and the file it came from. ComfyUI's core loaders and the WanVideoWrapper's give
the same objects, so both packs share these (each pack's ``types`` re-exports them).
"""

from __future__ import annotations

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
