"""WanVideoLoraSelectByName (``nodes_model_loading.py``, since 2025-09-03): a LoRA chosen by a
piece of its file name, for workflows that build LoRA names as text.

How the pack picks the file: it walks ComfyUI's list of the ``loras`` folders (relative
names, sorted) and keeps the *last* name that contains ``lora_name`` as a substring; then it
behaves as WanVideoLoraSelect (strength rounded to 4 decimals, 0 leaves the LoRA out and
passes ``prev_lora`` on). wfrun does the same, with the same order, so a workflow picks the
file it picked in ComfyUI.

An empty ``lora_name`` is a substring of every name, so the pack takes the last LoRA in the
folder (what ComfyUI_JANodes' LoraStringSplitter hands over for a ``none`` choice, at the
strength given). wfrun does the same and logs a warning naming the file it took.

Deviations, both where the pack would fail later: with no matching file the pack passes the
path ``none`` to the model loader, which cannot open it; wfrun refuses here, naming the
folders searched, except for an empty name with no LoRA file at all, which wfrun reads as
"no LoRA" (the chain passes on unchanged). Per-step strength lists (unmerged LoRA
scheduling) are refused: wfrun merges LoRAs into the weights.
"""

from __future__ import annotations

import logging
from typing import Any

from wfrun.models.paths import list_models
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve, roots_of
from wfrun.packs.wanvideo.types import LoraSpec, lora_blocks

log = logging.getLogger(__name__)


def pick_by_name(files: list[str], lora_name: str) -> str | None:
    """The pack's choice: the last of the sorted names that contains ``lora_name``."""
    chosen = None
    for name in sorted(set(files)):
        if lora_name in name:
            chosen = name
    return chosen


@executor("WanVideoLoraSelectByName")
def wanvideo_lora_select_by_name(ctx: ExecContext, lora_name: str, strength: Any, *, prev_lora: Any = None,
                                 blocks: Any = None, low_mem_load: bool, merge_loras: bool, **_: Any) -> tuple:
    chain = list(prev_lora or [])
    if isinstance(strength, (list, tuple)):
        raise NodeInputError("strength", "a strength per step (LoRA scheduling) is not supported: wfrun merges "
                             "LoRAs into the weights", "give one strength")
    if not isinstance(lora_name, str):
        raise NodeInputError("lora_name", f"expected a string, got {type(lora_name).__name__}")
    strength = round(float(strength), 4)
    if strength == 0.0:
        return (tuple(chain),)
    folders = roots_of(ctx).folders("loras")
    files = list_models(folders)
    chosen = pick_by_name(files, lora_name)
    if chosen is None:
        if not lora_name:
            return (tuple(chain),)
        raise NodeInputError("lora_name", f"no LoRA file name contains {lora_name!r} in the loras folders searched: "
                             + (", ".join(str(f) for f in folders) or "none"),
                             "put the LoRA in a loras folder, or set its strength to 0")
    if not lora_name:
        log.warning("WanVideoLoraSelectByName: an empty lora_name matches every LoRA; as the pack does, "
                    "the last one, %s, is applied at strength %s", chosen, strength)
    path = resolve(ctx, "loras", chosen, "lora_name")
    chain.append(LoraSpec(path=path, strength=strength, low_mem_load=bool(low_mem_load) and bool(merge_loras),
                          blocks=lora_blocks(blocks)))
    return (tuple(chain),)
