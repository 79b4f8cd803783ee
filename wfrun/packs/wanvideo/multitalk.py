"""ComfyUI-WanVideoWrapper's MultiTalk / InfiniteTalk nodes (``multitalk/nodes.py``, 2025-06-18
on): ``MultiTalkModelLoader``, ``MultiTalkWav2VecEmbeds`` and ``WanVideoImageToVideoMultiTalk``.
The model loader reads the patch through its ``multitalk_model`` input (``model_loader.py``)
and the sampler the embeds (``sampler.py``: ``sampling.multitalk``, the long-video loop of
``sampling.multitalk_long``).

- MultiTalkModelLoader names the file (``diffusion_models``, or a GGUF one: the pack lists
  ``unet_gguf`` files too); its kind is ``InfiniteTalk``
  when the file name contains "infinite" (the pack's test), else ``MultiTalk``. The
  WanVideoModelLoader loads it in its own precision (fp8 under fp8 quantization, norms and
  biases kept), the audio projection in this node's ``base_precision`` where it has one.
- MultiTalkWav2VecEmbeds: for each audio (``audio``, or ``audio_1`` .. ``audio_4``), the first
  channel of the first waveform, resampled to 16 kHz (``media.audio.resample``: torchaudio's
  sinc resampler) and cut to its first ``int(num_frames / fps x 16000)`` samples; with
  ``normalize_loudness`` scaled to -23 LUFS (``media.loudness``: the BS.1770 measure of
  pyloudnorm; left alone where the measure is below -100 or above 100, silence); then the
  Tencent wav2vec 2.0 with the MultiTalk rule (``models.wav2vec2_folder.multitalk_features``:
  ``int(seconds x fps)`` rows, every layer). Several speakers: ``para`` pads all to the
  longest with zeros (the returned audio is their sum), ``add`` places each after the
  previous one, zeros elsewhere (the audio is their sequence). The third output (2025-08-20
  on) is the frames the audio covers, at most ``num_frames``.
- WanVideoImageToVideoMultiTalk: the start image(s) resized (lanczos) to width x height and
  moved to -1..1, the window rounded down to 4n + 1, the CLIP embeds; the sampler then runs
  the long-video loop.

Differences: ``add_noise_floor`` draws its -45 dB noise from a generator seeded with 0 (the
pack's numpy global state is unseeded); ``output_path`` (the pack writes PNG frames to any
folder and returns no video) is refused; audio shorter than 0.4 s with ``normalize_loudness``
is refused with the reason (the pack's loudness meter raises); the DownloadAndLoadWav2VecModel
folder must be the Tencent one (as the pack demands).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.media.loudness import LoudnessError, integrated_loudness, normalize
from wfrun.models.header import CheckpointError, read_header
from wfrun.models.multitalk import is_multitalk
from wfrun.models.wav2vec2 import MIN_SAMPLES, SAMPLE_RATE
from wfrun.models.wav2vec2_folder import TENCENT, Wav2VecFolderModel, multitalk_features
from wfrun.models import residency
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve
from wfrun.packs.wanvideo.fantasytalking import PRECISIONS, _first_channel
from wfrun.packs.wanvideo.types import ClipEmbeds, ImageEmbeds, MultiTalkEmbeds, MultiTalkModel
from wfrun.packs.wanvideo.vae import resize_images
from wfrun.sampling.multitalk_long import LongVideo

#: The pack's loudness target.
TARGET_LUFS = -23.0
#: From this signature on, a video whose audio fits one window is one window, and two
#: speakers without masks get default ones in the long-video loop.
STOP_EARLY_SINCE = "2025-08-19"
MULTI_AUDIO = ("para", "add")
SPEAKER_INPUTS = ("audio_1", "audio_2", "audio_3", "audio_4")


@executor("MultiTalkModelLoader", background=True, gguf_inputs=("model",))
def multitalk_model_loader(ctx: ExecContext, model: str, **others: Any) -> tuple:
    path = resolve(ctx, "diffusion_models", model, "model", source="huggingface.co/Kijai/WanVideo_comfy")
    try:
        if path.suffix.lower() == ".gguf":  # the pack lists unet_gguf files too (Kijai's *_Q8.gguf)
            from wfrun.models.gguf_reader import read_gguf_header

            names = read_gguf_header(path).tensors
        else:
            names = read_header(path) if path.suffix == ".safetensors" else None
    except (CheckpointError, OSError, ValueError) as err:
        raise NodeInputError("model", f"{path.name}: {err}") from None
    if names is not None and not is_multitalk(names):
        raise NodeInputError("model", f"{path.name} is not a MultiTalk/InfiniteTalk model (no audio_proj weights)",
                             "select Wan2_1-InfiniTetalk-Single/Multi or a MultiTalk file")
    precision = others.get("base_precision")
    if precision is not None and precision not in PRECISIONS:
        raise NodeInputError("base_precision", f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    kind = "InfiniteTalk" if "infinite" in str(model).lower() else "MultiTalk"
    return (MultiTalkModel(path=path, model_type=kind,
                           proj_dtype=PRECISIONS[precision] if precision is not None else None),)


def _loudness_normalized(samples: np.ndarray, input_name: str) -> np.ndarray:
    try:
        loudness = integrated_loudness(samples, SAMPLE_RATE)
    except LoudnessError as err:
        raise NodeInputError(input_name, f"loudness normalization: {err}",
                             "give a longer sound or turn normalize_loudness off") from None
    if not abs(loudness) <= 100:  # silence (-inf) is left alone, as the pack
        return samples
    return normalize(samples, loudness, TARGET_LUFS)


def _smooth(samples: np.ndarray) -> np.ndarray:
    """The pack's ``smooth_transients``: a 3rd-order Butterworth low pass at 3 kHz."""
    from scipy.signal import butter, lfilter

    b, a = butter(3, 3000 / (SAMPLE_RATE / 2))
    return lfilter(b, a, samples)


@executor("MultiTalkWav2VecEmbeds")
def multitalk_wav2vec_embeds(ctx: ExecContext, wav2vec_model: Any, normalize_loudness: bool, num_frames: int,
                             fps: float, audio_scale: float, audio_cfg_scale: Any, **others: Any) -> tuple:
    from wfrun.media.audio import resample

    if not isinstance(wav2vec_model, Wav2VecFolderModel):
        raise NodeInputError("wav2vec_model", f"expected a WAV2VECMODEL, got {type(wav2vec_model).__name__}",
                             "connect DownloadAndLoadWav2VecModel")
    if "tencent" not in wav2vec_model.repo.lower():
        raise NodeInputError("wav2vec_model", f"MultiTalk needs the Tencent wav2vec model, got {wav2vec_model.repo}",
                             f"select {TENCENT} in the loader")
    mode = str(others.get("multi_audio_type", "para"))
    if mode not in MULTI_AUDIO:
        raise NodeInputError("multi_audio_type", f"unknown mode {mode!r}", "use para or add")
    if float(fps) <= 0:
        raise NodeInputError("fps", f"fps = {fps}; it must be positive")
    names = ["audio"] if others.get("audio") is not None else [n for n in SPEAKER_INPUTS if others.get(n) is not None]
    if not names:
        raise NodeInputError("audio_1", "no audio connected", "connect a Load Audio output")
    masks = _speaker_masks(others.get("ref_target_masks"), names)
    features, waves = [], []
    for name in names:
        waveform, rate = _first_channel_of(others[name], name)
        samples = waveform[0, 0] if rate == SAMPLE_RATE else resample(waveform.float(), rate, SAMPLE_RATE)[0, 0]
        samples = samples[:int(int(num_frames) / float(fps) * SAMPLE_RATE)].float().cpu().numpy()
        if normalize_loudness:
            samples = _loudness_normalized(samples, name)
        if others.get("add_noise_floor"):
            samples = samples + np.random.default_rng(0).standard_normal(len(samples)) * 10 ** (-45 / 20)
        if others.get("smooth_transients"):
            samples = _smooth(samples)
        if samples.shape[0] < MIN_SAMPLES:
            raise NodeInputError(name, f"{samples.shape[0]} samples at 16 kHz; wav2vec needs at least {MIN_SAMPLES}",
                                 "give a longer sound")
        frames = int(samples.shape[0] / SAMPLE_RATE * float(fps))
        if frames < 1:
            raise NodeInputError(name, f"{samples.shape[0]} samples are less than one video frame at {fps} fps")
        tensor = torch.from_numpy(np.asarray(samples, dtype=np.float32))
        with residency.lent(wav2vec_model.model, ctx.device, ctx.offload_device):
            features.append(multitalk_features(wav2vec_model, tensor, frames, ctx.device).cpu())
        waves.append(tensor)
    features = _combined(features, mode)
    cfg = tuple(float(c) for c in audio_cfg_scale) if isinstance(audio_cfg_scale, (list, tuple)) \
        else float(audio_cfg_scale)
    embeds = MultiTalkEmbeds(tuple(features), float(audio_scale), cfg, masks.float().cpu() if masks is not None else None)
    audio = {"waveform": _mixed(waves, mode)[None, None], "sample_rate": SAMPLE_RATE}
    seconds = [w.shape[0] / SAMPLE_RATE for w in waves]
    covered = int((max(seconds) if mode == "para" else sum(seconds)) * float(fps))
    return (embeds, audio, min(int(num_frames), covered))


def missing_masks_text(names: list[str]) -> tuple[str, str]:
    """The refusal of speakers ``names`` (two or more) without ``ref_target_masks``: what is
    wrong and what to connect (also ``wfrun validate``'s, see ``checks``, and the sampler's,
    see ``multitalk_sampling``)."""
    speakers = ", ".join(names)
    return (f"{len(names)} speakers ({speakers}) and nothing connected to ref_target_masks; the wrapper needs a "
            "mask per speaker to tell whose mouth each audio moves, and its sampler stops with an error without them "
            "(only its long-video loop, WanVideoImageToVideoMultiTalk, saved from 2025-08-19, makes default "
            "left/right masks for exactly two speakers)",
            f"connect a MASK batch to ref_target_masks: one mask per speaker in the order {speakers}, white where "
            "that speaker is in the start image (at the start image's size), optionally a background mask last; "
            "e.g. draw each in a mask editor or segment it (SAM2) and join them with a mask batch node. Or keep one "
            "speaker: disconnect the other audio inputs")


def _speaker_masks(masks: Any, names: list[str]) -> torch.Tensor | None:
    """``ref_target_masks`` as ``[masks, H, W]``, checked against the connected speakers
    before any audio is encoded.

    Three or more speakers without masks are refused, as the pack fails on them: its sampler
    computes each speaker's attention map from the masks (none without them) and its
    multi-speaker audio attention reads those maps (``x_ref_attn_map.max``) whenever more
    than one audio is given, so the run stops at its first step (the wrapper's releases from
    MultiTalk's arrival, 2025-06-18, on; a fork's fallback to plain cross-attention is not
    the pack's). Two speakers without masks pass this node, as in the pack: its long-video
    loop gives them default masks (from 2025-08-19); the sampler refuses them elsewhere
    (``multitalk_sampling.multitalk_audio``)."""
    if masks is not None and (not isinstance(masks, torch.Tensor) or masks.ndim not in (2, 3)):
        raise NodeInputError("ref_target_masks", "expected a MASK [masks, height, width]", "connect a MASK")
    if masks is not None and masks.ndim == 2:
        masks = masks[None]
    speakers = ", ".join(names)
    if len(names) > 2 and masks is None:
        raise NodeInputError("ref_target_masks", *missing_masks_text(names))
    if masks is not None and masks.shape[0] < len(names):
        raise NodeInputError("ref_target_masks", f"{masks.shape[0]} mask(s) for {len(names)} speakers ({speakers})",
                             f"give one mask per speaker, in the order {speakers} (a background mask may follow)")
    return masks


def _first_channel_of(audio: Any, name: str) -> tuple[torch.Tensor, int]:
    try:
        return _first_channel(audio)
    except NodeInputError as err:
        raise NodeInputError(name, str(err), "connect a Load Audio output") from None


def _combined(features: list[torch.Tensor], mode: str) -> list[torch.Tensor]:
    """Several speakers' features on one timeline: ``para`` zero-padded to the longest,
    ``add`` one after the other with zeros elsewhere."""
    if len(features) < 2:
        return features
    lengths = [f.shape[0] for f in features]
    total = max(lengths) if mode == "para" else sum(lengths)
    out, offset = [], 0
    for f in features:
        full = f.new_zeros(total, *f.shape[1:])
        full[offset:offset + f.shape[0]] = f
        out.append(full)
        if mode == "add":
            offset += f.shape[0]
    return out


def _mixed(waves: list[torch.Tensor], mode: str) -> torch.Tensor:
    if len(waves) == 1:
        return waves[0]
    if mode == "para":
        out = torch.zeros(max(w.shape[0] for w in waves))
        for w in waves:
            out[:w.shape[0]] += w
        return out
    return torch.cat(waves)


@executor("WanVideoImageToVideoMultiTalk")
def wanvideo_image_to_video_multitalk(ctx: ExecContext, vae: Any, width: int, height: int, frame_window_size: int,
                                      motion_frame: int, force_offload: bool, colormatch: str,
                                      **others: Any) -> tuple:
    from wfrun.media.color_transfer import TRANSFERS

    if colormatch != "disabled" and colormatch not in TRANSFERS:
        raise NodeInputError("colormatch", f"unknown method {colormatch!r}",
                             "use disabled or one of " + ", ".join(TRANSFERS))
    output_path = str(others.get("output_path") or "")
    if output_path:
        raise NodeInputError("output_path", f"output_path = {output_path!r}: the pack writes frames to any folder and "
                             "returns no video; wfrun keeps outputs in its output folder", "leave output_path empty")
    mode = str(others.get("mode") or "multitalk")
    if mode not in ("auto", "multitalk", "infinitetalk"):
        raise NodeInputError("mode", f"unknown mode {mode!r}", "use auto, multitalk or infinitetalk")
    if int(width) % 16 or int(height) % 16:
        raise NodeInputError("width", f"{width} x {height}: the Wan model needs multiples of 16",
                             "pick a width and height divisible by 16")
    window = ((int(frame_window_size) - 1) // 4) * 4 + 1
    if window < 5:
        raise NodeInputError("frame_window_size", f"{frame_window_size} frames: a window needs at least 5")
    if not 1 <= int(motion_frame) < window:
        raise NodeInputError("motion_frame", f"{motion_frame} motion frames for windows of {window} frames",
                             f"use 1 .. {window - 1}")
    start = others.get("start_image")
    images = None
    if start is not None:
        if not isinstance(start, torch.Tensor) or start.ndim != 4:
            raise NodeInputError("start_image", "expected an IMAGE [frames, height, width, 3]")
        images = (resize_images(start, int(width), int(height)) * 2 - 1).permute(3, 0, 1, 2)[None]
    clip = others.get("clip_embeds")
    clip_context = clip.clip_embeds if isinstance(clip, ClipEmbeds) else None
    since_0819 = ctx.saved_date is None or str(ctx.saved_date) >= STOP_EARLY_SINCE
    long = LongVideo(vae=vae, width=int(width), height=int(height), frame_window_size=window,
                     motion_frame=int(motion_frame), colormatch=str(colormatch), start_images=images,
                     clip_context=clip_context, tiled_vae=bool(others.get("tiled_vae") or False),
                     force_offload=bool(force_offload), mode=mode,
                     stop_early=since_0819, default_masks=since_0819)
    embeds = ImageEmbeds(num_frames=window, target_shape=long.target_shape, clip_context=clip_context,
                         lat_h=int(height) // 8, lat_w=int(width) // 8, multitalk_long=long)
    return (embeds, output_path)
