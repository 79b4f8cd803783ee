"""``wfrun run W.json --seeds 1-8``: one workflow, several seeds, each model loaded once;
and its generalisation, several workflow files, seeds and ``--vary`` values in one call.

People make several videos per idea and keep the best. Each seed is a full run (parse,
migrate in memory, check, plan, execute) that shares one output cache with the others:
a node whose inputs are the same as in an earlier seed — loaders, text and image
encoders — is served from the cache, so only what the seed changes (the samplers and
what follows them) runs again. Every run writes its outputs (never over earlier ones);
a contact sheet (first, middle and last frames, a row per seed) is written beside them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfrun.engine.run import OutputCache
from wfrun.jobs.run import EXIT_USAGE, JobError, JobReport, RunOptions, execute, prepare
from wfrun.media.contact_sheet import contact_sheet, key_frames

#: More seeds than anyone sweeps in one call: a typo (``1-100000``) is refused, not run.
MAX_SEEDS = 1000
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")
_MEDIA = (".mp4", ".webm", ".webp", ".gif", ".png")


def parse_seeds(spec: str) -> list[int]:
    """``"1-4,9"`` → ``[1, 2, 3, 4, 9]`` (order kept, repeats dropped)."""
    seeds: list[int] = []
    for part in spec.split(","):
        m = _RANGE.match(part)
        if not m:
            raise JobError(f"--seeds {spec!r}: {part.strip()!r} is not a number or a range like 1-8",
                           exit_code=EXIT_USAGE)
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            raise JobError(f"--seeds {spec!r}: the range {first}-{last} runs backwards", exit_code=EXIT_USAGE)
        if last - first + 1 + len(seeds) > MAX_SEEDS:
            raise JobError(f"--seeds {spec!r}: more than {MAX_SEEDS} seeds", exit_code=EXIT_USAGE)
        seeds.extend(s for s in range(first, last + 1) if s not in seeds)
    return seeds


def first_media(report: JobReport) -> Path | None:
    """The run's video (else its image) for the contact sheet: a video before its preview still."""
    media = sorted((Path(p) for p in report.result.written if Path(p).suffix.lower() in _MEDIA),
                   key=lambda p: _MEDIA.index(p.suffix.lower()))
    return media[0] if media else None


@dataclass
class SeedsReport:
    reports: dict[int, JobReport] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    contact_sheet: Path | None = None
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"seeds": {str(s): {"seconds": round(self.seconds[s], 3), **r.to_json()}
                          for s, r in self.reports.items()},
                "contact_sheet": str(self.contact_sheet) if self.contact_sheet else None,
                "interrupted": self.interrupted}


def run_seeds(path: str | Path, options: RunOptions, seeds: list[int], progress: Any = None,
              on_seed: Any = None) -> SeedsReport:
    """Run ``path`` once per seed with one shared cache (:func:`run_batch`); ``on_seed(seed,
    report, seconds)`` is called after each. Stops after an interrupted run."""
    runs = [BatchRun(Path(path), seed, (), f"seed {seed}") for seed in seeds]
    batch = run_batch(runs, options, progress,
                      on_run=None if on_seed is None else lambda run, report, seconds: on_seed(run.seed, report, seconds),
                      sheet_name=f"contact_sheet_{Path(path).stem}_{seeds[0]}-{seeds[-1]}")
    out = SeedsReport(contact_sheet=batch.contact_sheet, interrupted=batch.interrupted)
    for run, report, seconds in batch.runs:
        out.reports[run.seed], out.seconds[run.seed] = report, seconds
    return out



#: More runs than anyone wants from one call (files x seeds x --vary values).
MAX_RUNS = 1000
_SPLIT = re.compile(r"(?<!\\),")


def parse_vary(spec: str) -> tuple[str, list[str]]:
    """``--vary 27.cfg=4,5,6`` → ``("27.cfg", ["4", "5", "6"])``; a comma inside a value is
    written ``\\,``. Each value becomes a ``--set 27.cfg=V`` of its own run."""
    target, eq, values = spec.partition("=")
    if not eq or "." not in target.strip() or not values.strip():
        raise JobError(f"--vary {spec!r}: expected NODE.INPUT=VALUE1,VALUE2,… (node id or title)",
                       exit_code=EXIT_USAGE)
    items = [v.replace("\\,", ",").strip() for v in _SPLIT.split(values)]
    if any(not v for v in items):
        raise JobError(f"--vary {spec!r}: an empty value", exit_code=EXIT_USAGE)
    return target.strip(), items


@dataclass(frozen=True)
class BatchRun:
    """One run of a batch: a file, its seed (None: as saved) and the ``--set`` values it adds."""

    path: Path
    seed: int | None
    sets: tuple[str, ...]
    label: str


def batch_runs(paths: list[str | Path], seeds: list[int] | None, vary: list[str]) -> list[BatchRun]:
    """Every file x every ``--vary`` combination x every seed, in that order, each labelled by
    what sets it apart (the file's name only when there are several)."""
    import itertools

    axes = [[(target, value) for value in values] for target, values in map(parse_vary, vary)]
    combos = list(itertools.product(*axes)) if axes else [()]
    count = len(paths) * len(combos) * len(seeds or [None])
    if count > MAX_RUNS:
        raise JobError(f"{count} runs asked for (files x --vary values x seeds): more than {MAX_RUNS}",
                       exit_code=EXIT_USAGE)
    runs = []
    for path in map(Path, paths):
        for combo in combos:
            for seed in seeds or [None]:
                parts = ([path.stem] if len(paths) > 1 else []) + [f"{t}={v}" for t, v in combo] + (
                    [f"seed {seed}"] if seed is not None else [])
                runs.append(BatchRun(path, seed, tuple(f"{t}={v}" for t, v in combo), ", ".join(parts) or path.stem))
    return runs


@dataclass
class BatchReport:
    runs: list[tuple[BatchRun, JobReport, float]] = field(default_factory=list)
    contact_sheet: Path | None = None
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"runs": [{"label": run.label, "file": str(run.path), "seed": run.seed, "set": list(run.sets),
                          "seconds": round(seconds, 3), **report.to_json()} for run, report, seconds in self.runs],
                "contact_sheet": str(self.contact_sheet) if self.contact_sheet else None,
                "interrupted": self.interrupted}


def run_batch(runs: list[BatchRun], options: RunOptions, progress: Any = None, on_run: Any = None,
              sheet_name: str | None = None) -> BatchReport:
    """Each run in turn with one shared output cache: a node whose inputs equal those of the
    run before (the same model file in another workflow, the loaders and encoders of another
    seed) is served from it. ``on_run(run, report, seconds)`` after each; a contact sheet with
    a row per run at the end. Stops after an interrupted run."""
    cache = OutputCache()
    out = BatchReport()
    rows: list[tuple[str, list]] = []
    for run in runs:
        start = time.perf_counter()
        run_options = dataclasses.replace(options, seed=run.seed if run.seed is not None else options.seed,
                                          overrides=[*options.overrides, *run.sets])
        prepared = prepare(run.path, run_options)
        report = execute(prepared, run_options, progress, cache)
        seconds = time.perf_counter() - start
        out.runs.append((run, report, seconds))
        if on_run is not None:
            on_run(run, report, seconds)
        if report.result is None or report.result.interrupted:
            out.interrupted = True
            break
        media = first_media(report)
        if media is not None:
            rows.append((run.label, key_frames(media)))
    if rows:
        name = sheet_name or f"contact_sheet_{runs[0].path.stem}_batch"
        out.contact_sheet = contact_sheet(rows, Path(options.output_dir) / f"{name}.png")
    return out
