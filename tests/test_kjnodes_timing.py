"""KJNodes' Sleep and TimerNodeKJ: values handed on, the timer's milliseconds, the refusals."""

from __future__ import annotations

import time

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.timing_nodes import Timer

CTX = ExecContext()


def test_sleep_hands_its_input_on_without_waiting():
    value = object()
    started = time.perf_counter()
    assert node("Sleep")(CTX, input=value, minutes=10, seconds=30.0) == (value,)
    assert time.perf_counter() - started < 5  # ComfyUI would wait 630 s


def test_timer_measures_milliseconds_from_start_to_stop():
    value = object()
    out, timer, zero = node("TimerNodeKJ")(CTX, any_input=value, mode="start", name="T")
    assert out is value and zero == 0 and isinstance(timer, Timer) and timer.name == "T"
    time.sleep(0.05)
    out, stopped, elapsed = node("TimerNodeKJ")(CTX, any_input=7, mode="stop", name="T", timer=timer)
    assert out == 7 and isinstance(elapsed, int) and 50 <= elapsed < 5000 and stopped.elapsed_ms == elapsed
    with pytest.raises(NodeInputError) as err:
        node("TimerNodeKJ")(CTX, any_input=7, mode="stop", name="T")
    assert err.value.input_name == "timer"
