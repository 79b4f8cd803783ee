"""wav2vec 2.0 models as ComfyUI-WanVideoWrapper's ``DownloadAndLoadWav2VecModel`` keeps them:
a Hugging Face repository folder under ``models/transformers/<repository id>``
(``models/transformers/facebook/wav2vec2-base-960h``,
``models/transformers/TencentGameMate/chinese-wav2vec2-base``), read by transformers'
``Wav2Vec2Model.from_pretrained``.

The pack downloads the repository there when it is missing; wfrun never downloads, so a
missing folder is an error naming it. What wfrun reads of the folder:

* ``config.json``: the network's sizes and recipe (only the fields that shape the network;
  dropouts and masking are inference-off anyway);
* the weights: ``model.safetensors``, else ``pytorch_model.bin`` (a pickle: read only with
  ``--allow-pickle``, weights-only; the Tencent repository ships only this). The names of a
  CTC or pre-training checkpoint (``wav2vec2.`` in front, ``lm_head``/``quantizer``/
  ``project_*`` beside) are taken as ``from_pretrained`` takes them for the bare encoder;
* ``preprocessor_config.json``: whether the waveform is normalized to zero mean and unit
  variance first (``do_normalize``; transformers' default, true, when the file is absent —
  the pack's ``Wav2Vec2Processor.from_pretrained`` would refuse a folder without it).

:func:`features` is the pack's FantasyTalking encoding: the 16 kHz samples normalized as
``Wav2Vec2FeatureExtractor`` does (``(x - mean) / sqrt(var + 1e-7)``, the variance over the
samples, not unbiased), cast to the loader's precision, the encoder's last hidden state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wfrun.models.config_json import read_json_object
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots, safe_relative
from wfrun.models.wav2vec2 import CONV_KERNELS, CONV_STRIDES, TINY, _strip, tiny_state_dict

#: The models folder the pack downloads into.
FOLDER = "transformers"
#: The repositories the node offers.
FACEBOOK, TENCENT = "facebook/wav2vec2-base-960h", "TencentGameMate/chinese-wav2vec2-base"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: config.json fields that shape the network (everything else is training-time).
CONFIG_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                 "conv_dim", "conv_stride", "conv_kernel", "conv_bias", "feat_extract_norm",
                 "feat_extract_activation", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups",
                 "do_stable_layer_norm", "layer_norm_eps")
#: Tensors a checkpoint may hold beside the encoder's (CTC head, pre-training parts).
NOT_ENCODER = ("lm_head.", "quantizer.", "project_q.", "project_hid.", "dropout_features")


@dataclass(frozen=True)
class Wav2VecFolderModel:
    """WAV2VECMODEL: transformers' ``Wav2Vec2Model`` (eval, in ``dtype``), the repository
    it came from and whether its input is normalized."""

    model: Any
    repo: str
    dtype: torch.dtype
    normalize: bool
    folder: Path


def find_folder(roots: ModelRoots, repo: str) -> Path:
    """``<models>/transformers/<repo>`` (any models root), or ModelPathError naming where
    wfrun looked and where the pack would have downloaded it."""
    rel = safe_relative(repo)
    searched = roots.folders(FOLDER)
    for base in searched:
        candidate = base.joinpath(*rel.parts)
        if candidate.is_dir():
            return candidate
    where = searched[0].joinpath(*rel.parts) if searched else Path("<models>", FOLDER, *rel.parts)
    raise ModelPathError(f"no folder {rel.as_posix()!r} in the {FOLDER} models folders "
                         f"({', '.join(str(p) for p in searched) or 'none given'}); the pack downloads the Hugging "
                         f"Face repository {repo} to {where}")


def _config(folder: Path) -> Any:
    from transformers import Wav2Vec2Config

    data = read_json_object(folder / "config.json", CheckpointError, "a wav2vec 2.0 config")
    kept = {k: data[k] for k in CONFIG_FIELDS if k in data}
    for key in ("conv_dim", "conv_stride", "conv_kernel"):
        if key in kept:
            kept[key] = tuple(int(v) for v in kept[key])
    return Wav2Vec2Config(**kept, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                          feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0, apply_spec_augment=False,
                          mask_time_prob=0.0)


def _normalize(folder: Path) -> bool:
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return True
    return bool(read_json_object(path, CheckpointError, "a feature extractor config").get("do_normalize", True))


def load_folder(folder: Path, repo: str, *, dtype: torch.dtype = torch.float16, device: Any = "cpu",
                allow_pickle: bool | None = None) -> Wav2VecFolderModel:
    """The encoder of a repository folder (module docstring); CheckpointError when the
    folder lacks a config or weights, or its weights do not fit its config."""
    from transformers import Wav2Vec2Model

    from wfrun.models.reader import open_checkpoint

    weights = next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{folder}: no {' or '.join(WEIGHT_FILES)} (the pack downloads the repository's "
                              "weights with its config)")
    config = _config(folder)
    with torch.device("meta"):
        model = Wav2Vec2Model(config)
    wanted = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    with open_checkpoint(weights, allow_pickle=allow_pickle) as reader:
        names = {_strip(k): k for k in reader.tensors if not _strip(k).startswith(NOT_ENCODER)}
        for key, like in wanted.items():
            stored = names.get(key)
            if stored is None:
                if key == "masked_spec_embed":  # training-time only
                    state[key] = torch.zeros(like.shape)
                    continue
                raise CheckpointError(f"{weights}: missing {key} of the wav2vec 2.0 encoder its config.json describes")
            tensor = reader.read(stored, "cpu")
            if tuple(tensor.shape) != tuple(like.shape):
                raise CheckpointError(f"{weights}: {stored} has shape {tuple(tensor.shape)}, its config.json needs "
                                      f"{tuple(like.shape)}")
            state[key] = tensor
    model.load_state_dict({k: v.to(device=device, dtype=dtype) for k, v in state.items()}, assign=True, strict=True)
    return Wav2VecFolderModel(model.eval().requires_grad_(False), repo, dtype, _normalize(folder), folder)


def features(wav2vec: Wav2VecFolderModel, samples: torch.Tensor, device: Any = "cpu") -> torch.Tensor:
    """The last hidden state ``[1, frames, width]`` for 16 kHz ``samples`` ``[n]`` (one channel)."""
    x = normalized(wav2vec, samples)
    with torch.inference_mode():
        return wav2vec.model(x.to(device=device, dtype=wav2vec.dtype), return_dict=True).last_hidden_state


def normalized(wav2vec: Wav2VecFolderModel, samples: torch.Tensor) -> torch.Tensor:
    """``[1, n]`` float32 samples as the repository's feature extractor hands them to the
    model: zero mean and unit variance (``(x - mean) / sqrt(var + 1e-7)``) when its
    ``do_normalize`` says so."""
    x = samples.to(torch.float32).reshape(1, -1)
    if wav2vec.normalize:
        x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
    return x


def multitalk_features(wav2vec: Wav2VecFolderModel, samples: torch.Tensor, frames: int,
                       device: Any = "cpu") -> torch.Tensor:
    """MultiTalk's encoding (the wrapper's ``multitalk/wav2vec2.py`` forward): the
    convolutional features of 16 kHz ``samples`` are resampled to ``frames`` (one per video
    frame) by linear interpolation with the corners aligned *before* the feature projection
    and the transformer encoder; the output is every encoder layer's hidden state (the
    encoder's input state dropped) stacked: ``[frames, layers, width]`` in the model's
    dtype. (ComfyUI's core resamples after the encoder: ``models.multitalk.audio_frames``.)"""
    import torch.nn.functional as F

    if frames < 1:
        raise ValueError(f"{frames} video frames of audio features; at least 1 is needed")
    model = wav2vec.model
    x = normalized(wav2vec, samples).to(device=device, dtype=wav2vec.dtype)
    with torch.inference_mode():
        conv = model.feature_extractor(x).transpose(1, 2)  # [1, T, conv_dim]
        conv = F.interpolate(conv.transpose(1, 2), size=int(frames), mode="linear",
                             align_corners=True).transpose(1, 2)
        hidden, _ = model.feature_projection(conv)
        states = _layer_outputs(model.encoder, hidden, bool(model.config.do_stable_layer_norm))
    return torch.stack(states, dim=1)[0].movedim(0, 1)


def _layer_outputs(encoder: Any, hidden: torch.Tensor, stable: bool) -> list[torch.Tensor]:
    """Each encoder layer's output, as transformers' ``hidden_states[1:]`` gives them (its
    encoder no longer returns them by itself): the positional convolution added, the
    layer norm first (base recipe) or after the last layer (stable layer norm)."""
    h = hidden + encoder.pos_conv_embed(hidden).to(hidden.device)
    if not stable:
        h = encoder.layer_norm(h)
    out = []
    for layer in encoder.layers:
        h = layer(h, attention_mask=None)
        h = h[0] if isinstance(h, tuple) else h
        out.append(h)
    if stable:
        out[-1] = encoder.layer_norm(out[-1])
    return out


# ---------------------------------------------------------------------------- tiny folders

def tiny_config() -> dict[str, Any]:
    """config.json of the tiny stand-in (the base recipe at wfrun's tiny widths)."""
    return {"architectures": ["Wav2Vec2ForCTC"], "model_type": "wav2vec2", "hidden_size": TINY["width"],
            "num_hidden_layers": TINY["layers"], "num_attention_heads": TINY["heads"],
            "intermediate_size": TINY["ffn"], "hidden_act": "gelu", "conv_dim": [TINY["conv_dim"]] * 7,
            "conv_stride": list(CONV_STRIDES), "conv_kernel": list(CONV_KERNELS), "conv_bias": False,
            "feat_extract_norm": "group", "feat_extract_activation": "gelu",
            "num_conv_pos_embeddings": TINY["pos_kernel"], "num_conv_pos_embedding_groups": TINY["pos_groups"],
            "do_stable_layer_norm": False, "layer_norm_eps": 1e-5, "vocab_size": 8}


def write_tiny_folder(folder: str | Path, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """A tiny repository folder in the released layout: config.json, preprocessor_config.json
    and model.safetensors holding a CTC checkpoint's names (``wav2vec2.`` in front, an
    ``lm_head`` beside), written atomically file by file."""
    from safetensors.torch import save_file

    from wfrun.atomic import writing

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(dtype).contiguous() for k, v in tiny_state_dict("base", seed, prefix="wav2vec2.").items()}
    g = torch.Generator().manual_seed(seed + 1)
    state["lm_head.weight"] = torch.randn(8, TINY["width"], generator=g).to(dtype)
    state["lm_head.bias"] = torch.zeros(8, dtype=dtype)
    with writing(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    for name, data in (("config.json", tiny_config()),
                       ("preprocessor_config.json", {"do_normalize": True, "feature_size": 1, "padding_side": "right",
                                                     "padding_value": 0.0, "return_attention_mask": False,
                                                     "sampling_rate": 16000})):
        with writing(folder / name) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return folder
