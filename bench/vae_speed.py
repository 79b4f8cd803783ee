"""GPU benchmark (issue 16): the Wan 2.1 VAE's encode and decode at the end-frame job's size,
with cuDNN's convolution choice left to its heuristics (PyTorch's default) and autotuned
(``torch.backends.cudnn.benchmark``), and with the weights and inputs in channels-last
memory order (``torch.channels_last_3d``: cuDNN's NDHWC kernels), side by side in one process.

Why: decode (2.2-2.4 s) and the I2V encode (1.4-1.6 s) are the largest pieces of a job
outside the sampler; the VAE is 3D convolutions, whose algorithm cuDNN picks per shape.
Shape: 81 frames of 832x480 in (the I2V encode: start frame, zeros, end frame), 21 latent
frames of 104x60 out (the decode), batch 1, diffusers ``AutoencoderKLWan`` with its default
(Wan 2.1) structure, random weights, bf16 as the packs load it. Each row: the first call
(autotuning included) and the median of the timed calls, CUDA-synchronised.

    python bench/vae_speed.py [--repeat 3] [--frames 81]
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


def timed(fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"first_s": round(times[0], 3), "s": round(statistics.median(times[1:]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan().to("cuda", torch.bfloat16).eval()
    g = torch.Generator(device="cuda").manual_seed(0)
    video = torch.zeros(1, 3, args.frames, args.height, args.width, device="cuda", dtype=torch.bfloat16)
    video[:, :, 0] = torch.rand(3, args.height, args.width, generator=g, device="cuda") * 2 - 1
    video[:, :, -1] = torch.rand(3, args.height, args.width, generator=g, device="cuda") * 2 - 1
    latent_frames = (args.frames - 1) // 4 + 1
    latents = torch.randn(1, 16, latent_frames, args.height // 8, args.width // 8, generator=g, device="cuda",
                          dtype=torch.bfloat16)
    result = {"date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name(),
              "versions": {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version()},
              "shape": {"frames": args.frames, "latent_frames": latent_frames, "height": args.height,
                        "width": args.width}, "rows": {}}
    outputs, encoded = {}, {}
    last = torch.channels_last_3d
    rows = (("cuDNN heuristics (default)", False, False), ("cudnn.benchmark", True, False),
            ("channels_last_3d", False, True), ("channels_last_3d + cudnn.benchmark", True, True))
    for name, benchmark, channels_last in rows:
        torch.backends.cudnn.benchmark = benchmark
        _conv3d_weights(vae, last if channels_last else torch.contiguous_format)
        x = video.contiguous(memory_format=last) if channels_last else video
        z = latents.contiguous(memory_format=last) if channels_last else latents
        row = {"encode": timed(lambda: encoded.__setitem__(name, vae.encode(x).latent_dist.mode()), args.repeat),
               "decode": timed(lambda: outputs.__setitem__(name, vae.decode(z).sample), args.repeat)}
        result["rows"][name] = row
        print(json.dumps({name: row}), file=sys.stderr, flush=True)
    first = rows[0][0]
    result["rel_l2_vs_default"] = {
        name: {"encode": _rel(encoded[name], encoded[first]), "decode": _rel(outputs[name], outputs[first])}
        for name, *_ in rows[1:]}
    print(json.dumps(result, indent=1))


def _conv3d_weights(vae, memory_format) -> None:
    """The 5-D (Conv3d) weights in ``memory_format`` (``Module.to`` refuses a VAE that also has
    2-D convolutions)."""
    with torch.no_grad():
        for module in vae.modules():
            for param in module.parameters(recurse=False):
                if param.dim() == 5:
                    param.data = param.data.contiguous(memory_format=memory_format)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return float(f"{((a - b).norm() / b.norm()).item():.3g}")


if __name__ == "__main__":
    main()
