"""A tiny random Depth Anything V2 checkpoint, in the pack's real key layout.

Workflows name the real files (``depth_anything_v2_vitl_fp32.safetensors`` by default), so
the tiny file is written under such a name and tests and demos run those workflows unchanged.
What it *is* is read from its weights, not from its name: its embedding width is 32, which
``configs/tiny.json`` claims (no real Depth Anything V2 has it: they are 384, 768, 1024 and
1536), so the loader builds a 4-block, 2-head model for it whatever the file is called.

The tensors are generated here from the *original* module structure (DINOv2 ``pretrained.*``
plus the DPT head ``depth_head.*``), independently of the key converter, so that a test
loading this file checks the converter against the real layout rather than against itself.
Weights are scaled so the random network produces a varied, mostly positive depth map (the
relative head ends in a ReLU; an all-zero map would hide bugs).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

#: Shape of the tiny model, in the original code's terms.
EMBED_DIM = 32
DEPTH = 4
MLP_RATIO = 4
FEATURES = 16
OUT_CHANNELS = (8, 16, 32, 32)
HEAD_FEATURES_2 = 32  # fixed in the original DPT head
IMG_SIZE, PATCH = 518, 14  # the original's position table: 37 x 37 + 1

DEFAULT_NAME = "depth_anything_v2_vitl_fp32.safetensors"


def original_layout(embed_dim: int, depth: int, features: int, out_channels: tuple[int, ...],
                    *, mlp_ratio: int = 4, swiglu: bool = False, img_size: int = IMG_SIZE,
                    patch: int = PATCH) -> dict[str, tuple[int, ...]]:
    """Names and shapes of an original Depth Anything V2 state dict (``DepthAnythingV2`` of the
    pack's ``dpt.py``: relative or metric, no batch norm, no class-token readout)."""
    d, grid = embed_dim, img_size // patch
    shapes: dict[str, tuple[int, ...]] = {}

    def module(name: str, weight: tuple[int, ...], bias: bool = True) -> None:
        shapes[f"{name}.weight"] = weight
        if bias:
            shapes[f"{name}.bias"] = (weight[1] if name.startswith("depth_head.resize_layers.")
                                      and name[-1] in "01" else weight[0],)

    shapes["pretrained.cls_token"] = (1, 1, d)
    shapes["pretrained.pos_embed"] = (1, grid * grid + 1, d)
    shapes["pretrained.mask_token"] = (1, d)
    module("pretrained.patch_embed.proj", (d, 3, patch, patch))
    hidden = mlp_ratio * d
    for i in range(depth):
        block = f"pretrained.blocks.{i}"
        module(f"{block}.norm1", (d,))
        module(f"{block}.attn.qkv", (3 * d, d))
        module(f"{block}.attn.proj", (d, d))
        shapes[f"{block}.ls1.gamma"] = (d,)
        module(f"{block}.norm2", (d,))
        if swiglu:
            inner = (int(hidden * 2 / 3) + 7) // 8 * 8
            module(f"{block}.mlp.w12", (2 * inner, d))
            module(f"{block}.mlp.w3", (d, inner))
        else:
            module(f"{block}.mlp.fc1", (hidden, d))
            module(f"{block}.mlp.fc2", (d, hidden))
        shapes[f"{block}.ls2.gamma"] = (d,)
    module("pretrained.norm", (d,))

    head = "depth_head"
    c = out_channels
    for i, channels in enumerate(c):
        module(f"{head}.projects.{i}", (channels, d, 1, 1))
    module(f"{head}.resize_layers.0", (c[0], c[0], 4, 4))  # ConvTranspose2d: (in, out, k, k)
    module(f"{head}.resize_layers.1", (c[1], c[1], 2, 2))
    module(f"{head}.resize_layers.3", (c[3], c[3], 3, 3))
    for i, channels in enumerate(c, start=1):
        module(f"{head}.scratch.layer{i}_rn", (features, channels, 3, 3), bias=False)
    for i in range(1, 5):
        net = f"{head}.scratch.refinenet{i}"
        module(f"{net}.out_conv", (features, features, 1, 1))
        for unit in ("resConfUnit1", "resConfUnit2"):
            module(f"{net}.{unit}.conv1", (features, features, 3, 3))
            module(f"{net}.{unit}.conv2", (features, features, 3, 3))
    module(f"{head}.scratch.output_conv1", (features // 2, features, 3, 3))
    module(f"{head}.scratch.output_conv2.0", (HEAD_FEATURES_2, features // 2, 3, 3))
    module(f"{head}.scratch.output_conv2.2", (1, HEAD_FEATURES_2, 1, 1))
    return shapes


def tiny_depth_anything_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the original Depth Anything V2 key names and tiny shapes."""
    gen = torch.Generator().manual_seed(seed)

    def randn(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    sd: dict[str, torch.Tensor] = {}
    for name, shape in original_layout(EMBED_DIM, DEPTH, FEATURES, OUT_CHANNELS).items():
        if name == "pretrained.mask_token":
            value = torch.zeros(shape)
        elif name in ("pretrained.cls_token", "pretrained.pos_embed"):
            value = randn(shape) * 0.5
        elif name.endswith(".gamma"):  # layer scale
            value = 0.5 + 0.1 * randn(shape)
        elif ".norm" in name:  # layer norms: around identity
            value = (1.0 if name.endswith(".weight") else 0.0) + 0.1 * randn(shape)
        elif name.endswith(".bias"):
            value = 0.02 * randn(shape)
        else:
            gain = 0.5 if ".resConfUnit" in name else 1.5 if "output_conv2.0" in name else 1.0
            value = randn(shape) * gain / math.sqrt(math.prod(shape[1:]))
        sd[name] = value
    sd["depth_head.scratch.output_conv2.2.bias"] = torch.tensor([1.0])  # mostly positive depth
    return sd


def write_tiny_depth_anything(root: Path, name: str = DEFAULT_NAME, *, seed: int = 0,
                              dtype: torch.dtype = torch.float32) -> Path:
    """Write ``<root>/depthanything/<name>`` (about 0.4 MB) and return its path.

    ``root`` is a ComfyUI-style models folder. The file opens as the ``tiny`` variant (see the
    module docstring) under any name, ``vitl`` or ``metric`` names included.
    """
    from safetensors.torch import save_file

    path = Path(root) / "depthanything" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to(dtype).contiguous() for k, v in tiny_depth_anything_state_dict(seed).items()}
    save_file(tensors, str(path))
    return path
