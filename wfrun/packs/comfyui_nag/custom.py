"""ComfyUI-NAG's custom-sampling nodes (``node.py``): NAGCFGGuider, NAGGuider and
SamplerCustomWithNAG.

- NAGCFGGuider is ComfyUI's CFGGuider (model, positive, negative, cfg) whose sampling guides
  the positive passes with NAG; NAGGuider is the same guider given one conditioning, the
  pack's ``set_conds(conditioning)`` with CFGGuider's cfg of 1: BasicGuider plus NAG.
  Each is the core guider's GUIDER with the NAG settings attached; SamplerCustomAdvanced
  hands them to the sampler.
- SamplerCustomWithNAG is SamplerCustom with the NAG inputs: the core executor is called
  with the NAG settings.

The core executors are found in the executor registry (packs do not import each other).
The NAG rules (``nag_scale <= 1`` is off, the first entry of ``nag_negative``, repeated to
the latent batch; Fun Camera refused) are :func:`.nodes.nag_guidance`'s. The guiders'
``latent_image`` only tells the pack the batch size to repeat ``nag_negative`` to; wfrun's
sampler repeats it to the sampled latent's batch, so it is checked to be a LATENT and not
otherwise used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

from .nodes import OOM_HINT, _core, nag_guidance


def _check_latent(latent_image: Any) -> None:
    if not isinstance(latent_image, dict) or "samples" not in latent_image:
        raise NodeInputError("latent_image", f"expected a LATENT, got {type(latent_image).__name__}")


def _with_nag(guider: Any, nag: Any) -> Any:
    if nag is None:
        return guider
    return dataclasses.replace(guider, nag=nag)


@executor("NAGCFGGuider")
def nag_cfg_guider(ctx: ExecContext, model: Any, positive: Any, negative: Any, nag_negative: Any, cfg: Any,
                   nag_scale: Any, nag_tau: Any, nag_alpha: Any, nag_sigma_end: Any, latent_image: Any = None,
                   **_: Any) -> tuple:
    """``latent_image`` is no input of the pack's first version (2025-06-22)."""
    if latent_image is not None:
        _check_latent(latent_image)
    nag = nag_guidance(model, nag_negative, nag_scale, nag_tau, nag_alpha, nag_sigma_end)
    (guider,) = _core("CFGGuider")(ctx, model=model, positive=positive, negative=negative, cfg=cfg)
    return (_with_nag(guider, nag),)


@executor("NAGGuider")
def nag_guider(ctx: ExecContext, model: Any, conditioning: Any, nag_negative: Any, nag_scale: Any, nag_tau: Any,
               nag_alpha: Any, nag_sigma_end: Any, latent_image: Any, **_: Any) -> tuple:
    _check_latent(latent_image)
    nag = nag_guidance(model, nag_negative, nag_scale, nag_tau, nag_alpha, nag_sigma_end)
    (guider,) = _core("BasicGuider")(ctx, model=model, conditioning=conditioning)
    return (_with_nag(guider, nag),)


@executor("SamplerCustomWithNAG", oom_hint=OOM_HINT)
def sampler_custom_with_nag(ctx: ExecContext, model: Any, nag_negative: Any, nag_scale: Any, nag_tau: Any,
                            nag_alpha: Any, nag_sigma_end: Any, **inputs: Any) -> tuple:
    nag = nag_guidance(model, nag_negative, nag_scale, nag_tau, nag_alpha, nag_sigma_end)
    return _core("SamplerCustom")(ctx, model=model, nag=nag, **inputs)
