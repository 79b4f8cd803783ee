"""``python -m wfrun ARGS`` under cProfile (the main thread), for finding where a job's time
goes outside its nodes: ``python bench/profiled_wfrun.py STATS_FILE run W.json ...``.

wfrun's entry leaves with ``os._exit`` once the command is done (no interpreter teardown),
which would skip ``python -m cProfile``'s dump; this wrapper writes the stats just before.
Read them with ``python -m pstats STATS_FILE`` (``sort cumtime``, ``stats 40``).

Beside the stats it writes ``STATS_FILE.compile.txt``: torch.compile's own account of the
process (Dynamo's time per phase and its counters: frames traced, graph breaks, cache hits),
which cProfile's per-function view spreads over thousands of calls. ``--no-cprofile`` as the
first argument writes only that report (the job runs at full speed).
"""

from __future__ import annotations

import cProfile
import sys

import wfrun.__main__ as entry


def compile_report() -> str:
    """Dynamo's phase times and counters, where the process imported it."""
    dynamo = sys.modules.get("torch._dynamo.utils")
    if dynamo is None:
        return "torch._dynamo was not imported: nothing compiled\n"
    lines = [str(dynamo.compile_times(repr="str"))]
    for group, counts in sorted(dynamo.counters.items()):
        if counts:
            lines.append(f"{group}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items(), key=str)))
    return "\n".join(lines) + "\n"


def main() -> None:
    args = sys.argv[1:]
    profile = not (args and args[0] == "--no-cprofile")
    if not profile:
        args = args[1:]
    stats_file, sys.argv = args[0], ["wfrun", *args[1:]]
    profiler = cProfile.Profile()
    leave = entry.leave

    def dump_then_leave(code):
        if profile:
            profiler.disable()
            profiler.dump_stats(stats_file)
        with open(stats_file + ".compile.txt", "w") as report:
            report.write(compile_report())
        leave(code)

    entry.leave = dump_then_leave
    if profile:
        profiler.enable()
    entry.main()


if __name__ == "__main__":
    main()
