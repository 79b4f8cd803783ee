"""ComfyUI's AudioEncoderLoader and AudioEncoderEncode (``comfy_extras/nodes_audio_encoder.py``)
for wav2vec 2.0 encoders (:mod:`wfrun.models.wav2vec2`, where the recipes and the encoding
are described) and Whisper encoders (HuMo's; :mod:`wfrun.models.whisper`), told apart by
their tensors as ComfyUI's ``load_audio_encoder_from_sd`` does, and
ModelPatchLoader (``nodes_model_patch.py``) for the MultiTalk/InfiniteTalk audio patch of
Wan 2.1 (:mod:`wfrun.models.multitalk`).

AudioEncoderEncode returns ComfyUI's AUDIO_ENCODER_OUTPUT dict: ``encoded_audio``,
``encoded_audio_all_layers`` (every hidden state) and ``audio_samples`` (the 16 kHz length),
on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import residency, whisper
from wfrun.models.header import CheckpointError
from wfrun.models.wav2vec2 import AudioEncoder, encode, load_wav2vec2
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


@executor("AudioEncoderLoader", background=True)
def audio_encoder_loader(ctx: ExecContext, audio_encoder_name: str, **_: Any) -> tuple:
    from wfrun.models.reader import open_checkpoint

    path = resolve(ctx, "audio_encoders", audio_encoder_name, "audio_encoder_name")
    try:
        with open_checkpoint(path) as reader:
            is_whisper = whisper.is_whisper(reader.tensors)
        load = whisper.load_whisper if is_whisper else load_wav2vec2
        encoder = load(path, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("audio_encoder_name", err) from None
    return (encoder,)


def audio_value(audio: Any, name: str = "audio") -> tuple[torch.Tensor, int]:
    """The waveform ``[batch, channels, samples]`` and integer rate of an AUDIO value."""
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or not waveform.is_floating_point() \
            or isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0 or rate != int(rate):
        raise NodeInputError(name, f"{name}: expected an AUDIO value {{waveform: [batch, channels, samples] floats, "
                             f"sample_rate: whole Hz}}, found {describe(audio)}", "connect a Load Audio output")
    if waveform.shape[1] == 0 or waveform.shape[0] == 0:
        raise NodeInputError(name, f"{name}: the waveform {tuple(waveform.shape)} holds no channel")
    return waveform, int(rate)


@executor("AudioEncoderEncode")
def audio_encoder_encode(ctx: ExecContext, audio_encoder: Any, audio: Any, **_: Any) -> tuple:
    if not isinstance(audio_encoder, (AudioEncoder, whisper.WhisperAudioEncoder)):
        raise NodeInputError("audio_encoder", f"expected an AUDIO_ENCODER from AudioEncoderLoader, found "
                             f"{describe(audio_encoder)}")
    waveform, rate = audio_value(audio)
    run = whisper.encode if isinstance(audio_encoder, whisper.WhisperAudioEncoder) else encode
    with residency.lent(audio_encoder.model, ctx.device, ctx.offload_device):
        try:
            out = run(audio_encoder, waveform, rate, ctx.device)
        except ValueError as err:
            raise NodeInputError("audio", str(err), "give a longer sound") from None
    out["encoded_audio"] = out["encoded_audio"].cpu()
    out["encoded_audio_all_layers"] = tuple(h.cpu() for h in out["encoded_audio_all_layers"])
    return (out,)


# ---------------------------------------------------------------------------- ModelPatchLoader

#: The other patches ComfyUI's ModelPatchLoader recognizes, by a tensor each has.
OTHER_PATCHES = {
    "controlnet_blocks.0.y_rms.weight": "a Qwen-Image block-wise ControlNet",
    "feature_embedder.mid_layer_norm.bias": "a SigLIP multi-feature projection (USO)",
    "control_all_x_embedder.2-1.weight": "a Z-Image Fun ControlNet",
    "control_model.input_hint_block.0.weight": "a SUPIR control model",
    "model.control_model.input_hint_block.0.weight": "a SUPIR control model",
}


@executor("ModelPatchLoader", background=True)
def model_patch_loader(ctx: ExecContext, name: str, **_: Any) -> tuple:
    """MODEL_PATCH: the MultiTalk/InfiniteTalk audio patch of Wan 2.1 (:mod:`wfrun.models.multitalk`);
    ComfyUI's other patch kinds (Qwen-Image, Z-Image, USO, SUPIR) are refused by name."""
    from wfrun.models.multitalk import is_multitalk, load_multitalk
    from wfrun.models.reader import open_checkpoint

    path = resolve(ctx, "model_patches", name, "name")
    try:
        with open_checkpoint(path) as reader:
            names = set(reader.tensors)
        if not is_multitalk(names):
            kind = next((what for key, what in OTHER_PATCHES.items() if key in names), None)
            raise NodeInputError("name", f"{path.name} is {kind or 'not a model patch ComfyUI knows'}; wfrun runs "
                                 "MultiTalk/InfiniteTalk audio patches only",
                                 "pick the InfiniteTalk or MultiTalk patch file")
        patch = load_multitalk(path, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("name", err) from None
    return (patch,)
