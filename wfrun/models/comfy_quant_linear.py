"""ComfyUI's NVFP4 / MXFP8 layers kept packed in memory, dequantized per call.

A 14B Wan model's block linears are 8.5 GiB as NVFP4 (15.5 GiB as MXFP8) but 30 GiB once
dequantized to bf16 (bench/comfy_quant_dequant.py). Whoever picked such a file for a 24-32 GB
card needs the packed bytes to stay packed: :class:`PackedLinear` holds the stored tensors
(the weight's bytes, the blocked scales, NVFP4's per-tensor ``weight_scale_2``) and, like
ComfyUI's eager path and wfrun's ``Fp8Linear``, builds its weight for each call with the
same ``comfy_quant.dequantize`` the loader uses, rounded once to the input's dtype, so its
output is bit for bit the output of the layer dequantized at load. Dequantizing all 40
blocks takes 0.25 s (NVFP4) / 0.13 s (MXFP8) a forward on an H200; that per-call cost is why
the loader keeps layers packed only when the dequantized model would not fit
(:func:`keep_packed`).

LoRAs (``lora_files.merged``) are not merged into the packed bytes: each adds a *patch*, a
function that makes its fp32 delta on the weight's device, which ``forward`` adds to the
dequantized weight exactly as a merge adds it to a plain weight (``(w.float() + delta)``
rounded to ``w``'s dtype), so a packed layer with a LoRA computes the numbers the
dequantized one merged with it does, while only the LoRA's factors stay in memory (ComfyUI
patches weights per call the same way for models that do not fit, its "lowvram" patches).
A LoRA merged for good at load (the wrapper's ``add_delta``, through ``lora_files.with_delta``)
dequantizes that one layer instead: its merged weight is kept in the compute dtype.

``--fast`` (``fp8.use_fp8_matmuls``) leaves packed layers alone (it converts only plain
``nn.Linear`` and ``Fp8Linear``): re-quantizing them to fp8 would double an NVFP4 model's
memory, the thing keeping them packed is for.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models import comfy_quant
from wfrun.models.fp8 import _moved

log = logging.getLogger(__name__)

#: The torch dtype each format's weight is stored in.
STORED_DTYPES = {"nvfp4": torch.uint8, "mxfp8": torch.float8_e4m3fn}

#: A LoRA patch: the fp32 delta of the layer's logical weight, made on the given device.
Patch = Callable[[torch.device], torch.Tensor]


class PackedLinear(nn.Linear):
    """``nn.Linear`` whose ``weight`` holds a block-quantized layer as stored (NVFP4: uint8,
    two codes a byte; MXFP8: float8_e4m3fn), padded; ``weight_scale`` its blocked scales,
    ``weight_scale_2`` NVFP4's per-tensor scale. ``logical_shape`` is ``[out, in]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool, fmt: comfy_quant.Format,
                 compute_dtype: torch.dtype = torch.bfloat16, device=None):
        super().__init__(in_features, out_features, bias=bias, device=device)
        self.fmt = fmt
        self.logical_shape = (out_features, in_features)
        #: the dtype the model computes in (a weight merged with a LoRA at load is kept in it)
        self.compute_dtype = compute_dtype
        self.stored_dtype = STORED_DTYPES[fmt.name]
        self.register_buffer("weight_scale", torch.empty(0, device=device))
        if fmt.name == "nvfp4":
            self.register_buffer("weight_scale_2", torch.ones((), dtype=torch.float32, device=device))
        else:
            self.weight_scale_2 = None
        #: LoRA patches (``lora_files``), applied in order at each call
        self.patches: tuple[Patch, ...] = ()

    def dequantized_weight(self, dtype: torch.dtype) -> torch.Tensor:
        """The layer's weight in ``dtype``: the float32 dequantization rounded once, then each
        patch added in float32 and rounded again (a merge's arithmetic, patch by patch)."""
        if self.weight.dtype == self.stored_dtype:
            weight = comfy_quant.dequantize(self.fmt, self.weight, self.weight_scale, self.weight_scale_2,
                                            self.logical_shape).to(dtype)
        else:  # dequantized and merged with a LoRA for good (``lora_files.with_delta``)
            weight = self.weight.to(dtype)
        for patch in self.patches:
            weight = (weight.float() + patch(weight.device)).to(dtype)
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantized_weight(x.dtype), bias)

    def _apply(self, fn, recurse=True):
        """``.to(device, dtype)`` moves the stored tensors but keeps their dtypes (the packed
        bytes, the fp8 / E8M0 scales, the fp32 per-tensor scale); only the bias follows ``fn``."""
        kept = {"weight": self._parameters["weight"]}
        self._parameters["weight"] = None
        for name in ("weight_scale", "weight_scale_2"):
            if self._buffers.get(name) is not None:
                kept[name] = self._buffers[name]
                self._buffers[name] = None
        try:
            super()._apply(fn, recurse)
        finally:
            self._parameters["weight"] = kept.pop("weight")
            self._buffers.update(kept)
        weight = self._parameters["weight"]
        if weight is not None:
            moved = _moved(weight, fn)
            if moved is not weight:
                self._parameters["weight"] = nn.Parameter(moved, requires_grad=False)
        for name in kept:
            self._buffers[name] = _moved(self._buffers[name], fn)
        for patch in self.patches:  # LoRA factors go where the layer goes (lora_files.LoraPatch)
            if hasattr(patch, "moved"):
                patch.moved(fn)
        return self

    def extra_repr(self) -> str:
        patches = f", {len(self.patches)} LoRA patches" if self.patches else ""
        return f"{super().extra_repr()}, {self.fmt.name} packed{patches}"


def swap_in(model: nn.Module, names: dict[str, comfy_quant.Format], compute_dtype: torch.dtype) -> None:
    """Replace the ``nn.Linear`` at each module name by a :class:`PackedLinear` (on meta)."""
    for name, fmt in names.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, child)
        setattr(parent, child, PackedLinear(old.in_features, old.out_features, old.bias is not None, fmt,
                                            compute_dtype, device="meta"))


def has_packed(model: nn.Module) -> bool:
    """Whether any layer of ``model`` is kept packed."""
    return any(isinstance(m, PackedLinear) for m in model.modules())


# --- when to keep packed ----------------------------------------------------------------------


def keep_packed(dequantized_bytes: int, device: Any) -> tuple[bool, str]:
    """Whether to keep a model's block-quantized layers packed, and why (one line).

    The rule: packed when the model with those layers dequantized (``dequantized_bytes``)
    and wfrun's working margin (``residency``: ``MARGIN_SHARE`` of the card, at least
    ``MIN_MARGIN``) would not fit the room the card gives wfrun: its free memory plus what
    this process already holds there (resident models are sent back to make room), within
    the ``--gpu-memory`` budget when one is set. The card is ``device`` when it is a CUDA
    device, else the current CUDA device (a model loaded into host memory is sampled
    there); with no GPU, a budget stands for the card (it says "decide as on a card this
    size"), and with neither nothing is short of room: dequantized at load (no per-call
    cost). A model loaded into host memory for block swap should be kept packed whatever
    the card (its blocks then cross PCIe packed, 3.5x fewer bytes): its loader says so
    with ``load_transformer(packed=True)``."""
    from wfrun.models import residency

    device = torch.device(device)
    card = device if device.type == "cuda" else (torch.device("cuda", torch.cuda.current_device())
                                                 if torch.cuda.is_available() else None)
    budget = residency._BUDGET
    if card is not None:
        free, total = residency.free_memory(card)
        room = free + int(torch.cuda.memory_reserved(card))
        if budget is not None:
            room = min(room, budget)
        where = f"{card}" + (f" within the {_size(budget)} budget" if budget is not None else "")
    elif budget is not None:
        room = total = budget
        where = f"the {_size(budget)} GPU budget"
    else:
        return False, "dequantized at load: no GPU, and no --gpu-memory budget to stand for one"
    margin = max(residency.MIN_MARGIN, int(residency.MARGIN_SHARE * total))
    sizes = f"{_size(dequantized_bytes)} + {_size(margin)} margin"
    if dequantized_bytes + margin > room:
        return True, f"kept packed, dequantized per call: dequantized, {sizes} would not fit the {_size(room)} of {where}"
    return False, f"dequantized at load: {sizes} fit the {_size(room)} of {where}"


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"
