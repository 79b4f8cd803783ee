"""The wrapper's HuMo nodes (``HuMo/nodes.py``, since 2025-09-13): WhisperModelLoader and
HuMoEmbeds.

WhisperModelLoader reads a Whisper file from ``audio_encoders`` (the ``model.`` names of a
Hugging Face ``WhisperModel``; only its encoder, :mod:`wfrun.models.whisper`). The pack runs
the encoder in ``base_precision``; wfrun computes in float32 (fp16's rounding is not
reproduced) and keeps the precision on the value.

HuMoEmbeds, as the pack:

- **Audio**: the first channel of the AUDIO's first item (the pack's stereo test reads the
  sample count, so its channel mean never runs on real sound), resampled to 16 kHz; each
  30 s window's log-mel (zero-padded) through the encoder (:func:`wfrun.models.whisper.
  encode_windows`); the first ``2 x (samples // 640)`` hidden states made into five layer
  groups at 25 fps (:func:`wfrun.sampling.humo_audio.layer_groups`): ``[T, 5, C]``. No
  sound: zeros ``[num_frames, 5, 1280]``. ``num_frames`` -1 takes the sound's length.
- **Frames**: the count rounded down to ``4k + 1``; F latent frames.
- **References**: each image resized (lanczos, no crop) to width x height when its size
  differs and encoded on its own as a one-frame video (the pack's WanVideoEncodeLatentBatch):
  R latent frames.
- **Image conditioning**: the VAE latent of a grey video (zeros in -1..1) of ``4R`` more
  frames than the video, ``[16, F + R, h, w]``; ``image_cond`` is its first F frames then the
  references, behind a 4-channel mask of ones on the reference frames (zeros elsewhere; all
  zeros without references); ``image_cond_neg`` the same mask before the grey latents only.
- ``target_shape`` ``(16, F + R, h, w)``: the sampler denoises the references' frames too.

Refused where the pack would fail: reference images without a VAE, sound without a Whisper
model, and — as the pack reads ``whisper_model`` before anything else — no Whisper model at
all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wfrun.models import placement, residency
from wfrun.models.header import CheckpointError
from wfrun.models.whisper import SAMPLE_RATE, WhisperAudioEncoder, encode_windows, load_whisper
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve
from wfrun.packs.wanvideo.types import ImageEmbeds, TinyVAE, WanVAE
from wfrun.packs.wanvideo.vae import VAE_OOM_HINT, encode_video, resize_images, set_tiling
from wfrun.sampling.humo import HuMoEmbeds
from wfrun.sampling.humo_audio import SAMPLES_PER_FRAME, layer_groups

#: Whisper large-v3's width: the zero features the pack makes without sound.
SILENT_WIDTH = 1280
LATENT_CHANNELS, MASK_CHANNELS, STRIDE = 16, 4, 8


@dataclass(frozen=True)
class WhisperModel:
    """WHISPERMODEL: the encoder and the precision the node asked for."""

    encoder: WhisperAudioEncoder
    precision: str
    path: Path | None = None


@executor("WhisperModelLoader", background=True)
def whisper_model_loader(ctx: ExecContext, model: str, base_precision: str, load_device: str, **_: Any) -> tuple:
    path = resolve(ctx, "audio_encoders", model, "model")
    try:
        encoder = load_whisper(path, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("model", err) from None
    return (WhisperModel(encoder, str(base_precision), path),)


def audio_features(ctx: ExecContext, whisper: WhisperModel, audio: Any) -> tuple[torch.Tensor, int]:
    """(``[T, 5, C]`` layer groups at 25 fps, the sound's length in 25 fps frames)."""
    from wfrun.media.audio import resample
    from wfrun.packs.wanvideo.fantasytalking import _first_channel  # the pack's AUDIO check

    waveform, rate = _first_channel(audio)
    samples = waveform[0].float()
    if samples.shape[1] == 2:  # the pack's test (on the sample count): mean of the "channels"
        samples = samples.mean(dim=0)
    else:
        samples = samples[0]
    samples = resample(samples, rate, SAMPLE_RATE)
    if samples.shape[0] < SAMPLES_PER_FRAME:
        raise NodeInputError("audio", f"{samples.shape[0]} samples at 16 kHz: shorter than one 25 fps frame",
                             "give a longer sound")
    model = whisper.encoder.model
    with residency.lent(model, ctx.device, ctx.offload_device):
        hidden = encode_windows(whisper.encoder, samples.to(ctx.device)).cpu()
    try:
        groups = layer_groups(hidden, samples.shape[0])
    except ValueError as err:
        raise NodeInputError("whisper_model", str(err), "load whisper_large_v3 in WhisperModelLoader") from None
    return groups[0], samples.shape[0] // SAMPLES_PER_FRAME


def _encode(ctx: ExecContext, vae: WanVAE, video: torch.Tensor) -> torch.Tensor:
    """``video`` ``[3, F, H, W]`` in -1..1 → normalised latents ``[16, F', h, w]`` (CPU)."""
    return encode_video(vae, video, ctx.device).cpu()


@executor("HuMoEmbeds", oom_hint=VAE_OOM_HINT)
def humo_embeds(ctx: ExecContext, num_frames: int, width: int, height: int, audio_scale: float,
                audio_cfg_scale: float, audio_start_percent: float, audio_end_percent: float, *,
                tiled_vae: bool, whisper_model: Any = None, vae: Any = None, reference_images: Any = None,
                audio: Any = None, **_: Any) -> tuple:
    if reference_images is not None and vae is None:
        raise NodeInputError("vae", "reference images need a VAE to encode them", "connect WanVideoVAELoader")
    if whisper_model is None:
        raise NodeInputError("whisper_model", "HuMoEmbeds reads the Whisper model first (the pack fails without "
                             "one, with or without sound)", "connect WhisperModelLoader")
    if not isinstance(whisper_model, WhisperModel):
        raise NodeInputError("whisper_model", f"expected WHISPERMODEL, got {type(whisper_model).__name__}",
                             "connect WhisperModelLoader")
    if vae is None:
        raise NodeInputError("vae", "HuMoEmbeds encodes the grey video with the VAE (the pack fails without one)",
                             "connect WanVideoVAELoader")
    if isinstance(vae, TinyVAE) or not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected the Wan VAE (WANVAE from WanVideoVAELoader), got {type(vae).__name__}")
    width, height, num_frames = int(width), int(height), int(num_frames)
    if audio is not None:
        features, audio_frames = audio_features(ctx, whisper_model, audio)
    else:
        frames = num_frames if num_frames > 0 else 1
        features, audio_frames = torch.zeros(frames, 5, SILENT_WIDTH), frames
    pixel_frames = num_frames if num_frames != -1 else audio_frames
    pixel_frames = 4 * ((pixel_frames - 1) // 4) + 1
    if pixel_frames < 1:
        raise NodeInputError("num_frames", f"{num_frames} frames make no video", "give at least 1 frame")
    latent_frames = (pixel_frames - 1) // 4 + 1

    placement.onload(vae.vae, ctx.device)
    set_tiling(vae.vae, bool(tiled_vae))
    try:
        refs = None
        if reference_images is not None:
            if not isinstance(reference_images, torch.Tensor) or reference_images.ndim != 4:
                raise NodeInputError("reference_images", "expected an IMAGE batch [count, height, width, channels]")
            images = reference_images[..., :3].float()
            if images.shape[1] != height or images.shape[2] != width:
                images = resize_images(images, width, height)
            refs = torch.cat([_encode(ctx, vae, image.movedim(-1, 0).unsqueeze(1) * 2.0 - 1.0)
                              for image in images], dim=1)  # [16, R, h, w]
        count = 0 if refs is None else refs.shape[1]
        grey = _encode(ctx, vae, torch.zeros(3, pixel_frames + 4 * count, height, width))
    finally:
        placement.offload(vae.vae, ctx.offload_device)
    grid = (height // STRIDE, width // STRIDE)
    mask = torch.zeros(MASK_CHANNELS, latent_frames + count, *grid)
    if refs is not None:
        mask[:, latent_frames:] = 1.0
        image_cond = torch.cat([grey[:, :latent_frames], refs], dim=1)
    else:
        image_cond = grey
    humo = HuMoEmbeds(audio=features.float(), image_cond=torch.cat([mask, image_cond]),
                      image_cond_neg=torch.cat([mask, grey]), references=count, audio_scale=float(audio_scale),
                      audio_cfg_scale=float(audio_cfg_scale), start_percent=float(audio_start_percent),
                      end_percent=float(audio_end_percent))
    embeds = ImageEmbeds(num_frames=pixel_frames, target_shape=(LATENT_CHANNELS, latent_frames + count, *grid),
                         humo=humo)
    return (embeds,)
