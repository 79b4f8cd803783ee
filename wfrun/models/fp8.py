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

Fast fp8 (``fp8_e4m3fn_fast`` in a workflow, ``wfrun run --fast``): the layer's matmul runs
in fp8 itself (``torch._scaled_mm``, Hopper's and Ada's fp8 tensor cores) instead of
up-casting the weight. The activations are quantized per row (one scale per token, from the
row's absolute maximum) and the weights keep their stored fp8 values with their per-tensor
or per-row scales. The packs do the same matmul with the activations merely clamped to the
fp8 range (scale 1): per-row scales lose far less of small activations, at no cost in speed
once ``torch.compile`` fuses the quantization into the preceding kernel.
"""

from __future__ import annotations

import re
from typing import Any

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
        #: run the matmul in fp8 (``scaled_fp8_linear``); set by :func:`use_fp8_matmuls`
        self.fast = False

    def dequantized_weight(self, dtype: torch.dtype) -> torch.Tensor:
        if self.weight_scale is None:
            return self.weight.to(dtype)
        scale = self.weight_scale
        if scale.ndim == 1 and scale.numel() == self.out_features:
            scale = scale[:, None]
        return (self.weight.float() * scale).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast:
            return scaled_fp8_linear(x, self.weight, self.weight_scale, self.bias)
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
        fast = ", fp8 matmul" if self.fast else ""
        return f"{super().extra_repr()}, storage={str(self.storage).removeprefix('torch.')}{scaled}{fast}"


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


#: Hopper's fast fp8 accumulation (partial sums promoted to fp32 less often), as torchao's
#: float8 inference uses by default; a switch so benchmarks can weigh it.
FAST_ACCUM = True


def scaled_fp8_linear(x: torch.Tensor, weight: torch.Tensor, weight_scale: torch.Tensor | None,
                      bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ (weight * weight_scale).T + bias`` as one fp8 x fp8 matmul: ``x`` quantized to
    float8_e4m3fn per row (scale = row amax / 448), ``weight`` ([N, K] float8_e4m3fn) used as
    stored with its scale (none, per tensor, or per output row). Accumulates in fp32 and
    returns ``x``'s dtype. ``torch._scaled_mm`` takes row-wise scales with a bf16 result
    only, so the result passes through bf16 (an fp16 model loses nothing it would keep: the
    packs' fp8 matmul rounds through its compute dtype the same way)."""
    shape = x.shape
    rows = x.reshape(-1, shape[-1])
    scale_a = (rows.abs().amax(dim=1, keepdim=True).float() / FP8_MAX[torch.float8_e4m3fn]).clamp_min(1e-12)
    quantized = (rows.float() / scale_a).clamp(-FP8_MAX[torch.float8_e4m3fn], FP8_MAX[torch.float8_e4m3fn])
    out_features = weight.shape[0]
    if weight_scale is None:
        scale_b = torch.ones((1, out_features), dtype=torch.float32, device=weight.device)
    else:
        scale_b = weight_scale.float().reshape(1, -1).expand(1, out_features).contiguous()
    out = torch._scaled_mm(quantized.to(torch.float8_e4m3fn), weight.t(), scale_a=scale_a, scale_b=scale_b,
                           bias=None if bias is None else bias.to(torch.bfloat16), out_dtype=torch.bfloat16,
                           use_fast_accum=FAST_ACCUM and x.is_cuda)
    return out.to(x.dtype).reshape(*shape[:-1], out_features)


def fp8_matmul_supported(device: Any) -> bool:
    """Whether ``torch._scaled_mm`` runs on ``device``: CUDA GPUs of compute capability 8.9
    or newer (Ada, Hopper, Blackwell), and the CPU (slow there, but exact: tests use it)."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


#: Linears whose matmul may run in fp8: the blocks' attention projections and FFN (the
#: layers the loaders keep in fp8). Embedders and the output head stay as they are, as in the packs.
FAST_LINEARS = re.compile(r"^(vace_)?blocks\.\d+\.(attn1|attn2|ffn)\.")


def use_fp8_matmuls(model: nn.Module, *, skip_ffn: bool = False) -> int:
    """Make the transformer's block linears run fp8 x fp8 matmuls; returns how many do.

    An ``Fp8Linear`` already stored in float8_e4m3fn keeps its weight exactly. A plain
    ``nn.Linear`` (a bf16 or fp16 model) is quantized here, one layer at a time, with one
    scale per output row (row amax / 448), so only one layer's extra copy exists at once.
    e5m2 weights keep the up-cast path. ``skip_ffn``: the packs' ``_fast_no_ffn`` choice."""
    count = 0
    for name, module in list(model.named_modules()):
        if not FAST_LINEARS.search(name) or (skip_ffn and ".ffn." in name):
            continue
        if isinstance(module, Fp8Linear):
            if module.storage == torch.float8_e4m3fn and module.weight.device.type != "meta":
                module.fast = True
                count += 1
            continue
        if type(module) is not nn.Linear:  # GGUF and other quantized layers keep their own path
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _row_scaled_fp8(module))
        count += 1
    return count


def _row_scaled_fp8(linear: nn.Linear) -> Fp8Linear:
    """``linear`` as an ``Fp8Linear`` with one scale per output row, marked fast."""
    weight = linear.weight.detach()
    limit = FP8_MAX[torch.float8_e4m3fn]
    scale = (weight.float().abs().amax(dim=1) / limit).clamp_min(1e-12)
    layer = Fp8Linear(linear.in_features, linear.out_features, linear.bias is not None, torch.float8_e4m3fn,
                      scaled=True, device="meta")
    layer._parameters["weight"] = nn.Parameter(
        (weight.float() / scale[:, None]).clamp(-limit, limit).to(torch.float8_e4m3fn), requires_grad=False)
    layer._buffers["weight_scale"] = scale
    if linear.bias is not None:
        layer._parameters["bias"] = nn.Parameter(linear.bias.detach(), requires_grad=False)
    layer.fast = True
    return layer
