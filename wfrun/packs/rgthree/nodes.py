"""rgthree's Seed (``py/seed.py``) and Any Switch (``py/any_switch.py``).

* Seed (rgthree) gives its ``seed``. The frontend replaces the special values -1 (random),
  -2 (increment) and -3 (decrement) before queueing; a file saved with one of them still
  holds it, and the pack's server side then draws a new random seed in 1 … 2**50 (for -2 and
  -3 too, with a warning): so does wfrun (from the operating system's randomness), logging
  the seed it drew. ``wfrun run --seed`` sets this node's ``seed`` like any other seed input.
* Any Switch (rgthree) passes the first connected input, in the order of its names
  (``any_01``, ``any_02``, …), whose value is not ``None``; an input fed by a muted node is
  absent, as in ComfyUI. None at all gives ``None``, as the pack does.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

#: The seeds the pack's frontend would have replaced; its server draws a random one instead.
SPECIAL_SEEDS = (-1, -2, -3)
MAX_RANDOM_SEED = 1125899906842624


@executor("Seed (rgthree)", volatile=True)
def seed_node(ctx: ExecContext, seed: Any, **_: Any) -> tuple:
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or int(seed) != seed:
        raise NodeInputError("seed", f"seed: expected a whole number, found {seed!r}")
    seed = int(seed)
    if seed in SPECIAL_SEEDS:
        drawn = random.SystemRandom().randint(1, MAX_RANDOM_SEED)
        log.warning("Seed (rgthree) node %s: the file holds %d (the frontend's 'randomize'); "
                    "using the random seed %d", ctx.node_id, seed, drawn)
        seed = drawn
    return (seed,)


@executor("Any Switch (rgthree)")
def any_switch(ctx: ExecContext, **inputs: Any) -> tuple:
    for name in sorted(k for k in inputs if k.startswith("any_")):
        if inputs[name] is not None:
            return (inputs[name],)
    return (None,)
