"""``python -m wfrun ARGS`` with a sampling profiler on every thread: ``python
bench/sampled_wfrun.py SAMPLES_FILE run W.json ...``.

cProfile (``bench/profiled_wfrun.py``) sees only the main thread and charges every Python
call, so a job with loaders on worker threads and a compiled forward comes out distorted: a
function waiting for the GIL held by a loader looks busy, and tracing looks several times
slower than it is. This takes a stack of every thread every ``WFRUN_SAMPLE_MS``
milliseconds (5 by default) instead, on the clock of the job's report (``time.perf_counter``
since wfrun's import), so the samples line up with ``timeline`` and ``node_started``.

SAMPLES_FILE is gzipped JSON: ``frames`` (``file:line function`` strings) and ``samples``
(``[seconds, weight, thread name, [frame index, ... innermost last]]``; the weight is the time
since the previous round of samples, what this stack stands for). Read it with
``python bench/read_samples.py SAMPLES_FILE --from 8.3 --to 12.6``.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading
import time

import wfrun.__main__ as entry


class Sampler(threading.Thread):
    """Stacks of every other thread at a fixed interval, frames interned."""

    def __init__(self, interval_s: float):
        super().__init__(name="sampler", daemon=True)
        self.interval_s = interval_s
        self.frames: dict[tuple, int] = {}
        self.samples: list = []
        self.running = True

    def frame_id(self, code, line: int) -> int:
        key = (code.co_filename, line, code.co_name)
        if key not in self.frames:
            self.frames[key] = len(self.frames)
        return self.frames[key]

    def run(self) -> None:
        me = threading.get_ident()
        last = time.perf_counter()
        while self.running:
            now = time.perf_counter()
            weight, last = now - last, now  # the sleep can overrun while another thread holds the GIL
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                while frame is not None:
                    stack.append(self.frame_id(frame.f_code, frame.f_lineno))
                    frame = frame.f_back
                self.samples.append([now, weight, names.get(ident, str(ident)), stack[::-1]])
            time.sleep(max(0.0, self.interval_s - (time.perf_counter() - now)))

    def dump(self, path: str, origin: float) -> None:
        frames = [f"{file}:{line} {name}" for (file, line, name), _ in sorted(self.frames.items(), key=lambda kv: kv[1])]
        samples = [[round(t - origin, 4), round(w, 4), name, stack] for t, w, name, stack in self.samples]
        with gzip.open(path, "wt") as out:
            json.dump({"interval_s": self.interval_s, "frames": frames, "samples": samples}, out)


def main() -> None:
    samples_file, sys.argv = sys.argv[1], ["wfrun", *sys.argv[2:]]
    sampler = Sampler(float(os.environ.get("WFRUN_SAMPLE_MS", "5")) / 1000)
    leave = entry.leave

    def dump_then_leave(code):
        sampler.running = False
        sampler.join()
        import wfrun  # the report's clock: seconds since wfrun's import

        sampler.dump(samples_file, wfrun.STARTED)
        leave(code)

    entry.leave = dump_then_leave
    sampler.start()
    entry.main()


if __name__ == "__main__":
    main()
