"""ComfyUI's CLIPMergeSimple (comfy_extras/nodes_model_merging.py) for Wan's UMT5.

ComfyUI clones ``clip1`` and patches every weight that ``clip2`` also has (except
``position_ids`` and ``logit_scale``) so that, in float32, ``w = w1 * ratio + w2 * (1 -
ratio)``, cast back to the weight's dtype; weights only one of them has are left as ``clip1``
has them, and a weight whose shapes differ is skipped with a warning. ``ratio`` 1 therefore
gives ``clip1`` unchanged (``w1 * 1 + w2 * 0``): wfrun returns ``clip1`` itself, whatever
``clip2`` is. Other ratios are merged into a copy of ``clip1``'s encoder the same way, for
encoders read from safetensors files stored in float32, float16 or bfloat16; ComfyUI writes a
merged fp8 weight with stochastic rounding (and GGUF weights stay quantized), which wfrun
cannot reproduce, so those are refused naming ``ratio``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Any

import torch

from wfrun.models.handles import WanTextEncoder
from wfrun.models.header import read_header
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

_PLAIN = {"F32", "F16", "BF16"}
_SKIPPED = (".position_ids", ".logit_scale")


def _check_plain(clip: WanTextEncoder, name: str) -> None:
    """Refuse encoders whose stored weights ComfyUI would merge with rounding wfrun lacks."""
    path = clip.path
    if path is None or path.suffix.lower() != ".safetensors":
        raise NodeInputError("ratio", f"{name} is not read from a .safetensors file; wfrun merges text encoders "
                             "at a ratio other than 1.0 only from float32/float16/bfloat16 safetensors",
                             "use ratio 1.0 (keeps clip1) or unquantized text encoder files")
    dtypes = {entry.get("dtype") for entry in read_header(path).values() if isinstance(entry, dict)}
    if not dtypes <= _PLAIN:
        raise NodeInputError("ratio", f"{name} ({path.name}) stores {', '.join(sorted(dtypes - _PLAIN))} weights: "
                             "ComfyUI rounds a merged fp8 weight stochastically, which wfrun does not reproduce",
                             "use ratio 1.0 (keeps clip1) or float32/float16/bfloat16 text encoder files")


@executor("CLIPMergeSimple")
@torch.no_grad()
def clip_merge_simple(ctx: ExecContext, clip1: Any, clip2: Any, ratio: Any, **_: Any) -> tuple:
    for name, clip in (("clip1", clip1), ("clip2", clip2)):
        if not isinstance(clip, WanTextEncoder):
            raise NodeInputError(name, f"{name}: expected a CLIP from CLIPLoader or CheckpointLoaderSimple (Wan UMT5)")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise NodeInputError("ratio", f"ratio: expected a number, found {ratio!r}")
    ratio = float(ratio)
    if ratio == 1.0:
        return (clip1,)
    _check_plain(clip1, "clip1")
    _check_plain(clip2, "clip2")
    merged = copy.deepcopy(clip1.encoder)
    theirs = clip2.encoder.state_dict()
    ours = merged.state_dict()
    done: set[int] = set()  # tied weights (shared embeddings) appear under several names: merge once
    for key, weight in ours.items():
        other = theirs.get(key)
        if other is None or key.endswith(_SKIPPED) or not weight.is_floating_point() or weight.data_ptr() in done:
            continue
        if other.shape != weight.shape:
            log.warning("CLIPMergeSimple: %s has shape %s in clip1 and %s in clip2; not merged (as ComfyUI)",
                        key, tuple(weight.shape), tuple(other.shape))
            continue
        done.add(weight.data_ptr())
        mixed = weight.float() * ratio + other.to(weight.device).float() * (1.0 - ratio)
        weight.copy_(mixed.to(weight.dtype))
    return (replace(clip1, encoder=merged),)
