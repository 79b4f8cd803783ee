"""WanVideoLoraSelectMulti (``nodes_model_loading.py``): up to five LoRAs in one node; and
WanVideoLoraBlockEdit, the block selection any LoRA select node takes as ``blocks``.

As the pack: each ``lora_i`` with its ``strength_i`` (rounded to 4 decimals) joins the
chain after ``prev_lora``; ``none`` or a strength of 0 leaves that slot out; the same
``blocks`` selection applies to all five; an empty chain is no LoRA at all (the pack
returns None, and the loader then merges nothing). Per-step strength lists (the pack's
unmerged LoRA scheduling) are refused by name: wfrun merges LoRAs into the weights.
"""

from __future__ import annotations

from typing import Any, Callable

from wfrun.models.lora_files import prefetch_many
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve
from wfrun.packs.wanvideo.types import LoraSpec, SelectedBlocks, lora_blocks

SLOTS = 5


def read_ahead(ctx: ExecContext, pairs: list[tuple[str, Any, Any]]) -> Callable[[], None]:
    """Start reading the LoRA files named by constant widgets, ``(input name, file, strength)``
    each, while the run's first nodes work (``models.lora_files.prefetch_many``: not for a
    strength of 0, nor a file a kept merge holds); the model loader or the sampler that merges
    them takes them from memory. Names that come by links are known only at the node's turn,
    and a missing file is named there too."""
    reads = []
    for input_name, name, strength in pairs:
        if not isinstance(name, str) or not name or name == "none":
            continue
        try:
            reads.append((resolve(ctx, "loras", name, input_name), strength))
        except NodeInputError:
            continue
    return prefetch_many(reads)


def read_select_ahead(ctx: ExecContext, constants: dict[str, Any]) -> Callable[[], None]:
    """WanVideoLoraSelect's prefetch: its one file."""
    return read_ahead(ctx, [("lora", constants.get("lora"), constants.get("strength"))])


def read_multi_ahead(ctx: ExecContext, constants: dict[str, Any]) -> Callable[[], None]:
    """WanVideoLoraSelectMulti's prefetch: its five slots."""
    def strength(i: int) -> Any:  # as the node rounds it: a slot it leaves out is not read
        value = constants.get(f"strength_{i}")
        return round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    return read_ahead(ctx, [(f"lora_{i}", constants.get(f"lora_{i}"), strength(i)) for i in range(SLOTS)])


@executor("WanVideoLoraSelectMulti", prefetch=read_multi_ahead)
def wanvideo_lora_select_multi(ctx: ExecContext, *, prev_lora: Any = None, blocks: Any = None,
                               low_mem_load: bool, **slots: Any) -> tuple:
    chain = list(prev_lora or [])
    for i in range(SLOTS):
        name, strength = slots.get(f"lora_{i}"), slots.get(f"strength_{i}", 0.0)
        if isinstance(strength, (list, tuple)):
            raise NodeInputError(f"strength_{i}", "a strength per step (LoRA scheduling) is not supported: wfrun "
                                 "merges LoRAs into the weights", "give one strength")
        strength = round(float(strength), 4)
        if not name or name == "none" or strength == 0.0:
            continue
        path = resolve(ctx, "loras", name, f"lora_{i}")
        chain.append(LoraSpec(path=path, strength=strength, low_mem_load=bool(low_mem_load),
                              blocks=lora_blocks(blocks)))
    return (tuple(chain) if chain else None,)


@executor("WanVideoLoraBlockEdit")
def wanvideo_lora_block_edit(ctx: ExecContext, *, layer_filter: Any, **toggles: Any) -> tuple:
    """The blocks switched on (``blocks.N.`` inputs that are True) and the comma-separated
    ``layer_filter`` pieces, as the pack's ``select``: SELECTEDBLOCKS for a LoRA select
    node's ``blocks`` (see :class:`~wfrun.packs.wanvideo.types.SelectedBlocks`)."""
    chosen = frozenset(name.rstrip(".") for name, on in toggles.items()
                       if name.startswith("blocks.") and on is True)
    pieces = tuple(p.strip() for p in str(layer_filter or "").split(",") if p.strip())
    return (SelectedBlocks(chosen, pieces),)
