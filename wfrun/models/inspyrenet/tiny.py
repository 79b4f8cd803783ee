"""Tiny random InSPyReNet checkpoints, saved as the released ones are (a plain ``torch.save``
tensor dict with the same key layout, BatchNorm counters and relative-position indices
included), for tests and ``--tiny-models`` runs.

The architecture is the released one at narrow widths: Swin 8 wide (depths 2-2-2-2, heads
1-1-2-2) with the release's 12-token windows, decoder depth 8 (the smallest the axial
attention's ``channels // 8`` allows). Weights are drawn at 0.7 / sqrt(fan-in), where the
saliency logits stay in a range a sigmoid does not flatten.

A tiny file also carries ``TINY_BASE_SIZE_KEY``: the base size (64x64) a run with it works at,
instead of the mode's 1024 or 384. At the real sizes a tiny network still convolves a
million pixels per frame (seconds each on a CPU), which smoke runs cannot afford; the
released files carry no such tensor, and the loader takes it from no other file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from wfrun.models.inspyrenet import InSPyReNet
from wfrun.models.inspyrenet.swin import SwinConfig, relative_index

TINY_SWIN = SwinConfig(embed_dim=8, depths=(2, 2, 2, 2), heads=(1, 1, 2, 2), window=12)
TINY_DEPTH = 8
#: The tensor naming a tiny file's working size (height, width), and that size.
TINY_BASE_SIZE_KEY = "wfrun_tiny.base_size"
TINY_BASE_SIZE = (64, 64)


def tiny_inspyrenet_state_dict(seed: int = 0, swin: SwinConfig = TINY_SWIN, depth: int = TINY_DEPTH) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    model = InSPyReNet(swin, depth)
    state = {}
    for key, value in model.state_dict().items():
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(0, dtype=torch.long)
        elif leaf == "running_var":
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif leaf == "running_mean" or leaf == "bias":
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
        elif leaf in ("threshold", "lthreshold", "gamma"):
            state[key] = 0.5 + 0.3 * torch.randn(value.shape, generator=gen)
        elif value.ndim == 1:  # norm scales
            state[key] = 1 + 0.2 * torch.randn(value.shape, generator=gen)
        else:
            fan_in = value[0].numel()
            state[key] = 0.7 * torch.randn(value.shape, generator=gen) / fan_in ** 0.5
    for i, stage in enumerate(swin.depths):  # the buffer the released files carry per block
        for j in range(stage):
            state[f"backbone.layers.{i}.blocks.{j}.attn.relative_position_index"] = relative_index(swin.window)
    state[TINY_BASE_SIZE_KEY] = torch.tensor(TINY_BASE_SIZE, dtype=torch.long)
    return state


def write_tiny_inspyrenet(path: str | Path, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_inspyrenet_state_dict(seed), path)
    return path
