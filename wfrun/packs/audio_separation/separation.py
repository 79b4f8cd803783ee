"""AudioSeparation (christian-byrne's audio-separation-nodes-comfyui, ``src/separation.py``,
2024-07-03 on; read at 2025-01-05, ``31a4567``, the version the wrapper's talking-video
examples were saved with).

The node splits music into bass, drums, other and vocals with torchaudio's Hybrid Demucs
bundle ``HDEMUCS_HIGH_MUSDB_PLUS`` (:mod:`wfrun.models.hdemucs`):

1. the first (only) recording of the AUDIO batch, made stereo as the pack's ``ensure_stereo``
   does (mono duplicated; more than two channels: the mean of the first two, duplicated);
2. resampled to 44.1 kHz with torchaudio's default band-limited sinc
   (:func:`wfrun.media.audio.resample`, the same method);
3. normalised by the channel-mean signal: minus its mean, divided by its (unbiased) standard
   deviation;
4. separated in faded, overlapping chunks of ``chunk_length`` seconds overlapping by
   ``chunk_overlap`` seconds (:func:`wfrun.models.hdemucs.separate_chunks`, which documents the
   node's chunking, including its faded-out end on recordings shorter than one chunk);
5. de-normalised, and returned as four AUDIO values ``[1, 2, samples]`` at 44.1 kHz.

The weights are the bundle's ``hdemucs_high_trained.pt`` from torchaudio's download folder
(or a ``.safetensors`` copy; :mod:`wfrun.models.hdemucs.load` lists where wfrun looks), read
weights-only; wfrun never downloads it. Where wfrun differs from the pack: a batch of more
than one recording is refused (the pack fails on it), a silent (constant) recording is
refused (the pack divides by its zero spread and returns NaN), and chunk settings that
would never advance are refused (the pack loops forever).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.audio import resample
from wfrun.models import residency
from wfrun.models.hdemucs import (FADE_SHAPES, FOLDER, SAMPLE_RATE, SOURCE_URL, SOURCES, STEM, candidate_files,
                                  find_weights, load_hdemucs, separate_chunks)
from wfrun.models.header import CheckpointError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import roots_of

#: The node's outputs, in order.
OUTPUTS = ("bass", "drums", "other", "vocals")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


def stereo(waveform: torch.Tensor) -> torch.Tensor:
    """[channels, samples] as two channels, the pack's way."""
    if waveform.shape[0] == 2:
        return waveform
    if waveform.shape[0] == 1:
        return waveform.repeat(2, 1)
    return waveform[:2].mean(0, keepdim=True).repeat(2, 1)


def mixture(audio: Any) -> tuple[torch.Tensor, int]:
    """The AUDIO value's recording as float32 [channels, samples] and its rate."""
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or not waveform.is_floating_point() \
            or isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0 or rate != int(rate):
        raise NodeInputError("audio", f"expected an AUDIO value {{waveform: [batch, channels, samples] floats, "
                             f"sample_rate: whole Hz}}, found {_describe(audio)}", "connect a Load Audio output")
    if waveform.shape[0] != 1:
        raise NodeInputError("audio", f"the AUDIO batch holds {waveform.shape[0]} recordings; the node separates "
                             "one (the pack fails on more)", "separate one recording at a time")
    if waveform.shape[1] == 0 or waveform.shape[2] == 0:
        raise NodeInputError("audio", f"the waveform {tuple(waveform.shape)} holds no sound", "give a recording")
    return waveform[0].float(), int(rate)


def _model(ctx: ExecContext) -> Any:
    folders = roots_of(ctx).folders(FOLDER)
    path = find_weights(folders)
    if path is None:
        looked = ", ".join(str(p.parent) for p in candidate_files(folders)[::2])
        raise NodeInputError("audio", f"the Hybrid Demucs weights the node runs ({STEM}.pt, torchaudio's "
                             f"HDEMUCS_HIGH_MUSDB_PLUS) are not there; looked in {looked}",
                             f"wfrun never downloads models: get {SOURCE_URL} (ComfyUI's torchaudio puts it in "
                             f"<torch hub>/torchaudio/models/) or a .safetensors copy of it into <models>/{FOLDER}/")
    try:
        return load_hdemucs(path, device=ctx.offload_device)
    except CheckpointError as err:
        raise NodeInputError("audio", f"{path}: {str(err).splitlines()[0]}",
                             f"get the file again from {SOURCE_URL}") from None


@executor("AudioSeparation", oom_hint="lower chunk_length")
def audio_separation(ctx: ExecContext, audio: Any, chunk_fade_shape: str, chunk_length: float,
                     chunk_overlap: float, **_: Any) -> tuple:
    if chunk_fade_shape not in FADE_SHAPES:
        raise NodeInputError("chunk_fade_shape", f"{chunk_fade_shape!r} is not one of the node's fade shapes",
                             f"pick one of {', '.join(FADE_SHAPES)}")
    length, overlap = float(chunk_length), float(chunk_overlap)
    chunk = int(SAMPLE_RATE * length * (1 + overlap))
    if chunk <= 0 or overlap < 0 or int(chunk - overlap * SAMPLE_RATE) <= 0:
        raise NodeInputError("chunk_length" if chunk <= 0 else "chunk_overlap",
                             f"chunks of {length:g} s overlapping by {overlap:g} s never advance through the "
                             "recording (the pack loops forever)",
                             "give a positive chunk_length and an overlap from 0 to below the chunk length")
    sound, rate = mixture(audio)
    sound = resample(stereo(sound), rate, SAMPLE_RATE)
    reference = sound.mean(0)
    centre, spread = reference.mean(), reference.std()
    if not torch.isfinite(spread) or float(spread) == 0.0:
        raise NodeInputError("audio", "the recording is silent (constant): the node divides it by its spread, "
                             "which is zero", "give a recording with sound in it")
    model = _model(ctx)
    progress = ctx.chunk_progress("Hybrid Demucs chunks")

    try:
        with residency.lent(model, ctx.device, ctx.offload_device), torch.inference_mode():
            device = next(model.parameters()).device
            mix = ((sound - centre) / spread).to(device)[None]
            try:
                stems = separate_chunks(model, mix, len(SOURCES), SAMPLE_RATE, length, overlap, chunk_fade_shape,
                                        progress=progress)[0]
            except ValueError as err:  # a chunk too short for the network's last layers (the pack fails too)
                raise NodeInputError("chunk_overlap", f"a chunk of the {sound.shape[-1]} samples at 44.1 kHz is too "
                                     f"short for Hybrid Demucs ({str(err).splitlines()[0]})",
                                     "give a longer recording, or chunk lengths that leave no sliver at the "
                                     "end") from None
            stems = (stems * spread.to(device) + centre.to(device)).cpu()
    finally:
        progress.close()
    by_name = dict(zip(SOURCES, stems))
    return tuple({"waveform": by_name[name][None], "sample_rate": SAMPLE_RATE} for name in OUTPUTS)
