"""SharkOptions_Beta and ClownOptions_SwapSampler_Beta (RES4LYF ``beta/samplers_extensions.py``,
as of 81fe5f4d, 2025-07-09, the version wfrun's ClownsharKSampler_Beta follows), and the
merging of several OPTIONS inputs.

* SharkOptions_Beta writes ``noise_type_init``, ``noise_init_stdev`` (its ``s_noise_init``;
  saves from before 2025-04-12 call the input ``noise_stdev``), ``denoise_alt`` and
  ``channelwise_cfg``. wfrun's sampler honours ``noise_init_stdev``: the starting noise,
  after the pack's normalisation, is multiplied by it (0: no noise), as the pack's
  SharkSampler does. It refuses, at this node and naming the input, any noise type but
  "gaussian", a ``denoise_alt`` other than 1 (the pack's schedule scaling), channelwise CFG,
  and the February 2025 form's ``sigmas`` and a ``sampler_mode`` other than "standard".
* ClownOptions_SwapSampler_Beta writes ``rk_swap_type`` (the sampler name without its
  folder), ``rk_swap_step``, ``rk_swap_threshold`` and ``rk_swap_print``. The pack's
  sampler switches to that sampler after step ``swap_at_step`` (0-based: at steps above
  it), or earlier when the step's error falls below a positive ``swap_below_err``.
  Switching samplers mid-run is not ported: a positive ``swap_below_err`` is refused here,
  and the sampler refuses a run that reaches a step above ``swap_at_step`` with a sampler
  other than the swap target (:func:`check_swap`); a run that never gets there is exactly
  the run without the node, as in the pack.
* A RES4LYF sampler reads every input whose name starts with ``options`` (the frontend's
  "options 2", "options 3", ... sockets), in order, later ones winning, their
  ``extra_options`` texts joined by newlines (:func:`merge_options`).
"""

from __future__ import annotations

from typing import Any, Iterable

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

from .extra_options import EXTRA_OPTIONS_KEY

#: The option keys SwapSampler writes (the 81fe5f4d form).
SWAP_KEYS = ("rk_swap_type", "rk_swap_step", "rk_swap_threshold", "rk_swap_print")
#: The options key of the starting noise's scale (and its older name the sampler also reads).
NOISE_SCALE_KEY, OLD_NOISE_SCALE_KEY = "noise_init_stdev", "noise_stdev"


def _incoming(options: Any) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise NodeInputError("options", f"expected OPTIONS from another ClownOptions node, got {type(options).__name__}")
    return dict(options)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"expected a number, found {value!r}")
    return float(value)


@executor("SharkOptions_Beta")
def shark_options(ctx: ExecContext, noise_type_init: Any, denoise_alt: Any, channelwise_cfg: Any,
                  options: Any = None, sigmas: Any = None, **rest: Any) -> tuple:
    """The settings of either signature (``s_noise_init`` since 2025-04-12, ``noise_stdev``
    before; ``sampler_mode`` only in the first, February 2025 form)."""
    s_noise_init, noise_stdev, sampler_mode = rest.get("s_noise_init"), rest.get("noise_stdev"), rest.get("sampler_mode")
    if noise_type_init != "gaussian":
        raise NodeInputError("noise_type_init", f"starting noise {noise_type_init!r} is not supported in wfrun "
                             "(RES4LYF's other noise generators are not ported)", "use gaussian")
    scale_name, scale = ("s_noise_init", s_noise_init) if s_noise_init is not None else ("noise_stdev", noise_stdev)
    scale = 1.0 if scale is None else _number(scale_name, scale)
    if _number("denoise_alt", denoise_alt) != 1.0:
        raise NodeInputError("denoise_alt", f"denoise_alt {denoise_alt} (RES4LYF's scaling of the whole schedule) is "
                             "not supported in wfrun", "set denoise_alt to 1")
    if channelwise_cfg is not False:
        raise NodeInputError("channelwise_cfg", "channelwise CFG is not supported in wfrun", "turn channelwise_cfg off")
    if sigmas is not None:
        raise NodeInputError("sigmas", "sigmas on SharkOptions_Beta (its February 2025 form) are not supported in "
                             "wfrun", "connect the sigmas to the sampler instead")
    if sampler_mode not in (None, "standard"):
        raise NodeInputError("sampler_mode", f"sampler_mode {sampler_mode!r} is not supported in wfrun",
                             "use standard")
    out = _incoming(options)
    out.update(noise_type_init=noise_type_init, denoise_alt=1.0, channelwise_cfg=False)
    out[NOISE_SCALE_KEY] = scale
    return (out,)


@executor("ClownOptions_SwapSampler_Beta")
def swap_sampler_options(ctx: ExecContext, sampler_name: Any, swap_below_err: Any, swap_at_step: Any,
                         log_err_to_console: Any, options: Any = None, **_: Any) -> tuple:
    if _number("swap_below_err", swap_below_err) > 0:
        raise NodeInputError("swap_below_err", f"swapping samplers when the step error falls below "
                             f"{swap_below_err} is not supported in wfrun", "set swap_below_err to 0")
    if isinstance(swap_at_step, bool) or not isinstance(swap_at_step, int):
        raise NodeInputError("swap_at_step", f"expected a whole number, found {swap_at_step!r}")
    if not isinstance(sampler_name, str) or not sampler_name:
        raise NodeInputError("sampler_name", f"expected a sampler name, found {sampler_name!r}")
    out = _incoming(options)
    out.update(rk_swap_type=sampler_name.split("/")[-1], rk_swap_step=int(swap_at_step),
               rk_swap_threshold=float(swap_below_err), rk_swap_print=bool(log_err_to_console))
    return (out,)


def merge_options(options: Any, extra_inputs: dict[str, Any]) -> Any:
    """``options`` and the node's other ``options…`` inputs merged as the pack's
    OptionsManager merges them; ``options`` itself (None included) when there are none."""
    others = [(name, value) for name, value in extra_inputs.items()
              if name.startswith("options") and value is not None]
    if not others:
        return options
    merged: dict = {}
    texts: list[str] = []
    for name, value in ([("options", options)] if options is not None else []) + others:
        if not isinstance(value, dict):
            raise NodeInputError(name, f"expected OPTIONS from a ClownOptions node, got {type(value).__name__}")
        for key, item in value.items():
            if key == EXTRA_OPTIONS_KEY:
                if item:
                    texts.append(item)
            elif isinstance(item, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **item}
            else:
                merged[key] = item
    if texts:
        merged[EXTRA_OPTIONS_KEY] = "\n".join(texts)
    return merged


def check_swap(swap: dict, sampler: str, sigmas_len: int, first_step: int = 0) -> None:
    """Refuse a run whose steps reach past ``rk_swap_step`` with a sampler other than the swap
    target: the pack would switch samplers there. ``sigmas_len``: the schedule's length; the
    run's step indices go from ``first_step`` to ``sigmas_len - 2``."""
    if not swap:
        return
    target = str(swap.get("rk_swap_type") or "")
    if not target or target == sampler:
        return
    step = swap.get("rk_swap_step")
    last = sigmas_len - 2
    if isinstance(step, int) and last <= step:
        return
    raise NodeInputError("options", f"ClownOptions_SwapSampler_Beta switches to {target!r} after step {step}, "
                         f"and this run goes to step {last}: swapping samplers mid-run is not supported in wfrun",
                         f"set swap_at_step to {max(last, 1)} or more, or pick {target!r} as the sampler")


def swap_settings(items: Iterable[tuple[str, Any]]) -> dict:
    """The SwapSampler entries among option ``items``."""
    return {key: value for key, value in items if key in SWAP_KEYS}
