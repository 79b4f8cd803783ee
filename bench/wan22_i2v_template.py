"""GPU benchmark (issue 13): ComfyUI's ``video_wan2_2_14B_i2v`` template with full-size experts.

Runs the template (from ``comfyui-workflow-templates-json``) unchanged through ``wfrun run``
with the files it names written with random weights in ComfyUI's layouts: the two Wan 2.2
I2V A14B experts as ``*_fp8_scaled`` repacks (``model.diffusion_model.`` prefix, scaled
fp8 block linears, fp16 rest), the lightx2v LoRAs (rank 64; as saved, the template's
"Enable 4steps LoRA?" switch leaves them unread: ComfyUI's prompt validation still wants the
files but its lazy switches never load them, and wfrun leaves their loaders out of the plan;
the ``lightning`` variants turn the switch on and load them), the Wan 2.1 VAE, and a 4096-wide
2-layer UMT5 with the tiny vocabulary (``fullsize.write_text_encoder``: the real tokenizer
cannot be downloaded; text encoding is ~0.06 s of a job). Size and steps are set with
``--set`` on the subgraph's nodes: 832x480, the template's 81 frames (5 s at 16 fps, as
computed by its expression), ``--steps`` total with the high-noise expert on the first
half, as the template splits its 20.

Beside the job, in the same run: one bare diffusers ``WanTransformer3DModel`` forward
(``model(...)``) of the high-noise expert as wfrun loads it, at the same shape, so the
per-step cost can be read against the library's own forward (a step = cond + uncond).

``--variants`` runs the job several ways, one process each: as saved with both experts kept
(``resident``), within a 24 GiB budget (``budget24``: ``--gpu-memory 24``, one expert at a
time as on a 24 GiB card), and the template's 4-step lightx2v switch with three seeds
(``lightning``, ``lightning24``; ``lightningfast`` with ``--fast``).

Prints one JSON object: s/step per expert, node times, peak GPU memory, the whole job.

    python bench/wan22_i2v_template.py --out /tmp/b [--steps 8] [--variants resident,budget24] [--small --device cpu]
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

TEMPLATE = "video_wan2_2_14B_i2v"


def template_path() -> Path:
    """The template as the test dependency ships it, or ``$WFRUN_BENCH_TEMPLATE`` (a copy,
    where that package is not installed)."""
    if os.environ.get("WFRUN_BENCH_TEMPLATE"):
        return Path(os.environ["WFRUN_BENCH_TEMPLATE"])
    import comfyui_workflow_templates_json

    return Path(comfyui_workflow_templates_json.__file__).parent / "templates" / f"{TEMPLATE}.json"


def inner_nodes(data: dict) -> dict[str, dict]:
    """The subgraph's nodes by type (the template wraps the job in one subgraph instance)."""
    instance = next(n for n in data["nodes"] if n["type"] == data["definitions"]["subgraphs"][0]["id"])
    out: dict[str, dict] = {}
    for n in data["definitions"]["subgraphs"][0]["nodes"]:
        out.setdefault(n["type"], n)
        n["_path"] = f"{instance['id']}:{n['id']}"
        out[f"{n['type']}#{n['id']}"] = n
    return out


def save_as_webp(data: dict) -> dict:
    """The template with its top-level SaveVideo replaced by GetVideoComponents -> Save
    Animated WEBP (Pillow, its fastest method), for machines without an ffmpeg binary; the job
    is otherwise the same."""
    data = json.loads(json.dumps(data))
    save = next(n for n in data["nodes"] if n["type"] == "SaveVideo")
    video_link = save["inputs"][0]["link"]
    split_id, images_link = max(n["id"] for n in data["nodes"]) + 1, max(l[0] for l in data["links"]) + 1
    data["nodes"].append({"id": split_id, "type": "GetVideoComponents", "mode": 0, "pos": [0, 0], "size": [200, 80],
                          "inputs": [{"name": "video", "type": "VIDEO", "link": video_link}],
                          "outputs": [{"name": "images", "type": "IMAGE", "links": [images_link]},
                                      {"name": "audio", "type": "AUDIO", "links": None},
                                      {"name": "fps", "type": "FLOAT", "links": None}], "properties": {}})
    save.update(type="SaveAnimatedWEBP", inputs=[{"name": "images", "type": "IMAGE", "link": images_link}],
                outputs=[], widgets_values=["video/Wan2.2_i2v", 16.0, False, 90, "fastest"], properties={})
    for link in data["links"]:
        if link[0] == video_link:
            link[3], link[4] = split_id, 0
    data["links"].append([images_link, split_id, 0, save["id"], 0, "IMAGE"])
    return data


def write_models(models: Path, data: dict, device: str, small: bool) -> dict:
    import fullsize

    nodes = [n for n in data["definitions"]["subgraphs"][0]["nodes"]]
    start = time.perf_counter()
    for n in nodes:
        name = (n.get("widgets_values") or [None])[0]
        folder = {"UNETLoader": "diffusion_models", "LoraLoaderModelOnly": "loras", "VAELoader": "vae",
                  "CLIPLoader": "text_encoders"}.get(n["type"])
        if folder and (models / folder / name).exists():
            continue  # written by an earlier run in the same folder
        if n["type"] == "UNETLoader":
            seed = 1 if "high" in name else 2
            fullsize.write_transformer(models / "diffusion_models" / name, "i2v-a14b", "14B", "fp8_e4m3fn_scaled",
                                       device, small, prefix="model.diffusion_model.", rest="fp16", seed=seed)
        elif n["type"] == "LoraLoaderModelOnly":
            fullsize.write_lora(models / "loras" / name, "14B", 64, small)
        elif n["type"] == "VAELoader":
            fullsize.write_vae(models / "vae" / name, device, small)
        elif n["type"] == "CLIPLoader":
            fullsize.write_text_encoder(models / "text_encoders", name, device, small)
    return {"write_s": round(time.perf_counter() - start, 1)}


#: ``--variants``: extra ``wfrun run`` arguments per variant. ``lightning`` turns on the
#: template's own "Enable 4steps LoRA?" switch (the lightx2v LoRAs, 4 steps split 2/2, CFG 1)
#: and runs ``--seeds 1-3`` in one process, so the time of each further seed shows.
VARIANTS = {"resident": (), "budget24": ("--gpu-memory", "24"), "lightning": ("--seeds", "1-3"),
            "lightning24": ("--seeds", "1-3", "--gpu-memory", "24"), "lightningfast": ("--seeds", "1-3", "--fast")}


def run_job(models: Path, out: Path, args, data: dict, variant: str = "resident", workflow: Path | None = None) -> dict:
    nodes = inner_nodes(data)
    i2v = nodes["WanImageToVideo"]
    steps = {n["widgets_values"][0]: n for k, n in nodes.items() if k.startswith("PrimitiveInt#")}
    total, split = steps[20], steps[10]  # the template's steps and the step it hands over at
    from bench_common import wfrun_entry

    cmd = [sys.executable, *wfrun_entry(variant), "run", str(workflow or template_path()), "--models", str(models),
           "--format", "json", "-o", str(out / "output"), "--input", str(out / "input"), "--device", args.device,
           "--set", f"{i2v['_path']}.width={args.width}", "--set", f"{i2v['_path']}.height={args.height}",
           "--set", f"{total['_path']}.value={args.steps}", "--set", f"{split['_path']}.value={args.steps // 2}",
           *VARIANTS[variant]]
    if variant.startswith("lightning"):
        cmd += ["--set", f"{nodes['PrimitiveBoolean']['_path']}.value=true"]
    start = time.perf_counter()
    log = out / f"job.{variant}.stderr.log"
    with log.open("w") as stderr:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": log.read_text()[-3000:] + done.stdout[-2000:]}
    report = json.loads(done.stdout)
    if "seeds" in report:  # --seeds: the whole process, then each seed's own job
        seeds = report["seeds"]
        return {"wall_s": round(wall, 2), "seed_seconds": {s: r["seconds"] for s, r in seeds.items()},
                "node_seconds": {s: r["node_seconds"] for s, r in seeds.items()},
                "node_started": {s: r.get("node_started") for s, r in seeds.items()},
                "step_seconds": {s: r.get("step_seconds") for s, r in seeds.items()},
                "peak_gpu_gib": {s: r.get("peak_gpu_gib") for s, r in seeds.items()},
                "timeline": {s: r.get("timeline") for s, r in seeds.items()}}
    experts = report.get("step_seconds") or []
    per_expert = [round(statistics.median(s[1:] or s), 3) for s in experts if s]
    return {"wall_s": round(wall, 2), "job_s": report.get("seconds"), "written": report["written"],
            "node_seconds": report["node_seconds"], "node_started": report.get("node_started"),
            "step_seconds": experts, "s_per_step_median": per_expert,
            "peak_gpu_gib": report.get("peak_gpu_gib"), "overrides": report.get("overrides")}


def bare_forward(models: Path, args, data: dict) -> dict:
    """One ``model(...)`` of diffusers on the high-noise expert as wfrun loads it (fp8 block
    linears, bf16 compute), at the job's shape: 21 latent frames of 60x104, 36 channels."""
    import torch

    from wfrun.models.load import load_transformer

    name = next(n["widgets_values"][0] for n in data["definitions"]["subgraphs"][0]["nodes"]
                if n["type"] == "UNETLoader" and "high" in n["widgets_values"][0])
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    model = load_transformer(models / "diffusion_models" / name, dtype=dtype, device=args.device).eval()
    frames = (args.frames - 1) // 4 + 1
    g = torch.Generator(device=args.device).manual_seed(0)
    x = torch.randn(1, model.config.in_channels, frames, args.height // 8, args.width // 8, generator=g,
                    device=args.device, dtype=dtype)
    ctx = torch.randn(1, 512, 4096 if not args.small else model.config.text_dim, generator=g, device=args.device,
                      dtype=dtype)
    t = torch.tensor([900.0], device=args.device)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x, t, ctx, return_dict=False)
            if args.device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    del model
    return {"forward_s": [round(s, 3) for s in times], "tokens": frames * (args.height // 16) * (args.width // 16)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path, help="working folder (models, outputs)")
    parser.add_argument("--steps", type=int, default=8, help="total steps; the high-noise expert takes the first half")
    parser.add_argument("--frames", type=int, default=81, help="the template's length (not set: it computes 81)")
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny widths, for a CPU smoke run")
    parser.add_argument("--variants", default="resident",
                        help=f"jobs to run, in order, each a fresh process: {', '.join(VARIANTS)}")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare diffusers forward")
    parser.add_argument("--webp", action="store_true", help="save an animated WebP instead of the template's MP4 "
                                                            "(no ffmpeg needed)")
    args = parser.parse_args()
    import diffusers
    import torch
    import transformers
    from PIL import Image

    data = json.loads(template_path().read_text())
    models = args.out / "models"
    (args.out / "input").mkdir(parents=True, exist_ok=True)
    image = torch.rand(args.height, args.width, 3, generator=torch.Generator().manual_seed(0))
    Image.fromarray((image * 255).byte().numpy()).save(args.out / "input" / f"{TEMPLATE}_input_image.jpg")
    result: dict = {"date": time.strftime("%Y-%m-%d"), "template": TEMPLATE, "steps": args.steps,
                    "size": f"{args.width}x{args.height}", "frames": args.frames,
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                                 "transformers": transformers.__version__}}
    result["models"] = write_models(models, data, args.device, args.small)
    print(json.dumps({"models": result["models"]}), file=sys.stderr, flush=True)
    workflow = None
    if args.webp:
        workflow = args.out / "template_webp.json"
        workflow.write_text(json.dumps(save_as_webp(data)))
    for variant in args.variants.split(","):
        result[variant] = run_job(models, args.out, args, data, variant, workflow)
        print(json.dumps({variant: result[variant]}), file=sys.stderr, flush=True)
    if args.no_bare:
        print(json.dumps(result, indent=1))
        return
    result["bare_diffusers_forward"] = bare_forward(models, args, data)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
