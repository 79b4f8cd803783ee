"""GPU check: the step caches give the same bits wherever they keep their tensors, and what
each place costs (``wfrun.sampling.cache_store``).

For MagCache, TeaCache and EasyCache at the 14B end-frame job's size (34,320 tokens of 5,120,
fp32), one computed prediction (copy of the blocks' input, residual after a stand-in for
the blocks) then one skipped one (input plus the kept residual), three ways:

- ``kept``: wfrun with room on the card (the tensors stay on the GPU);
- ``pinned``: wfrun on a card without room (page-locked host copies that do not wait);
- ``packs``: the packs' way before this change (blocking copies to pageable host memory,
  the subtraction on the CPU), written out here as the reference.

The skipped prediction's output must be bit-identical in all three. Timed: the computed
prediction's cache work around a GPU-bound stand-in for the blocks (a matmul chain of about
0.5 s), so a copy that stalls the GPU shows. Prints one JSON object.

    python bench/step_cache_store.py [--small --device cpu]   (the second: the code runs, nothing measured)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from wfrun.sampling import cache_store  # noqa: E402
from wfrun.sampling.conditioning import EasyCacheArgs, TeaCacheArgs  # noqa: E402
from wfrun.sampling.forward import EasyCache, TeaCache  # noqa: E402
from wfrun.sampling.magcache import MagCache, MagCacheArgs  # noqa: E402

TOKENS, DIM = 34320, 5120
ROUNDS = 200


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def blocks(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A GPU-bound stand-in for the transformer blocks (about half a second on an H200)."""
    h = x.to(torch.bfloat16)
    for _ in range(ROUNDS):
        h = torch.nn.functional.gelu(h @ weight)
    return x + h.float() * 1e-3


def make(kind: str):
    if kind == "magcache":
        return MagCache.create(MagCacheArgs(0.02, 4, 0, -1), 20, "i2v_480", "cpu")
    if kind == "teacache":
        return TeaCache.create(TeaCacheArgs(rel_l1_thresh=0.22), 20, "i2v_480", "cpu")
    return EasyCache.create(EasyCacheArgs(start_step=0), 20, "cpu")


def packs_way(x: torch.Tensor, after: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
    """The packs' offload: residual on the CPU from blocking copies, added back on the GPU."""
    original = x.to("cpu").clone()
    residual = after.to(original.device) - original
    return later + residual.to(later.device)


def one_way(kind: str, way: str, x: torch.Tensor, later: torch.Tensor, weight: torch.Tensor) -> tuple:
    sync()
    start = time.perf_counter()
    if way == "packs":
        after = blocks(x, weight)
        out = packs_way(x, after, later)
    else:
        room = mock.patch.object(cache_store, "stays_on_device", return_value=way == "kept")
        with room:
            cache = make(kind)
            pred = cache.new_prediction()
            if kind == "teacache":  # what its decision would have remembered
                cache.states[pred]["pending_modulated_input"] = None
            original = cache_store.keep(x, cache.cache_device)
            after = blocks(x, weight)
            cache.after_blocks(pred, original, after)
            out = cache.reuse(pred, 1, later)
    sync()
    return out, time.perf_counter() - start


def main() -> None:
    global TOKENS, DIM, ROUNDS
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    if args.small:
        TOKENS, DIM, ROUNDS = 64, 32, 2
    device = torch.device(args.device)
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(1, TOKENS, DIM, device=device, generator=gen)
    later = torch.randn(1, TOKENS, DIM, device=device, generator=gen)
    weight = torch.randn(DIM, DIM, device=device, dtype=torch.bfloat16, generator=gen) * DIM ** -0.5
    result: dict = {"gpu": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__, "tokens": TOKENS, "dim": DIM}
    for _ in range(2):  # warm-up: kernels, pinned pool
        one_way("magcache", "pinned", x, later, weight)
    sync()
    start = time.perf_counter()
    blocks(x, weight)
    sync()
    result["blocks_alone_s"] = round(time.perf_counter() - start, 4)
    for kind in ("magcache", "teacache", "easycache"):
        outs, times = {}, {}
        for way in ("packs", "pinned", "kept"):
            runs = [one_way(kind, way, x, later, weight) for _ in range(3)]
            outs[way] = runs[-1][0]
            times[way] = round(sorted(t for _, t in runs)[1], 4)
        result[kind] = {"seconds": times,
                        "pinned_equals_packs": bool(torch.equal(outs["pinned"], outs["packs"])),
                        "kept_equals_packs": bool(torch.equal(outs["kept"], outs["packs"]))}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
