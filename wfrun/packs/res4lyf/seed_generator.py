"""RES4LYF's SeedGenerator (``nodes_misc.py``, unchanged from 83a2aef, 2025-02-28): its
``seed`` and ``seed + 1`` as two INT outputs."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("SeedGenerator", pure=True)
def seed_generator(ctx: ExecContext, seed: Any, **_: Any) -> tuple:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise NodeInputError("seed", f"expected a whole number, found {seed!r}")
    return (seed, seed + 1)
