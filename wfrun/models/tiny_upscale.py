"""Tiny random checkpoints of the upscale models the end of a workflow uses, in their real
key layouts: ESRGAN (BasicSR's RRDBNet names, as Real-ESRGAN releases them) and Real-ESRGAN
compact (SRVGGNetCompact); written as ``.pth`` (``torch.save`` of a plain tensor dict, what
``torch.load(weights_only=True)`` reads) or ``.safetensors`` (the tiny RIFE IFNet is
``models.rife``'s)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def _conv(gen: torch.Generator, out: dict, name: str, cout: int, cin: int) -> None:
    out[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * (0.5 / (cin * 9) ** 0.5)
    out[f"{name}.bias"] = torch.randn(cout, generator=gen) * 0.01


def tiny_esrgan_state_dict(*, features: int = 8, growth: int = 32, blocks: int = 1, upsamples: int = 2,
                           unshuffle: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """An RRDBNet (ESRGAN / Real-ESRGAN) in BasicSR's "new" key layout: ``conv_first``,
    ``blocks`` residual-in-residual dense blocks of three 5-convolution dense blocks
    (``body.N.rdbR.convC``; growth 32, which spandrel assumes), ``conv_body``, ``upsamples``
    nearest-neighbour upsampling convolutions (``conv_up1``…), ``conv_hr`` and ``conv_last``.
    ``unshuffle`` 2 or 4 makes the first convolution take 3 * unshuffle² channels, as
    Real-ESRGAN's x2 and x1 models do (scale ``2**upsamples / unshuffle``). The defaults are
    a 4x model (the ``--smoke`` stand-in)."""
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    _conv(gen, sd, "conv_first", features, 3 * unshuffle * unshuffle)
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                _conv(gen, sd, f"body.{b}.rdb{r}.conv{c}", features if c == 5 else growth, features + (c - 1) * growth)
    for name in ("conv_body", *(f"conv_up{i}" for i in range(1, upsamples + 1)), "conv_hr"):
        _conv(gen, sd, name, features, features)
    _conv(gen, sd, "conv_last", 3, features)
    return sd


def tiny_compact_state_dict(*, features: int = 8, convs: int = 2, scale: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """A Real-ESRGAN compact (SRVGGNetCompact) model in its release layout: ``body.0`` conv,
    then a PReLU (``body.odd.weight``, one slope per feature) after each of ``convs + 1``
    convolutions, and a last convolution to ``3 * scale²`` channels for the pixel shuffle."""
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    _conv(gen, sd, "body.0", features, 3)
    for i in range(convs + 1):
        sd[f"body.{2 * i + 1}.weight"] = 0.25 + 0.1 * torch.rand(features, generator=gen)
        if i < convs:
            _conv(gen, sd, f"body.{2 * i + 2}", features, features)
    _conv(gen, sd, f"body.{2 * convs + 2}", 3 * scale * scale, features)
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
