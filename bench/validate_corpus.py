"""Benchmark: validate every corpus and template workflow, as `wfrun validate` does.

Run: python bench/validate_corpus.py   (prints files, seconds, and diagnostics by code)
Numbers go to bench/RESULTS.md by hand, with date, machine and versions.
"""

from __future__ import annotations

import collections
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import all_workflow_files  # noqa: E402


def main() -> None:
    files = all_workflow_files()
    start = time.perf_counter()
    from wfrun.specs.registry import default_registry
    from wfrun.jobs.validate import validate_file

    registry = default_registry()
    loaded = time.perf_counter()
    codes: collections.Counter[str] = collections.Counter()
    clean = 0
    for path in files:
        result = validate_file(path, registry=registry)
        codes.update(d.code for d in result.diagnostics)
        clean += not result.diagnostics
    end = time.perf_counter()
    print(json.dumps({
        "files": len(files), "clean_files": clean,
        "seconds_total": round(end - start, 2), "seconds_specs_load": round(loaded - start, 2),
        "ms_per_file": round((end - loaded) * 1000 / len(files), 2),
        "python": platform.python_version(), "machine": platform.machine(),
        "diagnostics": dict(codes.most_common()),
    }, indent=1))


if __name__ == "__main__":
    main()
