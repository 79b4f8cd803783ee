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
from dataclasses import dataclass
from typing import Any, Callable

from wfrun.models.detect import ModelInfo
from wfrun.models.header import CheckpointError
from wfrun.models.mapping import UNKNOWN, Take, bundled_config

LABEL = "a transformers CLIPVisionModelWithProjection"
_E = "vision_model.embeddings."
_L = "vision_model.encoder.layers."

FP8_MODULES = re.compile(r"^vision_model\.encoder\.layers\.\d+\.(self_attn|mlp)\.")

@dataclass(frozen=True)
class _VisionNames:
    """Where one layout keeps each part of the vision tower (the two differ only in names)."""

    keeps: Callable[[str], bool]  # keys of the vision tower; the rest (text tower, scales) is dropped
    patch: str
    cls: str
    pos: str
    head: str
    norms: str  # regex: (norm name, leaf)
    qkv: str    # regex: (layer, leaf) of the fused q/k/v projection
    layer: str  # regex: (layer, module, leaf)
    modules: dict[str, str]  # layer module -> transformers module
    norm_targets: dict[str, str]


_ORIGINAL = _VisionNames(
    keeps=lambda k: not (k == "log_scale" or k.startswith("textual.")),
    patch="visual.patch_embedding.weight", cls="visual.cls_embedding", pos="visual.pos_embedding",
    head="visual.head", norms=r"visual\.(pre_norm|post_norm)\.(weight|bias)",
    qkv=r"visual\.transformer\.(\d+)\.attn\.to_qkv\.(weight|bias)",
    layer=r"visual\.transformer\.(\d+)\.(.+)\.(weight|bias)",
    modules={"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.proj": "self_attn.out_proj",
             "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"},
    norm_targets={"pre_norm": "vision_model.pre_layrnorm", "post_norm": "vision_model.post_layernorm"})
_OPEN_CLIP = _VisionNames(
    keeps=lambda k: k.startswith("visual."),
    patch="visual.conv1.weight", cls="visual.class_embedding", pos="visual.positional_embedding",
    head="visual.proj", norms=r"visual\.(ln_pre|ln_post)\.(weight|bias)",
    qkv=r"visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)",
    layer=r"visual\.transformer\.resblocks\.(\d+)\.(.+)\.(weight|bias)",
    modules={"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
             "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"},
    norm_targets={"ln_pre": "vision_model.pre_layrnorm", "ln_post": "vision_model.post_layernorm"})


def _qkv(layer: str, leaf: str) -> list[Take]:
    return [Take(f"{_L}{layer}.self_attn.{name}_proj.{leaf}", "", "chunk", i, 3) for i, name in enumerate("qkv")]


def rename_for(info: ModelInfo, keys=()) -> Callable[[str], Any]:
    c = info.config
    dim, positions = c["dim"], (c["image_size"] // c["patch_size"]) ** 2 + 1

    def vision_tower(names: _VisionNames) -> Callable[[str], Any]:
        fixed = {names.patch: f"{_E}patch_embedding.weight",
                 names.cls: Take(f"{_E}class_embedding", "", "reshape", shape=(dim,)),
                 names.pos: Take(f"{_E}position_embedding.weight", "", "reshape", shape=(positions, dim)),
                 names.head: Take("visual_projection.weight", "", "transpose")}

        def rename(key: str) -> Any:
            if not names.keeps(key):
                return None
            if key in fixed:
                return fixed[key]
            if m := re.fullmatch(names.norms, key):
                return f"{names.norm_targets[m.group(1)]}.{m.group(2)}"
            if m := re.fullmatch(names.qkv, key):
                return _qkv(m.group(1), m.group(2))
            if m := re.fullmatch(names.layer, key):
                layer, module, leaf = m.groups()
                target = names.modules.get(module)
                return f"{_L}{layer}.{target}.{leaf}" if target else UNKNOWN
            return UNKNOWN

        return rename

    def transformers(key: str) -> Any:
        if key.startswith(("text_model.", "text_projection", "logit_scale")) or key.endswith("position_ids"):
            return None
        if key.startswith("vision_model.") or key == "visual_projection.weight":
            return key
        return UNKNOWN

    if info.layout == "transformers":
        return transformers
    return vision_tower({"original": _ORIGINAL, "open_clip": _OPEN_CLIP}[info.layout])


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
