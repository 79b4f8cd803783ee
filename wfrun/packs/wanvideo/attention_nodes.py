"""The wrapper's attention setters on a loaded model (``nodes_model_loading.py`` and
``nodes.py``, 2025-07 on).

- ``WanVideoSetAttentionModeOverride``: another ``attention_mode`` for the self-attention of
  the ``blocks`` given (WanVideoBlockList's list; none: every block) in steps ``start_step <=
  step < end_step``, the other blocks and steps keeping the loader's. The mode maps to a
  diffusers backend as the loader's does (SDPA where its kernel or package is missing) and
  a hook of the sampling pass switches the blocks' self-attention processors to it
  (``sampling.hooks.SelfAttentionOverride``). As the pack, cross-attention keeps the
  loader's mode.
- ``WanVideoSetRadialAttention``: the pack's radial attention is a sparse kernel (a
  block-sparse mask whose window shrinks with the distance between frames) that wfrun does
  not have. As the pack, the node asks for a radial ``attention_mode`` in the loader (the
  loader already runs it as dense SageAttention, or SDPA); the model then runs every block
  and step with dense attention, the reference that radial attention approximates, and the
  node says so in one warning. Its settings (dense blocks, steps, decay, block size) only
  shape the sparse mask, so they change nothing here.
- ``WanVideoUltraVicoSettings``: UltraViCo's alpha for the loader's ``sageattn_ultravico``
  attention, which wfrun computes densely (``sampling.ultravico``: the pack's logit edits on
  exact attention instead of its int8 SageAttention kernel).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.model_loader import attention_backend
from wfrun.packs.wanvideo.types import WanVideoModel
from wfrun.sampling.attention import AttentionOverride

log = logging.getLogger(__name__)


def _model(model: Any) -> WanVideoModel:
    if not isinstance(model, WanVideoModel):
        raise NodeInputError("model", f"expected a WANVIDEOMODEL from WanVideoModelLoader, got {type(model).__name__}")
    return model


def _blocks(blocks: Any) -> tuple[int, ...] | None:
    if blocks is None:
        return None
    values = blocks if isinstance(blocks, (list, tuple)) else [blocks]
    try:
        return tuple(int(b) for b in values)
    except (TypeError, ValueError):
        raise NodeInputError("blocks", f"expected block numbers, got {blocks!r}", "connect WanVideoBlockList") from None


@executor("WanVideoSetAttentionModeOverride")
def wanvideo_set_attention_mode_override(ctx: ExecContext, model: Any, attention_mode: str, start_step: int,
                                         end_step: int, verbose: bool, blocks: Any = None, **_: Any) -> tuple:
    model = _model(model)
    override = AttentionOverride(backend=attention_backend(str(attention_mode), ctx.device),
                                 start_step=int(start_step), end_step=int(end_step), blocks=_blocks(blocks),
                                 verbose=bool(verbose))
    return (dataclasses.replace(model, attention_override=override),)


@executor("WanVideoSetRadialAttention")
def wanvideo_set_radial_attention(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    model = _model(model)
    if "radial" not in model.attention_mode:
        raise NodeInputError("model", f"the model loader's attention_mode is {model.attention_mode!r}",
                             "enable radial attention first in the model loader (radial_sage_attention)")
    log.warning("WanVideoSetRadialAttention: wfrun has no radial sparse attention kernel; every block runs dense "
                "attention, the reference that radial attention approximates")
    return (model,)


@executor("WanVideoUltraVicoSettings")
def wanvideo_ultravico_settings(ctx: ExecContext, model: Any, alpha: float, **_: Any) -> tuple:
    """UltraViCo's alpha on the model; it acts when the loader's ``attention_mode`` is
    ``sageattn_ultravico`` (``sampling.ultravico``), as in the pack (which says so too)."""
    model = _model(model)
    if model.attention_mode != "sageattn_ultravico":
        log.warning("WanVideoUltraVicoSettings: the model loader's attention_mode is %s; UltraViCo acts only with "
                    "sageattn_ultravico", model.attention_mode)
    return (dataclasses.replace(model, ultravico_alpha=float(alpha)),)
