"""Whisper audio encoders (HuMo's Whisper large-v3) as ComfyUI's ``AudioEncoderLoader`` and
the wrapper's ``WhisperModelLoader`` read them, run on transformers' ``WhisperEncoder``.

The files (``whisper_large_v3_fp16.safetensors``) hold a Hugging Face ``WhisperModel`` under
``model.``; only ``model.encoder.*`` is read (ComfyUI and the wrapper ignore the decoder and
the output projection a full checkpoint also carries). ComfyUI tells Whisper by
``model.encoder.embed_positions.weight``; wfrun also takes the encoder without the ``model.``
prefix. Its names are transformers' own, so the encoder loads as it is. The network is read
from the shapes: width (``conv1`` out), mel bins (``conv1`` in), layers, feed-forward width,
positions; heads are Whisper's 64-wide ones (20 for large-v3's 1280).

Encoding (:func:`encode`, ComfyUI's ``WhisperLargeV3``/``WhisperFeatureExtractor``): the
waveform resampled to 16 kHz (:func:`wfrun.media.audio.resample`), averaged over channels,
cut or zero-padded to 30 s (480,000 samples), its log-mel spectrogram (a periodic Hann
window of 400, hop 160, centred with reflection, power 2, Slaney mel filters from 0 to 8 kHz;
the last frame dropped; ``log10`` of at least 1e-10, floored at 8 below the batch's maximum,
then ``(x + 4) / 4``) through the encoder. The output's hidden states are each layer's input
and the final layer norm's output (33 for large-v3), as ComfyUI's list; the 16 kHz length
is kept as ``audio_samples``. ComfyUI casts the weights to the audio's dtype at each use, so
wfrun computes in float32.

Only the first 30 s reach ComfyUI's encoder (its feature extractor cuts the rest); the
wrapper's ``HuMoEmbeds`` encodes longer sound in 30 s windows (:func:`encode_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from wfrun.models.header import CheckpointError

SAMPLE_RATE = 16000
N_FFT, HOP = 400, 160
#: 30 s at 16 kHz, the input length the encoder's 1500 positions cover (3000 mel frames).
CHUNK_SAMPLES = 480000
MEL_MAX_HZ = 8000.0
HEAD_WIDTH = 64
PREFIXES = ("model.", "")
ENCODER = "encoder."
MARKER = "encoder.embed_positions.weight"


@dataclass(frozen=True)
class WhisperSpec:
    """A Whisper encoder's sizes."""

    width: int
    layers: int
    ffn: int
    mels: int
    positions: int

    @property
    def heads(self) -> int:
        return self.width // HEAD_WIDTH

    @property
    def name(self) -> str:
        return f"Whisper encoder ({self.width} wide, {self.layers} layers)"

    def transformers_config(self) -> Any:
        from transformers import WhisperConfig

        return WhisperConfig(d_model=self.width, encoder_layers=self.layers, encoder_attention_heads=self.heads,
                             encoder_ffn_dim=self.ffn, num_mel_bins=self.mels, max_source_positions=self.positions,
                             dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, encoder_layerdrop=0.0)


@dataclass(frozen=True)
class WhisperAudioEncoder:
    """AUDIO_ENCODER (ComfyUI) and the model inside WHISPERMODEL (the wrapper): a
    transformers ``WhisperEncoder`` (float32, eval) and its sizes."""

    model: Any
    spec: WhisperSpec
    path: Path | None = None


def is_whisper(names: Any) -> bool:
    """Whether a state dict's names are a Whisper model's (ComfyUI's test, prefix optional)."""
    names = set(names)
    return any(f"{p}{MARKER}" in names for p in PREFIXES)


def _prefix(names: Any) -> str:
    names = set(names)
    return next(p for p in PREFIXES if f"{p}{MARKER}" in names)


def spec_of(shapes: Mapping[str, tuple[int, ...]], source: str = "the file") -> WhisperSpec:
    """The encoder a state dict (names → shapes) holds; CheckpointError when it is not one."""
    if not is_whisper(shapes):
        raise CheckpointError(f"{source}: not a Whisper model (no model.encoder.embed_positions)")
    p = _prefix(shapes) + ENCODER
    try:
        conv = shapes[f"{p}conv1.weight"]
        ffn = shapes[f"{p}layers.0.fc1.weight"][0]
        positions = shapes[f"{p}embed_positions.weight"][0]
    except KeyError as err:
        raise CheckpointError(f"{source}: a Whisper encoder without {err.args[0]}") from None
    layers = 0
    while f"{p}layers.{layers}.self_attn.q_proj.weight" in shapes:
        layers += 1
    width = conv[0]
    if width % HEAD_WIDTH:
        raise CheckpointError(f"{source}: a {width}-wide Whisper encoder; Whisper's heads are {HEAD_WIDTH} wide")
    return WhisperSpec(width=width, layers=layers, ffn=ffn, mels=conv[1], positions=positions)


def build(spec: WhisperSpec, state: Mapping[str, torch.Tensor], source: str = "the file") -> Any:
    """transformers' ``WhisperEncoder`` of ``spec`` holding ``state`` (names after ``encoder.``), float32."""
    from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFEncoder

    with torch.device("meta"):
        model = HFEncoder(spec.transformers_config())
    wanted = model.state_dict()
    from wfrun.models.reader import checked_float32_state

    loaded = checked_float32_state(state, wanted, source, spec.name)
    model.load_state_dict(loaded, assign=True, strict=True)
    return model.eval().requires_grad_(False)


def load_whisper(path: str | Path, *, device: Any = "cpu", allow_pickle: bool | None = None) -> WhisperAudioEncoder:
    """The encoder of a Whisper file (CheckpointError when it is none)."""
    from wfrun.models.reader import open_checkpoint

    path = Path(path)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        spec = spec_of({k: v.shape for k, v in reader.tensors.items()}, path.name)
        p = _prefix(reader.tensors) + ENCODER
        state = {k[len(p):]: reader.read(k, device) for k in reader.tensors if k.startswith(p)}
    return WhisperAudioEncoder(build(spec, state, path.name), spec, path)


def mel_filters(mels: int) -> torch.Tensor:
    """``[N_FFT / 2 + 1, mels]`` Slaney mel filters from 0 to 8 kHz (transformers' builder,
    which follows torchaudio's ``melscale_fbanks``)."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=mels, min_frequency=0.0,
                           max_frequency=MEL_MAX_HZ, sampling_rate=SAMPLE_RATE, norm="slaney", mel_scale="slaney")
    return torch.from_numpy(bank).float()


def log_mel(samples: torch.Tensor, mels: int) -> torch.Tensor:
    """``[B, samples]`` at 16 kHz → ``[B, mels, 3000]`` (ComfyUI's ``WhisperFeatureExtractor``):
    each item cut or zero-padded to 30 s, then the spectrogram of the module docs."""
    x = samples.float()
    if x.shape[-1] >= CHUNK_SAMPLES:
        x = x[..., :CHUNK_SAMPLES]
    else:
        x = torch.nn.functional.pad(x, (0, CHUNK_SAMPLES - x.shape[-1]))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT, device=x.device), center=True,
                      pad_mode="reflect", return_complex=True)
    power = spec.abs() ** 2
    mel = (mel_filters(mels).to(x.device).T @ power)[..., :-1]
    log = mel.clamp(min=1e-10).log10()
    log = torch.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def run_encoder(encoder: WhisperAudioEncoder, features: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """(last hidden state, every hidden state: each layer's input, then the normed output) of
    ``[B, mels, 3000]`` log-mel features."""
    inputs: list[torch.Tensor] = []

    def record(_module: Any, args: tuple, kwargs: dict) -> None:
        inputs.append(args[0] if args else kwargs["hidden_states"])

    hooks = [layer.register_forward_pre_hook(record, with_kwargs=True) for layer in encoder.model.layers]
    try:
        with torch.inference_mode():
            last = encoder.model(features.float(), return_dict=True).last_hidden_state
    finally:
        for hook in hooks:
            hook.remove()
    return last, (*inputs, last)


def encode(encoder: WhisperAudioEncoder, waveform: torch.Tensor, sample_rate: int, device: Any = "cpu") -> dict[str, Any]:
    """AUDIO_ENCODER_OUTPUT as ComfyUI's: ``encoded_audio`` ``[B, 1500, width]``,
    ``encoded_audio_all_layers`` (the tuple of every hidden state) and ``audio_samples``
    (the 16 kHz length, before the cut to 30 s)."""
    from wfrun.media.audio import resample

    audio = resample(waveform.to(device=device, dtype=torch.float32), int(sample_rate), SAMPLE_RATE)
    last, every = run_encoder(encoder, log_mel(audio.mean(dim=1), encoder.spec.mels))
    return {"encoded_audio": last, "encoded_audio_all_layers": every, "audio_samples": audio.shape[2]}


def encode_windows(encoder: WhisperAudioEncoder, samples: torch.Tensor) -> torch.Tensor:
    """The wrapper's ``HuMoEmbeds`` encoding of 16 kHz ``samples`` ``[N]`` of any length: each
    30 s window's log-mel (the last one zero-padded, as transformers' feature extractor pads)
    through the encoder, the windows' stacked hidden states ``[1, 1500, states, width]``
    joined in time."""
    out = []
    for start in range(0, samples.shape[-1], CHUNK_SAMPLES):
        _, every = run_encoder(encoder, log_mel(samples[None, start:start + CHUNK_SAMPLES], encoder.spec.mels))
        out.append(torch.stack(every, dim=2))
    return torch.cat(out, dim=1)


# ---------------------------------------------------------------------------- tiny files

#: The tiny encoder: one 64-wide head, large-v3's 32 layers (HuMo reads layer groups 0-7 …
#: 24-31 and the output), its 128 mel bins and 1500 positions.
TINY = dict(width=64, layers=32, ffn=128, mels=128, positions=1500)


def tiny_state_dict(seed: int = 0, prefix: str = "model.") -> dict[str, torch.Tensor]:
    """A random Whisper encoder in Hugging Face's names (the decoder left out), written here
    from the network's parts: two convolutions, the position table, pre-norm layers
    (``self_attn`` q/k/v/out with no key bias, ``fc1``/``fc2``, two layer norms), a final norm."""
    g = torch.Generator().manual_seed(seed)
    t = TINY
    w, f = t["width"], t["ffn"]

    def rand(*shape: int, scale: float = 0.1) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    p = prefix + ENCODER
    sd = {f"{p}conv1.weight": rand(w, t["mels"], 3), f"{p}conv1.bias": rand(w),
          f"{p}conv2.weight": rand(w, w, 3), f"{p}conv2.bias": rand(w),
          f"{p}embed_positions.weight": rand(t["positions"], w, scale=0.5),
          f"{p}layer_norm.weight": 1 + rand(w), f"{p}layer_norm.bias": rand(w)}
    for i in range(t["layers"]):
        b = f"{p}layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[f"{b}self_attn.{proj}.weight"] = rand(w, w, scale=w ** -0.5)
            if proj != "k_proj":
                sd[f"{b}self_attn.{proj}.bias"] = rand(w)
        sd[f"{b}fc1.weight"], sd[f"{b}fc1.bias"] = rand(f, w, scale=w ** -0.5), rand(f)
        sd[f"{b}fc2.weight"], sd[f"{b}fc2.bias"] = rand(w, f, scale=f ** -0.5), rand(w)
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            sd[f"{b}{norm}.weight"], sd[f"{b}{norm}.bias"] = 1 + rand(w), rand(w)
    return sd


def write_tiny(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float16, prefix: str = "model.") -> Path:
    """A tiny Whisper encoder safetensors file, atomically."""
    from wfrun.models.tiny import write_state

    return write_state(path, tiny_state_dict(seed, prefix), dtype, {"wfrun.tiny": "whisper"})
