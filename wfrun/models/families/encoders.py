"""The encoders Wan conditions on: UMT5-XXL (text, all Wan models) and CLIP ViT-H/14
(image tokens, Wan 2.1 I2V/FLF2V/Fun only: Wan 2.2 has no CLIP projection).

Sizes from the published configs (google/umt5-xxl; laion/CLIP-ViT-H-14-laion2B, which
ComfyUI repackages as ``clip_vision_h``, and Wan's ``XLMRobertaCLIP`` vision tower).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextEncoderFamily:
    name: str
    label: str
    vocab: int
    dim: int
    layers: int
    heads: int
    dim_attn: int
    ffn: int
    buckets: int


@dataclass(frozen=True)
class ImageEncoderFamily:
    name: str
    label: str
    dim: int
    layers: int
    heads: int
    mlp: int
    patch: int
    image: int
    projection: int

    @property
    def tokens(self) -> int:
        """Tokens per image (patches + class token): 257 for ViT-H/14 at 224."""
        return (self.image // self.patch) ** 2 + 1


UMT5_XXL = TextEncoderFamily("umt5-xxl", "UMT5-XXL text encoder", vocab=256384, dim=4096, layers=24, heads=64,
                             dim_attn=4096, ffn=10240, buckets=32)
CLIP_VISION_H = ImageEncoderFamily("vit-h-14", "CLIP ViT-H/14 vision encoder", dim=1280, layers=32, heads=16,
                                   mlp=5120, patch=14, image=224, projection=1024)

#: Attention heads of the CLIP vision towers by width (the shapes do not say).
CLIP_HEADS_BY_WIDTH = {CLIP_VISION_H.dim: CLIP_VISION_H.heads, 1024: 16, 768: 12, 1664: 16}


def text_encoder_variant(dim: int, layers: int) -> str:
    return UMT5_XXL.name if (dim, layers) == (UMT5_XXL.dim, UMT5_XXL.layers) else "umt5"


def image_encoder_variant(dim: int, layers: int, patch: int) -> str:
    f = CLIP_VISION_H
    return f.name if (dim, layers, patch) == (f.dim, f.layers, f.patch) else f"vit-{dim}d-{layers}l"
