"""``wanBlockSwap`` of orssorbit/ComfyUI-wanBlockswap (registry id ``wanblockswap``).

ComfyUI core later added a compatibility node of the same name with only a ``model``
input; files name the pack in ``properties.cnr_id``/``aux_id``, so each is read with its
own spec (``specs.registry``) and runs its own executor (``pack=`` below).

The pack clones the MODEL and adds an on-load callback that leaves transformer blocks
``0..blocks_to_swap`` on the offload device (its test is ``b > blocks_to_swap`` for the
blocks that go to the GPU, so one block more than the number asked for, capped at the
model's blocks), and the text/image embedders when asked; ComfyUI then streams those
weights in per forward. Here the MODEL gets a :class:`~wfrun.models.handles.BlockSwap` and
the core samplers stream the same blocks for each pass on a GPU (``placement.swapped``,
the WanVideoWrapper's streamer; ``use_non_blocking`` prefetches the next block). Results
are the same as without it: only where weights live changes. On the CPU nothing moves.

Differences: the pack's first commit (2025-03-09, fixed the same day) offloaded every
block whatever ``blocks_to_swap`` said; its saves cannot be told apart by date and run as
the fixed version. Its block count is taken as saved, not checked against the model's
(the pack's loop simply runs over the blocks there are).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfrun.models.handles import BlockSwap, CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

PACK = "wanblockswap"


@executor("wanBlockSwap", pack=PACK)
def wan_block_swap(ctx: ExecContext, model: Any, blocks_to_swap: int, offload_img_emb: bool, offload_txt_emb: bool,
                   use_non_blocking: bool, **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL (UNETLoader), got {type(model).__name__}")
    if int(blocks_to_swap) < 0:
        raise NodeInputError("blocks_to_swap", f"blocks_to_swap is {blocks_to_swap}", "use 0 to 40")
    blocks = len(getattr(model.transformer, "blocks", ()))
    swap = BlockSwap(blocks=min(int(blocks_to_swap) + 1, blocks), offload_img_emb=bool(offload_img_emb),
                     offload_txt_emb=bool(offload_txt_emb), non_blocking=bool(use_non_blocking))
    return (dataclasses.replace(model, block_swap=swap),)
