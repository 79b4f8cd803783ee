"""ComfyUI-WanVideoWrapper's FantasyTalking nodes (``fantasytalking/nodes.py``, 2025-04-28 on):
``DownloadAndLoadWav2VecModel``, ``FantasyTalkingModelLoader`` and
``FantasyTalkingWav2VecEmbeds``. The model loader takes the FantasyTalking model through its
``fantasytalking_model`` input (``model_loader.py``) and the sampler its embeds
(``sampler.py``, ``sampling.audio``).

- DownloadAndLoadWav2VecModel reads the repository folder the pack downloads into,
  ``<models>/transformers/<repository id>`` (``models.wav2vec2_folder``); wfrun never
  downloads, and a missing folder is an error naming it. ``base_precision`` is the weights'
  and the input's dtype, ``load_device`` where the weights wait (the embeds node lends them
  to the main device and sends them back, as the pack). The Tencent model loads the same
  way (the pack's MultiTalk subclass differs in its forward only, used by MultiTalk's nodes).
- FantasyTalkingModelLoader: the projection in ``base_precision``; the per-block key/value
  maps as stored (the model loader casts them to the transformer's precision, as the pack's
  ``sd.update`` into the transformer does).
- FantasyTalkingWav2VecEmbeds: the first channel of the first audio of the batch, resampled
  to 16 kHz (``media.audio.resample``, torchaudio's sinc resampler), cut to the first
  ``int(num_frames / fps * 16000)`` samples, normalized and encoded (the last hidden state),
  projected to audio tokens and cut into a window per latent frame
  (``models.fantasytalking``). Differences: wav2vec features are cast to the projection's
  precision (the pack fails when the two loaders' precisions differ); the Tencent model is
  refused with the reason (the pack fails: it has no processor there); audio under 400
  samples (25 ms) is refused (the encoder's receptive field).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import placement, residency
from wfrun.models.fantasytalking import FantasyTalking, load_fantasytalking, split_windows, window_ranges
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError
from wfrun.models.wav2vec2 import MIN_SAMPLES, SAMPLE_RATE
from wfrun.models.wav2vec2_folder import FACEBOOK, FOLDER, Wav2VecFolderModel, features, find_folder, load_folder
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve, roots_of
from wfrun.packs.wanvideo.types import FantasyTalkingEmbeds

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _precision(value: str) -> torch.dtype:
    if value not in PRECISIONS:
        raise NodeInputError("base_precision", f"unknown precision {value!r}", f"use one of {', '.join(PRECISIONS)}")
    return PRECISIONS[value]


@executor("DownloadAndLoadWav2VecModel", background=True)
def download_and_load_wav2vec(ctx: ExecContext, model: str, base_precision: str, load_device: str,
                              **_: Any) -> tuple:
    dtype = _precision(base_precision)
    try:
        folder = find_folder(roots_of(ctx), str(model))
    except ModelPathError as err:
        raise NodeInputError("model", str(err), f"wfrun never downloads: put the Hugging Face repository {model} "
                             f"(config.json, preprocessor_config.json and model.safetensors) in "
                             f"<models>/{FOLDER}/{model}") from None
    try:
        wav2vec = load_folder(folder, str(model), dtype=dtype, device=placement.node_device(load_device, ctx))
    except (CheckpointError, ValueError) as err:
        raise loading_error("model", err) from None
    return (wav2vec,)


@executor("FantasyTalkingModelLoader", background=True)
def fantasytalking_model_loader(ctx: ExecContext, model: str, base_precision: str, **_: Any) -> tuple:
    dtype = _precision(base_precision)
    path = resolve(ctx, "diffusion_models", model, "model", source="huggingface.co/Kijai/WanVideo_comfy")
    try:
        return (load_fantasytalking(path, dtype=dtype),)
    except (CheckpointError, ValueError) as err:
        raise loading_error("model", err) from None


def _first_channel(audio: Any) -> tuple[torch.Tensor, int]:
    """The first channel of the first waveform of an AUDIO value, and its rate."""
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or not waveform.is_floating_point() \
            or 0 in waveform.shape[:2] or isinstance(rate, bool) or not isinstance(rate, (int, float)) \
            or rate <= 0 or rate != int(rate):
        raise NodeInputError("audio", "expected an AUDIO value {waveform: [batch, channels, samples] floats, "
                             f"sample_rate: whole Hz}}, found {type(audio).__name__}", "connect a Load Audio output")
    return waveform, int(rate)


@executor("FantasyTalkingWav2VecEmbeds")
def fantasytalking_wav2vec_embeds(ctx: ExecContext, wav2vec_model: Any, fantasytalking_model: Any, audio: Any,
                                  num_frames: int, fps: float, audio_scale: float, audio_cfg_scale: Any,
                                  **_: Any) -> tuple:
    from wfrun.media.audio import resample

    if not isinstance(wav2vec_model, Wav2VecFolderModel):
        raise NodeInputError("wav2vec_model", f"expected a WAV2VECMODEL, got {type(wav2vec_model).__name__}",
                             "connect DownloadAndLoadWav2VecModel")
    if wav2vec_model.repo != FACEBOOK:
        raise NodeInputError("wav2vec_model", f"FantasyTalking's embeds need {FACEBOOK}, got {wav2vec_model.repo} "
                             "(the pack has no processor for it and fails)", f"select {FACEBOOK} in the loader")
    if not isinstance(fantasytalking_model, FantasyTalking):
        raise NodeInputError("fantasytalking_model", "expected a FANTASYTALKINGMODEL, got "
                             f"{type(fantasytalking_model).__name__}", "connect FantasyTalkingModelLoader")
    width = int(wav2vec_model.model.config.hidden_size)
    if width != fantasytalking_model.spec.audio_dim:
        raise NodeInputError("fantasytalking_model", f"the FantasyTalking model reads {fantasytalking_model.spec.audio_dim}"
                             f"-wide wav2vec features; {wav2vec_model.repo} gives {width}")
    if float(fps) <= 0 or int(num_frames) < 5:
        raise NodeInputError("num_frames", f"{num_frames} frames at {fps} fps; FantasyTalking needs at least 5 frames "
                             "(two latent frames) and a positive fps")
    waveform, rate = _first_channel(audio)
    samples = resample(waveform.to(torch.float32), rate, SAMPLE_RATE)[0, 0]
    samples = samples[:int(int(num_frames) / float(fps) * SAMPLE_RATE)]
    if samples.shape[0] < MIN_SAMPLES:
        raise NodeInputError("audio", f"{samples.shape[0]} samples at 16 kHz; wav2vec needs at least {MIN_SAMPLES}",
                             "give a longer sound")
    with residency.lent(wav2vec_model.model, ctx.device, ctx.offload_device):
        frames = features(wav2vec_model, samples, ctx.device)
    projection = fantasytalking_model.projection
    with residency.lent(projection, ctx.device, ctx.offload_device), torch.inference_mode():
        weight = projection.proj.weight
        tokens = projection(frames.to(weight.device, weight.dtype))
    try:
        windows, lens = split_windows(tokens, window_ranges(tokens.shape[1], int(num_frames)))
    except ValueError as err:
        raise NodeInputError("audio", str(err)) from None
    cfg = tuple(float(c) for c in audio_cfg_scale) if isinstance(audio_cfg_scale, (list, tuple)) \
        else float(audio_cfg_scale)
    return (FantasyTalkingEmbeds(windows.cpu(), lens, float(audio_scale), cfg),)
