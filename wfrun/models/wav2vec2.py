"""wav2vec 2.0 audio encoders as ComfyUI's ``AudioEncoderLoader`` reads them, run on
transformers' ``Wav2Vec2Model``.

ComfyUI (``comfy/audio_encoders``) takes a state dict in Hugging Face's names, with or without
the ``wav2vec2.`` prefix of a pre-training checkpoint, and decides the network by the width of
``encoder.layer_norm``:

* 1024 wide ("large", e.g. wav2vec2-xlsr-53): 24 layers of 16 heads, a layer-normed
  convolution stack with biases, the stable-layer-norm encoder, and the waveform normalized
  to zero mean and unit variance first;
* 768 wide ("base", e.g. chinese-wav2vec2-base for MultiTalk/InfiniteTalk): 12 layers of 12
  heads, a group-normed first convolution and no biases, the post-norm encoder, and no
  normalization of the waveform.

Any other width is refused there; wfrun reads other widths only from files that state their
head count in their metadata (``wfrun.num_heads``: its own tiny stand-ins), taking the
large recipe when the convolution stack is layer-normed and the base one otherwise. Widths
the recipe leaves to the file (convolution channels, feed-forward width, positional
convolution) are read from the tensor shapes; in real files they are ComfyUI's fixed values.

Keys ComfyUI's network has no place for (a pre-training checkpoint's quantizer and
projections) are ignored, as ComfyUI ignores them; a missing key is refused (ComfyUI would
warn and run with uninitialized weights). The positional convolution's weight norm may be
stored either way torch writes it (``weight_g``/``weight_v`` or ``parametrizations``).

Encoding (:func:`encode`) follows ``AudioEncoderModel.encode_audio``: the AUDIO waveform
``[batch, channels, samples]`` resampled to 16 kHz (:func:`wfrun.media.audio.resample`),
averaged over channels, normalized over the whole batch when the recipe says so
(``(x - mean) / sqrt(var + 1e-7)``, unbiased variance), then the encoder; the output holds
the last hidden state, every hidden state (the encoder's input to each layer and its
output: 13 for base, 25 for large) and the resampled length. ComfyUI casts the weights to
the audio's float32 for each operation (``manual_cast``), so wfrun computes in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from wfrun.models.header import CheckpointError

#: The rate ComfyUI's audio encoders take their input at.
SAMPLE_RATE = 16000
#: The shortest input the convolution stack turns into one frame (receptive field 400 samples).
MIN_SAMPLES = 400

#: ComfyUI's two recipes, by encoder width.
RECIPES = {
    1024: dict(heads=16, layers=24, conv_norm="layer", conv_bias=True, stable=True, normalize=True),
    768: dict(heads=12, layers=12, conv_norm="group", conv_bias=False, stable=False, normalize=False),
}
CONV_KERNELS = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDES = (5, 2, 2, 2, 2, 2, 2)
PREFIX = "wav2vec2."
POS_CONV = "encoder.pos_conv_embed.conv."
#: Old and new names of the positional convolution's weight-norm parts.
WEIGHT_NORM_NAMES = {POS_CONV + "weight_g": POS_CONV + "parametrizations.weight.original0",
                     POS_CONV + "weight_v": POS_CONV + "parametrizations.weight.original1"}


@dataclass(frozen=True)
class Wav2Vec2Spec:
    """What a wav2vec 2.0 file holds: its widths and ComfyUI's recipe for it."""

    width: int
    heads: int
    layers: int
    ffn: int
    conv_dim: int
    conv_norm: str  # "layer" | "group"
    conv_bias: bool
    stable: bool     # stable-layer-norm encoder (pre-norm), the large recipe
    normalize: bool  # normalize the waveform before the convolutions
    pos_kernel: int
    pos_groups: int

    @property
    def name(self) -> str:
        kind = {1024: "large", 768: "base"}.get(self.width, f"{self.width}-wide")
        return f"wav2vec 2.0 {kind} ({self.layers} layers)"

    def transformers_config(self) -> Any:
        from transformers import Wav2Vec2Config

        return Wav2Vec2Config(
            hidden_size=self.width, num_attention_heads=self.heads, num_hidden_layers=self.layers,
            intermediate_size=self.ffn, hidden_act="gelu", feat_extract_activation="gelu",
            conv_dim=(self.conv_dim,) * 7, conv_kernel=CONV_KERNELS, conv_stride=CONV_STRIDES,
            feat_extract_norm=self.conv_norm, conv_bias=self.conv_bias, do_stable_layer_norm=self.stable,
            num_conv_pos_embeddings=self.pos_kernel, num_conv_pos_embedding_groups=self.pos_groups,
            layer_norm_eps=1e-5, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
            feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0, apply_spec_augment=False)


@dataclass(frozen=True)
class AudioEncoder:
    """AUDIO_ENCODER: a transformers ``Wav2Vec2Model`` (float32, eval) and its recipe."""

    model: Any
    spec: Wav2Vec2Spec
    path: Path | None = None


def _strip(name: str) -> str:
    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    return WEIGHT_NORM_NAMES.get(name, name)


def spec_of(shapes: Mapping[str, tuple[int, ...]], metadata: Mapping[str, str] | None = None,
            source: str = "the file") -> Wav2Vec2Spec:
    """The network a state dict (names → shapes) describes, by ComfyUI's rules; CheckpointError
    for anything ComfyUI's audio encoder loader would not load as wav2vec 2.0."""
    shapes = {_strip(k): tuple(v) for k, v in shapes.items()}
    if "encoder.layer_norm.bias" not in shapes:
        if "model.encoder.embed_positions.weight" in shapes or "encoder.embed_positions.weight" in shapes:
            raise CheckpointError(f"{source}: a Whisper audio encoder, not wav2vec 2.0 (models.whisper reads it)")
        raise CheckpointError(f"{source}: not an audio encoder ComfyUI loads (no encoder.layer_norm of a "
                              "wav2vec 2.0 model)")
    width = shapes["encoder.layer_norm.bias"][0]
    layers = 0
    while f"encoder.layers.{layers}.attention.q_proj.weight" in shapes:
        layers += 1
    conv_norm = "layer" if "feature_extractor.conv_layers.1.layer_norm.weight" in shapes else "group"
    recipe = RECIPES.get(width)
    if recipe is None:
        heads = _int(metadata or {}, "wfrun.num_heads")
        if heads is None or heads <= 0 or width % heads:
            raise CheckpointError(f"{source}: a {width}-wide wav2vec 2.0 encoder; ComfyUI loads the 768-wide base and "
                                  "1024-wide large ones only")
        large = conv_norm == "layer"
        recipe = dict(heads=heads, layers=layers, conv_norm=conv_norm,
                      conv_bias="feature_extractor.conv_layers.1.conv.bias" in shapes, stable=large, normalize=large)
    elif layers != recipe["layers"] or conv_norm != recipe["conv_norm"]:
        raise CheckpointError(f"{source}: a {width}-wide wav2vec 2.0 encoder with {layers} layers and a {conv_norm}-normed "
                              f"convolution stack; ComfyUI builds {recipe['layers']} layers and a {recipe['conv_norm']}-"
                              "normed stack for that width, so its weights would not fit")
    try:
        conv_dim = shapes["feature_extractor.conv_layers.0.conv.weight"][0]
        ffn = shapes["encoder.layers.0.feed_forward.intermediate_dense.weight"][0]
        pos = shapes[POS_CONV + "parametrizations.weight.original1"]
    except KeyError as err:
        raise CheckpointError(f"{source}: a wav2vec 2.0 encoder without {err.args[0]}") from None
    if len(pos) != 3 or pos[1] <= 0 or width % pos[1]:
        raise CheckpointError(f"{source}: its positional convolution has shape {pos}, not [width, width/groups, kernel]")
    return Wav2Vec2Spec(width=width, heads=recipe["heads"], layers=layers, ffn=ffn, conv_dim=conv_dim,
                        conv_norm=recipe["conv_norm"], conv_bias=recipe["conv_bias"], stable=recipe["stable"],
                        normalize=recipe["normalize"], pos_kernel=pos[2], pos_groups=width // pos[1])


def _int(metadata: Mapping[str, str], key: str) -> int | None:
    try:
        return int(metadata[key])
    except (KeyError, TypeError, ValueError):
        return None


def build(spec: Wav2Vec2Spec, state: Mapping[str, torch.Tensor], source: str = "the file") -> Any:
    """transformers' ``Wav2Vec2Model`` of ``spec`` holding ``state`` (ComfyUI's names), float32."""
    from transformers import Wav2Vec2Model

    with torch.device("meta"):
        model = Wav2Vec2Model(spec.transformers_config())
    wanted = model.state_dict()
    renamed = {_strip(k): v for k, v in state.items()}
    from wfrun.models.reader import checked_float32_state

    loaded = checked_float32_state(renamed, wanted, source, spec.name)
    model.load_state_dict(loaded, assign=True, strict=True)
    return model.eval().requires_grad_(False)


def load_wav2vec2(path: str | Path, *, device: Any = "cpu", allow_pickle: bool | None = None) -> AudioEncoder:
    """An AUDIO_ENCODER from a wav2vec 2.0 file in ComfyUI's layout (CheckpointError otherwise)."""
    from wfrun.models.reader import open_checkpoint

    path = Path(path)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        spec = spec_of({k: v.shape for k, v in reader.tensors.items()}, reader.metadata, path.name)
        wanted = {k for k in reader.tensors if _strip(k) in _names(spec)}
        state = {k: reader.read(k, device) for k in wanted}
    return AudioEncoder(build(spec, state, path.name), spec, path)


def _names(spec: Wav2Vec2Spec) -> set[str]:
    from transformers import Wav2Vec2Model

    with torch.device("meta"):
        return set(Wav2Vec2Model(spec.transformers_config()).state_dict())


def encode(encoder: AudioEncoder, waveform: torch.Tensor, sample_rate: int, device: Any = "cpu") -> dict[str, Any]:
    """AUDIO_ENCODER_OUTPUT as ComfyUI's: ``encoded_audio`` (last hidden state [B, frames,
    width]), ``encoded_audio_all_layers`` (the tuple of every hidden state) and
    ``audio_samples`` (the length at 16 kHz). ValueError for audio too short to encode."""
    from wfrun.media.audio import resample

    audio = resample(waveform.to(device=device, dtype=torch.float32), int(sample_rate), SAMPLE_RATE)
    if audio.shape[-1] < MIN_SAMPLES:
        raise ValueError(f"the audio is {audio.shape[-1]} samples long at 16 kHz; the encoder needs at least "
                         f"{MIN_SAMPLES} ({MIN_SAMPLES / SAMPLE_RATE * 1000:.0f} ms)")
    x = audio.mean(dim=1)
    if encoder.spec.normalize:
        x = (x - x.mean()) / torch.sqrt(x.var() + 1e-7)
    inputs: list[torch.Tensor] = []

    def record(_module: Any, args: tuple, kwargs: dict) -> None:
        inputs.append(args[0] if args else kwargs["hidden_states"])

    # ComfyUI's hidden states are each layer's input, then the encoder's output (after the
    # large recipe's final norm); transformers' own list differs between its versions
    hooks = [layer.register_forward_pre_hook(record, with_kwargs=True) for layer in encoder.model.encoder.layers]
    try:
        with torch.inference_mode():
            last = encoder.model(x, return_dict=True).last_hidden_state
    finally:
        for hook in hooks:
            hook.remove()
    return {"encoded_audio": last, "encoded_audio_all_layers": (*inputs, last), "audio_samples": audio.shape[2]}


# ---------------------------------------------------------------------------- tiny files

#: The tiny encoders: 32 wide, 2 heads of 16, 2 layers, 16 convolution channels; the
#: positional convolution keeps ComfyUI's kernel and groups.
TINY = dict(width=32, heads=2, layers=2, ffn=64, conv_dim=16, pos_kernel=128, pos_groups=16)


def tiny_state_dict(variant: str = "base", seed: int = 0, prefix: str = "") -> dict[str, torch.Tensor]:
    """A random wav2vec 2.0 state dict in ComfyUI's (Hugging Face's) names, written out here
    from the network's parts: the base recipe (group-normed first convolution, no conv
    biases) or the large one (every convolution layer-normed, with biases). The positional
    convolution is stored as ``weight_g``/``weight_v``, as pre-2.1 torch saved it."""
    g = torch.Generator().manual_seed(seed)
    t = TINY
    w, c, f = t["width"], t["conv_dim"], t["ffn"]

    def rand(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    def norm(name: str, size: int) -> None:
        sd[f"{name}.weight"] = 1 + rand(size, scale=0.05)
        sd[f"{name}.bias"] = rand(size, scale=0.05)

    sd: dict[str, torch.Tensor] = {"masked_spec_embed": rand(w)}
    large = variant == "large"
    for i, kernel in enumerate(CONV_KERNELS):
        layer = f"feature_extractor.conv_layers.{i}"
        sd[f"{layer}.conv.weight"] = rand(c, 1 if i == 0 else c, kernel, scale=0.5 if i == 0 else 0.3)
        if large:
            sd[f"{layer}.conv.bias"] = rand(c, scale=0.05)
        if large or i == 0:
            norm(f"{layer}.layer_norm", c)
    norm("feature_projection.layer_norm", c)
    sd["feature_projection.projection.weight"] = rand(w, c)
    sd["feature_projection.projection.bias"] = rand(w, scale=0.05)
    sd[POS_CONV + "weight_g"] = 0.5 + torch.rand(1, 1, t["pos_kernel"], generator=g)
    sd[POS_CONV + "weight_v"] = rand(w, w // t["pos_groups"], t["pos_kernel"])
    sd[POS_CONV + "bias"] = rand(w, scale=0.05)
    norm("encoder.layer_norm", w)
    for i in range(t["layers"]):
        layer = f"encoder.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[f"{layer}.attention.{proj}.weight"] = rand(w, w)
            sd[f"{layer}.attention.{proj}.bias"] = rand(w, scale=0.05)
        norm(f"{layer}.layer_norm", w)
        sd[f"{layer}.feed_forward.intermediate_dense.weight"] = rand(f, w)
        sd[f"{layer}.feed_forward.intermediate_dense.bias"] = rand(f, scale=0.05)
        sd[f"{layer}.feed_forward.output_dense.weight"] = rand(w, f)
        sd[f"{layer}.feed_forward.output_dense.bias"] = rand(w, scale=0.05)
        norm(f"{layer}.final_layer_norm", w)
    return {prefix + k: v.contiguous() for k, v in sd.items()}


def write_tiny(path: str | Path, variant: str = "base", seed: int = 0, dtype: torch.dtype = torch.float16,
               prefix: str = "") -> Path:
    """A tiny wav2vec 2.0 safetensors file (its head count in the metadata), atomically."""
    from wfrun.models.tiny import write_state

    return write_state(path, tiny_state_dict(variant, seed, prefix), dtype,
                       {"wfrun.num_heads": str(TINY["heads"]), "wfrun.variant": variant})
