"""GPU benchmark (issue 16): where a real job's transformer forwards lose time against the
same forward alone.

Runs the pack's I2V end-frame example (14B I2V 480P fp8, random weights, 81 frames 832x480,
TeaCache and block swap off) in this process under the PyTorch profiler (CUDA kernels only),
then the same forward alone on a freshly loaded model with the example's precisions (fp16
compute, fp8 weights). Prints, per forward, the kernel time of each kind in both, and the
job's own step times. Reuses the transformer file ``fast_fp8_14b.py`` wrote under --out.

    python bench/profile_i2v_job.py --workflow W.json --out /tmp/b [--steps 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def kernel_ms(prof) -> dict[str, float]:
    """Total device time (ms) of each kernel name in ``prof``."""
    totals: collections.Counter[str] = collections.Counter()
    for event in prof.key_averages():
        device_us = getattr(event, "self_device_time_total", None)
        if device_us is None:
            device_us = event.self_cuda_time_total
        if device_us > 0:
            totals[event.key[:90]] += device_us / 1000
    return dict(totals)


def main() -> None:
    from bench_common import add_job_arguments

    parser = argparse.ArgumentParser()
    add_job_arguments(parser, steps=3)
    args = parser.parse_args()
    from torch.profiler import ProfilerActivity, profile

    import fast_fp8_14b
    from i2v_endframe_14b import MODEL_FILES, node, prepare_workflow, write_models
    from wfrun.engine.progress import QuietProgress
    from wfrun.jobs import run as job
    from wfrun.media.samples import write_start_end_images
    from wfrun.models.load import load_transformer
    from wfrun.sampling.forward import transformer_forward

    data = json.loads(args.workflow.read_text())
    models = args.out / "models"
    checkpoint = models / "diffusion_models" / "WanVideo" / MODEL_FILES["fp8"]
    if not checkpoint.exists():
        sys.exit(f"{checkpoint}: run bench/fast_fp8_14b.py --out {args.out} first")
    write_start_end_images(args.out / "input", args.width, args.height)
    write_models(models, data, args.device, args.small)
    workflow = args.out / "i2v_fp8.json"
    workflow.write_text(json.dumps(prepare_workflow(data, "fp8", block_swap=False)))
    i2v, sampler = node(data, "WanVideoImageToVideoEncode"), node(data, "WanVideoSampler")
    resize = next(n for n in data["nodes"] if n["type"] == "ImageResize+" and any(
        o.get("links") for o in n["outputs"][1:]))
    options = job.RunOptions(models_dir=str(models), output_dir=args.out / "output", input_dir=args.out / "input",
                             device=args.device, overrides=[
                                 f"{i2v['id']}.num_frames={args.frames}", f"{resize['id']}.width={args.width}",
                                 f"{resize['id']}.height={args.height}", f"{sampler['id']}.steps={args.steps}"])
    prepared = job.prepare(workflow, options)
    activities = [ProfilerActivity.CUDA if args.device.startswith("cuda") else ProfilerActivity.CPU]
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        report = job.execute(prepared, options, QuietProgress())
    wall = time.perf_counter() - start
    steps = report.step_seconds[0] if report.step_seconds else []
    in_job = kernel_ms(prof)
    del prof
    torch.cuda.empty_cache()

    model = load_transformer(checkpoint, dtype=torch.float16, device=args.device)
    lat_frames = (args.frames - 1) // 4 + 2  # the example's extra end-frame latent
    x = fast_fp8_14b.inputs(model, lat_frames, args.height // 8, args.width // 8, args.device, torch.float16)
    forward = lambda: transformer_forward(model, x["hidden_states"], x["timestep"], x["encoder_hidden_states"],  # noqa: E731
                                          x["encoder_hidden_states_image"])
    times, _, _ = fast_fp8_14b.timed(forward, 2, args.device)
    with profile(activities=activities) as prof:
        with torch.no_grad():
            forward()
            forward()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
    alone = {k: v / 2 for k, v in kernel_ms(prof).items()}
    forwards = 2 * args.steps  # CFG: two a step
    per_forward = {k: v / forwards for k, v in in_job.items()}
    names = sorted(set(alone) | set(per_forward), key=lambda k: -max(alone.get(k, 0), per_forward.get(k, 0)))
    table = [{"kernel": k, "job_ms_per_forward": round(per_forward.get(k, 0), 1), "alone_ms": round(alone.get(k, 0), 1)}
             for k in names[:40]]
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                      "torch": torch.__version__, "job_wall_s": round(wall, 1), "step_seconds": steps,
                      "node_seconds": report.result.seconds if report.result else None,
                      "alone_forward_s": [round(t, 3) for t in times],
                      "job_kernel_ms_total_per_forward_all_kernels": round(sum(per_forward.values()), 1),
                      "alone_kernel_ms_total": round(sum(alone.values()), 1), "kernels": table}, indent=1,
                     default=str))


if __name__ == "__main__":
    main()
