"""Tiny random FILM checkpoints in the release's layout, for tests and ``--smoke`` stand-ins.

``film_net_fp32.pt`` is a TorchScript archive; the tiny one is one too, made the way such
archives are made: wfrun's own :class:`~wfrun.models.film.FilmNet` (narrow widths, the
release's depths and parameter names) traced with ``torch.jit.trace`` and written with
``torch.jit.save``. wfrun reads it back as data only (``torchscript_weights``); a name
ending in ``.safetensors`` gets the same weights as safetensors, one ending in ``.pth`` a
plain ``torch.save`` state dict.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from wfrun.models.film import TINY_CONFIG, FilmConfig, FilmNet


def tiny_film(seed: int = 0, cfg: FilmConfig = TINY_CONFIG) -> FilmNet:
    """A FilmNet with random weights (halved, so outputs stay moderate), in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FilmNet(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
    return net.eval().requires_grad_(False)


def write_torchscript(net: FilmNet, path: str | Path) -> Path:
    """``net`` traced on two 64x64 frames and a time, saved with ``torch.jit.save``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = net.cfg.min_size
    example = (torch.rand(1, 3, size, size), torch.rand(1, 3, size, size), torch.full((1, 1), 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python values taken as constants
        traced = torch.jit.trace(net, example, check_trace=False)
    torch.jit.save(traced, str(path))
    return path


def write_tiny_film(path: str | Path, seed: int = 0) -> Path:
    """A tiny FILM checkpoint at ``path``: TorchScript, or by the suffix safetensors / .pth."""
    from wfrun.models.tiny_upscale import save_weights

    net = tiny_film(seed)
    if Path(path).suffix.lower() in (".safetensors", ".sft", ".pth"):
        return save_weights(dict(net.state_dict()), path)
    return write_torchscript(net, path)
