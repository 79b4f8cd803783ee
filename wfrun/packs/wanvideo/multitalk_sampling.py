"""WanVideoSampler's MultiTalk / InfiniteTalk inputs (``multitalk_embeds``, and image embeds
from WanVideoImageToVideoMultiTalk): checks against the model, the audio for the loop
(``sampling.multitalk.MultiTalkAudio``), the patch's place during the pass, and the
long-video loop (``sampling.multitalk_long``) with this pack's VAE.

Two speakers without ``ref_target_masks`` get the long-video loop's default left/right
masks (the pack's loop, from 2025-08-19). Refused, each with the reason: several speakers
without masks anywhere else (the pack's audio attention fails on them), MultiTalk embeds for
a model loaded without the patch (the pack's model has no audio layers and fails), the long-video loop without MultiTalk embeds
(the pack's loop reads their length), with context windows, with input samples that carry a
noise mask or a previous sampler's state or come with the ``multitalk`` scheduler (plain
encoded video is sliced per window, ``sampling.multitalk_long``), and a context window that
wraps round the video (the pack's audio window is then empty).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import MultiTalkEmbeds, WanVideoModel
from wfrun.packs.wanvideo.vae import decode_latents, encode_video, set_tiling
from wfrun.sampling.multitalk import MultiTalkAudio, token_masks, two_speaker_masks
from wfrun.sampling.multitalk_long import Codec, LongVideo, auto_mode, sample_long


def multitalk_audio(model: WanVideoModel, embeds: Any, image_embeds: Any) -> tuple[MultiTalkAudio | None, Any]:
    """The loop's MultiTalk audio and its audio CFG scale from ``multitalk_embeds``."""
    if embeds is None:
        return None, 1.0
    if not isinstance(embeds, MultiTalkEmbeds):
        raise NodeInputError("multitalk_embeds", f"expected MULTITALK_EMBEDS, got {type(embeds).__name__}",
                             "connect MultiTalkWav2VecEmbeds")
    if model.multitalk is None:
        raise NodeInputError("multitalk_embeds", "MultiTalk embeds for a model without the MultiTalk/InfiniteTalk "
                             "audio layers", "connect MultiTalkModelLoader to the model loader's multitalk_model")
    features = tuple(f for f in embeds.audio_features)
    patch = model.multitalk
    values = patch.spec.audio_values
    for f in features:
        if f.ndim != 3 or f.shape[1] * f.shape[2] != values:
            raise NodeInputError("multitalk_embeds", f"audio features of shape {tuple(f.shape)}; the patch reads "
                                 f"{values} values a frame (the Tencent wav2vec's 12 layers of 768)")
    masks = None
    ref = embeds.ref_target_masks
    if ref is None and len(features) > 1:
        long = getattr(image_embeds, "multitalk_long", None)
        if len(features) == 2 and long is not None and long.default_masks:
            ref = two_speaker_masks(long.height, long.width)  # the pack's loop, from 2025-08-19
        else:
            from wfrun.packs.wanvideo.multitalk import SPEAKER_INPUTS, missing_masks_text
            message, hint = missing_masks_text(list(SPEAKER_INPUTS[:len(features)]))
            raise NodeInputError("multitalk_embeds", message, hint)
    if ref is not None:
        lat_h, lat_w = image_embeds.lat_h, image_embeds.lat_w
        if lat_h is None or lat_w is None:
            if image_embeds.target_shape is None:
                raise NodeInputError("multitalk_embeds", "ref_target_masks with image embeds of unknown size")
            lat_h, lat_w = image_embeds.target_shape[2], image_embeds.target_shape[3]
        masks = token_masks(ref, int(lat_h), int(lat_w))
    audio = MultiTalkAudio(module=patch.module, features=features, scale=float(embeds.audio_scale), masks=masks,
                           dtype=model.base_dtype)
    return audio, embeds.audio_cfg_scale


def check_long(model: WanVideoModel, talk: MultiTalkAudio | None, samples: Any, context_options: Any,
               scheduler: Any) -> None:
    if talk is None:
        raise NodeInputError("multitalk_embeds", "WanVideoImageToVideoMultiTalk's long-video loop runs as long as its "
                             "audio: it needs multitalk_embeds", "connect MultiTalkWav2VecEmbeds")
    if context_options is not None:
        raise NodeInputError("context_options", "context windows with the MultiTalk long-video loop (it makes its "
                             "own windows)", "disconnect context_options")
    if samples is not None:  # video-to-video (the V2V InfiniteTalk example): each window its slice
        if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor):
            raise NodeInputError("samples", "expected a LATENT", "connect WanVideoEncode's samples")
        if samples.get("noise_mask") is not None or samples.get("mask") is not None:
            raise NodeInputError("samples", "latents with a noise mask (differential diffusion) in the MultiTalk "
                                 "long-video loop are not supported", "encode the video without a mask")
        if samples.get("generator_state") is not None:
            raise NodeInputError("samples", "a previous sampler's latents in the MultiTalk long-video loop are not "
                                 "supported", "give the loop encoded video latents (WanVideoEncode)")
        if str(scheduler) == "multitalk":
            raise NodeInputError("scheduler", "input samples with the multitalk scheduler in the long-video loop are "
                                 "not supported", "pick another scheduler (the example uses dpm++_sde)")


def check_windows(talk: MultiTalkAudio | None, context_options: Any) -> None:
    """MultiTalk audio needs consecutive latent frames in each context window."""
    if talk is not None and context_options is not None and \
            str(getattr(context_options, "context_schedule", "")) == "uniform_looped":
        raise NodeInputError("context_options", "looped context windows with MultiTalk audio: a window that wraps "
                             "round the video has no audio window (the pack's is empty)",
                             "use the uniform_standard schedule")


@contextlib.contextmanager
def patch_on(model: WanVideoModel, device: Any, force_offload: bool) -> Iterator[None]:
    """The patch on the sampling device for the pass, back on the offload device after it
    when ``force_offload``."""
    patch = model.multitalk
    if patch is None:
        yield
        return
    patch.module.to(device)
    try:
        yield
    finally:
        if force_offload:
            patch.module.to(model.offload_device)


def run_long(ctx: ExecContext, request: Any, long: LongVideo, talk: MultiTalkAudio, model: WanVideoModel) -> dict:
    """The long-video loop with the pack's VAE; the LATENT with the decoded ``video``."""
    from wfrun.models import placement
    from wfrun.sampling import loop

    vae = long.vae
    if vae is None or not hasattr(vae, "vae"):
        raise NodeInputError("image_embeds", "WanVideoImageToVideoMultiTalk's VAE is not a WanVideo VAE",
                             "connect WanVideoVAELoader to WanVideoImageToVideoMultiTalk")

    def encode(video: torch.Tensor) -> torch.Tensor:
        placement.onload(vae.vae, ctx.device)
        set_tiling(vae.vae, long.tiled_vae)
        return encode_video(vae, video, ctx.device).to(request.device)

    def decode(latents: torch.Tensor) -> torch.Tensor:
        placement.onload(vae.vae, ctx.device)
        set_tiling(vae.vae, long.tiled_vae)
        return decode_latents(vae, latents, ctx.device)

    mode = auto_mode(long.mode, model.multitalk_type)
    try:
        out = sample_long(request, long, talk, Codec(encode, decode), mode, loop.prepare, loop.run_steps,
                          lambda latent: loop.LoopState(latent=latent))
    except ValueError as err:
        if isinstance(err, loop.SamplingError):
            raise
        raise NodeInputError("image_embeds", str(err)) from None
    finally:
        placement.offload(vae.vae, ctx.offload_device)
    return out


__all__ = ["check_long", "check_windows", "multitalk_audio", "patch_on", "run_long"]
