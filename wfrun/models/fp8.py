"""Linear layers that keep fp8 weights in memory and compute in the activations' dtype.

A 14B transformer is 28 GB in bf16 and 14 GB in fp8; most users run the fp8 files. Each
``Fp8Linear`` up-casts its own weight (times its scale, for "scaled" files) just for its
own matmul, so only one layer's weight exists in bf16 at a time.

Why not diffusers' ``enable_layerwise_casting``: it casts every parameter of a matched layer
to the storage dtype, biases included (Kijai's and ComfyUI's files keep biases in bf16, so
that would lose precision); it has no place for a per-layer scale, so scaled files would
be wrong; and a hook that casts weights in place makes ``module.weight.dtype`` flip during
the forward, which transformers' UMT5 reads to decide what dtype to feed ``wo``.

The up-cast is ``(weight.float() * scale).to(dtype)``: one rounding per element. Rounding
a small per-tensor scale to bf16 first would bias the whole layer by up to 0.4 %.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FP8_DTYPES = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e5m2: 57344.0}


class Fp8Linear(nn.Linear):
    """``nn.Linear`` whose ``weight`` is stored in fp8; ``weight_scale`` (fp32) is optional."""

    def __init__(self, in_features: int, out_features: int, bias: bool, storage: torch.dtype,
                 scaled: bool = False, device=None):
        super().__init__(in_features, out_features, bias=bias, device=device)
        self.storage = storage
        if scaled:
            self.register_buffer("weight_scale", torch.ones((), dtype=torch.float32, device=device))
        else:
            self.weight_scale = None

    def dequantized_weight(self, dtype: torch.dtype) -> torch.Tensor:
        if self.weight_scale is None:
            return self.weight.to(dtype)
        scale = self.weight_scale
        if scale.ndim == 1 and scale.numel() == self.out_features:
            scale = scale[:, None]
        return (self.weight.float() * scale).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantized_weight(x.dtype), bias)

    def _apply(self, fn, recurse=True):
        """``.to(device, dtype)`` on the model moves this layer's weight and scale but keeps
        their dtypes: the weight stays fp8 (no bf16 copy of it is ever made) and the fp32
        scale is not rounded through the model's dtype. Only the bias follows ``fn``."""
        # None entries are skipped by Module._apply and keep their place in the state dict
        kept = {"weight": self._parameters["weight"]}
        self._parameters["weight"] = None
        if "weight_scale" in self._buffers:
            kept["weight_scale"] = self._buffers["weight_scale"]
            self._buffers["weight_scale"] = None
        try:
            super()._apply(fn, recurse)
        finally:
            self._parameters["weight"] = kept["weight"]
            if "weight_scale" in kept:
                self._buffers["weight_scale"] = kept["weight_scale"]
        weight = kept["weight"]
        if weight is not None:
            moved = _moved(weight, fn)
            if moved is not weight:
                self._parameters["weight"] = nn.Parameter(moved, requires_grad=False)
        if kept.get("weight_scale") is not None:
            self._buffers["weight_scale"] = _moved(kept["weight_scale"], fn)
        return self

    def extra_repr(self) -> str:
        scaled = ", scaled" if self.weight_scale is not None else ""
        return f"{super().extra_repr()}, storage={str(self.storage).removeprefix('torch.')}{scaled}"


def _moved(tensor: torch.Tensor, fn) -> torch.Tensor:
    """``tensor`` on the device ``fn`` would send it to, in its own dtype.

    ``fn`` is what ``Module._apply`` received (a ``.to``/``.cuda``/``.half`` closure); asking
    it about an empty tensor of the same dtype and device tells where it goes without
    converting the real one."""
    probe = fn(torch.empty(0, dtype=tensor.dtype, device=tensor.device))
    if probe.device == tensor.device:
        return tensor
    return tensor.to(probe.device)


def swap_in(model: nn.Module, names: dict[str, tuple[torch.dtype, bool]]) -> None:
    """Replace the ``nn.Linear`` at each name by an ``Fp8Linear`` (on the meta device)."""
    for name, (storage, scaled) in names.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, child)
        new = Fp8Linear(old.in_features, old.out_features, old.bias is not None, storage, scaled, device="meta")
        setattr(parent, child, new)


def quantize(weight: torch.Tensor, storage: torch.dtype) -> torch.Tensor:
    """A plain (unscaled) fp8 cast, as Kijai's loader does; clamped so nothing becomes NaN."""
    limit = FP8_MAX[storage]
    return weight.float().clamp(-limit, limit).to(storage)
