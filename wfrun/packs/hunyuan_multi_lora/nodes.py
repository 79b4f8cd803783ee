"""HunyuanMultiLoraLoader: up to four LoRAs on a MODEL, as ComfyUI's LoraLoaderModelOnly
each (``load_lora_for_models`` with the CLIP strength 0).

As the pack: a slot with ``None`` or strength 0 is skipped; ``blocks_type`` other than
``all`` keeps only the LoRA keys whose name (without ``diffusion_model.``/``transformer.``)
contains ``single_blocks`` or ``double_blocks`` — HunyuanVideo's block names. A Wan LoRA
has neither, so on a Wan model such a slot applies nothing, exactly as in ComfyUI; wfrun
says so in a notice rather than silently.
"""

from __future__ import annotations

import logging
from typing import Any

from wfrun.models.handles import CoreModel, LoraPatch
from wfrun.models.lora_files import lora_module_names
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.lora_ahead import merge_model_loras_ahead
from wfrun.nodes.models import resolve

log = logging.getLogger(__name__)

SLOTS = 4
BLOCK_TYPES = ("all", "single_blocks", "double_blocks")


@executor("HunyuanMultiLoraLoader", ahead=merge_model_loras_ahead)
def hunyuan_multi_lora_loader(ctx: ExecContext, model: Any, **slots: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from UNETLoader, got {type(model).__name__}")
    loras = list(model.loras)
    for i in range(1, SLOTS + 1):
        name, strength = slots.get(f"lora_0{i}"), slots.get(f"strength_0{i}", 0.0)
        blocks_type = slots.get(f"blocks_type_0{i}", "all")
        if not name or name == "None" or float(strength) == 0:
            continue
        if blocks_type not in BLOCK_TYPES:
            raise NodeInputError(f"blocks_type_0{i}", f"unknown block type {blocks_type!r}",
                                 "use " + ", ".join(BLOCK_TYPES))
        path = resolve(ctx, "loras", name, f"lora_0{i}")
        if blocks_type != "all" and not any(blocks_type in n for n in lora_module_names(path)):
            log.info("%s: no %s layers (HunyuanVideo's block names), nothing applied, as in ComfyUI",
                     path.name, blocks_type)
            continue
        loras.append(LoraPatch(path=path, strength=float(strength)))
    return (model.patched(loras=tuple(loras)) if len(loras) != len(model.loras) else model,)
