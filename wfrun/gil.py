"""Hand the GIL over sooner than Python's default, in the processes wfrun starts.

A job runs its nodes on the main thread while loaders read, convert and prepare models on
worker threads. The main thread's work is mostly GPU launches: every torch call lets go of
the GIL and takes it back, and when a worker is running Python at that moment (an import, a
loop over a checkpoint's tensors) the main thread waits until the worker is asked to let go,
which Python does only after its switch interval, 5 ms by default. A VAE encode makes
thousands of such calls, so beside a busy loader it took 3.2 s instead of about 1.1 s
alone (bench/RESULTS.md, session 18). A shorter interval bounds each of those waits; the
worker pays a little more switching, which costs nothing the job waits for.

``WFRUN_GIL_SWITCH_MS`` sets another interval (the benchmarks compare against Python's 5).
"""

from __future__ import annotations

import os
import sys

#: seconds between forced GIL hand-overs (Python's default is 0.005)
SWITCH_INTERVAL_S = 0.0005


def share_the_gil() -> None:
    """Set the interpreter's switch interval for this process (``sys.setswitchinterval``)."""
    value = os.environ.get("WFRUN_GIL_SWITCH_MS", "").strip()
    seconds = SWITCH_INTERVAL_S
    if value:
        try:
            seconds = float(value) / 1000.0
        except ValueError:
            seconds = SWITCH_INTERVAL_S
    if seconds > 0:
        sys.setswitchinterval(seconds)
