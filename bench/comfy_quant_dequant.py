"""GPU benchmark: what dequantizing ComfyUI's NVFP4 / MXFP8 layers at load costs (``models.comfy_quant``).

wfrun reads a ``*_nvfp4*`` / ``*_mxfp8*`` file's block-quantized linears dequantized once, at
load. This times ``comfy_quant.dequantize`` on the linears of one Wan 2.1 14B I2V block at full
size (self- and cross-attention q/k/v/o, the image k/v, the FFN: 5120 wide, FFN 13824),
quantized here with the tiny writer's quantizers, and scales it to the 40 blocks; it checks that
the GPU gives the CPU's bits and that the result is the weight within the format's rounding.

``per_call`` (``--tokens``, default 34,320: 81 frames at 832x480): what keeping the layers
packed costs a forward (``comfy_quant_linear.PackedLinear``, dequantized per call, eager and
under ``torch.compile``) against the same linears dequantized at load (``nn.Linear``), for
one block's linears at that many tokens, scaled to 40 blocks; whether the outputs have the
same bits; and the largest transient memory one packed layer's call takes beyond its input
and output.

Prints one JSON object.

    python bench/comfy_quant_dequant.py [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from wfrun.models.comfy_quant import FORMATS, dequantize  # noqa: E402
from wfrun.models.comfy_quant_linear import PackedLinear  # noqa: E402
from wfrun.models.tiny_comfy_quant import quantize_layer  # noqa: E402

DIM, FFN, BLOCKS = 5120, 13824, 40
#: (out, in) of one I2V block's linears: 4 self-attention, 6 cross-attention (image k/v), FFN in/out
SHAPES = [(DIM, DIM)] * 10 + [(FFN, DIM), (DIM, FFN)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tokens", type=int, default=34_320)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--per-call", action="store_true", help="the per_call row on the CPU too (on CUDA always)")
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    out: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                 "torch": torch.__version__}
    for name in ("nvfp4", "mxfp8"):
        fmt = FORMATS[name]
        layers = []
        for shape in SHAPES:
            w = (torch.randn(*shape, generator=gen) * shape[1] ** -0.5).to(device)
            layers.append((w, {k: v.cpu() for k, v in quantize_layer(w, name).items()}))
        # the GPU's bits are the CPU's (the FFN's output projection: the widest blocks of scales)
        w, stored = layers[-1]
        cpu = dequantize(fmt, stored["weight"], stored["weight_scale"], stored.get("weight_scale_2"), w.shape)
        moved = {k: v.to(device) for k, v in stored.items()}
        gpu = dequantize(fmt, moved["weight"], moved["weight_scale"], moved.get("weight_scale_2"), w.shape)
        same = bool(torch.equal(cpu, gpu.cpu()))
        w = w.cpu()
        error = float((cpu - w).abs().max() / w.abs().max())
        on_device = [(w.shape, {k: v.to(device) for k, v in s.items()}) for w, s in layers]
        for shape, s in on_device[:2]:  # warm-up
            dequantize(fmt, s["weight"], s["weight_scale"], s.get("weight_scale_2"), shape).to(torch.bfloat16)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for shape, s in on_device:
            dequantize(fmt, s["weight"], s["weight_scale"], s.get("weight_scale_2"), shape).to(torch.bfloat16)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        block = time.perf_counter() - start
        params = sum(a * b for a, b in SHAPES)
        out[name] = {"gpu_equals_cpu": same, "max_error_over_max_weight": round(error, 4),
                     "one_block_s": round(block, 4), "forty_blocks_s": round(block * BLOCKS, 2),
                     "block_linear_params": params,
                     "stored_gib_40_blocks": round(sum(sum(t.numel() * t.element_size() for t in s.values())
                                                       for _, s in layers) * BLOCKS / 2 ** 30, 2),
                     "bf16_gib_40_blocks": round(params * 2 * BLOCKS / 2 ** 30, 2)}
        if device.type == "cuda" or args.per_call:
            out[name]["per_call"] = per_call(fmt, layers, device, args.tokens, not args.no_compile)
    print(json.dumps(out, indent=1))


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int = 3) -> float:
    fn()  # warm-up (and the compile)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def per_call(fmt, layers, device, tokens: int, compiled: bool) -> dict:
    """One block's linears at ``tokens`` tokens: packed (eager, compiled) against dequantized."""
    packed, plain = [], []
    for w, stored in layers:
        rows, cols = w.shape
        layer = PackedLinear(cols, rows, False, fmt, torch.bfloat16, device=device)
        layer.weight = torch.nn.Parameter(stored["weight"].to(device), requires_grad=False)
        scale = stored["weight_scale"].to(device)
        layer.weight_scale = scale.view(torch.uint8) if fmt.name == "mxfp8" else scale
        if fmt.name == "nvfp4":
            layer.weight_scale_2 = stored["weight_scale_2"].float().to(device)
        packed.append(layer)
        linear = torch.nn.Linear(cols, rows, bias=False, device="meta")
        linear.weight = torch.nn.Parameter(layer.dequantized_weight(torch.bfloat16), requires_grad=False)
        plain.append(linear)
    inputs = {cols: torch.randn(tokens, cols, device=device, dtype=torch.bfloat16)
              for cols in {w.shape[1] for w, _ in layers}}

    def run(mods):
        return [m(inputs[m.in_features]) for m in mods]

    row = {"tokens": tokens}
    with torch.no_grad():
        same = all(torch.equal(a, b) for a, b in zip(run(packed), run(plain)))
        row["packed_equals_dequantized_at_load"] = same
        row["dequantized_at_load_block_s"] = round(_timed(lambda: run(plain), device), 4)
        row["packed_block_s"] = round(_timed(lambda: run(packed), device), 4)
        if device.type == "cuda":  # transient memory of the widest layer's call (the FFN's output projection)
            x = inputs[packed[-1].in_features]
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            y = packed[-1](x)
            row["packed_ffn_out_call_transient_mib"] = round(
                (torch.cuda.max_memory_allocated(device) - base - y.nbytes) / 2 ** 20, 1)
            del y
        if compiled:
            for limit in ("cache_size_limit", "recompile_limit"):  # one graph per layer shape and weight
                if hasattr(torch._dynamo.config, limit):
                    setattr(torch._dynamo.config, limit, 64)
            fast = [torch.compile(m) for m in packed]
            row["compiled_packed_equals_eager"] = all(torch.equal(a, b) for a, b in zip(run(fast), run(packed)))
            row["compiled_packed_block_s"] = round(_timed(lambda: run(fast), device), 4)
    for key in [k for k in row if k.endswith("_block_s")]:
        row[key.replace("_block_s", "_40_blocks_s")] = round(row[key] * BLOCKS, 2)
    return row


if __name__ == "__main__":
    main()
