"""ComfyUI_essentials' small utilities (``misc.py``, ``conditioning.py``): number widgets,
sliders, SimpleMath+ on two expressions or by condition, comparisons, batch counts, the
latent mask remover, the console printers and ConditioningCombineMultiple+.

- SimpleMathFloat+/Int+/Percent+/Boolean+ hand on their widget (as float, int, float,
  bool). SimpleMathSlider+ maps ``value`` in 0..1 onto ``min..max`` (rounded to ``rounding``
  decimals when above 0) and gives it as a float and truncated to an int; the LowRes
  slider does the same with ``value / 10`` (its int output is the same truncation: the
  pack returns only the float there, so a file linking its int fails in ComfyUI).
- SimpleMathDual+ runs SimpleMath+ on ``value_1`` and ``value_2``; SimpleMathCondition+
  on ``on_true`` or ``on_false`` by the truth of ``evaluate``.
- SimpleComparison+ compares two numbers, strings or booleans (other values, such as
  tensors, whose comparison is no BOOLEAN, are refused).
- BatchCount+ counts a tensor's first dimension, a LATENT's samples, a list or a dict.
- ConsoleDebug+ and DebugTensorShape+ write their line to the log (the pack prints it).
- SimpleCondition+ hands on ``on_true`` when ``evaluate`` is true, else ``on_false``; false
  with nothing on ``on_false`` is ComfyUI's ``ExecutionBlocker`` in the pack, a
  :class:`wfrun.nodes.blocked.Blocked` here (a node reading it stops the run, naming its input).
- DisplayAny (an output node) writes ``str(input)`` to the log and returns it; in ``tensor
  shape`` mode the text is the list of the shapes found in the value (DebugTensorShape+'s walk).
- ImageToDevice+ hands on a copy of the image on the CPU (``cpu``, and ``auto``: ComfyUI's
  intermediate device) or the run's device (``gpu``).
"""

from __future__ import annotations

import logging
import operator
from typing import Any

import torch

from wfrun.nodes.blocked import Blocked
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.essentials.math_nodes import simple_math
from wfrun.packs.essentials.values import number, whole

log = logging.getLogger(__name__)

COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
               ">=": operator.ge}


@executor("SimpleMathFloat+", "SimpleMathPercent+")
def simple_math_float(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return (number(value, "value"),)


@executor("SimpleMathInt+")
def simple_math_int(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return (whole(value, "value"),)


@executor("SimpleMathBoolean+")
def simple_math_boolean(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if not isinstance(value, bool):
        raise NodeInputError("value", f"value: expected true or false, found {value!r}")
    return (value,)


def _slide(value: float, low: Any, high: Any, rounding: Any) -> tuple:
    low, high, rounding = number(low, "min"), number(high, "max"), whole(rounding, "rounding")
    value = low + value * (high - low)
    if rounding > 0:
        value = round(value, rounding)
    return value, int(value)


@executor("SimpleMathSlider+")
def simple_math_slider(ctx: ExecContext, value: Any, min: Any, max: Any, rounding: Any, **_: Any) -> tuple:
    return _slide(number(value, "value"), min, max, rounding)


@executor("SimpleMathSliderLowRes+")
def simple_math_slider_low_res(ctx: ExecContext, value: Any, min: Any, max: Any, rounding: Any, **_: Any) -> tuple:
    return _slide(0.1 * whole(value, "value"), min, max, rounding)


@executor("SimpleMathDual+")
def simple_math_dual(ctx: ExecContext, value_1: Any, value_2: Any, a: Any = 0.0, b: Any = 0.0, c: Any = 0.0,
                     d: Any = 0.0, **_: Any) -> tuple:
    try:
        first = simple_math(ctx, value=value_1, a=a, b=b, c=c, d=d)
    except NodeInputError as err:
        raise NodeInputError("value_1", str(err), err.hint) from None
    try:
        second = simple_math(ctx, value=value_2, a=a, b=b, c=c, d=d)
    except NodeInputError as err:
        raise NodeInputError("value_2", str(err), err.hint) from None
    return first + second


def _truth(value: Any) -> bool:
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise NodeInputError("evaluate", f"evaluate: a tensor of shape {list(value.shape)} is neither true nor false")
    return bool(value)


@executor("SimpleMathCondition+")
def simple_math_condition(ctx: ExecContext, evaluate: Any, on_true: Any, on_false: Any, a: Any = 0.0, b: Any = 0.0,
                          c: Any = 0.0, **_: Any) -> tuple:
    name, expression = ("on_true", on_true) if _truth(evaluate) else ("on_false", on_false)
    try:
        return simple_math(ctx, value=expression, a=a, b=b, c=c)
    except NodeInputError as err:
        raise NodeInputError(name, str(err), err.hint) from None


def _comparable(value: Any, name: str) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    raise NodeInputError(name, f"{name}: expected a number, a string or a boolean, found {type(value).__name__}",
                         "compare numbers (GetImageSize+ and the like give them)")


@executor("SimpleComparison+")
def simple_comparison(ctx: ExecContext, a: Any, b: Any, comparison: Any, **_: Any) -> tuple:
    if comparison not in COMPARISONS:
        raise NodeInputError("comparison", f"comparison: unknown operator {comparison!r}",
                             f"use one of {' '.join(COMPARISONS)}")
    a, b = _comparable(a, "a"), _comparable(b, "b")
    try:
        return (bool(COMPARISONS[comparison](a, b)),)
    except TypeError:
        raise NodeInputError("b", f"cannot compare {type(a).__name__} {a!r} with {type(b).__name__} {b!r} "
                             f"by {comparison}") from None


@executor("BatchCount+")
def batch_count(ctx: ExecContext, batch: Any, **_: Any) -> tuple:
    if hasattr(batch, "shape"):
        return (int(batch.shape[0]),)
    if isinstance(batch, dict) and "samples" in batch:
        return (int(batch["samples"].shape[0]),)
    if isinstance(batch, (list, dict)):
        return (len(batch),)
    return (0,)


@executor("RemoveLatentMask+")
def remove_latent_mask(ctx: ExecContext, samples: Any, **_: Any) -> tuple:
    if not isinstance(samples, dict):
        raise NodeInputError("samples", f"samples: expected a LATENT, found {type(samples).__name__}")
    return ({k: v for k, v in samples.items() if k != "noise_mask"},)


@executor("ConsoleDebug+")
def console_debug(ctx: ExecContext, value: Any, prefix: Any, **_: Any) -> tuple:
    log.warning("%s %s", prefix, value)
    return ()


def _shapes(value: Any, out: list[list[int]]) -> list[list[int]]:
    if isinstance(value, dict):
        for item in value.values():
            _shapes(item, out)
    elif isinstance(value, list):
        for item in value:
            _shapes(item, out)
    elif hasattr(value, "shape"):
        out.append(list(value.shape))
    return out


@executor("DebugTensorShape+")
def debug_tensor_shape(ctx: ExecContext, tensor: Any, **_: Any) -> tuple:
    log.warning("Shapes found: %s", _shapes(tensor, []))
    return ()


@executor("ConditioningCombineMultiple+")
def conditioning_combine_multiple(ctx: ExecContext, conditioning_1: Any, conditioning_2: Any,
                                  conditioning_3: Any = None, conditioning_4: Any = None, conditioning_5: Any = None,
                                  **_: Any) -> tuple:
    """ComfyUI's ConditioningCombine over up to five: the lists joined in order."""
    out = []
    for i, value in enumerate((conditioning_1, conditioning_2, conditioning_3, conditioning_4, conditioning_5), 1):
        if value is None:
            continue
        if not isinstance(value, list):
            raise NodeInputError(f"conditioning_{i}", f"expected CONDITIONING, found {type(value).__name__}")
        out += value
    return (out,)


#: SimpleCondition+'s result when ``evaluate`` is false and nothing is on ``on_false``.
CONDITION_BLOCKED = Blocked("SimpleCondition+: evaluate is false and nothing is on on_false, ComfyUI skips "
                            "the nodes that read its result")

#: DisplayAny's text in the log is cut at this many characters (the node's output is whole).
LOGGED_CHARS = 400


@executor("SimpleCondition+")
def simple_condition(ctx: ExecContext, evaluate: Any, on_true: Any, on_false: Any = None, **_: Any) -> tuple:
    if _truth(evaluate):
        return (on_true,)
    return (on_false if on_false is not None else CONDITION_BLOCKED,)


@executor("DisplayAny")
def display_any(ctx: ExecContext, input: Any, mode: Any, **_: Any) -> tuple:
    if mode not in ("raw value", "tensor shape"):
        raise NodeInputError("mode", f"unknown mode {mode!r}", "use 'raw value' or 'tensor shape'")
    text = str(_shapes(input, []) if mode == "tensor shape" else input)
    shown = text if len(text) <= LOGGED_CHARS else text[:LOGGED_CHARS] + f"… ({len(text):,} characters)"
    log.info("%s: %s", ctx.node_title or ctx.node_id or "DisplayAny", shown)
    return (text,)


@executor("ImageToDevice+")
def image_to_device(ctx: ExecContext, image: Any, device: Any, **_: Any) -> tuple:
    if device not in ("auto", "cpu", "gpu"):
        raise NodeInputError("device", f"unknown device {device!r}", "use auto, cpu or gpu")
    if not isinstance(image, torch.Tensor):
        raise NodeInputError("image", f"expected an IMAGE tensor, got {type(image).__name__}")
    return (image.clone().to(ctx.device if device == "gpu" else "cpu"),)
