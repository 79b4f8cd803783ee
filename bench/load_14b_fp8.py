"""GPU benchmark: load a full-size Wan 2.1 14B I2V 480P checkpoint in Kijai's fp8_e4m3fn layout.

Writes a random-weight checkpoint with exactly the tensor names, shapes and dtypes of
``Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors`` (block linears in fp8, the rest in bf16), one
tensor at a time so host memory stays low; evicts it from the page cache (so the load reads
the disk, unless ``--warm``); then, in a fresh child process, times ``wfrun``'s loader onto
the GPU and runs one small forward pass. Prints one JSON object.

    python bench/load_14b_fp8.py --out /tmp/x            # needs torch, diffusers, transformers, accelerate

Not a test: it needs a GPU with ~20 GB free and ~17 GB of disk under --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FILE_NAME = "Wan2_1-I2V-14B-480P_bench_fp8_e4m3fn.safetensors"


def _rss_gib() -> dict[str, float]:
    """Current and peak resident memory of this process, from /proc (Linux)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 2**20
    except OSError:
        pass
    return {"rss_gib": round(out.get("VmRSS", 0.0), 3), "peak_rss_gib": round(out.get("VmHWM", 0.0), 3)}


def _init(name: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """(mean, std) giving sane activations: fan-in scaled weights, norms near 1, small biases."""
    if name.endswith("bias"):
        return 0.0, 0.02
    if len(shape) == 1:  # norm weights
        return 1.0, 0.05
    if name.endswith(("modulation", "emb_pos")):
        return 0.0, shape[-1] ** -0.5
    return 0.0, math.prod(shape[1:]) ** -0.5


#: ``--small``: the 14B model's layout and text/image widths with a tiny dim, to smoke-test
#: this script on a CPU in seconds.
SMALL = {"dim": 256, "heads": 2, "ffn": 512, "layers": 2}


def write_checkpoint(path: Path, device: str, seed: int, small: bool = False) -> dict:
    import torch

    from wfrun.models import tiny
    from wfrun.models.fp8 import quantize

    dims = dict(tiny.TRANSFORMER_14B, **SMALL) if small else tiny.TRANSFORMER_14B
    shapes = tiny.transformer_weights("i2v", seed, dims, meta=True)
    gen = torch.Generator(device=device).manual_seed(seed)
    entries = []
    for name, meta in shapes.items():
        fp8 = tiny._FP8_ELIGIBLE.fullmatch(name) is not None
        dtype = torch.float8_e4m3fn if fp8 else torch.bfloat16

        def make(name=name, shape=tuple(meta.shape), fp8=fp8, dtype=dtype):
            mean, std = _init(name, shape)
            value = torch.randn(shape, generator=gen, device=device) * std + mean
            value = quantize(value, dtype) if fp8 else value.to(dtype)
            return value.cpu()

        entries.append((name, dtype, tuple(meta.shape), make))
    start = time.perf_counter()
    tiny.write_safetensors_streaming(path, entries, metadata={"format": "pt"})
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    return {"write_s": round(time.perf_counter() - start, 2), "file_gib": round(path.stat().st_size / 2**30, 3),
            "tensors": len(entries), "params_b": round(sum(m.numel() for m in shapes.values()) / 1e9, 3)}


def evict_from_page_cache(path: Path) -> bool:
    """Ask the kernel to drop this file's cached pages (no root needed; other files untouched)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def measure(path: Path, device: str, frames: int, height: int, width: int, forward: bool = True) -> dict:
    """Runs in a fresh process: import, load onto ``device``, one forward. Returns the numbers."""
    import torch

    from wfrun.models.detect import detect
    from wfrun.models.fp8 import Fp8Linear
    from wfrun.models.load import load_transformer

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.init()
        torch.empty(1, device=device)  # CUDA context before the baseline
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    import accelerate  # noqa: F401 - imported here so the load time below is the load alone
    import diffusers
    import transformers
    from diffusers import WanTransformer3DModel  # noqa: F401

    import_s = time.perf_counter() - start
    before = _rss_gib()
    info = detect(path)
    start = time.perf_counter()
    model = load_transformer(path, device=device, dtype=torch.bfloat16)
    if cuda:
        torch.cuda.synchronize()
    load_s = time.perf_counter() - start
    after_load = _rss_gib()
    result = {
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "transformers": transformers.__version__, "python": sys.version.split()[0]},
        "import_s": round(import_s, 2),
        "detected": info.describe(),
        "load_s": round(load_s, 2),
        "load_gib_per_s": round(path.stat().st_size / 2**30 / load_s, 2),
        "host_rss_before_load_gib": before["rss_gib"],
        "host_rss_after_load_gib": after_load["rss_gib"],
        "host_peak_rss_gib": after_load["peak_rss_gib"],
        "ru_maxrss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "fp8_linears": sum(isinstance(m, Fp8Linear) for m in model.modules()),
        "param_gib": round(sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30, 3),
    }
    if cuda:
        result["gpu_peak_allocated_after_load_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        torch.cuda.reset_peak_memory_stats()
    if not forward:
        return result
    latent_t = (frames - 1) // 4 + 1
    gen = torch.Generator(device=device).manual_seed(0)
    shape = (1, 36, latent_t, height // 8, width // 8)
    x = torch.randn(shape, generator=gen, device=device, dtype=torch.bfloat16)
    context = torch.randn(1, 512, 4096, generator=gen, device=device, dtype=torch.bfloat16)
    clip = torch.randn(1, 257, 1280, generator=gen, device=device, dtype=torch.bfloat16)
    timestep = torch.tensor([999.0], device=device)
    with torch.no_grad():
        for run in ("first", "second"):
            start = time.perf_counter()
            out = model(hidden_states=x, timestep=timestep, encoder_hidden_states=context,
                        encoder_hidden_states_image=clip, return_dict=False)[0]
            if cuda:
                torch.cuda.synchronize()
            result[f"forward_{run}_s"] = round(time.perf_counter() - start, 3)
    result.update({
        "forward_input": list(shape), "forward_tokens": latent_t * (height // 16) * (width // 16),
        "forward_output": list(out.shape), "forward_finite": bool(torch.isfinite(out).all()),
        "forward_output_std": round(out.float().std().item(), 4),
    })
    if cuda:
        result["gpu_peak_allocated_forward_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        result["gpu"] = torch.cuda.get_device_name()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the ~16.4 GB checkpoint")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=17, help="video frames of the forward check (4n+1)")
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=416)
    parser.add_argument("--reuse", action="store_true", help="reuse a checkpoint already written under --out")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint afterwards")
    parser.add_argument("--warm", action="store_true", help="leave the file in the page cache")
    parser.add_argument("--small", action="store_true", help="a small model of the same layout (smoke test)")
    parser.add_argument("--warm-too", action="store_true",
                        help="after the cold load, load again with the file in the page cache (no forward)")
    parser.add_argument("--no-forward", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(measure(args.measure, args.device, args.frames, args.height, args.width,
                                 forward=not args.no_forward)))
        return

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / (FILE_NAME.replace("14B", "small") if args.small else FILE_NAME)
    report: dict = {"file": str(path)}
    if not (args.reuse and path.is_file()):
        import torch

        gen_device = args.device if args.device.startswith("cuda") and torch.cuda.is_available() else "cpu"
        report["write"] = write_checkpoint(path, gen_device, args.seed, args.small)
        report["write"]["writer_peak_rss_gib"] = _rss_gib()["peak_rss_gib"]
    report["page_cache_evicted"] = False if args.warm else evict_from_page_cache(path)
    runs = [("load", [])] + ([("load_warm", ["--no-forward"])] if args.warm_too else [])
    for key, extra in runs:
        child = subprocess.run(
            [sys.executable, __file__, "--out", str(args.out), "--measure", str(path), "--device", args.device,
             "--frames", str(args.frames), "--height", str(args.height), "--width", str(args.width), *extra],
            capture_output=True, text=True)
        if child.returncode != 0:
            report["error"] = child.stderr.strip().splitlines()[-20:]
            break
        report[key] = json.loads(child.stdout.strip().splitlines()[-1])
    if not args.keep:
        path.unlink(missing_ok=True)
    print(json.dumps(report, indent=1))
    sys.exit(1 if "error" in report else 0)


if __name__ == "__main__":
    main()
