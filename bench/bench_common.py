"""What the workflow benchmarks share: their options, and the edits they make to the corpus
workflows before running them."""

from __future__ import annotations


def link_compile_settings(data: dict) -> None:
    """Connect the workflow's (unlinked) WanVideoTorchCompileSettings to the model loader."""
    settings = next(n for n in data["nodes"] if n["type"] == "WanVideoTorchCompileSettings")
    loader = next(n for n in data["nodes"] if n["type"] == "WanVideoModelLoader")
    socket = next(i for i in loader["inputs"] if i["name"] == "compile_args")
    link_id = data["last_link_id"] = data["last_link_id"] + 1
    data["links"].append([link_id, settings["id"], 0, loader["id"], loader["inputs"].index(socket),
                          settings["outputs"][0]["type"]])
    socket["link"] = link_id
    settings["outputs"][0]["links"] = [link_id]
    settings["mode"] = 0


def add_job_arguments(parser, steps: int) -> None:
    """The options every workflow benchmark takes: which corpus file, where to work, the
    video's size and steps, the device, and --small for a CPU smoke run."""
    from pathlib import Path

    parser.add_argument("--workflow", required=True, type=Path, help="the corpus workflow to run")
    parser.add_argument("--out", required=True, type=Path, help="working folder (models, outputs)")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny widths, for a CPU smoke run")


def wfrun_entry(name: str) -> list[str]:
    """The interpreter arguments that start ``wfrun`` for one benchmark job: ``-m wfrun``, or,
    with ``WFRUN_BENCH_CPROFILE=<dir>``, under ``bench/profiled_wfrun.py`` (a cProfile of the
    main thread and torch.compile's report), or with ``WFRUN_BENCH_COMPILE_REPORT=<dir>``
    the report only, the job at full speed; with ``WFRUN_BENCH_SAMPLE=<dir>`` under
    ``bench/sampled_wfrun.py`` (every thread's stack every few milliseconds, on the report's
    clock). ``name`` labels the files in that folder."""
    import os
    import time
    from pathlib import Path

    if os.environ.get("WFRUN_BENCH_SAMPLE"):  # every thread's stack every few ms (bench/sampled_wfrun.py)
        Path(os.environ["WFRUN_BENCH_SAMPLE"]).mkdir(parents=True, exist_ok=True)
        return [str(Path(__file__).resolve().parent / "sampled_wfrun.py"),
                str(Path(os.environ["WFRUN_BENCH_SAMPLE"]) / f"{name}.{time.time_ns()}.samples.gz")]
    profile = os.environ.get("WFRUN_BENCH_CPROFILE") or os.environ.get("WFRUN_BENCH_COMPILE_REPORT")
    if not profile:
        return ["-m", "wfrun"]
    Path(profile).mkdir(parents=True, exist_ok=True)
    report_only = [] if os.environ.get("WFRUN_BENCH_CPROFILE") else ["--no-cprofile"]
    return [str(Path(__file__).resolve().parent / "profiled_wfrun.py"), *report_only,
            str(Path(profile) / f"{name}.{time.time_ns()}.prof")]
