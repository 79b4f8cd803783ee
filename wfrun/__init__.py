"""wfrun: read, migrate, validate and run ComfyUI video workflows without ComfyUI."""

import time as _time

__version__ = "0.1.0"

#: When wfrun was first imported (``time.perf_counter``): a run's report counts the seconds
#: since, so imports and preparation show beside the nodes' own times.
STARTED = _time.perf_counter()
