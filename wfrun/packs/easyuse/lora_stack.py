"""Easy-Use's LoRA stack (``easy loraStack``, ``py/nodes/loaders.py``) and its applier
(``easy loraStackApply``, ``py/nodes/adapter.py``), as at release 1.3.5.

``easy loraStack`` builds a LORA_STACK: a list of ``(name, model strength, clip strength)``
— first the rows of ``optional_lora_stack`` whose name is not ``None``, then rows 1 to
``num_loras`` of its own whose name is set and not ``None``: in ``simple`` mode both
strengths are ``lora_N_strength``; in ``advanced`` mode ``lora_N_model_strength`` and
``lora_N_clip_strength``. With ``toggle`` off the stack is ``None`` (nothing to apply).
A row is kept even at strength 0, as in the pack.

``easy loraStackApply`` applies each row in order with ComfyUI's ``load_lora_for_models``
(the pack's ``easyCache.load_lora``): on a Wan MODEL that is one LoRA patch at the model
strength, merged while a sampler runs, as core ``LoraLoader`` does; ``optional_clip`` comes
back unchanged (Wan LoRAs carry no UMT5 layers; a row whose file does, with a non-zero clip
strength while a CLIP is connected, is refused, as wfrun's ``LoraLoader``).

Differences, written down: the pack skips a LoRA file it cannot find without a word;
wfrun reports it on the node, since a video made without the LoRA the file asks for is
rarely what the user wanted. A row at model strength 0 adds no patch (ComfyUI's patch at
strength 0 changes no weight).
"""

from __future__ import annotations

from typing import Any

from wfrun.models.handles import CoreModel, LoraPatch
from wfrun.models.header import CheckpointError
from wfrun.models.lora_files import LoraError, check_fits, lora_module_names
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.lora_ahead import merge_model_loras_ahead
from wfrun.nodes.models import resolve

#: The pack's ``max_lora_num``: rows the node has.
MAX_LORAS = 10
MODES = ("simple", "advanced")
_TEXT_PREFIXES = ("text_encoder", "te_", "lora_te")


def _strength(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"expected a number, found {value!r}")
    return float(value)


@executor("easy loraStack")
def easy_lora_stack(ctx: ExecContext, toggle: Any, mode: Any, num_loras: Any, optional_lora_stack: Any = None,
                    **rows: Any) -> tuple:
    if toggle in (False, None, "False"):
        return (None,)
    if mode not in MODES:
        raise NodeInputError("mode", f"unknown mode {mode!r}", "use simple or advanced")
    if isinstance(num_loras, bool) or not isinstance(num_loras, int) or not 1 <= num_loras <= MAX_LORAS:
        raise NodeInputError("num_loras", f"expected a whole number from 1 to {MAX_LORAS}, found {num_loras!r}")
    stack: list[tuple[str, float, float]] = []
    if optional_lora_stack is not None:
        if not isinstance(optional_lora_stack, (list, tuple)):
            raise NodeInputError("optional_lora_stack", f"expected a LORA_STACK, found {type(optional_lora_stack).__name__}",
                                 "connect another easy loraStack")
        stack.extend(tuple(row) for row in optional_lora_stack if row[0] != "None")
    for i in range(1, int(num_loras) + 1):
        name = rows.get(f"lora_{i}_name")
        if not name or name == "None":
            continue
        if mode == "simple":
            strength = _strength(rows.get(f"lora_{i}_strength"), f"lora_{i}_strength")
            stack.append((str(name), strength, strength))
        else:
            stack.append((str(name), _strength(rows.get(f"lora_{i}_model_strength"), f"lora_{i}_model_strength"),
                          _strength(rows.get(f"lora_{i}_clip_strength"), f"lora_{i}_clip_strength")))
    return (stack,)


@executor("easy loraStackApply", ahead=merge_model_loras_ahead)
def easy_lora_stack_apply(ctx: ExecContext, lora_stack: Any, model: Any, optional_clip: Any = None,
                          **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from a core loader, got {type(model).__name__}")
    if lora_stack is None:
        return (model, optional_clip)
    if not isinstance(lora_stack, (list, tuple)):
        raise NodeInputError("lora_stack", f"expected a LORA_STACK, found {type(lora_stack).__name__}",
                             "connect an easy loraStack")
    loras = list(model.loras)
    for row in lora_stack:
        name, model_strength, clip_strength = row[0], float(row[1]), float(row[2])
        path = resolve(ctx, "loras", name, "lora_stack")
        try:
            check_fits(model.transformer, path)
        except (LoraError, CheckpointError) as err:
            raise NodeInputError("lora_stack", f"{name}: {err}") from None
        if optional_clip is not None and clip_strength != 0:
            text_layers = [n for n in lora_module_names(path) if n.startswith(_TEXT_PREFIXES)]
            if text_layers:
                raise NodeInputError("lora_stack", f"{path.name} has {len(text_layers)} text-encoder layers, which "
                                     "wfrun does not apply to UMT5", "set its clip strength to 0")
        if model_strength != 0:
            loras.append(LoraPatch(path=path, strength=model_strength))
    return (model.patched(loras=tuple(loras)) if len(loras) != len(model.loras) else model, optional_clip)
