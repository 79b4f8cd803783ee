"""CLIP ViT-H/14 vision tower → transformers CLIPVisionModelWithProjection.

Three layouts hold the same network:

- ``original``: the Wan repo's ``XLMRobertaCLIP`` (Kijai's
  ``open-clip-xlm-roberta-large-vit-huge-14`` files): ``visual.transformer.N.attn.to_qkv``
  fuses q, k, v in that order; ``cls_embedding`` is ``[1, 1, D]``, ``pos_embedding``
  ``[1, N, D]``; ``head`` is ``[D, P]`` (used as ``x @ head``). The text tower
  (``textual.*``) and ``log_scale`` are not part of the vision model.
- ``open_clip``: open_clip's own names (``in_proj_weight``, ``ln_pre``, ``proj``).
- ``transformers``: ComfyUI's ``clip_vision_h``, already in transformers' names.

Wan feeds the *penultimate* block's output (``use_31_block``) to the transformer, without
the final norm: with transformers that is ``hidden_states[-2]`` of a forward with
``output_hidden_states=True``.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from wfrun.models.detect import ModelInfo
from wfrun.models.header import CheckpointError
from wfrun.models.mapping import UNKNOWN, Take, bundled_config

LABEL = "a transformers CLIPVisionModelWithProjection"
_E = "vision_model.embeddings."
_L = "vision_model.encoder.layers."

FP8_MODULES = re.compile(r"^vision_model\.encoder\.layers\.\d+\.(self_attn|mlp)\.")

_ORIGINAL_LAYER = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.proj": "self_attn.out_proj",
                   "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"}
_OPEN_CLIP_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
                    "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
_NORMS = {"pre_norm": "vision_model.pre_layrnorm", "post_norm": "vision_model.post_layernorm",
          "ln_pre": "vision_model.pre_layrnorm", "ln_post": "vision_model.post_layernorm"}


def _qkv(layer: str, leaf: str) -> list[Take]:
    return [Take(f"{_L}{layer}.self_attn.{name}_proj.{leaf}", "", "chunk", i, 3) for i, name in enumerate("qkv")]


def rename_for(info: ModelInfo, keys=()) -> Callable[[str], Any]:
    c = info.config
    dim, positions = c["dim"], (c["image_size"] // c["patch_size"]) ** 2 + 1

    def original(key: str) -> Any:
        if key == "log_scale" or key.startswith("textual."):
            return None
        if key == "visual.patch_embedding.weight":
            return f"{_E}patch_embedding.weight"
        if key == "visual.cls_embedding":
            return Take(f"{_E}class_embedding", "", "reshape", shape=(dim,))
        if key == "visual.pos_embedding":
            return Take(f"{_E}position_embedding.weight", "", "reshape", shape=(positions, dim))
        if key == "visual.head":
            return Take("visual_projection.weight", "", "transpose")
        if m := re.fullmatch(r"visual\.(pre_norm|post_norm)\.(weight|bias)", key):
            return f"{_NORMS[m.group(1)]}.{m.group(2)}"
        if m := re.fullmatch(r"visual\.transformer\.(\d+)\.(.+)\.(weight|bias)", key):
            layer, module, leaf = m.groups()
            if module == "attn.to_qkv":
                return _qkv(layer, leaf)
            target = _ORIGINAL_LAYER.get(module)
            return f"{_L}{layer}.{target}.{leaf}" if target else UNKNOWN
        return UNKNOWN

    def open_clip(key: str) -> Any:
        if not key.startswith("visual."):
            return None  # the text tower, logit_scale
        if key == "visual.conv1.weight":
            return f"{_E}patch_embedding.weight"
        if key == "visual.class_embedding":
            return Take(f"{_E}class_embedding", "", "reshape", shape=(dim,))
        if key == "visual.positional_embedding":
            return Take(f"{_E}position_embedding.weight", "", "reshape", shape=(positions, dim))
        if key == "visual.proj":
            return Take("visual_projection.weight", "", "transpose")
        if m := re.fullmatch(r"visual\.(ln_pre|ln_post)\.(weight|bias)", key):
            return f"{_NORMS[m.group(1)]}.{m.group(2)}"
        if m := re.fullmatch(r"visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)", key):
            return _qkv(m.group(1), m.group(2))
        if m := re.fullmatch(r"visual\.transformer\.resblocks\.(\d+)\.(.+)\.(weight|bias)", key):
            layer, module, leaf = m.groups()
            target = _OPEN_CLIP_LAYER.get(module)
            return f"{_L}{layer}.{target}.{leaf}" if target else UNKNOWN
        return UNKNOWN

    def transformers(key: str) -> Any:
        if key.startswith(("text_model.", "text_projection", "logit_scale")) or key.endswith("position_ids"):
            return None
        if key.startswith("vision_model.") or key == "visual_projection.weight":
            return key
        return UNKNOWN

    return {"original": original, "open_clip": open_clip, "transformers": transformers}[info.layout]


def transformers_config(info: ModelInfo):
    from transformers import CLIPVisionConfig

    c = info.config
    if not c.get("num_heads"):
        raise CheckpointError(f"{info.path}: cannot tell the number of attention heads of a {c['dim']}-wide "
                              "CLIP vision model")
    config = bundled_config("clip_vision_h.json")
    config.update(hidden_size=c["dim"], intermediate_size=c["mlp_dim"], num_hidden_layers=c["num_layers"],
                  num_attention_heads=c["num_heads"], image_size=c["image_size"], patch_size=c["patch_size"],
                  projection_dim=c["projection_dim"] or c["dim"])
    return CLIPVisionConfig(**config)


def build(config, with_projection: bool = True):
    from transformers import CLIPVisionModel, CLIPVisionModelWithProjection

    return (CLIPVisionModelWithProjection if with_projection else CLIPVisionModel)(config)
