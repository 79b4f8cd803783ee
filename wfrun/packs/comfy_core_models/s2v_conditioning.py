"""ComfyUI's Wan 2.2 speech-to-video nodes (``comfy_extras/nodes_wan.py``, as of 2025-08/09):
WanSoundImageToVideo (the first chunk) and WanSoundImageToVideoExtend (each next one).

Both attach to the two CONDITIONINGs (the model's use: :mod:`wfrun.sampling.s2v`):

- ``audio_embed`` (positive; the negative gets the same all zeros): the AudioEncoderEncode
  hidden states of every layer, ``[layers, T, C]`` at wav2vec2's 50 per second, resampled
  linearly (``align_corners``) to 30 per second (``int(T / 50 * 30)`` steps), then read at
  16 fps: video frame ``i`` takes step ``round(i * 30 / 16)`` (numpy's round, half to
  even), zeros past the sound's end. The node keeps video frames ``offset … offset + 4F``
  (F latent frames; ``offset`` 0 for the first chunk, 4 x the latent frames made so far for
  an extension) as ``[1, layers, C, 4F]``, and attaches nothing when the sound has ended
  before ``offset``;
- ``reference_latents`` (appended): the latent of ``ref_image``'s first frame, resized
  (bilinear, centre crop) to the video's size;
- ``reference_motion``: the last 19 latent frames of the video so far — an extension's
  ``video_latent``, or for the first chunk ``ref_motion``'s last 73 frames (grey frames in
  front when fewer) encoded;
- ``control_video``: the pose/control video's latents (its first ``length`` frames,
  resized), the rest of the chunk's latent frames the latent of zeros (``process_out(0)``:
  normalised by the model back to 0) — always attached, as ComfyUI does.

The motion latents must be at least 8 latents (64 px) high and wide: the model's frame
packer patches them 8x8 unpadded, and ComfyUI fails inside the sampler ("Kernel size can't
be greater than actual input size") on a smaller video; wfrun refuses at the node instead.

The LATENT is zeros ``[batch, 16, (length - 1) / 4 + 1, height / 8, width / 8]``; an
extension takes batch, width and height from ``video_latent``.

As ComfyUI's node, the latent is sized for Wan 2.1's VAE (16 channels, 8 pixels a latent);
wfrun refuses another VAE by name instead of making a latent that fits nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families.wan_transformer import S2V_AUDIO_PER_LATENT, S2V_MOTION_FRAMES
from wfrun.models.s2v_parts import MOTION_MIN_LATENT_SIDE
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images, spatial_ratio
from wfrun.packs.comfy_core_models.wan_conditioning import _both, _fit, latent_channels
from wfrun.sampling.s2v_audio import frame_steps, pick_frames, resample_features

#: Pixel frames of ``ref_motion`` the first chunk encodes (4 x 19 - 3: 19 latent frames).
MOTION_PIXEL_FRAMES = 4 * S2V_MOTION_FRAMES - 3
#: The latent the node makes: Wan 2.1's VAE (ComfyUI's node fixes these).
S2V_LATENT_CHANNELS, S2V_STRIDE = 16, 8
#: The smallest width and height (px) of a video with motion frames (the frame packer's patch).
S2V_MOTION_MIN_SIDE = MOTION_MIN_LATENT_SIDE * S2V_STRIDE


def audio_embed(encoder_output: Any, latent_t: int, offset: int) -> torch.Tensor | None:
    """The ``audio_embed`` of one chunk ``[1, layers, C, 4 x latent_t]`` from video frame
    ``offset`` on, or None when the sound has ended before it."""
    layers = encoder_output.get("encoded_audio_all_layers") if isinstance(encoder_output, dict) else None
    if not layers or not all(isinstance(h, torch.Tensor) and h.ndim == 3 for h in layers):
        raise NodeInputError("audio_encoder_output", "expected the output of AudioEncoderEncode (every hidden "
                             "layer, [1, T, C] each)", "connect AudioEncoderEncode")
    feats = resample_features(torch.cat([h.float() for h in layers]))
    frames = latent_t * S2V_AUDIO_PER_LATENT
    steps = frame_steps(frames, feats.shape[1])[offset:offset + frames]
    if not steps:
        return None
    return pick_frames(feats, steps)


def _images(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0:
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]")
    return value.float()


def _check_vae(vae: Any) -> WanVAE:
    vae = check_vae(vae)
    if latent_channels(vae) != S2V_LATENT_CHANNELS or spatial_ratio(vae) != S2V_STRIDE:
        raise NodeInputError("vae", f"a VAE of {latent_channels(vae)} latent channels: Wan 2.2 S2V takes the Wan 2.1 "
                             "VAE's 16 (ComfyUI's node assumes it)", "load wan_2.1_vae.safetensors")
    return vae


def _check_motion_size(width: int, height: int, extend: bool) -> None:
    """Refuse a video with motion frames smaller than the frame packer's widest patch (see the
    module doc)."""
    rows, cols = height // S2V_STRIDE, width // S2V_STRIDE
    if min(rows, cols) >= MOTION_MIN_LATENT_SIDE:
        return
    found = f"a {width}x{height} px video"
    why = (f"Wan 2.2 S2V's frame packer patches the motion frames {MOTION_MIN_LATENT_SIDE}x{MOTION_MIN_LATENT_SIDE} "
           f"latents, so width and height must be at least {S2V_MOTION_MIN_SIDE} px (ComfyUI fails in the sampler)")
    if extend:
        raise NodeInputError("video_latent", f"{found}: {why}", "make the first chunk at least "
                             f"{S2V_MOTION_MIN_SIDE}x{S2V_MOTION_MIN_SIDE} px")
    raise NodeInputError("height" if rows < MOTION_MIN_LATENT_SIDE else "width", f"{found} with ref_motion: {why}",
                         f"set width and height to {S2V_MOTION_MIN_SIDE} or more")


def sound_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int, length: int,
                   batch_size: int, frame_offset: int = 0, ref_image: Any = None, audio_encoder_output: Any = None,
                   control_video: Any = None, ref_motion: Any = None,
                   ref_motion_latent: torch.Tensor | None = None) -> tuple:
    """Both nodes' work (ComfyUI's ``wan_sound_to_video``)."""
    width, height, length = int(width), int(height), int(length)
    latent_t = latent_frames(length)
    if ref_motion is not None or ref_motion_latent is not None:
        _check_motion_size(width, height, extend=ref_motion is None)
    if audio_encoder_output is not None:
        audio = audio_embed(audio_encoder_output, latent_t, int(frame_offset))
        if audio is not None:
            positive = set_values(positive, {"audio_embed": audio}, input_name="positive")
            negative = set_values(negative, {"audio_embed": torch.zeros_like(audio)}, input_name="negative")
    if ref_image is not None:
        ref = encode_images(ctx, vae, _fit(_images(ref_image, "ref_image")[:1], width, height)[..., :3])
        positive, negative = _both(positive, negative, {"reference_latents": [ref]}, append=True)
    if ref_motion is not None:
        motion = _images(ref_motion, "ref_motion")[-MOTION_PIXEL_FRAMES:]
        motion = _fit(motion, width, height)[..., :3]
        if motion.shape[0] < MOTION_PIXEL_FRAMES:
            grey = torch.full((MOTION_PIXEL_FRAMES, height, width, 3), 0.5)
            grey[MOTION_PIXEL_FRAMES - motion.shape[0]:] = motion
            motion = grey
        ref_motion_latent = encode_images(ctx, vae, motion)
    if ref_motion_latent is not None:
        positive, negative = _both(positive, negative,
                                   {"reference_motion": ref_motion_latent[:, :, -S2V_MOTION_FRAMES:]})
    latent = torch.zeros(int(batch_size), S2V_LATENT_CHANNELS, latent_t, height // S2V_STRIDE, width // S2V_STRIDE)
    control = latent_format(S2V_LATENT_CHANNELS).process_out(torch.zeros_like(latent))
    if control_video is not None:
        encoded = encode_images(ctx, vae, _fit(_images(control_video, "control_video")[:length], width, height)[..., :3])
        control[:, :, :encoded.shape[2]] = encoded[:, :, :control.shape[2]]
    positive, negative = _both(positive, negative, {"control_video": control})
    return positive, negative, {"samples": latent}


@executor("WanSoundImageToVideo")
def wan_sound_image_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                             length: int, batch_size: int, audio_encoder_output: Any = None, ref_image: Any = None,
                             control_video: Any = None, ref_motion: Any = None, **_: Any) -> tuple:
    return sound_to_video(ctx, positive, negative, _check_vae(vae), width, height, length, batch_size,
                          ref_image=ref_image, audio_encoder_output=audio_encoder_output,
                          control_video=control_video, ref_motion=ref_motion)


@executor("WanSoundImageToVideoExtend")
def wan_sound_image_to_video_extend(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, length: int,
                                    video_latent: Any, audio_encoder_output: Any = None, ref_image: Any = None,
                                    control_video: Any = None, **_: Any) -> tuple:
    samples = video_latent.get("samples") if isinstance(video_latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        raise NodeInputError("video_latent", "expected a video LATENT [batch, channels, frames, height, width]",
                             "connect the previous chunk's KSampler (or LatentConcat of the chunks so far)")
    batch, _, frames, lat_h, lat_w = samples.shape
    return sound_to_video(ctx, positive, negative, _check_vae(vae), lat_w * S2V_STRIDE, lat_h * S2V_STRIDE, length,
                          batch, frame_offset=frames * S2V_AUDIO_PER_LATENT, ref_image=ref_image,
                          audio_encoder_output=audio_encoder_output, control_video=control_video,
                          ref_motion_latent=samples.float())
