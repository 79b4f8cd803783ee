"""KJNodes' Sleep and TimerNodeKJ (``nodes/nodes.py``): nodes about time, not about the video.

* Sleep hands ``input`` on. In ComfyUI it first waits ``minutes · 60 + seconds`` (people use it
  to let a GPU cool between stages or to order side effects); the wait changes no value, and
  wfrun does not wait (one log line says how long ComfyUI would have).
* TimerNodeKJ hands ``any_input`` on with a timer: ``start`` makes one (the elapsed time is
  0), ``stop`` takes the one a start node made and gives the milliseconds since, as an int,
  measured on wfrun's clock. In the pack a ``stop`` without a timer (or a ``start`` given
  one) returns nothing and the node fails; here a ``stop`` without a timer is refused by
  name and a ``start`` always starts a new one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timer:
    """TIMER: a start node's name and ``time.perf_counter()`` at its start; ``elapsed_ms`` once
    a stop node read it."""

    name: str
    started: float
    elapsed_ms: int = 0


@executor("Sleep")
def sleep(ctx: ExecContext, input: Any, minutes: Any, seconds: Any, **_: Any) -> tuple:
    wait = float(minutes) * 60 + float(seconds)
    if wait > 0:
        log.info("%s: ComfyUI would wait %.2f s here; the wait changes no value, wfrun goes on",
                 ctx.node_title or ctx.node_id or "Sleep", wait)
    return (input,)


@executor("TimerNodeKJ")
def timer_node(ctx: ExecContext, any_input: Any, mode: str, name: str, timer: Any = None, **_: Any) -> tuple:
    if mode == "start":
        return (any_input, Timer(str(name), time.perf_counter()), 0)
    if mode != "stop":
        raise NodeInputError("mode", f"unknown mode {mode!r}", "use start or stop")
    if not isinstance(timer, Timer):
        raise NodeInputError("timer", "a stop needs the timer of a TimerNodeKJ set to start",
                             "connect a start node's timer output")
    elapsed = int((time.perf_counter() - timer.started) * 1000)
    log.info("%s: %d ms", timer.name, elapsed)
    return (any_input, Timer(timer.name, timer.started, elapsed), elapsed)
