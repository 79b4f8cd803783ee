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

Several folders at once, ``--jobs N`` processes side by side and ``--device cuda`` sweep the
whole collection on a GPU machine: nodes written and tested on the CPU box meet CUDA there
(a tensor made on the CPU beside one on the GPU fails only on a GPU).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import queue
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


def _run_one(path: Path, out_root: Path, device: str, timeout: int, slot: int) -> tuple[object, float, str]:
    """One ``--smoke`` run: exit code (or "timeout"), seconds, the end of its output. Each
    parallel slot has its own cache folder, so two processes never write one stand-in."""
    env = dict(os.environ, WFRUN_CACHE=str(out_root / f"cache{slot}"))
    cmd = [sys.executable, "-m", "wfrun", "run", str(path), "--smoke", "--device", device, "--format", "json",
           "-o", str(out_root / f"{path.parent.name}_{path.stem}")]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        code, err = proc.returncode, " ".join((proc.stderr + proc.stdout).split())[-400:]
        if code != 0 and "Traceback" in proc.stderr:
            err = "TRACEBACK " + err
    except subprocess.TimeoutExpired:
        code, err = "timeout", ""
    return code, time.perf_counter() - start, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--sources", type=Path, help="sources list to check the (one) folder against")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per workflow")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (as `wfrun run --device`)")
    parser.add_argument("--jobs", type=int, default=1, help="workflows run at once (each its own process)")
    parser.add_argument("--results", type=Path, help="also write every file's result here (JSON)")
    args = parser.parse_args()
    if args.sources:
        files = _check_sources(args.folders[0], args.sources)
    else:
        files = [f for folder in args.folders for f in sorted(folder.glob("*.json"))]
    out_root = Path(tempfile.mkdtemp(prefix="wfrun-sweep-"))
    slots = queue.SimpleQueue()
    for slot in range(max(1, args.jobs)):
        slots.put(slot)

    def run(path: Path):
        slot = slots.get()
        try:
            return path, *_run_one(path, out_root, args.device, args.timeout, slot)
        finally:
            slots.put(slot)

    ran, rows = [], []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for path, code, seconds, err in pool.map(run, files):
            name = f"{path.parent.name}/{path.stem}" if len(args.folders) > 1 else path.stem
            if code == 0:
                ran.append(name)
            rows.append({"file": name, "code": code, "seconds": round(seconds, 1), "error": "" if code == 0 else err})
            print(f"{code!s:>7} {seconds:6.1f}s {name}  {'' if code == 0 else err[-160:]}", flush=True)
    if args.results:
        args.results.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(json.dumps({"files": len(files), "ran": len(ran), "ran_names": ran}, indent=1))


if __name__ == "__main__":
    main()
