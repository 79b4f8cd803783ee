"""Tiny random checkpoints of the frame models the end of a workflow uses, in their real key
layouts: an ESRGAN upscaler (BasicSR's RRDBNet names, as Real-ESRGAN releases them) and a
RIFE IFNet; written as ``.pth`` (``torch.save`` of a plain tensor dict, what
``torch.load(weights_only=True)`` reads) or ``.safetensors``."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def tiny_esrgan_state_dict(*, features: int = 8, growth: int = 32, blocks: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """A 4x RRDBNet (ESRGAN / Real-ESRGAN): ``conv_first``, ``blocks`` residual-in-residual
    dense blocks of three 5-convolution dense blocks (growth 32, which spandrel assumes), ``conv_body``, two nearest-neighbour
    upsampling convolutions, ``conv_hr`` and ``conv_last``."""
    gen = torch.Generator().manual_seed(seed)

    def conv(cout: int, cin: int, name: str, out: dict) -> None:
        out[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * (0.5 / (cin * 9) ** 0.5)
        out[f"{name}.bias"] = torch.randn(cout, generator=gen) * 0.01

    sd: dict[str, torch.Tensor] = {}
    conv(features, 3, "conv_first", sd)
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                cout = features if c == 5 else growth
                conv(cout, features + (c - 1) * growth, f"body.{b}.rdb{r}.conv{c}", sd)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(features, features, name, sd)
    conv(3, features, "conv_last", sd)
    return sd


def save_weights(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    """``.safetensors`` by the name's suffix, else a weights-only ``torch.save`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in state.items()}
    if path.suffix.lower() in (".safetensors", ".sft"):
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
