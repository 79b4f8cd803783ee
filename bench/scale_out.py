"""GPU benchmark (issue 17): scale-out over the GPUs of one machine. Not run yet: it needs a
machine of several GPUs (nvidia-h200-x2/x4/x8).

Three measurements, each one ``wfrun run`` subprocess per variant, ``--format json``:

- ``sweep-tiny``: a seed sweep of ``workflows/wan_t2v_tiny.json`` on the tiny models,
  ``--seeds 1-K`` on one GPU (one process, models loaded once) against ``--seeds 1-K --ray``
  (a local Ray cluster, one worker per GPU). Jobs per minute = K / wall seconds, loads
  included (each Ray worker loads once).
- ``sweep-1.3b``: the same with the pack's long T2V workflow (``--workflow``, e.g.
  ``wanvideo_long_T2V_example_01``) on the full-size 1.3B T2V (random weights written by
  bench/fullsize.py, as bench/t2v_long_1_3b.py does), at --frames/--width/--height/--steps.
- ``gpus-14b``: the pack's I2V end-frame workflow (``--workflow``) with the 14B I2V 480P in
  bf16 (bench/i2v_endframe_14b.py's preparation: TeaCache and block swap off), ``--gpus N``
  for each N of ``--gpus-list`` (1 = the plain run): seconds per sampler step (median
  after the first) and the speedup against N=1.

Prints one JSON object; bench/RESULTS.md records it.

    python bench/scale_out.py sweep-tiny --out /tmp/so [--seeds 16]
    python bench/scale_out.py sweep-1.3b --workflow W.json --out /tmp/so [--seeds 16 --steps 10]
    python bench/scale_out.py gpus-14b --workflow W.json --out /tmp/so [--gpus-list 1,2,4,8 --steps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
TINY = ROOT / "workflows" / "wan_t2v_tiny.json"


def wfrun(args: list[str], log: Path) -> tuple[dict, float]:
    """One ``wfrun run`` (JSON report on stdout, progress streamed to ``log``); (report, wall s)."""
    start = time.perf_counter()
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "wfrun", "run", *args, "--format", "json"],
                              stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": log.read_text()[-3000:] + done.stdout[-2000:], "exit": done.returncode}, wall
    return json.loads(done.stdout), wall


def sweep(workflow: Path, common: list[str], seeds: int, out: Path, device: str) -> dict:
    """--seeds 1-K in one process against --ray over every GPU."""
    import torch

    gpus = torch.cuda.device_count() if device == "cuda" else 0
    result: dict = {"seeds": seeds, "gpus": gpus}
    spec = f"1-{seeds}"
    variants = {"one_gpu": ["--seeds", spec], "ray_all_gpus": ["--seeds", spec, "--ray"]}
    for name, extra in variants.items():
        report, wall = wfrun([str(workflow), *common, "--device", device, "-o", str(out / name), *extra],
                             out / f"{name}.stderr.log")
        entry: dict = {"wall_s": round(wall, 2), "jobs_per_minute": round(seeds * 60 / wall, 2)}
        if "error" in report:
            entry["error"] = report["error"]
        elif name == "ray_all_gpus":
            entry["workers"] = report["workers"]
            entry["failed"] = report["failed"]
            entry["job_seconds"] = [j["seconds"] for j in report["jobs"]]
        else:
            entry["job_seconds"] = [s["seconds"] for s in report["seeds"].values()]
        result[name] = entry
        print(json.dumps({name: entry}), file=sys.stderr, flush=True)
    one, many = result["one_gpu"], result["ray_all_gpus"]
    if "error" not in one and "error" not in many:
        result["speedup"] = round(many["jobs_per_minute"] / one["jobs_per_minute"], 2)
    return result


def sweep_1_3b(args) -> dict:
    import t2v_long_1_3b

    data = json.loads(args.workflow.read_text())
    models = args.out / "models"
    written = t2v_long_1_3b.write_models(models, data, args.device, args.small)
    workflow = args.out / "t2v_1_3b.json"
    workflow.write_text(json.dumps(t2v_long_1_3b.bench_workflow(data, bypass_teacache=True)))
    embeds, sampler = t2v_long_1_3b.ids(data, "WanVideoEmptyEmbeds"), t2v_long_1_3b.ids(data, "WanVideoSampler")
    common = ["--models", str(models), "--set", f"{embeds}.num_frames={args.frames}",
              "--set", f"{embeds}.width={args.width}", "--set", f"{embeds}.height={args.height}",
              "--set", f"{sampler}.steps={args.steps}"]
    return {"models": written, **sweep(workflow, common, args.seeds, args.out, args.device)}


def gpus_14b(args) -> dict:
    import fullsize
    import i2v_endframe_14b as i2v
    from wfrun.media.samples import write_start_end_images

    data = json.loads(args.workflow.read_text())
    models = args.out / "models"
    write_start_end_images(args.out / "input", args.width, args.height)
    result: dict = {"models": i2v.write_models(models, data, args.device, args.small)}
    fullsize.write_transformer(models / "diffusion_models" / "WanVideo" / i2v.MODEL_FILES["bf16"], "i2v", "14B",
                               "bf16", args.device, args.small)
    workflow = args.out / "i2v_bf16.json"
    workflow.write_text(json.dumps(i2v.prepare_workflow(data, "bf16", block_swap=False)))
    enc, sampler = i2v.node(data, "WanVideoImageToVideoEncode"), i2v.node(data, "WanVideoSampler")
    resize = next(n for n in data["nodes"] if n["type"] == "ImageResize+" and any(
        o.get("links") for o in n["outputs"][1:]))
    common = [str(workflow), "--models", str(models), "--input", str(args.out / "input"), "--device", args.device,
              "--set", f"{enc['id']}.num_frames={args.frames}", "--set", f"{resize['id']}.width={args.width}",
              "--set", f"{resize['id']}.height={args.height}", "--set", f"{sampler['id']}.steps={args.steps}"]
    for n in (int(x) for x in args.gpus_list.split(",")):
        extra = ["--gpus", str(n), "--cp-attention", args.cp_attention] if n > 1 else []
        report, wall = wfrun([*common, "-o", str(args.out / f"gpus{n}"), *extra], args.out / f"gpus{n}.stderr.log")
        if "error" in report:
            result[f"gpus_{n}"] = {"error": report["error"], "wall_s": round(wall, 2)}
        else:
            steps = report["step_seconds"][0] if report.get("step_seconds") else []
            result[f"gpus_{n}"] = {"wall_s": round(wall, 2), "step_seconds": steps,
                                   "s_per_step_median": round(statistics.median(steps[1:] or steps), 3)
                                   if steps else None, "peak_gpu_gib_rank0": report.get("peak_gpu_gib")}
        print(json.dumps({f"gpus_{n}": result[f"gpus_{n}"]}), file=sys.stderr, flush=True)
    base = result.get("gpus_1", {}).get("s_per_step_median")
    if base:
        result["speedup"] = {k: round(base / v["s_per_step_median"], 2) for k, v in result.items()
                             if k.startswith("gpus_") and v.get("s_per_step_median")}
    return result


def main() -> None:
    from bench_common import add_job_arguments

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    tiny = sub.add_parser("sweep-tiny")
    tiny.add_argument("--out", required=True, type=Path)
    tiny.add_argument("--seeds", type=int, default=16)
    tiny.add_argument("--device", default="cuda")
    t2v = sub.add_parser("sweep-1.3b")
    add_job_arguments(t2v, steps=10)
    t2v.add_argument("--seeds", type=int, default=16)
    i2v = sub.add_parser("gpus-14b")
    add_job_arguments(i2v, steps=3)
    i2v.add_argument("--gpus-list", default="1,2,4,8")
    i2v.add_argument("--cp-attention", choices=["ulysses", "ring"], default="ulysses")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import diffusers
    import torch

    result: dict = {"date": time.strftime("%Y-%m-%d"), "what": args.what,
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "gpu_count": torch.cuda.device_count(),
                    "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__}}
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if args.what == "sweep-tiny":
        result.update(sweep(TINY, ["--tiny-models"], args.seeds, args.out, args.device))
    elif args.what == "sweep-1.3b":
        result.update(steps=args.steps, frames=args.frames, size=f"{args.width}x{args.height}")
        result.update(sweep_1_3b(args))
    else:
        result.update(steps=args.steps, frames=args.frames, size=f"{args.width}x{args.height}")
        result.update(gpus_14b(args))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
