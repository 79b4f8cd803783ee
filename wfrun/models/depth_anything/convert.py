"""Depth Anything V2 single files → transformers' ``DepthAnythingForDepthEstimation``.

The files the pack loads (``Kijai/DepthAnythingV2-safetensors``, ``Nap/depth_anything_v2_vitg``)
keep the key names of the original Depth-Anything-V2 code: a DINOv2 ViT under
``pretrained.`` (``blocks.N.attn.qkv``, ``blocks.N.ls1.gamma``, ...) and a DPT head under
``depth_head.`` (``projects.I``, ``resize_layers.I``, ``scratch.layerI_rn``,
``scratch.refinenetI``, ``scratch.output_conv1/2``). :func:`convert_state_dict` renames them to
transformers' names and splits the fused tensors (attention ``qkv`` into query/key/value;
the giant model's SwiGLU ``w12`` into gate/up).

Which model a file holds is read from its weights, never from its name: the embedding width
(``pretrained.cls_token``'s last dimension) picks one of the configs in ``configs/``
(384 vits, 768 vitb, 1024 vitl, 1536 vitg; 32 is ``tiny``, the random test checkpoint of
:mod:`.tiny`), and the block count must agree with that config. Head count and the blocks the
DPT head reads cannot be seen in the weights; they come from the config, as they come from
the encoder name in the original code.

What the name still decides, as in the pack: ``metric`` files get the metric head (sigmoid
times ``max_depth``: 20 for ``hypersim``, 80 otherwise), the others the relative head (ReLU).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import torch

CONFIG_DIR = Path(__file__).with_name("configs")

#: Where each original variant comes from, for error messages.
SOURCES = {
    "vitg": "https://huggingface.co/Nap/depth_anything_v2_vitg",
    "default": "https://huggingface.co/Kijai/DepthAnythingV2-safetensors",
}

#: The original DPT head's refinenets, by number, in the order transformers' fusion stage runs
#: them: refinenet4 (deepest features) first, refinenet1 last.
REFINENET_TO_FUSION = {4: 0, 3: 1, 2: 2, 1: 3}


class NotDepthAnythingError(ValueError):
    """A checkpoint that is not (or not entirely) a Depth Anything V2 model."""


@dataclass(frozen=True)
class Variant:
    """A Depth Anything V2 size: its name, config (transformers' dict) and what identifies it."""

    name: str
    config: dict[str, Any]

    @property
    def embed_dim(self) -> int:
        return int(self.config["backbone_config"]["hidden_size"])

    @property
    def depth(self) -> int:
        return int(self.config["backbone_config"]["num_hidden_layers"])


@lru_cache(maxsize=None)
def variants() -> dict[str, Variant]:
    """The shipped configs (``configs/<name>.json``), by name."""
    found = {}
    for path in sorted(CONFIG_DIR.glob("*.json")):
        found[path.stem] = Variant(path.stem, json.loads(path.read_text(encoding="utf-8")))
    return found


def variant_for_embed_dim(embed_dim: int) -> Variant | None:
    for variant in variants().values():
        if variant.embed_dim == embed_dim:
            return variant
    return None


def metric_settings(model_name: str) -> tuple[bool, int]:
    """``(is_metric, max_depth)`` from the file name, the way the pack decides them."""
    if "metric" in model_name:
        return True, 20 if "hypersim" in model_name else 80
    return False, 1


def detect(shapes: Mapping[str, tuple[int, ...]], where: str = "the file") -> Variant:
    """The variant a checkpoint holds, from its tensor names and shapes (a header is enough)."""
    cls = shapes.get("pretrained.cls_token")
    has_head = any(key.startswith("depth_head.") for key in shapes)
    if cls is None or not has_head:
        sample = ", ".join(sorted(shapes)[:4]) or "no tensors"
        raise NotDepthAnythingError(
            f"{where} is not a Depth Anything V2 checkpoint: it has no "
            f"{'pretrained.cls_token' if cls is None else 'depth_head.* tensors'} "
            f"(its first keys: {sample})")
    embed_dim = int(cls[-1])
    variant = variant_for_embed_dim(embed_dim)
    if variant is None:
        known = ", ".join(f"{v.embed_dim} ({v.name})" for v in variants().values())
        raise NotDepthAnythingError(
            f"{where}: a Depth Anything model with embedding width {embed_dim}, which wfrun does "
            f"not know (known widths: {known})")
    blocks = {int(m.group(1)) for key in shapes if (m := re.match(r"pretrained\.blocks\.(\d+)\.", key))}
    if len(blocks) != variant.depth:
        raise NotDepthAnythingError(
            f"{where}: has {len(blocks)} transformer blocks, but a Depth Anything V2 {variant.name} "
            f"(embedding width {embed_dim}) has {variant.depth}; the file is incomplete or another model")
    return variant


def build_config(variant: Variant, *, is_metric: bool = False, max_depth: float = 1.0):
    """transformers' ``DepthAnythingConfig`` for a variant, relative or metric."""
    from transformers import DepthAnythingConfig

    data = json.loads(json.dumps(variant.config))
    data["depth_estimation_type"] = "metric" if is_metric else "relative"
    # whole numbers as int: transformers 5's config validation types ``max_depth`` as int
    depth = max_depth if is_metric else 1
    data["max_depth"] = int(depth) if float(depth).is_integer() else float(depth)
    return DepthAnythingConfig.from_dict(data)


# --- key renaming -----------------------------------------------------------------------------

_EMBEDDINGS = {
    "pretrained.cls_token": "backbone.embeddings.cls_token",
    "pretrained.mask_token": "backbone.embeddings.mask_token",
    "pretrained.pos_embed": "backbone.embeddings.position_embeddings",
    "pretrained.patch_embed.proj.weight": "backbone.embeddings.patch_embeddings.projection.weight",
    "pretrained.patch_embed.proj.bias": "backbone.embeddings.patch_embeddings.projection.bias",
    "pretrained.norm.weight": "backbone.layernorm.weight",
    "pretrained.norm.bias": "backbone.layernorm.bias",
}

#: Inside ``pretrained.blocks.N.``: original leaf → transformers leaf (under ``encoder.layer.N.``).
_BLOCK = {
    "norm1": "norm1", "norm2": "norm2",
    "attn.proj": "attention.o_proj",
    "ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1",
    "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
    "mlp.w3": "mlp.down_proj",
}

#: Inside ``depth_head.scratch.refinenetI.``.
_FUSION = {
    "out_conv": "projection",
    "resConfUnit1.conv1": "residual_layer1.convolution1",
    "resConfUnit1.conv2": "residual_layer1.convolution2",
    "resConfUnit2.conv1": "residual_layer2.convolution1",
    "resConfUnit2.conv2": "residual_layer2.convolution2",
}

#: Inside ``depth_head.scratch.``: the output convolutions (Sequential indices 0 and 2).
_HEAD = {"output_conv1": "head.conv1", "output_conv2.0": "head.conv2", "output_conv2.2": "head.conv3"}

#: Leaves that an original fused tensor is split into, in order along dim 0.
_SPLITS = {
    "attn.qkv": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
    "mlp.w12": ("mlp.gate_proj", "mlp.up_proj"),
}

#: transformers 4.x names of the same block leaves (``pyproject`` allows transformers>=4.50):
#: a 1-tuple is kept whole (4.x's SwiGLU ``weights_in`` is the fused ``w12`` itself).
_BLOCK_4X = {**_BLOCK, "attn.proj": "attention.output.dense", "mlp.w3": "mlp.weights_out"}
_SPLITS_4X = {
    "attn.qkv": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
    "mlp.w12": ("mlp.weights_in",),
}


def uses_4x_names(expected_names) -> bool:
    """Whether a model's parameter names are transformers 4.x's (``attention.attention.query``)."""
    return any(".attention.attention.query." in name for name in expected_names)


def _split_leaf(name: str) -> tuple[str, str]:
    """``'a.b.weight'`` → ``('a.b', 'weight')``; parameters without a module suffix keep ''."""
    stem, _, suffix = name.rpartition(".")
    if suffix in ("weight", "bias"):
        return stem, suffix
    return name, ""


def rename(key: str, legacy: bool = False) -> str | tuple[str, ...] | None:
    """The transformers name(s) of one original key; a tuple for a fused tensor split along
    dim 0 in equal parts; ``None`` for a key that is not part of the model. ``legacy``: the
    names of transformers 4.x."""
    block, splits = (_BLOCK_4X, _SPLITS_4X) if legacy else (_BLOCK, _SPLITS)
    if key in _EMBEDDINGS:
        return _EMBEDDINGS[key]
    if m := re.fullmatch(r"pretrained\.blocks\.(\d+)\.(.+)", key):
        layer, rest = m.groups()
        inner, suffix = _split_leaf(rest)
        tail = f".{suffix}" if suffix else ""
        base = f"backbone.encoder.layer.{layer}."
        if inner in splits:
            return tuple(base + part + tail for part in splits[inner])
        if inner in block:
            return base + block[inner] + tail
        return None
    if m := re.fullmatch(r"depth_head\.projects\.([0-3])\.(weight|bias)", key):
        return f"neck.reassemble_stage.layers.{m.group(1)}.projection.{m.group(2)}"
    if m := re.fullmatch(r"depth_head\.resize_layers\.([013])\.(weight|bias)", key):
        return f"neck.reassemble_stage.layers.{m.group(1)}.resize.{m.group(2)}"
    if m := re.fullmatch(r"depth_head\.scratch\.layer([1-4])_rn\.weight", key):
        return f"neck.convs.{int(m.group(1)) - 1}.weight"
    if m := re.fullmatch(r"depth_head\.scratch\.refinenet([1-4])\.(.+)\.(weight|bias)", key):
        number, inner, suffix = m.groups()
        if inner in _FUSION:
            return f"neck.fusion_stage.layers.{REFINENET_TO_FUSION[int(number)]}.{_FUSION[inner]}.{suffix}"
        return None
    if m := re.fullmatch(r"depth_head\.scratch\.(output_conv1|output_conv2\.[02])\.(weight|bias)", key):
        return f"{_HEAD[m.group(1)]}.{m.group(2)}"
    return None


def convert_state_dict(state_dict: Mapping[str, torch.Tensor],
                       expected: Mapping[str, tuple[int, ...]] | None = None,
                       where: str = "the file") -> dict[str, torch.Tensor]:
    """Original Depth Anything V2 tensors under transformers' names.

    With ``expected`` (transformers' names → shapes of the model to load), every name must be
    produced exactly once with its shape; otherwise :class:`NotDepthAnythingError` lists what
    is missing, unexpected or of the wrong shape.
    """
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    legacy = expected is not None and uses_4x_names(expected)
    for key, tensor in state_dict.items():
        target = rename(key, legacy)
        if target is None:
            unknown.append(key)
        elif isinstance(target, tuple) and len(target) == 1:
            converted[target[0]] = tensor
        elif isinstance(target, tuple):
            if tensor.shape[0] % len(target):
                raise NotDepthAnythingError(
                    f"{where}: {key} has {tensor.shape[0]} rows, not a multiple of {len(target)}")
            for name, part in zip(target, tensor.chunk(len(target), dim=0)):
                converted[name] = part.contiguous()
        else:
            converted[target] = tensor
    if expected is not None:
        problems = []
        if unknown:
            problems.append(f"unexpected tensors {_few(unknown)}")
        missing = [name for name in expected if name not in converted]
        if missing:
            problems.append(f"missing tensors (transformers names) {_few(missing)}")
        extra = [name for name in converted if name not in expected]
        if extra:
            problems.append(f"tensors the model has no place for {_few(extra)}")
        wrong = [f"{name} {tuple(converted[name].shape)} (expected {tuple(expected[name])})"
                 for name in expected if name in converted
                 and tuple(converted[name].shape) != tuple(expected[name])]
        if wrong:
            problems.append(f"wrong shapes: {_few(wrong)}")
        if problems:
            raise NotDepthAnythingError(
                f"{where} does not match the Depth Anything V2 layout: " + "; ".join(problems))
    elif unknown:
        raise NotDepthAnythingError(f"{where}: unexpected tensors {_few(unknown)}")
    return converted


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
