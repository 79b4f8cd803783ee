"""DummyComfyWanModelObject (``nodes_utility.py``, 2025-07 on; ``shift`` from 2025-08-02): a
MODEL with no weights, only ComfyUI's flow model sampling (``ModelSamplingDiscreteFlow``,
multiplier 1000) at ``shift``, so that ComfyUI's BasicScheduler (and the other nodes that
read only a MODEL's sampling) can make SIGMAS for the wrapper's sampler.

wfrun's MODEL is :class:`~wfrun.models.handles.CoreModel`; the schedulers read its ``shift``
and ``multiplier`` only. Its transformer is a stand-in that answers every use with the
error the pack's object gives in its own way (it has no model either): a sampler fed this
MODEL is refused naming its ``model`` input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


class NoWeights:
    """The dummy MODEL's transformer: any use of it is a user error on ``model``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NodeInputError("model", "the MODEL from DummyComfyWanModelObject has no weights: it only gives "
                             "schedulers (BasicScheduler) its sampling shift",
                             "connect a loaded model (UNETLoader) here")

    def __repr__(self) -> str:
        return "NoWeights()"


@executor("DummyComfyWanModelObject")
def dummy_comfy_wan_model_object(ctx: ExecContext, shift: Any, **_: Any) -> tuple:
    if isinstance(shift, bool) or not isinstance(shift, (int, float)):
        raise NodeInputError("shift", f"expected a number, found {shift!r}")
    return (CoreModel(transformer=NoWeights(), task="none", path=Path("DummyComfyWanModelObject"),
                      dtype=torch.float32, latent_channels=16, shift=float(shift), multiplier=1000.0),)
