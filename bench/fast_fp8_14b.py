"""GPU benchmark (issue 16): one 14B I2V transformer forward, every way wfrun can run it,
beside plain diffusers, in one process.

The 14B I2V 480P transformer is written with random weights in Kijai's fp8_e4m3fn layout
and loaded twice: as saved (fp8 weights, up-cast per layer) and up-cast to bf16 (the same
values, so the bf16 rows are the reference for the fp8 rows). At the issue's shape (22
latent frames of 60x104, 34,320 tokens, 512 text and 257 image tokens) it times:

- ``diffusers``: ``WanTransformer3DModel.__call__`` on the bf16 model;
- ``wfrun bf16``: wfrun's ``transformer_forward`` on the same model;
- ``fp8 as saved`` (bf16 and fp16 compute): the up-cast path;
- ``fp8 fast``: fp8 x fp8 matmuls with per-token scales (``models.fp8.use_fp8_matmuls``),
  eager and with regional compile (``compile_repeated_blocks``, its first call = compile);
- ``bf16 compiled``: regional compile of the bf16 model.

Each row: median of the timed forwards (CUDA events), peak memory, and the relative L2
error of the output against the bf16 forward. Prints one JSON object.

    python bench/fast_fp8_14b.py --out /tmp/b [--repeat 2] [--small --device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def inputs(model, frames: int, height: int, width: int, device: str, dtype: torch.dtype) -> dict:
    gen = torch.Generator(device=device).manual_seed(0)
    cfg = model.config
    return {
        "hidden_states": torch.randn(1, cfg.in_channels, frames, height, width, generator=gen, device=device,
                                     dtype=dtype),
        "timestep": torch.tensor([900.0], device=device),
        "encoder_hidden_states": torch.randn(1, 512, cfg.text_dim, generator=gen, device=device, dtype=dtype),
        "encoder_hidden_states_image": torch.randn(1, 257, cfg.image_dim, generator=gen, device=device,
                                                   dtype=dtype),
    }


def timed(fn, repeat: int, device: str) -> tuple[list[float], torch.Tensor, float]:
    """(seconds of each call, the last output, peak GiB); the first call is returned apart."""
    times, out = [], None
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeat + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    return times, out, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--frames", type=int, default=22)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--only-fast", action="store_true", help="the bf16 reference and the fast rows only")
    parser.add_argument("--fp8-attention", action="store_true",
                        help="then the fast model with fp8 self-attention too (models.fp8_attention), compiled; "
                             "skips the fast-accumulation row")
    args = parser.parse_args()
    import diffusers

    import fullsize
    from wfrun.models import fp8 as fp8_module
    from wfrun.models.fp8 import use_fp8_matmuls
    from wfrun.models.load import load_transformer
    from wfrun.sampling.forward import transformer_forward

    device = args.device
    height, width = (4, 6) if args.small else (60, 104)
    path = args.out / "models" / "diffusion_models" / "WanVideo" / "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors"
    start = time.perf_counter()
    if not path.exists():
        fullsize.write_transformer(path, "i2v", "14B", "fp8_e4m3fn", device, args.small)
    result: dict = {"date": time.strftime("%Y-%m-%d"), "frames": args.frames, "latent": f"{height}x{width}",
                    "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                    "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
                    "write_s": round(time.perf_counter() - start, 1), "rows": {}}
    log = lambda row: print(json.dumps(row), file=sys.stderr, flush=True)  # noqa: E731
    bf16 = load_transformer(path, dtype=torch.bfloat16, device=device, quantization="none")
    fp8 = load_transformer(path, dtype=torch.bfloat16, device=device)
    x = inputs(bf16, args.frames, height, width, device, torch.bfloat16)
    x16 = {k: v.half() if v.dtype == torch.bfloat16 else v for k, v in x.items()}
    tokens = args.frames * height * width // 4
    result["tokens"] = tokens

    def wfrun(model, feed):
        return lambda: transformer_forward(model, feed["hidden_states"], feed["timestep"], feed["encoder_hidden_states"],
                                           feed["encoder_hidden_states_image"])[0]

    reference = None

    def row(name, fn, compiled=False):
        nonlocal reference
        times, out, peak = timed(fn, args.repeat, device)
        out = out.float()
        if reference is None:
            reference = out
        err = ((out - reference).norm() / reference.norm()).item()
        entry = {"s_per_forward": round(statistics.median(times[1:]), 3), "first_s": round(times[0], 2),
                 "peak_gib": round(peak, 2), "rel_l2_vs_bf16": float(f"{err:.3g}")}
        result["rows"][name] = entry
        log({name: entry})

    result["fast_accumulation"] = fp8_module.FAST_ACCUM
    row("diffusers bf16", lambda: bf16(**x, return_dict=False)[0])
    if not args.only_fast:
        row("wfrun bf16", wfrun(bf16, x))
        row("wfrun fp8 as saved, bf16 compute", wfrun(fp8, x))
        fp8_16 = load_transformer(path, dtype=torch.float16, device=device)  # base_precision fp16, as the example
        row("wfrun fp8 as saved, fp16 compute", wfrun(fp8_16, x16))
        del fp8_16
    result["fast_linears"] = use_fp8_matmuls(fp8)
    row("wfrun fp8 fast (fp8 matmuls), eager", wfrun(fp8, x))
    if not args.skip_compile and device.startswith("cuda"):
        fp8.compile_repeated_blocks(fullgraph=False)
        row("wfrun fp8 fast + regional compile", wfrun(fp8, x))
        if args.fp8_attention:
            from wfrun.models.fp8_attention import fp8_attention_supported, use_fp8_attention

            result["fp8_attention_supported"] = fp8_attention_supported(device)
            result["fp8_attention_blocks"] = use_fp8_attention(fp8)
            torch._dynamo.reset()  # the blocks trace their new processors
            row("wfrun fp8 fast + fp8 attention + regional compile", wfrun(fp8, x))
        else:
            fp8_module.FAST_ACCUM = not fp8_module.FAST_ACCUM  # a recompile: the flag is a constant in the graph
            torch._dynamo.reset()
            row(f"wfrun fp8 fast + regional compile, fast accumulation {fp8_module.FAST_ACCUM}", wfrun(fp8, x))
            fp8_module.FAST_ACCUM = not fp8_module.FAST_ACCUM
        if not args.only_fast:
            bf16.compile_repeated_blocks(fullgraph=False)
            row("wfrun bf16 + regional compile", wfrun(bf16, x))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
