"""Crystools' ``Pipe to/edit any [Crystools]`` and ``Pipe from any [Crystools]``
(``nodes/pipe.py``, unchanged since the pack's first commit, 2023-12-23).

A ``CPipeAny`` is a plain list of six values of any type. "Pipe to/edit" starts from the
incoming pipe's six values (six Nones without one) and replaces each one whose input
``any_N`` is connected; "Pipe from" hands the pipe on and unpacks its six values to
``any_1`` .. ``any_6``. The pipe is one value (the pack sets no ``OUTPUT_IS_LIST``), so a
node fed from it runs once, not once per item. An unset slot comes out as None, as in the
pack; a node that needs it names its own missing input.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

SLOTS = tuple(f"any_{i}" for i in range(1, 7))


def _pipe(value: Any, input_name: str = "CPipeAny") -> list:
    """The pack unpacks exactly six values; anything else fails there too."""
    if not isinstance(value, (list, tuple)) or len(value) != len(SLOTS):
        found = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else type(value).__name__
        raise NodeInputError(input_name, f"expected a Crystools pipe (CPipeAny: six values), found {found}",
                             "connect the CPipeAny output of a 'Pipe to/edit any [Crystools]' node")
    return list(value)


@executor("Pipe to/edit any [Crystools]", pure=True)
def pipe_to_any(ctx: ExecContext, CPipeAny: Any = None, **inputs: Any) -> tuple:  # noqa: N803 - the pack's name
    original = _pipe(CPipeAny) if CPipeAny is not None else [None] * len(SLOTS)
    return ([inputs.get(name) if inputs.get(name) is not None else old for name, old in zip(SLOTS, original)],)


@executor("Pipe from any [Crystools]", pure=True)
def pipe_from_any(ctx: ExecContext, CPipeAny: Any = None, **_: Any) -> tuple:  # noqa: N803 - the pack's name
    if CPipeAny is None:
        raise NodeInputError("CPipeAny", "nothing is connected to CPipeAny",
                             "connect the CPipeAny output of a 'Pipe to/edit any [Crystools]' node")
    values = _pipe(CPipeAny)
    return (CPipeAny, *values)
