"""``Seed Generator`` (``nodes.py``): the ``seed`` widget's number, passed on as INT."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Seed Generator")
def seed_generator(ctx: ExecContext, seed: Any, **_: Any) -> tuple:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise NodeInputError("seed", f"seed: expected a whole number, found {seed!r}", "set the seed widget")
    return (seed,)
