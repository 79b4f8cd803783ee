"""GPU benchmark (issue 16): how fast a full-size checkpoint gets onto the GPU.

Writes the 14B I2V 480P transformer with random weights in Kijai's ``fp8_e4m3fn`` layout
(15.5 GiB), then, from the page cache (the file was just written), side by side in one run:

- ``one_by_one``: ``CheckpointReader.read`` tensor after tensor (wfrun's reader before
  ``models/parallel_read.py``: one thread, one pinned staging buffer, a synchronous copy);
- ``parallel``: ``CheckpointReader.iter_tensors`` (threads reading chunks, pinned chunks
  copied on side streams), to the GPU, and to host memory;
- ``safetensors``: the library's own ``load_file(path, device="cuda")``, the reference for
  speed, and for the bytes: every tensor the parallel reader gives must equal it;
- ``load_transformer``: wfrun's whole load of the model onto the GPU as the end-frame
  example asks (fp8 weights kept, fp16 compute).

Prints one JSON object of seconds and GB/s.

    python bench/load_speed.py --out /tmp/b [--small --device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def timed(fn, device: str) -> tuple[float, object]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    import diffusers
    import safetensors
    import torch
    from safetensors.torch import load_file

    import fullsize
    from wfrun.models.load import load_transformer
    from wfrun.models.parallel_read import read_threads
    from wfrun.models.reader import open_checkpoint

    path = args.out / "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors"
    start = time.perf_counter()
    if not path.exists():
        fullsize.write_transformer(path, "i2v", "14B", "fp8_e4m3fn", args.device, args.small)
    gib = path.stat().st_size / 2**30
    result: dict = {"date": time.strftime("%Y-%m-%d"), "file_gib": round(gib, 2),
                    "write_s": round(time.perf_counter() - start, 1), "threads": read_threads(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                                 "safetensors": safetensors.__version__}}

    def rate(seconds: float) -> dict:
        return {"s": round(seconds, 2), "GB_per_s": round(gib * 2**30 / 1e9 / seconds, 2)}

    def one_by_one(device: str):
        with open_checkpoint(path) as reader:
            return {name: reader.read(name, device) for name in reader.tensors}

    def parallel(device: str):
        with open_checkpoint(path) as reader:
            return dict(reader.iter_tensors(device=device))

    one_by_one(args.device)  # every page of the file in the page cache before timing
    for label, fn, device in (("one_by_one_gpu", one_by_one, args.device), ("parallel_gpu", parallel, args.device),
                              ("parallel_host", parallel, "cpu")):
        seconds, tensors = timed(lambda: fn(device), device)
        result[label] = rate(seconds)
        del tensors
        print(json.dumps({label: result[label]}), file=sys.stderr, flush=True)
    seconds, reference = timed(lambda: load_file(str(path), device=args.device), args.device)
    result["safetensors_load_file_gpu"] = rate(seconds)
    mine = parallel(args.device)
    mismatched = [name for name, tensor in reference.items()
                  if not torch.equal(mine[name].reshape(-1).view(torch.uint8), tensor.reshape(-1).view(torch.uint8))]
    result["parallel_equals_safetensors"] = not mismatched and mine.keys() == reference.keys()
    if mismatched:
        result["mismatched"] = mismatched[:5]
    del mine, reference
    for label, device in (("load_transformer_gpu", args.device),):
        seconds, model = timed(lambda: load_transformer(path, dtype=torch.float16, device=device,
                                                        quantization="fp8_e4m3fn"), device)
        result[label] = rate(seconds)
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        print(json.dumps({label: result[label]}), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
