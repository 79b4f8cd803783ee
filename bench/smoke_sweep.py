"""Sweep: how many workflows of a folder run end to end with ``wfrun run F --smoke``.

The wider public set of issue 15 (42 Wan workflows by 16 authors) cannot live in the repo:
the files belong to their authors and the tool rules keep fetched data out of commits. Its
sources (repository, path, commit, license, sha256) are in ``bench/public_set_sources.json``;
whoever has the files in a folder measures them with

    python bench/smoke_sweep.py FOLDER --sources bench/public_set_sources.json

a second, fresher set (51 workflows by 33 authors, collected 2026-12-02 without looking at
them first, so it measures workflows wfrun was not built for) is listed the same way in
``bench/public_set2_sources.json``; ``python bench/smoke_sweep.py ../shared/corpus/realworld`` does the same for the
realworld corpus (whose floor is also a test: tests/test_realworld_smoke.py). Prints one line
per file (exit code, seconds, the end of its error) and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _check_sources(folder: Path, sources: Path) -> list[Path]:
    """The files the sources list names, each with the sha256 it was collected with."""
    rows = json.loads(sources.read_text(encoding="utf-8"))
    files = []
    for row in rows:
        path = folder / row["file"]
        if not path.is_file():
            sys.exit(f"{path}: missing (from {row['repo']} {row['path']} @ {row['commit'][:10]})")
        if hashlib.sha256(path.read_bytes()).hexdigest() != row["sha256"]:
            sys.exit(f"{path}: differs from the collected file (sha256)")
        files.append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sources", type=Path, help="sources list to check the folder against")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per workflow")
    args = parser.parse_args()
    files = _check_sources(args.folder, args.sources) if args.sources else sorted(args.folder.glob("*.json"))
    out_root = Path(tempfile.mkdtemp(prefix="wfrun-sweep-"))
    env = dict(os.environ, WFRUN_CACHE=str(out_root / "cache"))
    ran, failed = [], {}
    for path in files:
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "wfrun", "run", str(path), "--smoke", "--device", "cpu", "--format", "json",
               "-o", str(out_root / path.stem)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
            code, err = proc.returncode, [" ".join((proc.stderr + proc.stdout).split())[-200:]]
        except subprocess.TimeoutExpired:
            code, err = "timeout", [""]
        seconds = time.perf_counter() - start
        (ran.append(path.stem) if code == 0 else failed.__setitem__(path.stem, err[0][:200]))
        print(f"{code!s:>7} {seconds:6.1f}s {path.stem}  {'' if code == 0 else err[0][:160]}", flush=True)
    print(json.dumps({"files": len(files), "ran": len(ran), "ran_names": ran}, indent=1))


if __name__ == "__main__":
    main()
