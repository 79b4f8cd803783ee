"""Easy-Use's ``easy ifElse``, ``easy compare`` and ``easy conditioningIndexSwitch``
(``py/nodes/logic.py`` at 3f37ba9, release 1.3.3; 1.3.1 is the same).

* ``easy ifElse``: ``on_true`` when ``boolean`` is truthy, else ``on_false``. Both branches
  are lazy and the pack's ``check_lazy_status`` asks only for the chosen one, so the other
  branch never runs (the engine does the same, :mod:`wfrun.engine.lazy`).
* ``easy compare``: ``a`` against ``b`` with Python's ``==``, ``!=``, ``<``, ``>``, ``<=`` or
  ``>=`` (the pack's ``COMPARE_FUNCTIONS``); a BOOLEAN out. Tensors (whose comparison is a
  tensor, not a BOOLEAN) and values Python cannot order are refused on ``a``.
* ``easy conditioningIndexSwitch``: the CONDITIONING on ``cond<index>``; ``cond0``…
  ``cond19`` are lazy and only the chosen one runs. The pack fails (``KeyError``) when that
  input is not connected; wfrun names it.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "a == b": operator.eq, "a != b": operator.ne, "a < b": operator.lt, "a > b": operator.gt,
    "a <= b": operator.le, "a >= b": operator.ge}


def _truth(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        raise NodeInputError("boolean", "expected a BOOLEAN, found a tensor", "connect a BOOLEAN")
    return bool(value)


def _if_else_reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    """The pack's ``check_lazy_status``: only the branch ``boolean`` chooses."""
    boolean = inputs.get("boolean")
    if isinstance(boolean, torch.Tensor):
        return ("on_true", "on_false")  # the run names the bad value
    return ("on_true",) if boolean else ("on_false",)


@executor("easy ifElse", lazy=_if_else_reads, pure=True)
def easy_if_else(ctx: ExecContext, boolean: Any = None, on_true: Any = None, on_false: Any = None,
                 **_: Any) -> tuple:
    return (on_true if _truth(boolean) else on_false,)


@executor("easy compare", pure=True)
def easy_compare(ctx: ExecContext, comparison: Any, a: Any = 0, b: Any = 0, **_: Any) -> tuple:
    if comparison not in COMPARE:
        raise NodeInputError("comparison", f"unknown comparison {comparison!r}", f"use one of {', '.join(COMPARE)}")
    for name, value in (("a", a), ("b", b)):
        if isinstance(value, torch.Tensor):
            raise NodeInputError(name, "cannot compare a tensor: the result would not be one BOOLEAN",
                                 "compare numbers or texts")
    try:
        result = COMPARE[comparison](a, b)
    except TypeError as err:
        raise NodeInputError("a", f"{comparison} cannot compare {type(a).__name__} with {type(b).__name__}: {err}") \
            from None
    return (bool(result),)


def _index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError("index", f"expected an INT, found {value!r}")
    return value


def _switch_reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    index = inputs.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        return ()  # the run names the bad index
    return (f"cond{index}",)


@executor("easy conditioningIndexSwitch", lazy=_switch_reads, pure=True)
def easy_conditioning_index_switch(ctx: ExecContext, index: Any, **conds: Any) -> tuple:
    key = f"cond{_index(index)}"
    if conds.get(key) is None:
        raise NodeInputError("index", f"index {index} chooses {key}, which is not connected",
                             f"connect a CONDITIONING to {key} or choose a connected one")
    return (conds[key],)
