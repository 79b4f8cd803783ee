"""GPU benchmark (issue 16): one self-attention at the 14B I2V job's shape, every kernel wfrun
can reach, side by side in one process.

Shape: 34,320 tokens (22 latent frames of 60x104), 40 heads of 128, batch 1, no mask, in
diffusers' ``[batch, tokens, heads, dim]`` layout (what a Wan block hands its attention).
Rows: PyTorch's SDPA as diffusers' ``native`` backend calls it (bf16 and fp16; the backend
PyTorch picks, then cuDNN and FlashAttention-2 forced), and wfrun's fp8 attention
(``models.fp8_attention``: per-tensor e4m3 quantization + cuDNN's fp8 SDPA), eager, compiled
(the quantization fused), and the cuDNN kernel alone. Each row: median seconds of the timed
calls (CUDA-synchronised), TFLOP/s (4 x tokens^2 x heads x dim per call), and the relative
L2 error against an fp32 reference (PyTorch's memory-efficient SDPA in fp32), whole and of the
output's part that varies over the tokens, for three inputs: unit-normal q, k, v (flat
attention), q scaled by 4 (peaked attention), and q x 2 with keys and values carrying a
per-channel offset of five standard deviations (as a projection's bias gives them).

    python bench/attention_kernels.py [--tokens 34320] [--repeat 5]
    python bench/attention_kernels.py --plan-only   # twice: cuDNN's plan built, then read back
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def native(q, k, v):
    """diffusers' native backend: BSHD in, permuted to BHSD for SDPA, back to BSHD."""
    out = F.scaled_dot_product_attention(q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3))
    return out.permute(0, 2, 1, 3)


def timed(fn, repeat: int) -> tuple[float, float, torch.Tensor]:
    """(median seconds, first call seconds, last output)."""
    times, out = [], None
    for _ in range(repeat + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), times[0], out


def first_fp8_call(fa, tokens: int, heads: int, dim: int) -> dict:
    """The first fp8 attention call of a process, whole and its cuDNN plan's part."""
    q = torch.randn(1, tokens, heads, dim, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    start = time.perf_counter()
    fa.fp8_attention(q, q, q)
    torch.cuda.synchronize()
    first = time.perf_counter() - start
    plans = [p for p in fa._plans.values() if p is not None]
    return {"first_call_s": round(first, 3), "plan": [{"source": p.source, "s": round(p.seconds, 3)} for p in plans]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=34320)
    parser.add_argument("--heads", type=int, default=40)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plan-only", action="store_true",
                        help="time only the first fp8 call of this process: cuDNN's plan built, or read back "
                             "from wfrun's plan cache (run twice: the second process finds the first's plan)")
    args = parser.parse_args()
    from wfrun.models import fp8_attention as fa

    if args.plan_only:
        print(json.dumps(first_fp8_call(fa, args.tokens, args.heads, args.dim)))
        return

    device = "cuda"
    s, h, d = args.tokens, args.heads, args.dim
    flops = 4.0 * s * s * h * d
    gen = torch.Generator(device=device).manual_seed(0)
    base = {name: torch.randn(1, s, h, d, generator=gen, device=device) for name in "qkv"}
    offset = {n: torch.randn(1, 1, h, d, generator=gen, device=device) * 5 for n in "kv"}
    inputs = {"flat": base, "peaked": {**base, "q": base["q"] * 4},
              "offset": {"q": base["q"] * 2, "k": base["k"] + offset["k"], "v": base["v"] + offset["v"]}}
    refs = {}
    with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
        for kind, t in inputs.items():
            refs[kind] = native(t["q"], t["k"], t["v"]).float()
    result = {"date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name(),
              "versions": {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version()},
              "shape": {"tokens": s, "heads": h, "head_dim": d}, "fp8_supported": fa.fp8_attention_supported(device),
              "rows": {}}
    try:
        import cudnn

        result["versions"]["cudnn_frontend"] = getattr(cudnn, "__version__", "?")
        result["versions"]["cudnn_backend_via_frontend"] = cudnn.backend_version()
    except Exception as err:  # noqa: BLE001 - reported, the SDPA rows still run
        result["cudnn_frontend_error"] = repr(err)

    def row(name, make, dtype=torch.bfloat16, backend=None):
        entry = {}
        for kind, t in inputs.items():
            q, k, v = (t[n].to(dtype) for n in "qkv")
            fn = make(q, k, v)
            try:
                if backend is not None:
                    with sdpa_kernel(backend):
                        sec, first, out = timed(fn, args.repeat)
                else:
                    sec, first, out = timed(fn, args.repeat)
            except Exception as err:  # noqa: BLE001 - a kernel this GPU lacks is a row's result
                entry[kind] = {"error": repr(err)[:300]}
                continue
            ref = refs[kind]
            err = ((out.float() - ref).norm() / ref.norm()).item()
            varying = ((out.float() - ref).norm() / (ref - ref.mean(dim=1, keepdim=True)).norm()).item()
            entry[kind] = {"s": round(sec, 4), "first_s": round(first, 3), "tflops": round(flops / sec / 1e12, 1),
                           "rel_l2_vs_fp32": float(f"{err:.3g}"), "rel_l2_of_varying_part": float(f"{varying:.3g}")}
        result["rows"][name] = entry
        print(json.dumps({name: entry}), file=sys.stderr, flush=True)

    row("sdpa bf16 (PyTorch's choice)", lambda q, k, v: lambda: native(q, k, v))
    row("sdpa fp16 (PyTorch's choice)", lambda q, k, v: lambda: native(q, k, v), torch.float16)
    row("sdpa bf16 cuDNN", lambda q, k, v: lambda: native(q, k, v), backend=SDPBackend.CUDNN_ATTENTION)
    row("sdpa bf16 FlashAttention-2", lambda q, k, v: lambda: native(q, k, v), backend=SDPBackend.FLASH_ATTENTION)
    if result["fp8_supported"]:
        row("wfrun fp8 attention, eager", lambda q, k, v: lambda: fa.fp8_attention(q, k, v))
        compiled = torch.compile(fa.fp8_attention)
        row("wfrun fp8 attention, compiled", lambda q, k, v: lambda: compiled(q, k, v))

        def kernel_only(q, k, v):
            q8, dq = fa.quantize_per_tensor(q)
            k8, dk = fa.quantize_per_tensor(k)
            v8, dv = fa.quantize_per_tensor(v)
            so = (fa.OUTPUT_HEADROOM / dv).reshape(1, 1, 1, 1)
            scale = d ** -0.5

            def call():
                return torch.ops.wfrun.cudnn_fp8_sdpa(q8, k8, v8, dq, dk, dv, so, scale).to(q.dtype) * (1 / so).to(q.dtype)
            return call
        row("cuDNN fp8 SDPA kernel (inputs quantized before)", kernel_only)
        result["plans"] = {str(key): plan is not None for key, plan in fa._plans.items()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
