"""Many jobs over the GPUs of a Ray cluster: ``wfrun run W.json --seeds 1-64 --ray [ADDRESS]``
and ``wfrun run a.json b.json … --ray``.

Ray does the scheduling; wfrun adds one long-lived worker (a Ray actor) per GPU — or, on a
cluster without GPUs, per CPU (``--ray-workers N`` caps either) — that keeps its loaded
models between jobs: each worker holds one :class:`wfrun.engine.run.OutputCache`, as
``--seeds`` does in one process (``jobs/seeds.py``), so a worker's second seed of the same
workflow loads nothing and re-runs only the samplers and what follows them.

Where the outputs go (decided here): each worker writes a job's files into a temporary
folder of its own machine and returns the files' bytes; the command's process writes them
into its output folder (``-o``) under their own names — never over an earlier file, the
counter moved on where a name is taken — and draws the contact sheet from them. So a
multi-machine cluster needs no shared output folder, and nothing a worker writes is left
half-done in it.

What every worker needs: wfrun (the same version) and its dependencies, the models folder
(``--models`` or ``WFRUN_MODELS``, at the same path on every machine: a shared mount or a
copy on each), and the input folder at the same path where the workflow loads images or
videos. The workflow files themselves travel with the jobs. The files are checked on the
workers, not here: on a cluster the models may be only where the GPUs are.

A failed job is said at once and tried once more (on whichever worker is free); the others
go on. A worker that dies is replaced. Ctrl-C stops every worker (``ray.kill``) and keeps
the outputs already gathered; a killed worker's scratch folder (named after its process)
is removed by the next worker started on that machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from wfrun import atomic
from wfrun.lean_imports import keep_unused_packages_out
from wfrun.long_lived import own_process
from wfrun.jobs.run import EXIT_USAGE, JobError, RunOptions
from wfrun.media.contact_sheet import contact_sheet, key_frames

#: Tries per job: the first run and one retry.
ATTEMPTS = 2
#: More jobs than anyone queues in one call (``--seeds`` allows 1000 per file).
MAX_JOBS = 10_000
_MEDIA = (".mp4", ".webm", ".webp", ".gif", ".png")
RAY_HINT = "pip install 'wfrun[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a usage error (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise JobError(f"--ray needs Ray, which is not installed here: {RAY_HINT}", exit_code=EXIT_USAGE) from None
    return ray


@dataclass(frozen=True)
class SweepJob:
    index: int
    path: str  # as the user gave it
    seed: int | None = None

    @property
    def label(self) -> str:
        return Path(self.path).name + (f" seed {self.seed}" if self.seed is not None else "")


def plan_jobs(paths: list[str], seeds: list[int] | None) -> list[SweepJob]:
    """One job per file, or per file and seed with ``--seeds`` (files outer, seeds inner)."""
    pairs = [(p, s) for p in paths for s in seeds] if seeds else [(p, None) for p in paths]
    if len(pairs) > MAX_JOBS:
        raise JobError(f"{len(pairs)} jobs: more than {MAX_JOBS} in one call", exit_code=EXIT_USAGE)
    return [SweepJob(i, p, s) for i, (p, s) in enumerate(pairs)]


@dataclass
class JobOutcome:
    job: SweepJob
    ok: bool = False
    attempts: int = 0
    seconds: float = 0.0
    worker: str = ""
    written: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Node types served from the worker's cache (models it had loaded for an earlier job).
    cached: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.job.path, "seed": self.job.seed, "ok": self.ok, "attempts": self.attempts,
                "seconds": round(self.seconds, 3), "worker": self.worker, "cached": self.cached,
                "written": [str(p) for p in self.written], "errors": self.errors}


@dataclass
class SweepReport:
    outcomes: list[JobOutcome]
    workers: int = 0
    contact_sheet: Path | None = None
    interrupted: bool = False

    @property
    def failed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.attempts and not o.ok]

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [o.to_json() for o in self.outcomes], "workers": self.workers,
                "failed": [o.job.label for o in self.failed],
                "contact_sheet": str(self.contact_sheet) if self.contact_sheet else None,
                "interrupted": self.interrupted}


class SweepWorker:
    """One worker (a Ray actor): the workflows written once into its scratch folder, one
    output cache kept across jobs (models stay loaded), each job's files returned as bytes."""

    def __init__(self, workflows: dict[str, tuple[str, bytes, str]], options: RunOptions):
        keep_unused_packages_out()  # a worker process: before the node packs import diffusers
        own_process()  # wfrun's own process: the collector skips what imports made (long_lived)
        _remove_stale_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH}{os.getpid()}-"))
        self.paths: dict[str, Path] = {}
        self.inputs: dict[str, Path] = {}
        for n, (given, (name, data, inputs)) in enumerate(workflows.items()):
            folder = self.scratch / "workflows" / str(n)
            folder.mkdir(parents=True)
            (folder / name).write_bytes(data)
            self.paths[given], self.inputs[given] = folder / name, Path(inputs)
        self.options = options
        from wfrun.engine.run import OutputCache

        self.cache = OutputCache()

    def where(self) -> str:
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        return socket.gethostname() + (f" GPU {gpus}" if gpus else f" pid {os.getpid()}")

    def run(self, job: SweepJob, attempt: int) -> dict[str, Any]:
        from wfrun.jobs.run import execute, prepare

        out = self.scratch / "out" / f"{job.index}.{attempt}"
        local = self.paths[job.path]
        options = dataclasses.replace(self.options, output_dir=out, input_dir=self.inputs[job.path],
                                      seed=job.seed if job.seed is not None else self.options.seed)
        start = time.perf_counter()
        try:
            prepared = prepare(local, options)
            result = execute(prepared, options, None, self.cache).result
            files = [(PurePosixPath(Path(p).relative_to(out)).as_posix(), Path(p).read_bytes())
                     for p in result.written]
            return {"ok": not result.interrupted, "files": files, "seconds": time.perf_counter() - start,
                    "error": "interrupted" if result.interrupted else None,
                    "cached": [prepared.graph.node(i).class_type for i in result.cached]}
        except JobError as err:
            return {"ok": False, "files": [], "seconds": time.perf_counter() - start,
                    "error": str(err).replace(str(local), job.path)}
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


_SCRATCH = "wfrun-ray-"


def _remove_stale_scratch() -> None:
    """Remove the scratch folders of workers that are gone (killed by Ctrl-C or a crash
    before they could clean up): each folder is named after its worker's process id."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_SCRATCH}*-*"):
        pid = folder.name[len(_SCRATCH):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # alive, someone else's


def _safe_relative(name: str) -> PurePosixPath:
    """A worker's file name, as a path that stays inside the output folder."""
    rel = PurePosixPath(name)
    if rel.is_absolute() or not rel.parts or any(part in ("..", "") for part in rel.parts) or "\0" in name:
        raise JobError(f"a worker returned the file name {name!r}, which leaves the output folder")
    return rel


def _candidates(target: Path):
    """``target``, then the same name with its counter moved on (``x_00001.mp4`` → ``x_00002.mp4``;
    a name without a counter gets ``_2``, ``_3``…)."""
    yield target
    m = re.match(r"^(.*?)(\d+)(_?)$", target.stem)
    if m:
        head, digits, tail = m.groups()
        for n in range(int(digits) + 1, int(digits) + 100_000):
            yield target.with_name(f"{head}{n:0{len(digits)}d}{tail}{target.suffix}")
    else:
        for n in range(2, 100_000):
            yield target.with_name(f"{target.stem}_{n}{target.suffix}")


def gather_file(output_dir: Path, name: str, data: bytes) -> Path:
    """Write one returned file into ``output_dir`` (complete or not at all, never over an
    earlier file); returns the path written."""
    target = Path(output_dir) / _safe_relative(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = atomic.temp_beside(target)
    try:
        temp.write_bytes(data)
        atomic.sync_file(temp)
        return atomic.publish_first_free(temp, _candidates(target))
    finally:
        atomic.remove_quietly(temp)


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A ``host:port`` address that answers nothing is a usage error at once (``ray.init``
    would retry for minutes)."""
    if not address or "://" in address or ":" not in address:
        return  # auto, local, ray://: Ray's own rules
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise JobError(f"--ray {address}: nothing answers there ({err.strerror or err})\n  hint: start the "
                       "cluster's head with `ray start --head` and give its address", exit_code=EXIT_USAGE) from None


def _worker_count(ray: Any, options: RunOptions, workers: int | None) -> tuple[int, bool]:
    """How many workers, and whether each takes a GPU."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and options.device != "cpu"
    if options.device == "cuda" and not use_gpu:
        raise JobError("--device cuda: the Ray cluster has no GPU", exit_code=EXIT_USAGE)
    limit = gpus if use_gpu else max(1, int(resources.get("CPU", 1)))
    if workers is not None and workers < 1:
        raise JobError(f"--ray-workers {workers}: give 1 or more", exit_code=EXIT_USAGE)
    return (min(workers, limit) if workers else limit), use_gpu


def run_sweep(paths: list[str], options: RunOptions, seeds: list[int] | None = None, *,
              address: str | None = None, workers: int | None = None,
              say: Callable[[str], None] = print, init: dict[str, Any] | None = None) -> SweepReport:
    """Run every job on a Ray cluster (``address``; None: ``RAY_ADDRESS``, else the cluster
    last started on this machine, else a new local one — ``ray.init``'s rule; ``init`` passed
    to ``ray.init``; an already connected session is used as it is) and
    gather the outputs and a contact sheet into ``options.output_dir``."""
    ray = import_ray()
    jobs = plan_jobs([str(p) for p in paths], seeds)
    from wfrun.jobs.run import check_output_folder, input_dir_for

    # the workers see the workflows in scratch folders: each keeps the input folder it has here
    workflows: dict[str, tuple[str, bytes, str]] = {}
    for job in jobs:
        if job.path not in workflows:
            try:
                data = Path(job.path).read_bytes()
            except OSError as err:
                raise JobError(f"cannot read {job.path}: {err.strerror or err}", exit_code=EXIT_USAGE) from None
            inputs = str(Path(input_dir_for(Path(job.path), options)).resolve())
            workflows[job.path] = (Path(job.path).name, data, inputs)
    output_dir = Path(options.output_dir)
    check_output_folder(output_dir)
    options = dataclasses.replace(options, models_dir=str(Path(options.models_dir).resolve())
                                  if options.models_dir else None)
    started = not ray.is_initialized()
    if started:
        _check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init or {}))
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise JobError(f"--ray {address or ''}: cannot start or reach the Ray cluster: {err}".replace("  ", " "),
                           exit_code=EXIT_USAGE) from None
    actors: list[Any] = []
    report = SweepReport([JobOutcome(job) for job in jobs])
    try:
        count, use_gpu = _worker_count(ray, options, workers)
        options = dataclasses.replace(options, device="cuda" if use_gpu else "cpu")
        actor_class = ray.remote(num_gpus=1 if use_gpu else 0, num_cpus=0 if use_gpu else 1)(SweepWorker)
        shared = ray.put(workflows)
        actors = [actor_class.remote(shared, options) for _ in range(min(count, len(jobs)))]
        report.workers = len(actors)
        say(f"ray: {len(jobs)} job(s) on {len(actors)} {'GPU' if use_gpu else 'CPU'} worker(s)")
        _drive(ray, actors, actor_class, shared, options, report, output_dir, say)
    except KeyboardInterrupt:
        report.interrupted = True
        say("interrupted: stopping every worker; outputs gathered so far are kept")
    finally:
        for actor in actors:
            if not report.interrupted:
                try:
                    ray.get(actor.close.remote(), timeout=30)
                except Exception:  # noqa: BLE001 - a dead worker has nothing to clean
                    pass
            ray.kill(actor, no_restart=True)
        if started:
            ray.shutdown()
    report.contact_sheet = _sheet(report, jobs, output_dir)
    return report


def _drive(ray: Any, actors: list, actor_class: Any, shared: Any, options: RunOptions, report: SweepReport,
           output_dir: Path, say: Callable[[str], None]) -> None:
    queue = deque(report.outcomes)
    idle = deque(range(len(actors)))
    running: dict[Any, tuple[int, JobOutcome]] = {}
    try:
        names = ray.get([a.where.remote() for a in actors])
    except ray.exceptions.RayError as err:  # e.g. wfrun or a dependency missing on a machine
        raise JobError(f"the Ray workers could not start: {err}\n  hint: every machine of the cluster needs "
                       "wfrun (the same version) and its dependencies installed") from None
    finished = 0
    while queue or running:
        while queue and idle:
            slot, outcome = idle.popleft(), queue.popleft()
            outcome.attempts += 1
            outcome.worker = names[slot]
            running[actors[slot].run.remote(outcome.job, outcome.attempts)] = (slot, outcome)
            say(f"  start {outcome.job.label} on {names[slot]}"
                + (f" (try {outcome.attempts})" if outcome.attempts > 1 else ""))
        ready, _ = ray.wait(list(running), num_returns=1)
        slot, outcome = running.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayActorError as err:  # the worker died: a new one takes its place
            result = {"ok": False, "files": [], "seconds": 0.0, "error": f"worker {names[slot]} died: {err}"}
            actors[slot] = actor_class.remote(shared, options)
            names[slot] = ray.get(actors[slot].where.remote())
        except ray.exceptions.RayTaskError as err:
            result = {"ok": False, "files": [], "seconds": 0.0, "error": str(err.cause if err.cause else err)}
        idle.append(slot)
        outcome.seconds += result["seconds"]
        if result["ok"]:
            outcome.ok = True
            outcome.cached = list(result.get("cached", []))
            outcome.written = [gather_file(output_dir, name, data) for name, data in result["files"]]
            finished += 1
            say(f"[{finished}/{len(report.outcomes)}] {outcome.job.label}: {result['seconds']:.1f} s on "
                f"{outcome.worker}, {len(outcome.written)} file(s)")
            for path in outcome.written:
                say(f"  wrote {path}")
            continue
        outcome.errors.append(result["error"])
        first_line = str(result["error"]).splitlines()[0] if result["error"] else "failed"
        if outcome.attempts < ATTEMPTS:
            say(f"  {outcome.job.label} failed on {outcome.worker}: {first_line}; trying once more")
            queue.append(outcome)
        else:
            finished += 1
            say(f"[{finished}/{len(report.outcomes)}] {outcome.job.label} FAILED after {outcome.attempts} tries: "
                f"{first_line}")


def _sheet(report: SweepReport, jobs: list[SweepJob], output_dir: Path) -> Path | None:
    """A contact sheet over the finished jobs, in job order (as ``--seeds`` draws it)."""
    rows = []
    for outcome in report.outcomes:
        media = sorted((p for p in outcome.written if p.suffix.lower() in _MEDIA),
                       key=lambda p: _MEDIA.index(p.suffix.lower()))
        if outcome.ok and media:
            one_file = len({j.path for j in jobs}) == 1 and outcome.job.seed is not None
            rows.append((f"seed {outcome.job.seed}" if one_file else outcome.job.label,
                         key_frames(media[0])))
    if not rows:
        return None
    stem = Path(jobs[0].path).stem
    seeds = [j.seed for j in jobs if j.seed is not None]
    name = (f"contact_sheet_{stem}_{seeds[0]}-{seeds[-1]}" if seeds and len({j.path for j in jobs}) == 1
            else f"contact_sheet_{stem}_and_{len({j.path for j in jobs}) - 1}_more")
    return contact_sheet(rows, output_dir / f"{name}.png")
