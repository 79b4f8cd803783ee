"""GPU benchmark (issue 5): the pack's long T2V workflow through ``wfrun run`` vs diffusers' WanPipeline.

1. Writes full-size random-weight models where the workflow expects them: the 1.3B T2V
   transformer in fp16 (Kijai's layout), the Wan 2.1 VAE, and the bench text encoder
   (see bench/fullsize.py).
2. Runs the workflow (``wanvideo_long_T2V_example_01``, latest corpus version, given with
   --workflow) with ``wfrun run`` at 81 frames 480x832 and --steps steps, twice: as saved
   (TeaCache 0.1 on) and with TeaCache bypassed, which is the same computation as
   WanPipeline's loop; per-step seconds come from the sampler's progress bar.
3. Runs diffusers' ``WanPipeline`` on the same transformer file (loaded by wfrun), the same
   VAE, random 4096-wide prompt embeddings, UniPC flow (shift 5), cfg 6, same size/steps,
   timing each step with ``callback_on_step_end``.
4. With ``--variants ...,compiled``: wfrun again with the workflow's WanVideoTorchCompileSettings
   (inductor, transformer blocks only, as saved) linked to the model loader.
Prints one JSON object; bench/RESULTS.md records it.

    python bench/t2v_long_1_3b.py --workflow W.json --out /tmp/b [--steps 10] [--small --device cpu]
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


def write_models(models: Path, data: dict, device: str, small: bool) -> dict:
    import fullsize

    names = {}
    for node in data["nodes"]:
        values = node.get("widgets_values") or []
        if node["type"] == "WanVideoModelLoader":
            names["transformer"] = values[0]
        elif node["type"] == "WanVideoVAELoader":
            names["vae"] = values[0]
        elif node["type"] == "LoadWanVideoT5TextEncoder":
            names["t5"] = values[0]
    rel = {k: Path(v.replace("\\", "/")) for k, v in names.items()}
    start = time.perf_counter()
    fullsize.write_transformer(models / "diffusion_models" / rel["transformer"], "t2v", "1.3B", "fp16", device, small)
    fullsize.write_vae(models / "vae" / rel["vae"], device, small)
    fullsize.write_text_encoder(models / "text_encoders", str(rel["t5"]), device, small)
    return {"write_s": round(time.perf_counter() - start, 1), "files": {k: str(v) for k, v in rel.items()}}


def bench_workflow(data: dict, bypass_teacache: bool, compile_model: bool = False) -> dict:
    data = json.loads(json.dumps(data))
    if compile_model:
        from bench_common import link_compile_settings

        link_compile_settings(data)
    for node in data["nodes"]:
        if node["type"] == "WanVideoTeaCache" and bypass_teacache:
            node["mode"] = 4
        if node["type"] == "VHS_VideoCombine" and os.environ.get("BENCH_VIDEO_FORMAT"):
            # the GPU image has no ffmpeg binary (imageio-ffmpeg's wheel is too big to carry)
            node["widgets_values"]["format"] = os.environ["BENCH_VIDEO_FORMAT"]
    return data


def ids(data: dict, node_type: str) -> str:
    return str(next(n["id"] for n in data["nodes"] if n["type"] == node_type))


def run_wfrun(workflow: Path, models: Path, out: Path, args, data: dict) -> dict:
    embeds, sampler = ids(data, "WanVideoEmptyEmbeds"), ids(data, "WanVideoSampler")
    cmd = [sys.executable, "-m", "wfrun", "run", str(workflow), "--models", str(models), "--format", "json",
           "-o", str(out), "--device", args.device,
           "--set", f"{embeds}.num_frames={args.frames}", "--set", f"{embeds}.width={args.width}",
           "--set", f"{embeds}.height={args.height}", "--set", f"{sampler}.steps={args.steps}"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": done.stderr[-3000:] + done.stdout[-2000:]}
    report = json.loads(done.stdout)
    steps = report["step_seconds"][0] if report.get("step_seconds") else []
    return {"wall_s": round(wall, 2), "node_seconds": report["node_seconds"], "written": report["written"],
            "step_seconds": steps, "s_per_step_median": round(statistics.median(steps[1:] or steps), 4)
            if steps else None, "peak_gpu_gib": report.get("peak_gpu_gib")}


def run_diffusers(models: Path, files: dict, args) -> dict:
    """Same transformer file and VAE, WanPipeline's own loop, per-step times."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline

    from wfrun.models.load import load_transformer, load_vae

    device = args.device
    transformer = load_transformer(models / "diffusion_models" / files["transformer"], dtype=torch.float16,
                                   device=device)
    vae = load_vae(models / "vae" / files["vae"], dtype=torch.bfloat16, device=device)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0,
                                        num_train_timesteps=1000)
    pipe = WanPipeline(tokenizer=None, text_encoder=None, transformer=transformer, vae=vae, scheduler=scheduler)
    text_dim = transformer.config.text_dim
    g = torch.Generator(device="cpu").manual_seed(0)
    prompt = torch.randn(1, 512, text_dim, generator=g).to(device, torch.float16)
    negative = torch.randn(1, 512, text_dim, generator=g).to(device, torch.float16)
    stamps: list[float] = []

    def on_step(pipe, i, t, kwargs):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return kwargs

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipe(prompt_embeds=prompt, negative_prompt_embeds=negative, guidance_scale=6.0, num_frames=args.frames,
         height=args.height, width=args.width, num_inference_steps=args.steps, output_type="latent",
         callback_on_step_end=on_step, generator=torch.Generator(device="cpu").manual_seed(1))
    total = time.perf_counter() - start
    steps = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    return {"loop_s": round(total, 2), "step_seconds": [round(s, 4) for s in steps],
            "s_per_step_median": round(statistics.median(steps[1:] or steps), 4),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None}


def main() -> None:
    from bench_common import add_job_arguments

    parser = argparse.ArgumentParser()
    add_job_arguments(parser, steps=10)
    parser.add_argument("--only", choices=["wfrun", "diffusers", "both"], default="both")
    parser.add_argument("--variants", default="bypassed,as_saved",
                        help="wfrun runs, comma-separated: bypassed (TeaCache off), as_saved, compiled "
                             "(TeaCache off, the workflow's torch.compile settings linked to the loader)")
    args = parser.parse_args()
    import diffusers
    import torch
    import transformers

    data = json.loads(args.workflow.read_text())
    models = args.out / "models"
    result: dict = {"date": time.strftime("%Y-%m-%d"), "steps": args.steps, "frames": args.frames,
                    "size": f"{args.width}x{args.height}", "device": args.device,
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                                 "transformers": transformers.__version__}}
    result["models"] = write_models(models, data, args.device, args.small)
    files = result["models"]["files"]
    if args.only in ("wfrun", "both"):
        variants = {"bypassed": ("wfrun_teacache_bypassed", True, False),
                    "as_saved": ("wfrun_as_saved", False, False),
                    "compiled": ("wfrun_compiled_teacache_bypassed", True, True)}
        for label, bypass, compiled in (variants[v] for v in args.variants.split(",")):
            path = args.out / f"{label}.json"
            path.write_text(json.dumps(bench_workflow(data, bypass, compiled)))
            result[label] = run_wfrun(path, models, args.out / "output", args, data)
            print(json.dumps({label: result[label]}), file=sys.stderr, flush=True)
    if args.only in ("diffusers", "both"):
        result["diffusers_wanpipeline"] = run_diffusers(models, files, args)
    a = result.get("wfrun_teacache_bypassed", {}).get("s_per_step_median")
    b = result.get("diffusers_wanpipeline", {}).get("s_per_step_median")
    if a and b:
        result["wfrun_overhead_percent"] = round((a / b - 1) * 100, 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
