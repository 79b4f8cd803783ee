"""GPU benchmark (issue 6): the pack's I2V end-frame workflow with a full-size 14B I2V model.

Runs ``wanvideo_480p_I2V_endframe_example_01`` (latest corpus version, given with
--workflow) through ``wfrun run`` at 81 frames 480x832, with the 14B I2V 480P transformer
written with random weights in Kijai's layout, once per precision:

- ``fp8``: ``Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors`` loaded as the workflow says
  (base fp16, quantization fp8_e4m3fn: weights stay fp8, up-cast per layer);
- ``bf16``: a bf16 file, base_precision bf16, quantization disabled.

Block swap (20 blocks, as saved) stays on unless --no-block-swap; --compile links the
workflow's torch.compile settings to the loader; TeaCache is bypassed so
every step does the same work, except in the ``teacache`` variant (the node as saved) and the
``magcache`` variants (the node swapped for WanVideoMagCache at the pack's defaults: its skips follow
the model's calibrated ratio table, not the weights, so random weights skip what real ones
would). Start/end images are drawn by ``wfrun.media.samples``.
Prints one JSON object with time per step, node times and peak GPU memory.

    python bench/i2v_endframe_14b.py --workflow W.json --out /tmp/b [--steps 3] [--small --device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

MODEL_FILES = {"fp8": "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors", "bf16": "Wan2_1-I2V-14B-480P_bf16.safetensors"}


def node(data: dict, node_type: str) -> dict:
    return next(n for n in data["nodes"] if n["type"] == node_type and n.get("mode", 0) == 0)


def prepare_workflow(data: dict, precision: str, block_swap: bool, compile_model: bool = False,
                     swap_blocks: int | None = None, step_cache: str | None = None) -> dict:
    data = json.loads(json.dumps(data))
    if compile_model:
        from bench_common import link_compile_settings

        link_compile_settings(data)
    for n in data["nodes"]:
        if n["type"] == "WanVideoTeaCache" and not step_cache:
            n["mode"] = 4
        if n["type"] == "WanVideoTeaCache" and step_cache == "magcache":
            n["type"] = "WanVideoMagCache"
            n["widgets_values"] = magcache_defaults()
        if n["type"] == "WanVideoBlockSwap" and not block_swap:
            n["mode"] = 4
        if n["type"] == "WanVideoBlockSwap" and swap_blocks is not None:
            n["widgets_values"][0] = swap_blocks
        if n["type"] == "VHS_VideoCombine" and os.environ.get("BENCH_VIDEO_FORMAT"):
            n["widgets_values"]["format"] = os.environ["BENCH_VIDEO_FORMAT"]
        if n["type"] == "LoadImage" and n.get("mode", 0) == 0:
            n["widgets_values"][0] = "start.png" if "oldman" in str(n["widgets_values"][0]) else "end.png"
    loader = node(data, "WanVideoModelLoader")
    loader["widgets_values"][0] = "WanVideo\\" + MODEL_FILES[precision]
    if precision == "bf16":
        loader["widgets_values"][1:3] = ["bf16", "disabled"]
    return data


def magcache_defaults() -> list:
    """WanVideoMagCache's widgets at the pack's defaults, read from wfrun's node specs."""
    from wfrun.specs.registry import default_registry

    signature = default_registry().get("WanVideoMagCache").signatures[-1]
    return [i.default for i in signature.inputs if i.section == "required"]


def write_models(models: Path, data: dict, device: str, small: bool) -> dict:
    import fullsize

    names = {n["type"]: n["widgets_values"][0].replace("\\", "/") for n in data["nodes"]
             if n["type"] in ("WanVideoVAELoader", "LoadWanVideoT5TextEncoder", "LoadWanVideoClipTextEncoder")}
    start = time.perf_counter()
    fullsize.write_vae(models / "vae" / names["WanVideoVAELoader"], device, small)
    fullsize.write_text_encoder(models / "text_encoders", names["LoadWanVideoT5TextEncoder"], device, small)
    fullsize.write_clip(models / "clip_vision" / names["LoadWanVideoClipTextEncoder"], device, small)
    return {"write_s": round(time.perf_counter() - start, 1)}


def run_one(workflow: Path, models: Path, out: Path, args, data: dict, extra: tuple[str, ...] = (),
            env: dict[str, str] | None = None) -> dict:
    i2v, sampler, resize = node(data, "WanVideoImageToVideoEncode"), node(data, "WanVideoSampler"), None
    resize = next(n for n in data["nodes"] if n["type"] == "ImageResize+" and any(
        o.get("links") for o in n["outputs"][1:]))
    from bench_common import wfrun_entry

    cmd = [sys.executable, *wfrun_entry(workflow.stem + "".join(extra)), "run", str(workflow), "--models", str(models), "--format", "json",
           "-o", str(out / "output"), "--input", str(out / "input"), "--device", args.device,
           "--set", f"{i2v['id']}.num_frames={args.frames}", "--set", f"{resize['id']}.width={args.width}",
           "--set", f"{resize['id']}.height={args.height}", "--set", f"{sampler['id']}.steps={args.steps}", *extra]
    start = time.perf_counter()
    log = (args.log_dir or out) / f"{workflow.stem}{''.join(extra)}.{time.time_ns()}.stderr.log"
    with log.open("w") as stderr:  # streamed to a file, so a killed run still shows how far it got
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
                              env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": log.read_text()[-3000:] + done.stdout[-2000:]}
    report = json.loads(done.stdout)
    steps = report["step_seconds"][0] if report.get("step_seconds") else []
    names = {str(n["id"]): n["type"] for n in data["nodes"]}
    return {"wall_s": round(wall, 2), "execute_s": report.get("seconds"), "timeline": report.get("timeline"),
            "written": report["written"],
            "node_seconds": {f"{k} {names.get(k, '')}": v for k, v in report["node_seconds"].items()},
            "node_started": report.get("node_started"),
            "step_seconds": steps, "s_per_step_median": round(statistics.median(steps[1:] or steps), 3)
            if steps else None, "peak_gpu_gib": report.get("peak_gpu_gib")}


def main() -> None:
    from bench_common import add_job_arguments

    parser = argparse.ArgumentParser()
    add_job_arguments(parser, steps=3)
    parser.add_argument("--precisions", default="fp8,bf16")
    parser.add_argument("--no-block-swap", action="store_true")
    parser.add_argument("--swap", type=int, help="blocks_to_swap instead of the saved 20")
    parser.add_argument("--compile", action="store_true",
                        help="link the workflow's WanVideoTorchCompileSettings (as saved) to the model loader")
    parser.add_argument("--log-dir", type=Path, help="where each run's stderr is streamed")
    parser.add_argument("--variants", default="saved",
                        help="runs per precision, in order: saved (as the workflow says), teacache (as saved "
                             "with its WanVideoTeaCache kept), magcache / magcachefast / magcachefast20 (WanVideoMagCache "
                             "at the pack's defaults in its place; with --fast; with --fast --gpu-memory 20), serial (as saved, "
                             "loaders not run ahead: WFRUN_BACKGROUND_LOADS=0), eager (--compile off), fast "
                             "(wfrun run --fast), fastexact (--fast --no-fp8-attention) or budget20 (--gpu-memory 20: residency decides as on a "
                             "20 GiB card); "
                             "fast,fast shows what the compile cache saves a second process")
    parser.add_argument("--checkpoint-dir", type=Path,
                        help="reuse the transformer files found here (written there first when missing)")
    parser.add_argument("--wfrun-caches",
                        help="comma-separated $WFRUN_CACHE folders, one per variant in order (cycled): "
                             "a fresh folder compiles the kernels afresh, a used one loads them from its cache")
    args = parser.parse_args()
    import diffusers
    import torch
    import transformers

    import fullsize
    from wfrun.media.samples import write_start_end_images

    data = json.loads(args.workflow.read_text())
    models = args.out / "models"
    write_start_end_images(args.out / "input", args.width, args.height)
    result: dict = {"date": time.strftime("%Y-%m-%d"), "steps": args.steps, "frames": args.frames,
                    "size": f"{args.width}x{args.height}", "block_swap": not args.no_block_swap, "swap": args.swap,
                    "compile": args.compile,
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                                 "transformers": transformers.__version__}}
    result["models"] = write_models(models, data, args.device, args.small)
    print(json.dumps({"models": result["models"]}), file=sys.stderr, flush=True)
    for precision in args.precisions.split(","):
        folder = models / "diffusion_models" / "WanVideo"
        path = folder / MODEL_FILES[precision]
        start = time.perf_counter()
        reuse = args.checkpoint_dir / MODEL_FILES[precision] if args.checkpoint_dir else None
        target = reuse if reuse is not None else path
        if not target.exists():  # a --checkpoint-dir without the file gets it, for the next run
            target.parent.mkdir(parents=True, exist_ok=True)
            fullsize.write_transformer(target, "i2v", "14B", "fp8_e4m3fn" if precision == "fp8" else "bf16",
                                       args.device, args.small)
        if reuse is not None:
            folder.mkdir(parents=True, exist_ok=True)
            os.link(reuse, path)
        written_s = time.perf_counter() - start
        print(f"{precision}: checkpoint written in {written_s:.1f} s", file=sys.stderr, flush=True)
        workflow = args.out / f"i2v_{precision}.json"
        workflow.write_text(json.dumps(prepare_workflow(data, precision, not args.no_block_swap, args.compile,
                                                              args.swap)))
        result["checkpoint"] = {"write_s": round(written_s, 1), "gib": round(path.stat().st_size / 2**30, 2)}
        cached = args.out / f"i2v_{precision}_teacache.json"
        cached.write_text(json.dumps(prepare_workflow(data, precision, not args.no_block_swap, args.compile,
                                                      args.swap, step_cache="teacache")))
        magcached = args.out / f"i2v_{precision}_magcache.json"
        magcached.write_text(json.dumps(prepare_workflow(data, precision, not args.no_block_swap, args.compile,
                                                         args.swap, step_cache="magcache")))
        caches = args.wfrun_caches.split(",") if args.wfrun_caches else []
        for index, variant in enumerate(args.variants.split(",")):
            name = f"{precision} {variant} #{index + 1}"
            env = {"WFRUN_BACKGROUND_LOADS": "0"} if variant == "serial" else {}
            if caches:
                env["WFRUN_CACHE"] = caches[index % len(caches)]
                name += f" cache {env['WFRUN_CACHE']}"
            extra = {"fast": ("--fast",), "magcachefast": ("--fast",),
                     "magcachefast20": ("--fast", "--gpu-memory", "20"), "fastexact": ("--fast", "--no-fp8-attention"), "eager": ("--compile", "off"),
                     "budget20": ("--gpu-memory", "20")}.get(variant, ())
            chosen = {"teacache": cached, "magcache": magcached, "magcachefast": magcached,
                      "magcachefast20": magcached}.get(variant, workflow)
            result[name] = run_one(chosen, models, args.out, args, data, extra, env or None)
            print(json.dumps({name: result[name]}), file=sys.stderr, flush=True)
        shutil.rmtree(folder)  # disk: the two 14B files need not exist at once
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
