"""InSPyReNet (SwinB), the salient-object network of the ``transparent-background`` library,
which ComfyUI_essentials' ``TransparentBGSession+`` builds for background removal.

``InSPyReNet`` maps an image normalised with ImageNet's mean and std, at the mode's base
size, to a saliency map in 0..1 of the same size: the Swin backbone (``swin``), five context
modules, a decoder at stride 8, then three SICA stages that each predict a Laplacian level
and reconstruct the next finer saliency map (strides 4, 2, 1) (``heads``). The output is
``sigmoid`` of the finest map, min-max normalised over the whole batch (with 1e-8 in the
denominator), as the library's inference path does with its high-resolution blending off (its
``Remover`` builds the network so).

The three released checkpoints (``ckpt_base.pth``, ``ckpt_fast.pth``,
``ckpt_base_nightly.pth``) share this architecture; they differ in weights and in the base
size the SICA stages pool at (``MODES``). The widths (Swin embedding, depths, heads, window;
the decoder's depth) are read from the weights, so the tiny test files run the same code.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from wfrun.models.inspyrenet.heads import (ContextAttention, ContextModule, PyramidDecoder, gaussian_kernel,
                                           reconstruct)
from wfrun.models.inspyrenet.swin import SwinBackbone, SwinConfig, relative_index

#: The library's modes: checkpoint file name and base size (height, width).
MODES: dict[str, tuple[str, tuple[int, int]]] = {
    "base": ("ckpt_base.pth", (1024, 1024)),
    "fast": ("ckpt_fast.pth", (384, 384)),
    "base-nightly": ("ckpt_base_nightly.pth", (1024, 1024)),
}

#: ImageNet statistics the library normalises with.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class NotInSPyReNetError(ValueError):
    """A state dict that is not an InSPyReNet (SwinB) checkpoint."""


class InSPyReNet(nn.Module):
    def __init__(self, swin: SwinConfig = SwinConfig(), depth: int = 64, base_size: tuple[int, int] = (1024, 1024)):
        super().__init__()
        self.base_size = tuple(base_size)
        self.backbone = SwinBackbone(swin)
        for i, channels in enumerate(swin.out_channels):
            self.add_module(f"context{i + 1}", ContextModule(channels, depth))
        self.decoder = PyramidDecoder(3 * depth, depth)

        def stage(k: int) -> tuple[int, int]:
            return (self.base_size[0] // 2 ** k, self.base_size[1] // 2 ** k)

        self.attention0 = ContextAttention(depth, depth, stage(0), with_laplacian=True)
        self.attention1 = ContextAttention(2 * depth, depth, stage(1), with_laplacian=True)
        self.attention2 = ContextAttention(2 * depth, depth, stage(2), with_laplacian=False)
        self.register_buffer("pyramid_kernel", gaussian_kernel(7, 1.0), persistent=False)

    def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The finest saliency logits [B, 1, H, W]."""
        _, _, h, w = x.shape
        x1, x2, x3, x4, x5 = (getattr(self, f"context{i + 1}")(m) for i, m in enumerate(self.backbone(x)))
        f3, d3 = self.decoder([x3, x4, x5])

        def resize(t: torch.Tensor, size) -> torch.Tensor:
            return nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)

        f3 = resize(f3, (h // 4, w // 4))
        f2, p2 = self.attention2(torch.cat([x2, f3], dim=1), d3)
        d2 = reconstruct(d3, p2, self.pyramid_kernel)
        half = (h // 2, w // 2)
        f1, p1 = self.attention1(torch.cat([resize(x1, half), resize(f2, half)], dim=1), d2, p2)
        d1 = reconstruct(d2, p1, self.pyramid_kernel)
        _, p0 = self.attention0(resize(f1, (h, w)), d1, p1)
        return reconstruct(d1, p0, self.pyramid_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pred = torch.sigmoid(self.saliency_logits(x))
        return (pred - pred.min()) / (pred.max() - pred.min() + 1e-8)


def _ignored(key: str) -> bool:
    """Buffers the files carry that the network computes or never uses."""
    return key.endswith(".num_batches_tracked") or key.endswith(".relative_position_index")


def config_from_state(state: Mapping[str, torch.Tensor]) -> tuple[SwinConfig, int]:
    """The Swin widths and the decoder depth a state dict was saved with."""
    try:
        embed = state["backbone.patch_embed.proj.weight"]
        depth = int(state["context1.branch0.conv.weight"].shape[0])
    except KeyError as err:
        raise NotInSPyReNetError(f"not an InSPyReNet checkpoint: {err.args[0]} is missing") from None
    stages = sorted({int(k.split(".")[2]) for k in state if k.startswith("backbone.layers.")})
    if stages != list(range(len(stages))) or not stages:
        raise NotInSPyReNetError("not an InSPyReNet checkpoint: its backbone has no numbered Swin stages")
    depths, heads, window = [], [], None
    for i in stages:
        prefix = f"backbone.layers.{i}.blocks."
        blocks = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
        depths.append(len(blocks))
        table = state.get(f"{prefix}0.attn.relative_position_bias_table")
        if table is None or table.ndim != 2:
            raise NotInSPyReNetError(f"not an InSPyReNet checkpoint: stage {i} has no relative position table")
        heads.append(int(table.shape[1]))
        side = round(table.shape[0] ** 0.5)
        if side * side != table.shape[0] or side % 2 == 0:
            raise NotInSPyReNetError(f"stage {i}'s relative position table has {table.shape[0]} rows, not (2w-1)^2")
        window = (side + 1) // 2
    cfg = SwinConfig(embed_dim=int(embed.shape[0]), depths=tuple(depths), heads=tuple(heads), window=window,
                     patch=int(embed.shape[-1]))
    return cfg, depth


def tiny_base_size(state: Mapping[str, torch.Tensor]) -> tuple[int, int] | None:
    """The working size a tiny stand-in file declares (``tiny.TINY_BASE_SIZE_KEY``), else None."""
    from wfrun.models.inspyrenet.tiny import TINY_BASE_SIZE_KEY

    value = state.get(TINY_BASE_SIZE_KEY)
    if value is None:
        return None
    if value.shape != (2,) or value.is_floating_point() or int(value.min()) < 32 or int(value.max()) > 4096:
        raise NotInSPyReNetError(f"{TINY_BASE_SIZE_KEY} must hold two whole sizes of 32 to 4096 pixels")
    return (int(value[0]), int(value[1]))


def build_inspyrenet(state: Mapping[str, torch.Tensor], base_size: tuple[int, int], source: str = "the file") -> InSPyReNet:
    """An eval-mode float32 InSPyReNet from a released (or tiny) state dict, every tensor
    checked: nothing missing, nothing unknown, every shape as the widths imply. ``base_size``
    (height, width) is the mode's, unless the file is a tiny stand-in that declares its own
    (``model.base_size`` says which was taken)."""
    from wfrun.models.inspyrenet.tiny import TINY_BASE_SIZE_KEY

    base_size = tiny_base_size(state) or base_size
    state = {k: v for k, v in state.items() if k != TINY_BASE_SIZE_KEY}
    cfg, depth = config_from_state(state)
    if depth % 8:
        raise NotInSPyReNetError(f"{source}: the decoder depth {depth} is not a multiple of 8")
    with torch.device("meta"):
        model = InSPyReNet(cfg, depth, base_size)
    wanted = {k: v for k, v in model.state_dict().items() if not _ignored(k)}
    given = {k: v for k, v in state.items() if not _ignored(k)}
    missing = [k for k in wanted if k not in given]
    unknown = [k for k in given if k not in wanted]
    if missing or unknown:
        what = f"missing {missing[0]}" if missing else f"has an unknown tensor {unknown[0]}"
        raise NotInSPyReNetError(f"{source}: not an InSPyReNet (SwinB) checkpoint: {what} "
                                 f"({len(missing)} missing, {len(unknown)} unknown)")
    for key, like in wanted.items():
        value = given[key]
        if tuple(value.shape) != tuple(like.shape):
            raise NotInSPyReNetError(f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(like.shape)}")
        if not value.is_floating_point():
            raise NotInSPyReNetError(f"{source}: {key} is stored as {value.dtype}, not as floating point")
    for key, value in state.items():  # the stored index must be the one the network computes
        if key.endswith(".relative_position_index") and not torch.equal(value.long(), relative_index(cfg.window)):
            raise NotInSPyReNetError(f"{source}: {key} is not the relative position index of {cfg.window}-token windows")
    model = model.to_empty(device="cpu")
    model.load_state_dict({k: v.float() for k, v in given.items()}, strict=False)
    for name, _ in list(model.named_buffers()):  # what to_empty left uninitialised
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "relative_position_index":
            parent._buffers[leaf] = relative_index(cfg.window)
        elif leaf == "pyramid_kernel":
            parent._buffers[leaf] = gaussian_kernel(7, 1.0)
        elif leaf == "num_batches_tracked":
            parent._buffers[leaf] = torch.tensor(0, dtype=torch.long)
    return model.eval()
