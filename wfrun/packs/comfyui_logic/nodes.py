"""ComfyUI-Logic's nodes (``nodes.py``, names with ``-🔬`` since 2024-07-01).

``String-🔬``, ``Int-🔬``, ``Float-🔬`` and ``Bool-🔬`` hand their ``value`` on unchanged.
``Compare-🔬`` applies Python's ``==``, ``!=``, ``<``, ``>``, ``<=`` or ``>=`` to ``a`` and ``b``
as given (``1 == 1.0`` holds, ``"2" < "10"`` is false: text compares as text); values that
cannot be ordered stop the run naming ``comparison``, where the pack raises a TypeError.
``If ANY return A else B-🔬`` hands on ``IF_TRUE`` when ``ANY`` is truthy in Python, else
``IF_FALSE``; both inputs are computed first, as in the pack (they are not lazy). Its
2024-08-10 form, which ran a node chosen by name, was replaced six days later and is refused.
``DebugPrint-🔬`` prints its input, as the pack does, to the log.
"""

from __future__ import annotations

import logging
import operator
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

COMPARISONS = {"a == b": operator.eq, "a != b": operator.ne, "a < b": operator.lt, "a > b": operator.gt,
               "a <= b": operator.le, "a >= b": operator.ge}


@executor("String-🔬")
@executor("Int-🔬")
@executor("Float-🔬")
@executor("Bool-🔬")
def value_node(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return (value,)


@executor("Compare-🔬")
def compare(ctx: ExecContext, a: Any, b: Any, comparison: Any, **_: Any) -> tuple:
    if comparison not in COMPARISONS:
        raise NodeInputError("comparison", f"comparison is {comparison!r}; expected one of {', '.join(COMPARISONS)}")
    try:
        result = COMPARISONS[comparison](a, b)
        return (bool(result),)
    except (TypeError, RuntimeError, ValueError) as err:
        raise NodeInputError("comparison", f"'{comparison}' cannot compare a {type(a).__name__} with a "
                             f"{type(b).__name__}: {err}", "compare two numbers or two texts") from None


@executor("If ANY return A else B-🔬")
def if_any_return(ctx: ExecContext, ANY: Any = None, IF_TRUE: Any = None, IF_FALSE: Any = None,  # noqa: N803
                  **inputs: Any) -> tuple:
    if "NODE_TRUE" in inputs or "NODE_FALSE" in inputs:
        raise NodeInputError("NODE_TRUE", "this node was saved in its form of 2024-08-10, which ran a node chosen "
                             "by name; the pack replaced it six days later", "replace it with the node's later "
                             "form (IF_TRUE/IF_FALSE inputs) in ComfyUI")
    try:
        chosen = bool(ANY)
    except (RuntimeError, ValueError) as err:  # e.g. a tensor of several values
        raise NodeInputError("ANY", f"ANY cannot be read as true or false: {err}") from None
    return (IF_TRUE if chosen else IF_FALSE,)


@executor("DebugPrint-🔬")
def debug_print(ctx: ExecContext, ANY: Any = None, **_: Any) -> tuple:  # noqa: N803
    log.info("DebugPrint-🔬 %s: %s", ctx.node_id, ANY)
    return ()
