"""ComfyUI's WanInfiniteTalkToVideo (``comfy_extras/nodes_wan.py``, with
``comfy/ldm/wan/model_multitalk.py``): a talking video from a start image and speech, with
the InfiniteTalk / MultiTalk audio patch (ModelPatchLoader, :mod:`wfrun.models.multitalk`).

What the node returns:

- **latent**: zeros for ``length`` frames (one sample);
- **positive / negative**: with a ``start_image``, its frames (fitted to the size, bilinear,
  centre crop) then grey, encoded (``concat_latent_image``), and a mask with 0 on the latent
  frames the image covers (``concat_mask``), as WanImageToVideo; ``clip_vision_output``;
- **model**: the MODEL with an :class:`~wfrun.sampling.infinitetalk.InfiniteTalk` its
  sampler applies: the audio attention after each block's text cross-attention
  (``audio_scale`` times it), and the first latent frames of every model input pinned to
  the start image's first latent frame — or, with ``previous_frames``, to the encoded last
  ``motion_frame_count`` of them (then put back in front of the sampled latent);
- **trim_image**: ``motion_frame_count`` when extending (the decoded video starts with the
  motion frames again), else 0.

The audio: each speaker's wav2vec hidden states (every layer's output) at 25 frames a
second; the video frames ``start .. start + length - 1`` each take a window of 5 audio
frames (:func:`wfrun.models.multitalk.audio_tokens`), where ``start`` is 0, or when
extending ``len(previous_frames) - motion_frame_count`` (the motion frames are the last
ones already made). Audio shorter than the window is padded with its first frame.

``mode`` ``two_speakers`` with a second audio and two masks: the speakers talk in turn —
the first speaker's audio, then the second's, each silent (zeros) while the other speaks —
and each mask (resized to the token grid, nearest, anything above 0) says where that
speaker is on the first frame (:mod:`wfrun.models.multitalk` describes the rotary speaker
positions this drives). ``two_speakers`` without the second audio or masks runs as one
speaker, as in ComfyUI.

Differences from ComfyUI, where it would fail or make NaNs: a MODEL already carrying an
InfiniteTalk patch is refused (ComfyUI stacks the two patches and keeps the last audio); a
mask that covers no token is refused (ComfyUI divides by its empty area: NaN video); a mask
of several frames or masks of different sizes are refused; a ``length`` that is not 4n + 1
is refused (ComfyUI's audio windows cannot be grouped by latent frame); no ``start_image``
without ``previous_frames`` is refused (ComfyUI fails on the missing image latent).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models.multitalk import MultiTalkPatch, audio_frames, audio_tokens
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.model_patches import check_model
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images
from wfrun.packs.comfy_core_models.wan_conditioning import _both, _empty_latent, _fit, _with_clip
from wfrun.sampling.infinitetalk import InfiniteTalk

MODES = ("single_speaker", "two_speakers")


def _mode(mode: Any) -> str:
    """The chosen option (the graph gives the string; an API prompt may give ``{"mode": …}``);
    none saved: the first option, the frontend's default."""
    chosen = mode.get("mode") if isinstance(mode, dict) else mode
    if chosen is None:
        return MODES[0]
    if chosen not in MODES:
        raise NodeInputError("mode", f"{chosen!r} is not one of {', '.join(MODES)}")
    return chosen


def _encoded(value: Any, name: str) -> torch.Tensor:
    """An AUDIO_ENCODER_OUTPUT's hidden states as the patch reads them: [frames, layers, C]."""
    layers = value.get("encoded_audio_all_layers") if isinstance(value, dict) else None
    if not isinstance(layers, (tuple, list)) or len(layers) < 2 or \
            not all(isinstance(t, torch.Tensor) and t.ndim == 3 and t.shape[0] == 1 for t in layers):
        raise NodeInputError(name, "expected an AUDIO_ENCODER_OUTPUT with every hidden state of a wav2vec 2.0 encoder",
                             "connect AudioEncoderEncode with a wav2vec 2.0 audio encoder")
    return audio_frames([t.float() for t in layers])


def _one_mask(mask: Any, name: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[0] != 1):
        shape = list(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise NodeInputError(name, f"expected one mask [1, height, width], found {shape}",
                             "give one frame per speaker (Painter, or a mask of the start image)")
    return mask.reshape(1, *mask.shape[-2:]).float()


def token_masks(mask_1: Any, mask_2: Any, latent_height: int, latent_width: int) -> torch.Tensor:
    """The speakers' masks over the token grid (``latent / 2``), nearest: [2, h x w] bool."""
    masks = [_one_mask(mask_1, "mode.mask_1"), _one_mask(mask_2, "mode.mask_2")]
    if masks[0].shape != masks[1].shape:
        raise NodeInputError("mode.mask_2", f"masks of {list(masks[0].shape[1:])} and {list(masks[1].shape[1:])}: "
                             "ComfyUI stacks them, so they must have one size")
    both = torch.cat(masks)
    grid = F.interpolate(both.unsqueeze(0), size=(latent_height // 2, latent_width // 2), mode="nearest")[0]
    tokens = (grid > 0).reshape(2, -1)
    for i, row in enumerate(tokens):
        if not bool(row.any()):
            raise NodeInputError(f"mode.mask_{i + 1}", "the mask covers no part of the video (at the model's token "
                                 "grid); ComfyUI would divide by its empty area and make a NaN video",
                                 "paint the speaker's area (Painter) or load a mask of the start image")
    return tokens


def speakers_audio(first: torch.Tensor, second: torch.Tensor | None) -> list[torch.Tensor]:
    """The speakers' audio frames; two speak in turn (ComfyUI's ``add``): the first's audio
    then zeros, zeros then the second's, both the length of the two together."""
    if second is None:
        return [first]
    total = first.shape[0] + second.shape[0]
    out, offset = [], 0
    for audio in (first, second):
        full = torch.zeros(total, *audio.shape[1:], dtype=audio.dtype)
        full[offset:offset + audio.shape[0]] = audio
        out.append(full)
        offset += audio.shape[0]
    return out


@executor("WanInfiniteTalkToVideo")
def wan_infinite_talk_to_video(ctx: ExecContext, mode: Any, model: Any, model_patch: Any, positive: Any,
                               negative: Any, vae: Any, width: int, height: int, length: int,
                               audio_encoder_output_1: Any, motion_frame_count: int, audio_scale: float,
                               clip_vision_output: Any = None, start_image: torch.Tensor | None = None,
                               previous_frames: torch.Tensor | None = None, **inputs: Any) -> tuple:
    model = check_model(model)
    if model.infinitetalk is not None:
        raise NodeInputError("model", "the MODEL already carries an InfiniteTalk patch (from another "
                             "WanInfiniteTalkToVideo)", "connect the model from the loader (or LoRA loader) instead")
    if not isinstance(model_patch, MultiTalkPatch):
        raise NodeInputError("model_patch", f"expected a MultiTalk/InfiniteTalk MODEL_PATCH, found "
                             f"{type(model_patch).__name__}", "load it with ModelPatchLoader")
    vae = check_vae(vae)
    width, height, length, motion = int(width), int(height), int(length), int(motion_frame_count)
    if (length - 1) % 4:
        raise NodeInputError("length", f"{length} frames; InfiniteTalk's audio windows need 4n + 1 (81, 85, …)")
    if previous_frames is not None:
        if not isinstance(previous_frames, torch.Tensor) or previous_frames.ndim != 4:
            raise NodeInputError("previous_frames", "expected an IMAGE batch [frames, height, width, channels]")
        if previous_frames.shape[0] < motion:
            raise NodeInputError("previous_frames", f"{previous_frames.shape[0]} previous frames; motion_frame_count "
                                 f"asks for {motion}", "lower motion_frame_count or give more frames")
    elif start_image is None:
        raise NodeInputError("start_image", "no start image and no previous frames: InfiniteTalk starts from one",
                             "connect a start image (or the previous video to extend)")

    second = mask_1 = mask_2 = None
    if _mode(mode) == "two_speakers":
        second = inputs.get("mode.audio_encoder_output_2")
        mask_1, mask_2 = inputs.get("mode.mask_1"), inputs.get("mode.mask_2")
    if second is not None and (mask_1 is None or mask_2 is None):
        raise NodeInputError("mode.mask_1" if mask_1 is None else "mode.mask_2",
                             "two audio inputs need a mask for each speaker", "connect both masks")
    if mask_1 is not None and mask_2 is not None and second is None:
        raise NodeInputError("mode.audio_encoder_output_2", "two masks need the second speaker's audio",
                             "connect audio_encoder_output_2")

    latent = _empty_latent(vae, 1, length, width, height)
    concat = None
    if start_image is not None:
        start = _fit(start_image[:length], width, height)
        video = torch.full((length, height, width, 3), 0.5)
        video[:start.shape[0]] = start[..., :3]
        concat = encode_images(ctx, vae, video)
        concat_mask = torch.ones(1, 1, latent.shape[2], concat.shape[-2], concat.shape[-1])
        concat_mask[:, :, :latent_frames(start.shape[0])] = 0.0
        positive, negative = _both(positive, negative, {"concat_latent_image": concat, "concat_mask": concat_mask})
    positive, negative = _with_clip(positive, negative, clip_vision_output)

    audio = speakers_audio(_encoded(audio_encoder_output_1, "audio_encoder_output_1"),
                           None if second is None else _encoded(second, "mode.audio_encoder_output_2"))
    masks = None
    if second is not None:
        masks = token_masks(mask_1, mask_2, latent.shape[-2], latent.shape[-1])

    if previous_frames is not None:
        frames = _fit(previous_frames[-motion:], width, height)
        motion_latent = encode_images(ctx, vae, frames)
        audio_start, trim = previous_frames.shape[0] - motion, motion
    else:
        motion_latent = concat[:, :, :1]
        audio_start, trim = 0, 0
    try:
        with torch.no_grad():
            tokens = audio_tokens(model_patch.module.audio_proj, audio, audio_start, audio_start + length)
    except ValueError as err:
        raise NodeInputError("audio_encoder_output_1", str(err), "use the audio encoder the patch was made for") \
            from None
    talk = InfiniteTalk(module=model_patch.module, scale=float(audio_scale), audio=tokens.to(model.dtype),
                        masks=masks, motion=motion_latent, extend=previous_frames is not None)
    return (model.patched(infinitetalk=talk), positive, negative, {"samples": latent}, trim)
