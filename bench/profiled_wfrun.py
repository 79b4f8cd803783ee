"""``python -m wfrun ARGS`` under cProfile (the main thread), for finding where a job's time
goes outside its nodes: ``python bench/profiled_wfrun.py STATS_FILE run W.json ...``.

wfrun's entry leaves with ``os._exit`` once the command is done (no interpreter teardown),
which would skip ``python -m cProfile``'s dump; this wrapper writes the stats just before.
Read them with ``python -m pstats STATS_FILE`` (``sort cumtime``, ``stats 40``).
"""

from __future__ import annotations

import cProfile
import sys

import wfrun.__main__ as entry


def main() -> None:
    stats_file, sys.argv = sys.argv[1], ["wfrun", *sys.argv[2:]]
    profiler = cProfile.Profile()
    leave = entry.leave

    def dump_then_leave(code):
        profiler.disable()
        profiler.dump_stats(stats_file)
        leave(code)

    entry.leave = dump_then_leave
    profiler.enable()
    entry.main()


if __name__ == "__main__":
    main()
