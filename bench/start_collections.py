"""What Python's garbage collector costs a ``wfrun run`` start: ``python bench/start_collections.py
[--repeat N] [WORKFLOW]``.

Times, in fresh processes, what a run does before its first job (``prepare`` with the tiny
models, the packs' and the model libraries' imports), with the collector on (Python's default)
and held off (as ``wfrun run`` now starts, ``wfrun.long_lived``), alternating, and prints each
time and the count of full collections. CPU only: no model runs."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import gc, sys, time
if sys.argv[1] == "held":
    gc.disable()
start = time.perf_counter()
from wfrun.jobs.run import RunOptions, prepare
prepare(sys.argv[2], RunOptions(tiny_models=True, device="cpu", output_dir=sys.argv[3]))
from wfrun.engine.executors import load_packs
load_packs()
from wfrun.models.meta_init import import_model_libraries
import_model_libraries()
print(time.perf_counter() - start, gc.get_stats()[2]["collections"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workflow", nargs="?", default=str(ROOT / "workflows" / "wan_t2v_tiny.json"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"on": [], "held": []}
    for _ in range(args.repeat):
        for mode in times:
            done = subprocess.run([sys.executable, "-c", _CHILD, mode, args.workflow, "/tmp/wfrun-start-bench"],
                                  capture_output=True, text=True, cwd=ROOT, check=True)
            seconds, collections = done.stdout.split()[-2:]
            times[mode].append(float(seconds))
            print(f"collector {mode:4s}: {float(seconds):6.2f} s, {collections} full collections")
    for mode, values in times.items():
        print(f"median, collector {mode}: {statistics.median(values):.2f} s")


if __name__ == "__main__":
    main()
