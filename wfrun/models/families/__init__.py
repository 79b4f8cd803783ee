"""Model families: one entry per kind of checkpoint wfrun knows, with the facts that tell it
apart and what it needs, so no other module has to know a channel count.

- ``wan_transformer``: the Wan 2.1 and 2.2 transformers (T2V, I2V, FLF2V, Fun InP/Control/
  Camera, VACE, A14B experts, TI2V-5B, Animate 14B, MiniMax-Remover), their channels, parts, conditioning and
  name rules;
- ``wan_vae``: the Wan 2.1 and 2.2 VAEs (latent channels, stride, layout);
- ``latent_formats``: ComfyUI's ``Wan21``/``Wan22`` latent statistics and
  ``process_in``/``process_out``;
- ``encoders``: UMT5-XXL and CLIP ViT-H sizes.

Detection (``models.detect``), the converters, the tiny-checkpoint writer (``models.tiny``),
the stand-ins and the samplers' conditioning checks ask this registry instead of comparing
numbers of their own.
"""

from wfrun.models.families.encoders import CLIP_HEADS_BY_WIDTH, CLIP_VISION_H, UMT5_XXL
from wfrun.models.families.latent_formats import LATENT_FORMATS, WAN21, WAN22, LatentFormat
from wfrun.models.families.wan_transformer import (
    TRANSFORMER_FAMILIES,
    TransformerFamily,
    classify_transformer,
    conditioning_by_channels,
    pick_family,
    task_from_name,
    transformer_family,
)
from wfrun.models.families.wan_vae import (
    VAE_FAMILIES,
    WAN21_VAE,
    WAN22_VAE,
    VaeFamily,
    classify_vae,
    vae_family,
    vae_family_by_latent,
    vae_family_from_name,
)

__all__ = [
    "CLIP_HEADS_BY_WIDTH", "CLIP_VISION_H", "LATENT_FORMATS", "LatentFormat", "TRANSFORMER_FAMILIES",
    "TransformerFamily", "UMT5_XXL", "VAE_FAMILIES", "VaeFamily", "WAN21", "WAN21_VAE", "WAN22", "WAN22_VAE",
    "classify_transformer", "classify_vae", "conditioning_by_channels", "pick_family", "task_from_name",
    "transformer_family", "vae_family", "vae_family_by_latent", "vae_family_from_name",
]
