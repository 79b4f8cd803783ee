"""ComfyUI's ``WanHuMoImageToVideo`` (``comfy_extras/nodes_wan.py``): HuMo's reference image
and audio on the two CONDITIONINGs (the model's use: :mod:`wfrun.sampling.humo`).

- ``reference_latents`` (appended): the latent of ``ref_image``'s first frame, resized
  (bilinear, centre crop) to the video's size, on the positive; the negative gets a latent of
  zeros of its shape. Without ``ref_image`` both get one latent frame of zeros (the model
  normalises it, as any reference).
- ``audio_embed``: the AudioEncoderEncode output of a Whisper encoder made into HuMo's windows
  (:mod:`wfrun.sampling.humo_audio`: five layer groups at 25 fps, then one window of 8
  feature frames per latent frame), ``[1, latent frames, 8, 5, C]`` on the positive, zeros
  on the negative. Without sound both get zero windows of Whisper large-v3's width (1280).

The LATENT is zeros ``[batch, 16, (length - 1) / 4 + 1, height / 8, width / 8]``.

Where wfrun differs: ComfyUI's node gives one zero window more than the latent has frames
when no sound is connected, which its model cannot split the tokens by (the sampler fails);
wfrun gives one per latent frame. A VAE other than Wan 2.1's is refused by name (the node
sizes the latent for it).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families.wan_transformer import HUMO_AUDIO_GROUPS, HUMO_AUDIO_WINDOW
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images, spatial_ratio
from wfrun.packs.comfy_core_models.wan_conditioning import _both, _fit, latent_channels
from wfrun.sampling.humo_audio import audio_windows, layer_groups

#: The latent the node makes (Wan 2.1's VAE), and Whisper large-v3's width for silent windows.
HUMO_LATENT_CHANNELS, HUMO_STRIDE, WHISPER_WIDTH = 16, 8, 1280


def humo_audio_embed(encoder_output: Any, length: int) -> torch.Tensor:
    """``[1, latent frames, 8, 5, C]`` windows of an AUDIO_ENCODER_OUTPUT (a Whisper encoder's)."""
    layers = encoder_output.get("encoded_audio_all_layers") if isinstance(encoder_output, dict) else None
    samples = encoder_output.get("audio_samples") if isinstance(encoder_output, dict) else None
    if not layers or not all(isinstance(h, torch.Tensor) and h.ndim == 3 for h in layers) \
            or isinstance(samples, bool) or not isinstance(samples, int):
        raise NodeInputError("audio_encoder_output", "expected the output of AudioEncoderEncode (every hidden "
                             "layer, [1, T, C] each, and audio_samples)", "connect AudioEncoderEncode")
    try:
        groups = layer_groups(torch.stack([h.float() for h in layers], dim=2), samples)
    except ValueError as err:
        raise NodeInputError("audio_encoder_output", str(err),
                             "encode the sound with a Whisper large-v3 encoder (whisper_large_v3_fp16.safetensors)"
                             ) from None
    return audio_windows(groups[0], length).unsqueeze(0)


def _check_vae(vae: Any) -> WanVAE:
    vae = check_vae(vae)
    if latent_channels(vae) != HUMO_LATENT_CHANNELS or spatial_ratio(vae) != HUMO_STRIDE:
        raise NodeInputError("vae", f"a VAE of {latent_channels(vae)} latent channels: HuMo takes the Wan 2.1 "
                             "VAE's 16 (ComfyUI's node assumes it)", "load wan_2.1_vae.safetensors")
    return vae


@executor("WanHuMoImageToVideo")
def wan_humo_image_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                            length: int, batch_size: int, audio_encoder_output: Any = None, ref_image: Any = None,
                            **_: Any) -> tuple:
    vae = _check_vae(vae)
    width, height, length, batch = int(width), int(height), int(length), int(batch_size)
    latent_t = latent_frames(length)
    grid = (height // HUMO_STRIDE, width // HUMO_STRIDE)
    if ref_image is not None:
        if not isinstance(ref_image, torch.Tensor) or ref_image.ndim != 4 or ref_image.shape[0] == 0:
            raise NodeInputError("ref_image", "expected an IMAGE batch [frames, height, width, channels]")
        ref = encode_images(ctx, vae, _fit(ref_image.float()[:1], width, height)[..., :3])
        positive = set_values(positive, {"reference_latents": [ref]}, append=True, input_name="positive")
        negative = set_values(negative, {"reference_latents": [torch.zeros_like(ref)]}, append=True,
                              input_name="negative")
    else:
        positive, negative = _both(positive, negative,
                                   {"reference_latents": [torch.zeros(batch, HUMO_LATENT_CHANNELS, 1, *grid)]},
                                   append=True)
    if audio_encoder_output is not None:
        audio = humo_audio_embed(audio_encoder_output, length)
        positive = set_values(positive, {"audio_embed": audio}, input_name="positive")
        negative = set_values(negative, {"audio_embed": torch.zeros_like(audio)}, input_name="negative")
    else:
        silent = torch.zeros(batch, latent_t, HUMO_AUDIO_WINDOW, HUMO_AUDIO_GROUPS, WHISPER_WIDTH)
        positive, negative = _both(positive, negative, {"audio_embed": silent})
    return positive, negative, {"samples": torch.zeros(batch, HUMO_LATENT_CHANNELS, latent_t, *grid)}
