"""KSamplerWithNAG and KSamplerWithNAG (Advanced) (ChenDarYen/ComfyUI-NAG ``node.py``).

Each is ComfyUI's KSampler / KSamplerAdvanced with three more inputs: a ``nag_negative``
CONDITIONING and ``nag_scale``/``nag_tau``/``nag_alpha``/``nag_sigma_end``. The pack's
guider runs the normal sampling (noise, sigmas, CFG, cfg 1 shortcut) and, through a switch
on the Wan model, guides every cross-attention of the *positive* prediction with NAG
(:mod:`wfrun.sampling.nag`) while the step's sigma is at least ``nag_sigma_end``. So here
the core executors run with one more argument, ``nag``: they are found by class type in the
executor registry (packs do not import each other) and handed the NAG settings.

As the pack:

- ``nag_scale`` of 1 or less switches NAG off (``apply_guidance = nag_scale > 1``): a
  plain KSampler run;
- only the first entry's tensor of ``nag_negative`` is used (its options, e.g. an image
  from WanImageToVideo, are not), repeated to the latent batch;
- Wan models of ComfyUI's ``WanModel``/``VaceWanModel`` classes only: the Fun Camera model
  (``CameraWanModel``) is refused, as the pack raises for it.

The pack pads the shorter of the prompt and the NAG prompt by repeating it when their token
counts differ; here each is attended as it is (the same for the usual 512 tokens of both).
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling.nag import NAGGuidance, NAGParams, negative_tensor

OOM_HINT = "load the model with weight_dtype fp8_e4m3fn, or make fewer frames or a smaller size"


def nag_guidance(model: Any, nag_negative: Any, nag_scale: Any, nag_tau: Any, nag_alpha: Any,
                 nag_sigma_end: Any) -> NAGGuidance | None:
    """The NAG settings of one sampler node, or None when ``nag_scale <= 1`` turns it off."""
    try:
        scale, tau, alpha, sigma_end = (float(v) for v in (nag_scale, nag_tau, nag_alpha, nag_sigma_end))
    except (TypeError, ValueError):
        raise NodeInputError("nag_scale", "nag_scale, nag_tau, nag_alpha and nag_sigma_end must be numbers") from None
    if scale <= 1.0:
        return None
    transformer = getattr(model, "transformer", None)
    if transformer is not None and getattr(transformer, "control_adapter", None) is not None:
        raise NodeInputError("model", "ComfyUI-NAG does not support the Wan Fun Camera model",
                             "use KSamplerAdvanced without NAG for this model")
    text_dim = getattr(getattr(transformer, "config", None), "text_dim", None)
    try:
        tensor = negative_tensor(nag_negative, text_dim)
    except ValueError as err:
        raise NodeInputError("nag_negative", str(err), "connect the negative prompt's CLIPTextEncode") from None
    return NAGGuidance(tensor, NAGParams(scale, tau, alpha), sigma_end)


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "model")


@executor("KSamplerWithNAG", oom_hint=OOM_HINT)
def ksampler_with_nag(ctx: ExecContext, model: Any, nag_negative: Any, nag_scale: Any, nag_tau: Any,
                      nag_alpha: Any, nag_sigma_end: Any, **inputs: Any) -> tuple:
    nag = nag_guidance(model, nag_negative, nag_scale, nag_tau, nag_alpha, nag_sigma_end)
    return _core("KSampler")(ctx, model=model, nag=nag, **inputs)


@executor("KSamplerWithNAG (Advanced)", oom_hint=OOM_HINT)
def ksampler_advanced_with_nag(ctx: ExecContext, model: Any, nag_negative: Any, nag_scale: Any, nag_tau: Any,
                               nag_alpha: Any, nag_sigma_end: Any, **inputs: Any) -> tuple:
    nag = nag_guidance(model, nag_negative, nag_scale, nag_tau, nag_alpha, nag_sigma_end)
    return _core("KSamplerAdvanced")(ctx, model=model, nag=nag, **inputs)
