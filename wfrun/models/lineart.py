"""The line-drawing generator of "Learning to generate line drawings that convey geometry and
semantics" (informative-drawings), as lllyasviel's ControlNet annotators ship it: ``sk_model.pth``
(realistic lineart) and ``sk_model2.pth`` (its coarse variant), both read by
comfyui_controlnet_aux's ``LineArtPreprocessor``.

It is a small CycleGAN-style ResNet generator, fully convolutional (any input size that is a
multiple of 4; the pack pads to multiples of 64):

- a stem: reflection pad 3, 7x7 conv 3 → C, instance norm, ReLU;
- two stride-2 3x3 convs (C → 2C → 4C), each with instance norm and ReLU;
- N residual blocks at 4C: reflection pad 1, 3x3 conv, instance norm, ReLU, reflection pad 1,
  3x3 conv, instance norm, added to the block's input;
- two stride-2 transposed 3x3 convs (padding 1, output padding 1; 4C → 2C → C), each with
  instance norm and ReLU;
- a head: reflection pad 3, 7x7 conv C → 1, sigmoid.

Instance norms have no affine parameters and no running statistics (PyTorch's defaults), so the
files hold only the convolutions. The released files have C = 64 and N = 3; both are read from
the weights, so the tiny random test files (C = 4) run through the same code. Module indices
follow the released key names (``model0.1.weight``, ``model2.0.conv_block.5.bias``, ...), so a
file loads with ``strict=True`` and nothing is renamed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn


class NotLineartError(ValueError):
    """A file that is not an informative-drawings line generator."""


def _norm_relu(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels), nn.ReLU()]


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), *_norm_relu(channels),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class LineartGenerator(nn.Module):
    """RGB in 0..1 ``[B, 3, H, W]`` → line darkness in 0..1 ``[B, 1, H, W]`` (1 = background
    in the file's own terms: the pack shows ``1 - output`` as white lines on black)."""

    def __init__(self, width: int = 64, blocks: int = 3, in_channels: int = 3, out_channels: int = 1):
        super().__init__()
        c = width
        self.model0 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7), *_norm_relu(c))
        self.model1 = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), *_norm_relu(2 * c),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), *_norm_relu(4 * c))
        self.model2 = nn.Sequential(*[_Residual(4 * c) for _ in range(blocks)])
        self.model3 = nn.Sequential(
            nn.ConvTranspose2d(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1), *_norm_relu(2 * c),
            nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1), *_norm_relu(c))
        self.model4 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in (self.model0, self.model1, self.model2, self.model3, self.model4):
            x = stage(x)
        return x


def shape_of(state_dict: Mapping[str, torch.Tensor], where: str = "the file") -> tuple[int, int]:
    """``(width, blocks)`` of a generator state dict, from its stem and residual keys."""
    stem = state_dict.get("model0.1.weight")
    if not isinstance(stem, torch.Tensor) or stem.ndim != 4 or tuple(stem.shape[1:]) != (3, 7, 7):
        sample = ", ".join(sorted(state_dict)[:4]) or "no tensors"
        raise NotLineartError(f"{where} is not a lineart generator (sk_model.pth): it has no 7x7 RGB stem "
                              f"'model0.1.weight' (its first keys: {sample})")
    blocks = {int(m.group(1)) for key in state_dict if (m := re.match(r"model2\.(\d+)\.", key))}
    if blocks != set(range(len(blocks))) or not blocks:
        raise NotLineartError(f"{where}: residual blocks {sorted(blocks)} are not 0..N-1")
    return int(stem.shape[0]), len(blocks)


def build_lineart(state_dict: Mapping[str, torch.Tensor], where: str = "the file") -> LineartGenerator:
    """A generator in eval mode, fp32, holding exactly the tensors of ``state_dict``."""
    width, blocks = shape_of(state_dict, where)
    model = LineartGenerator(width, blocks)
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state_dict))
    extra = sorted(set(state_dict) - set(expected))
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}")
    if extra:
        problems.append(f"unexpected {', '.join(extra[:5])}")
    wrong = [f"{k} {tuple(state_dict[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
             if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if wrong:
        problems.append(f"wrong shapes: {', '.join(wrong[:5])}")
    if problems:
        raise NotLineartError(f"{where} does not match the lineart generator layout: " + "; ".join(problems))
    if any(not t.is_floating_point() for t in state_dict.values()):
        raise NotLineartError(f"{where}: holds tensors that are not floating point")
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return model.eval()


def tiny_lineart_state_dict(seed: int = 0, width: int = 4, blocks: int = 3) -> dict[str, torch.Tensor]:
    """Random weights in the released key layout, at a tiny width, for tests and ``--smoke``."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in LineartGenerator(width, blocks).state_dict().items():
        scale = 0.1 if key.endswith("bias") else 1.0 / max(1, value[0].numel()) ** 0.5
        state[key] = torch.randn(value.shape, generator=gen) * scale
    return state


def write_tiny_lineart(path: str | Path, seed: int = 0) -> Path:
    """A tiny generator saved as the pack's files are (a plain ``torch.save`` tensor dict)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_lineart_state_dict(seed), path)
    return path
