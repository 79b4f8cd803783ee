"""Merge Wan LoRA files into a loaded diffusers transformer (WanVideoLoraSelect → loader).

LoRAs for Wan 2.1 come in a few key layouts, all naming the *original* Wan modules:
``diffusion_model.blocks.0.self_attn.q.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``
(Kijai, kohya-style), ``lora_unet_blocks_0_self_attn_q.lora_down.weight`` (kohya with
underscores), and ``…lora_A.weight`` / ``…lora_B.weight`` (PEFT, diffusers-trained). Each
pair becomes ``W += strength · (alpha / rank) · up @ down`` on the matching diffusers linear,
found through the same key map the checkpoint loader uses (``convert_transformer.rename``).

Like the pack's default (``merge_loras=True``), weights are merged once at load time. An
fp8-stored layer is up-cast, merged and stored back in its fp8 format (the pack merges
into fp8 weights the same way).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from wfrun.nodes.executor import NodeInputError
from wfrun.models import convert_transformer
from wfrun.models.lora_files import read_lora, weight_shape
from wfrun.packs.wanvideo.control_lora import (PATCH, ControlLora, attach_control_lora, control_lora_of,
                                               is_control_lora)
from wfrun.models.comfy_quant_linear import PackedLinear
from wfrun.packs.wanvideo.lora_delta import add_delta, add_patch, lora_delta


def apply_loras(transformer: Any, loras: Iterable[Any]) -> int:
    """Merge every LoRA of the chain into ``transformer``; returns the layers changed.

    A control LoRA (control_lora.py) is not merged here: it is kept in the transformer's hook
    registry (``attach_control_lora``) and the sampler merges it only inside its control window."""
    changed = 0
    modules = dict(transformer.named_modules())
    for spec in loras:
        pairs = read_lora(spec.path)
        if not pairs:
            raise NodeInputError("lora", f"{spec.path}: no LoRA weights (lora_down/lora_up or lora_A/lora_B) found")
        control = is_control_lora(pairs, int(transformer.config.in_channels))
        held: dict[Any, dict[str, torch.Tensor]] = {}  # a control LoRA's layers, merged later
        matched = 0
        unknown = []
        for original, parts in pairs.items():
            if "down" not in parts or "up" not in parts or (control and original == PATCH):
                continue
            if not spec.keeps(original):
                continue
            target = convert_transformer.rename(f"{original}.weight")
            module = modules.get(str(target).rpartition(".")[0]) if isinstance(target, str) else None
            if module is None:
                unknown.append(original)
                continue
            matched += 1
            if control:
                lora_delta(parts, spec.strength, weight_shape(module))  # the shapes must fit now
                held[module] = parts
            else:  # merged one layer at a time: no full-size copy of the model is made
                # the delta is made where the weight lives (a model read straight onto the GPU:
                # its 400 matmuls there instead of on the CPU), as the core LoRA merge does
                parts = {kind: tensor.to(module.weight.device) for kind, tensor in parts.items()}
                if isinstance(module, PackedLinear):  # kept packed: the LoRA is added at each call
                    add_patch(module, parts, spec.strength)
                else:
                    add_delta(module, lora_delta(parts, spec.strength, weight_shape(module)))
        if unknown and not matched:
            raise NodeInputError("lora", f"{spec.path}: none of its {len(unknown)} layers match this model "
                                 f"(first: {unknown[0]})", "is it a LoRA for another model family?")
        if control:
            if control_lora_of(transformer) is not None:
                raise NodeInputError("lora", f"{spec.path}: a second control LoRA", "chain one control LoRA only")
            patch = pairs[PATCH]
            wide = (patch["down"].shape[1],) + tuple(transformer.patch_embedding.weight.shape[2:])
            patch_delta = lora_delta(patch, spec.strength, (transformer.patch_embedding.out_channels, *wide))
            attach_control_lora(transformer, ControlLora(transformer, held, spec.strength, patch_delta,
                                                         patch.get("diff_b", None)))
        changed += matched
    return changed
