"""GPU benchmark: what block swap costs per swapped block, and how it compares to diffusers'.

A 14B I2V transformer in fp8 (full-width blocks, ``--layers`` of them: only the per-block
cost matters) runs one forward at the token count of 81 frames 480x832 (32760 tokens), in
four placements:

- ``resident``: every block on the GPU;
- ``wfrun_stream``: wfrun's block swap with ``use_non_blocking`` (pinned host copies, the next
  block prefetched on a side stream);
- ``wfrun_sync``: the same without prefetch (``use_non_blocking`` off);
- ``diffusers_group``: diffusers' ``apply_group_offloading`` on each swapped block
  (block_level, one block per group, ``use_stream``): what wfrun did before.

For each: seconds per forward (median of ``--repeats`` after a warm-up), the extra seconds per
swapped block against ``resident``, peak GPU memory, and the largest difference of the output
from ``resident`` (placement must not change the numbers).

    python bench/block_swap_14b.py --out /tmp/bs [--layers 12 --swap 6] [--small --device cpu]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def load(path: Path, device: str):
    from wfrun.models.load import load_transformer

    model = load_transformer(path, dtype=torch.bfloat16, device="cpu", quantization="fp8_e4m3fn")
    return model.eval().requires_grad_(False)


def place(model, variant: str, device: str, swap: int):
    from wfrun.models.placement import place_transformer

    if variant == "resident":
        return model.to(device)
    if variant in ("wfrun_stream", "wfrun_sync"):
        return place_transformer(model, device, "cpu", swap_blocks=swap, non_blocking=variant == "wfrun_stream")
    from diffusers.hooks import apply_group_offloading

    from wfrun.models.placement import _move_except

    blocks = list(model.blocks[:swap])
    _move_except(model, device, {id(b) for b in blocks})
    for block in blocks:
        apply_group_offloading(block, onload_device=torch.device(device), offload_device=torch.device("cpu"),
                               offload_type="block_level", num_blocks_per_group=1, non_blocking=True,
                               use_stream=torch.device(device).type == "cuda")
    return model


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--swap", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny widths, for a CPU smoke run")
    parser.add_argument("--variants", default="resident,wfrun_stream,wfrun_sync,diffusers_group")
    args = parser.parse_args()
    import diffusers

    import fullsize
    from wfrun.models import tiny

    dims = dict(tiny.TRANSFORMER_14B, layers=args.layers)
    frames, height, width = (2, 8, 8) if args.small else (21, 60, 104)
    if args.small:
        dims.update(fullsize.SMALL, layers=args.layers)
    path = args.out / "i2v_14b_fp8_blocks.safetensors"
    args.out.mkdir(parents=True, exist_ok=True)
    fullsize.write_random(path, tiny.transformer_weights("i2v", 0, dims, meta=True), "fp8_e4m3fn", args.device,
                          seed=1, metadata={"wfrun.num_heads": str(dims["heads"])})
    gen = torch.Generator(device=args.device).manual_seed(0)
    x = torch.randn(1, 36, frames, height, width, generator=gen, device=args.device, dtype=torch.bfloat16)
    t = torch.tensor([900.0], device=args.device)
    text = torch.randn(1, 512, dims["text_dim"], generator=gen, device=args.device, dtype=torch.bfloat16)
    image = torch.randn(1, dims["image_tokens"], dims["image_dim"], generator=gen, device=args.device,
                        dtype=torch.bfloat16)
    cuda = torch.device(args.device).type == "cuda"
    result = {"date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name() if cuda else None,
              "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
              "layers": args.layers, "swap": args.swap, "tokens": frames * height * width // 4}
    reference = None
    for variant in args.variants.split(","):
        model = place(load(path, args.device), variant, args.device, args.swap)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        times = []
        with torch.inference_mode():
            for i in range(args.repeats + 1):
                sync(args.device)
                start = time.perf_counter()
                out = model(x, t, text, encoder_hidden_states_image=image, return_dict=False)[0]
                sync(args.device)
                if i:
                    times.append(time.perf_counter() - start)
        entry = {"s_per_forward": round(statistics.median(times), 4),
                 "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
        if reference is None:
            reference = out.float().cpu()
        entry["max_abs_diff_vs_first"] = float((out.float().cpu() - reference).abs().max())
        result[variant] = entry
        print(json.dumps({variant: entry}), file=sys.stderr, flush=True)
        del model, out
        gc.collect()
    if "resident" in result:
        base = result["resident"]["s_per_forward"]
        for variant in args.variants.split(","):
            if variant != "resident":
                extra = result[variant]["s_per_forward"] - base
                result[variant]["extra_s_per_swapped_block"] = round(extra / max(args.swap, 1), 4)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
