"""``wfrun run``: argument parsing and printing only; the work is in ``wfrun.jobs.run``.

Each file written gets one ``wrote`` line, printed by the progress (on stderr) the moment
it is complete, so files written before an error or Ctrl-C are listed too. An interrupted
run exits 130 and never prints ``done``. The engine (and torch with it) is imported only
when a run starts, so the other commands start in a fraction of the time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wfrun.cli.guard import EXIT_INTERRUPTED, SafePath

if TYPE_CHECKING:
    from wfrun.jobs.run import JobError, JobReport


@click.command("run")
@click.argument("files", nargs=-1, required=True, metavar="FILE...", type=SafePath(dir_okay=False))
@click.option("--models", "models_dir", type=SafePath(file_okay=False),
              help="ComfyUI models folder (default: WFRUN_MODELS, extra_model_paths.yaml in it)")
@click.option("--tiny-models", is_flag=True,
              help="use wfrun's built-in tiny random models (written on first use to "
                   "~/.cache/wfrun/tiny-models/, or under WFRUN_CACHE)")
@click.option("--smoke", is_flag=True,
              help="prove the workflow runs, in seconds: tiny models, stand-ins for missing inputs, "
                   "sizes capped at 64 px, 9 frames, 2 steps (the file is not changed)")
@click.option("-o", "--output", "output_dir", type=SafePath(file_okay=False), default="output",
              show_default=True, help="where outputs are written (never overwriting earlier ones)")
@click.option("--input", "input_dir", type=SafePath(file_okay=False),
              help="where LoadImage/LoadVideo look (default: input/ beside the workflow)")
@click.option("--set", "overrides", multiple=True, metavar="NODE.INPUT=VALUE",
              help="change a widget value for this run (node id or title); repeatable")
@click.option("--seed", type=int, help="set every seed widget")
@click.option("--seeds", "seeds_spec", metavar="LIST",
              help="run once per seed (1-8, or 1,5,9), loading each model once; writes a contact sheet")
@click.option("--vary", "vary", multiple=True, metavar="NODE.INPUT=V1,V2,…",
              help="one run per value (with several: per combination), models loaded once; writes a contact sheet")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), help="main device (default: cuda if available)")
@click.option("--fast", is_flag=True,
              help="fp8 x fp8 matmuls in the transformer's blocks (GPUs of compute capability 8.9+), compiled "
                   "blocks and, on Hopper/Blackwell with the gpu extra, fp8 self-attention; close to, not equal "
                   "to, the workflow's numbers")
@click.option("--no-fp8-attention", "no_fp8_attention", is_flag=True,
              help="with --fast: keep self-attention in PyTorch's fp16/bf16 attention (a slower forward; the "
                   "fp8 attention's error, measured on random weights, is within the fp8 matmuls')")
@click.option("--compile", "compile_policy", type=click.Choice(["auto", "on", "off"]), default="auto",
              show_default=True,
              help="compile the transformer's blocks (CUDA): auto when the job's forwards pay for the compile "
                   "time, judged on the first one; the workflow's own compile nodes apply either way")
@click.option("--gpu-memory", "gpu_memory", type=click.FloatRange(min=1.0, max=4096.0), metavar="GIB",
              help="use at most this much GPU memory for models kept between nodes, as on a card of that size "
                   "(default: the whole card)")
@click.option("--dry-run", is_flag=True, help="check, plan and list model files and memory; load nothing")
@click.option("--allow-pickle", is_flag=True,
              help="also read .ckpt/.pt/.bin pickle files (weights only); only for files you trust")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="spread the jobs (files x --seeds) over the GPUs of a Ray cluster, one worker per GPU "
                   "keeping its models loaded; no ADDRESS: RAY_ADDRESS, a cluster started here, or a new local one "
                   "(needs pip install 'wfrun[ray]')")
@click.option("--ray-workers", type=int, metavar="N",
              help="at most N Ray workers (default: one per GPU of the cluster, else one per CPU)")
@click.option("--gpus", type=int, metavar="N",
              help="make one video on N GPUs of this machine: the transformer's tokens split over N "
                   "processes (context parallelism)")
@click.option("--cp-attention", type=click.Choice(["ulysses", "ring"]), default="ulysses", show_default=True,
              help="with --gpus: how self-attention is shared (ring: for sequences too long for Ulysses' memory)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def run(files: tuple[str, ...], models_dir: str | None, tiny_models: bool, smoke: bool, output_dir: str,
        input_dir: str | None, overrides: tuple[str, ...], seed: int | None, seeds_spec: str | None,
        vary: tuple[str, ...], device: str | None, fast: bool, no_fp8_attention: bool, compile_policy: str,
        gpu_memory: float | None, dry_run: bool,
        allow_pickle: bool, ray_address: str | None, ray_workers: int | None, gpus: int | None,
        cp_attention: str, fmt: str) -> None:
    """Run workflow FILE (UI or API format) with diffusers/transformers, no ComfyUI needed;
    several FILEs one after the other with the models loaded once (or spread with --ray)."""
    from wfrun.jobs import run as job
    from wfrun.engine.progress import ConsoleProgress

    if ray_address and Path(ray_address).is_file():  # `--ray a.json b.json`: a file, not an address
        files, ray_address = (ray_address, *files), ""
    for name in files:
        if not Path(name).is_file():
            raise click.UsageError(f"no such file: {name}")
    file = files[0]
    if vary and (ray_address is not None or gpus is not None or dry_run):
        raise click.UsageError("--vary cannot be combined with --ray, --gpus or --dry-run")
    if len(files) > 1 and (gpus is not None or dry_run or seed is not None):
        raise click.UsageError("several workflow files cannot be combined with --gpus, --dry-run or --seed "
                               "(use --seeds)")
    if ray_address is not None and (gpus is not None or dry_run or seed is not None):
        raise click.UsageError("--ray cannot be combined with --gpus, --dry-run or --seed (use --seeds)")
    if ray_workers is not None and ray_address is None:
        raise click.UsageError("--ray-workers needs --ray")
    if gpus is not None and seeds_spec is not None:
        raise click.UsageError("--gpus makes one video at a time; for many seeds on many GPUs use --seeds with --ray")
    if tiny_models and models_dir:
        raise click.UsageError("--tiny-models and --models cannot be combined")
    if smoke and models_dir:
        raise click.UsageError("--smoke runs on tiny models; it cannot be combined with --models")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.UsageError("--device cuda: no CUDA device is available here")
    if seeds_spec is not None and (seed is not None or dry_run):
        raise click.UsageError("--seeds cannot be combined with --seed or --dry-run")
    options = job.RunOptions(models_dir=models_dir, tiny_models=tiny_models, output_dir=Path(output_dir),
                             input_dir=Path(input_dir) if input_dir else None, overrides=list(overrides),
                             seed=seed, device=device, dry_run=dry_run, allow_pickle=allow_pickle, smoke=smoke,
                             fast=fast, fp8_attention=not no_fp8_attention, gpu_memory_gib=gpu_memory,
                             compile=compile_policy)
    if ray_address is not None or dry_run or gpus is not None:
        from wfrun.long_lived import release

        release()  # no job starts in this process (or not at once): collections back on
    if ray_address is not None:
        _run_ray(list(files), options, seeds_spec, ray_address or None, ray_workers, fmt)
    if len(files) > 1 or vary:
        _run_batch(list(files), options, seeds_spec, list(vary), fmt)
    if seeds_spec is not None:
        _run_seeds(file, options, seeds_spec, fmt)
    try:
        prepared = job.prepare(file, options)
        say = (lambda text: click.echo(text, err=True)) if fmt == "json" else click.echo
        _print_plan(prepared, say)
        if dry_run:
            report = job.JobReport(prepared, None, 0.0, device or "auto")
        else:
            progress = ConsoleProgress()  # on stderr: stdout stays clean for --format json
            if gpus is not None:
                from wfrun.jobs.gpus import run_on_gpus

                report = run_on_gpus(prepared, options, gpus, cp_attention, progress,
                                     say=lambda text: click.echo(text, err=True))
            else:
                report = job.execute(prepared, options, progress)
    except job.JobError as err:
        _print_error(err, fmt)
        sys.exit(err.exit_code)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        _print_summary(report)
    sys.exit(EXIT_INTERRUPTED if report.result is not None and report.result.interrupted else job.EXIT_OK)


def _run_seeds(file: str, options, spec: str, fmt: str) -> None:
    """``--seeds``: one run per seed (models loaded once), a line per seed, the contact sheet."""
    from wfrun.engine.progress import ConsoleProgress
    from wfrun.jobs import run as job
    from wfrun.jobs.seeds import parse_seeds, run_seeds

    say = (lambda text: click.echo(text, err=True)) if fmt == "json" else click.echo

    def done(seed: int, report, seconds: float) -> None:
        files = len(report.result.written) if report.result is not None else 0
        say(f"seed {seed}: {seconds:.1f} s, {files} file(s) written")

    try:
        report = run_seeds(file, options, parse_seeds(spec), ConsoleProgress(), on_seed=done)
    except job.JobError as err:
        _print_error(err, fmt)
        sys.exit(err.exit_code)
    _print_sheet_report(report, fmt)
    sys.exit(EXIT_INTERRUPTED if report.interrupted else job.EXIT_OK)


def _run_batch(files: list[str], options, spec: str | None, vary: list[str], fmt: str) -> None:
    """Several files and/or ``--vary`` values (and ``--seeds``): one run each in this process,
    models loaded once, a line per run, the contact sheet."""
    from wfrun.engine.progress import ConsoleProgress
    from wfrun.jobs import run as job
    from wfrun.jobs.seeds import batch_runs, parse_seeds, run_batch

    say = (lambda text: click.echo(text, err=True)) if fmt == "json" else click.echo

    def done(run, report, seconds: float) -> None:
        written = len(report.result.written) if report.result is not None else 0
        say(f"{run.label}: {seconds:.1f} s, {written} file(s) written")

    try:
        runs = batch_runs(files, parse_seeds(spec) if spec is not None else None, vary)
        report = run_batch(runs, options, ConsoleProgress(), on_run=done)
    except job.JobError as err:
        _print_error(err, fmt)
        sys.exit(err.exit_code)
    _print_sheet_report(report, fmt)
    sys.exit(EXIT_INTERRUPTED if report.interrupted else job.EXIT_OK)


def _print_sheet_report(report, fmt: str) -> None:
    """A many-run report: JSON for tools, else where the contact sheet went."""
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
    elif report.contact_sheet is not None:
        click.echo(f"contact sheet: {report.contact_sheet}")


def _run_ray(files: list[str], options, spec: str | None, address: str | None, workers: int | None,
             fmt: str) -> None:
    """``--ray``: every job (file x seed) on a Ray cluster; a line per job, the contact sheet;
    exit 1 naming the jobs that failed twice, 130 after Ctrl-C."""
    from wfrun.jobs import run as job
    from wfrun.jobs.ray_sweep import run_sweep
    from wfrun.jobs.seeds import parse_seeds

    say = (lambda text: click.echo(text, err=True)) if fmt == "json" else click.echo
    try:
        seeds = parse_seeds(spec) if spec is not None else None
        report = run_sweep(files, options, seeds, address=address, workers=workers, say=say)
    except job.JobError as err:
        _print_error(err, fmt)
        sys.exit(err.exit_code)
    _print_sheet_report(report, fmt)
    if report.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if report.failed:
        click.echo("failed: " + ", ".join(o.job.label for o in report.failed), err=True)
        sys.exit(job.EXIT_PROBLEMS)
    sys.exit(job.EXIT_OK)


def _print_plan(prepared, say) -> None:
    for line in prepared.migrated:
        say(f"migrated in memory (file unchanged; `wfrun migrate` fixes it): {line}")
    for line in prepared.changes:
        say(f"set {line}")
    for line in prepared.standins:
        say(f"stand-in: {line}")
    for line in prepared.request_files:
        say(f"from the request: {line}")
    for diag in prepared.warnings:
        say(diag.text())
    graph, plan = prepared.graph, prepared.plan
    say(f"plan: {len(plan.order)} node(s) to run, {len(plan.pruned)} pruned, outputs: "
        + ", ".join(f"{i} {graph.node(i).label}" for i in plan.outputs))
    for i, node_id in enumerate(plan.order, 1):
        node = graph.node(node_id)
        say(f"  {i:>2}. node {node_id} {node.label} ({node.class_type})")
    for node_id, why in plan.untaken.items():
        node = graph.node(node_id)
        say(f"  not run (branch not taken): node {node_id} {node.label} ({node.class_type}): {why}")
    from wfrun.jobs.run import memory_estimate

    for model in prepared.models:
        what = f": {model.detected.partition(': ')[2]}" if model.detected else ""
        say(f"  model: node {model.node_id} {model.input} = {model.path} ({model.bytes / 2**20:.1f} MiB){what}")
    est = memory_estimate(prepared)
    job = f"{est['max_tokens']} tokens" if est["max_tokens"] is not None else "sized at run time by other nodes"
    say(f"  weights {est['weights_gib']} GiB as stored; largest sampling job {job}")


def _print_summary(report: JobReport) -> None:
    result = report.result
    caps = report.prepared.runtime_caps
    for line in caps.changes if caps is not None else ():
        click.echo(f"set at run time {line}")
    if result is None:
        click.echo("dry run: nothing loaded, nothing written")
        return
    files = f"{len(result.written)} file(s) written" if result.written else "no files written"
    if result.interrupted:
        click.echo(f"interrupted after {len(result.executed)} node(s); {files}", err=True)
        return
    if not result.written:
        click.echo("finished; no files written (preview outputs only)")
    click.echo(f"done in {report.seconds:.1f} s on {report.device}: {files}")


def _print_error(err: JobError, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({"error": err.message, "diagnostics": [d.to_json() for d in err.diagnostics]}, indent=2))
        return
    click.echo(f"error: {err.message}", err=True)
    for diag in err.diagnostics:
        click.echo(diag.text(), err=True)
