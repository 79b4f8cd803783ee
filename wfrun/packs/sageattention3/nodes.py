"""Sage3AttentionOnlySwitch (``nodes/sage3_only.py``, the pack's only node since 2025-10-03).

In ComfyUI the node swaps ``torch.nn.functional.scaled_dot_product_attention`` for the
``sageattn3_blackwell`` FP4 kernel of the ``sageattn3`` package, process-wide, and hands the
model on unchanged; with ``enable`` off it puts PyTorch's SDPA back. Attention that a model
patch has routed elsewhere (KJNodes' SageAttention patch) is not touched by it. The pack
raises when ``sageattn3`` cannot be imported; the kernel only runs on Blackwell GPUs.

wfrun has no SageAttention3 kernel, so, as for every attention kernel it lacks (the
wrapper's ``attention_mode`` choices, KJNodes' SageAttention patch: ``sampling.attention``),
the model keeps the attention it has (PyTorch SDPA unless a patch chose another) and a
notice says so: the numbers are those of exact attention, not of the FP4 approximation. The
pack's process-wide patch also dropped SDPA's ``attn_mask``, ``is_causal`` and ``scale`` for
every later caller; wfrun changes no other model. ``print_backend`` only printed a line.
"""

from __future__ import annotations

import logging
from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


@executor("Sage3AttentionOnlySwitch")
def sage3_attention_only_switch(ctx: ExecContext, model: Any, enable: bool, **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from a core loader, got {type(model).__name__}",
                             "connect UNETLoader (or a node that hands its MODEL on)")
    if enable:
        log.info("Sage3AttentionOnlySwitch: wfrun has no SageAttention3 (sageattn3_blackwell) kernel; the model "
                 "keeps its attention (%s)", model.attention)
    return (model,)
