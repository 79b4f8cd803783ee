"""MiniMax-Remover in WanVideoSampler's loop (ComfyUI-WanVideoWrapper 2025-06-17 on).

What the pack does (``WanVideoMiniMaxRemoverEmbeds`` and the sampler's ``minimax_latents``):

- the noise is drawn as for text-to-video, from the embeds' ``target_shape``;
- every model call, cond and uncond alike, takes ``cat([noisy latents, video latents, mask
  latents])`` along the channels (16 + 16 + 16 = the model's 48 input channels) — here the
  last 32 channels are the loop's ``y`` (``Conditioning.image_cond``), which ``predict``
  concatenates after the latents in that order;
- the model has no text embedding and no cross-attention (``models.no_text``), so prompts,
  NAG and several prompts change nothing: the loop calls it with a placeholder context, for
  the uncond pass too (cfg other than 1 then mixes two equal predictions, as in the pack).

Refused, each by name (the pack fails on them, or runs them in ways wfrun does not check):
context windows (the pack's sampler of the time concatenates the whole video's latents to
a window and fails), and the other conditioning the embeds could carry through the pack's
"add" nodes (control, extra latents, Pusa noise, Wan-Move, Time-to-Move, Stand-In) or that a
remover model cannot take (image embeds, VACE, Phantom, ATI tracks).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.no_text import has_text
from wfrun.sampling.conditioning import ImageEmbeds, RemoverEmbeds

#: Fields of the image embeds that cannot go with MiniMax-Remover's, and what they come from.
_OTHER_CONDITIONING = (
    ("image_embeds", "image conditioning (WanVideoImageToVideoEncode)"),
    ("control_embeds", "control embeds"),
    ("extra_latents", "extra latents (WanVideoAddExtraLatent / WanVideoEmptyEmbeds)"),
    ("pusa_noise_multipliers", "Pusa noise (WanVideoAddPusaNoise)"),
    ("phantom", "Phantom references"),
    ("vace", "VACE embeds"),
    ("animate", "Wan 2.2 Animate embeds"),
    ("recammaster", "ReCamMaster embeds"),
    ("humo", "HuMo embeds"),
    ("s2v", "S2V embeds"),
    ("wanmove", "Wan-Move tracks (WanVideoAddWanMoveTracks)"),
    ("ttm", "Time-to-Move latents (WanVideoAddTTMLatents)"),
    ("standin", "Stand-In latents (WanVideoAddStandInLatent)"),
    ("mocha", "MoCha embeds"),
    ("multitalk_long", "MultiTalk long-video embeds"),
)


class RemoverError(ValueError):
    """A MiniMax-Remover input that cannot run; ``input_name`` is the sampler input to blame."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


def is_remover(transformer: Any) -> bool:
    """Whether the model is one without text (MiniMax-Remover)."""
    return not has_text(transformer)


def check(transformer: Any, emb: ImageEmbeds, *, windows: bool = False, ati: bool = False) -> bool:
    """Whether this is a MiniMax-Remover pass; raise :class:`RemoverError` when the model and
    the embeds do not go together, or the pass asks for what wfrun refuses with them."""
    remover = is_remover(transformer)
    if emb.remover is None:
        if remover:
            raise RemoverError("image_embeds", "a MiniMax-Remover model (no text, no cross-attention) needs "
                               "WanVideoMiniMaxRemoverEmbeds", "connect WanVideoMiniMaxRemoverEmbeds (the video's "
                               "and the mask's latents from WanVideoEncode) to image_embeds")
        return False
    if not remover:
        raise RemoverError("image_embeds", "WanVideoMiniMaxRemoverEmbeds need a MiniMax-Remover model (a Wan "
                           "transformer without text embedding)",
                           "load Wan2_1-MiniMaxRemover_1_3B in WanVideoModelLoader")
    for field, what in _OTHER_CONDITIONING:
        if getattr(emb, field, None) not in (None, ()):
            raise RemoverError("image_embeds", f"MiniMax-Remover embeds together with {what} are not supported",
                               "give the sampler WanVideoMiniMaxRemoverEmbeds alone")
    if windows:
        raise RemoverError("context_options", "context windows with MiniMax-Remover embeds are not supported "
                           "(the pack's sampler of the time joins the whole video's latents to each window)",
                           "disconnect context_options")
    if ati:
        raise RemoverError("model", "ATI motion tracks with a MiniMax-Remover model are not supported "
                           "(they move image conditioning, which this model does not take)",
                           "remove WanVideoATITracks")
    return True


def model_input(transformer: Any, embeds: RemoverEmbeds, noise: torch.Tensor) -> torch.Tensor:
    """What follows the noisy latents in every call: the video's latents, then the mask's,
    ``[32, T, H, W]``; their frames and size must be the noise's, and with the noise they
    must fill the model's input channels."""
    parts = (("latents", embeds.latents), ("mask_latents", embeds.mask_latents))
    for name, latent in parts:
        if tuple(latent.shape[1:]) != tuple(noise.shape[1:]):
            raise RemoverError("image_embeds", f"MiniMax-Remover {name} of {tuple(latent.shape[1:])} (frames, "
                               f"height, width) for a video of {tuple(noise.shape[1:])}",
                               "give WanVideoMiniMaxRemoverEmbeds the width, height and frame count of the "
                               "encoded video")
    channels = noise.shape[0] + sum(latent.shape[0] for _, latent in parts)
    in_channels = int(transformer.config.in_channels)
    if channels != in_channels:
        raise RemoverError("image_embeds", f"noise and MiniMax-Remover latents make {channels} channels; the model "
                           f"takes {in_channels}", "encode the video and the mask with the Wan 2.1 VAE")
    return torch.cat([embeds.latents.float(), embeds.mask_latents.float()])
