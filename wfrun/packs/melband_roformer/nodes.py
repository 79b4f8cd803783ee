"""MelBandRoFormerModelLoader and MelBandRoFormerSampler (kijai's ComfyUI-MelBandRoFormer,
``nodes.py`` as of 2025-08-26).

The loader reads a file of ``diffusion_models`` (the pack's ``MelBandRoformer_fp16.safetensors``)
into the model in float32 (:func:`~wfrun.models.mel_band_roformer.load_mel_band_roformer`).
The sampler separates the first recording of the AUDIO batch at 44.1 kHz in 8-second chunks
(:func:`~wfrun.models.mel_band_roformer.separate`): ``vocals`` is the model's estimate and
``instruments`` the (resampled, stereo) input minus it, both ``[1, 2, samples]`` at 44.1 kHz.
A mono recording is duplicated into two channels first, as the pack does since 2025-08-26
(before that it refused mono; wfrun converts for every version).

Where wfrun differs from the pack:

- other rates are resampled with wfrun's band-limited sinc resampler
  (:func:`wfrun.media.audio.resample`, torchaudio's method) where the pack calls
  ``librosa.resample`` (soxr, high quality): both are band-limited, the samples differ
  slightly;
- the loader also reads files of other widths and depths (wfrun's tiny stand-ins) from their
  tensor shapes, where the pack builds one fixed network; the released file loads the same;
- a recording of more than two channels is refused with a message (the pack's model fails an
  assertion); later recordings of a batch are ignored as in the pack.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.audio import resample
from wfrun.models import residency
from wfrun.models.header import CheckpointError
from wfrun.models.mel_band_roformer import MelBandRoformer, load_mel_band_roformer, separate
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


@executor("MelBandRoFormerModelLoader", background=True)
def mel_band_roformer_model_loader(ctx: ExecContext, model_name: str, **_: Any) -> tuple:
    path = resolve(ctx, "diffusion_models", model_name, "model_name",
                   source="https://huggingface.co/Kijai/MelBandRoFormer_comfy")
    try:
        model = load_mel_band_roformer(path, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("model_name", err) from None
    return (model,)


def stereo_input(audio: Any, rate: int) -> torch.Tensor:
    """The first recording of an AUDIO value as float32 ``[2, samples]`` at ``rate`` Hz."""
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    source_rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or not waveform.is_floating_point() \
            or isinstance(source_rate, bool) or not isinstance(source_rate, (int, float)) or source_rate <= 0 \
            or source_rate != int(source_rate):
        raise NodeInputError("audio", f"expected an AUDIO value {{waveform: [batch, channels, samples] floats, "
                             f"sample_rate: whole Hz}}, found {_describe(audio)}", "connect a Load Audio output")
    batch, channels, samples = waveform.shape
    if batch == 0 or samples == 0 or channels not in (1, 2):
        raise NodeInputError("audio", f"the waveform {tuple(waveform.shape)} is not one or two channels of sound",
                             "give a mono or stereo recording")
    sound = waveform[0].float()
    if channels == 1:
        sound = sound.repeat(2, 1)
    return resample(sound, int(source_rate), rate)


@executor("MelBandRoFormerSampler")
def mel_band_roformer_sampler(ctx: ExecContext, model: Any, audio: Any, **_: Any) -> tuple:
    if not isinstance(model, MelBandRoformer):
        raise NodeInputError("model", f"expected a MELROFORMERMODEL from MelBandRoFormerModelLoader, found "
                             f"{_describe(model)}")
    rate = model.config.sample_rate
    original_samples = audio["waveform"].shape[-1] if isinstance(audio, dict) and \
        isinstance(audio.get("waveform"), torch.Tensor) else 0
    mixture = stereo_input(audio, rate)
    progress = ctx.chunk_progress("Mel-Band RoFormer chunks")

    try:
        with residency.lent(model, ctx.device, ctx.offload_device), torch.inference_mode():
            device = next(model.parameters()).device
            mix = mixture.to(device)
            vocals = separate(model, mix, progress=progress, pad_length=original_samples)
            instruments = mix - vocals
    finally:
        progress.close()
    return ({"waveform": vocals[None].cpu(), "sample_rate": rate},
            {"waveform": instruments[None].cpu(), "sample_rate": rate})
