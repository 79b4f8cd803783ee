"""What Wan's image cross-attention reads from a CLIP vision model, shared by ComfyUI's
CLIPVisionEncode and the wrapper's WanVideoClipVisionEncode.

Images are preprocessed as ComfyUI's ``clip_preprocess``: resized (short side to the
model's size and centre crop, or squeezed with ``crop=False``) with bicubic antialiasing,
rounded to 8-bit levels, then normalised with the OpenAI CLIP mean/std. Wan reads the
penultimate hidden states (the output of all but the last ViT block, before the final
norm: ``hidden_states[-2]``), which the wrapper's ``CLIPModel.visual`` and ComfyUI's
``encode_image().penultimate_hidden_states`` both compute.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_preprocess(image: torch.Tensor, size: int = 224, crop: bool = True) -> torch.Tensor:
    """IMAGE [B, H, W, 3] → normalised pixel values [B, 3, size, size] (ComfyUI's recipe)."""
    x = image.movedim(-1, 1).float()
    if crop:
        scale = size / min(x.shape[2], x.shape[3])
        x = F.interpolate(x, size=(round(scale * x.shape[2]), round(scale * x.shape[3])), mode="bicubic",
                          antialias=True)
        h0, w0 = (x.shape[2] - size) // 2, (x.shape[3] - size) // 2
        x = x[:, :, h0:h0 + size, w0:w0 + size]
    else:
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
    x = torch.clip(x * 255, 0, 255).round() / 255.0
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def penultimate(clip: Any, image: torch.Tensor, device: str, crop: bool = True) -> torch.Tensor:
    size = int(clip.model.config.image_size)
    pixels = clip_preprocess(image.to(device), size=size, crop=crop).to(clip.dtype)
    out = clip.model(pixel_values=pixels, output_hidden_states=True)
    return out.hidden_states[-2].float()


@torch.no_grad()
def last_hidden(clip: Any, image: torch.Tensor, device: str, crop: bool = True) -> torch.Tensor:
    """The last ViT block's output before the final norm (ComfyUI's
    ``encode_image().last_hidden_state``; transformers' ``hidden_states[-1]``)."""
    size = int(clip.model.config.image_size)
    pixels = clip_preprocess(image.to(device), size=size, crop=crop).to(clip.dtype)
    out = clip.model(pixel_values=pixels, output_hidden_states=True)
    return out.hidden_states[-1].float()
