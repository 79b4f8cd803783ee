"""Tiny checkpoints in ComfyUI's per-layer quantized layouts (``models.comfy_quant``).

Writes what Comfy-Org's ``*_fp8mixed*`` / ``*_nvfp4*`` / ``*_mxfp8*`` releases hold: the
marked layers quantized the way ComfyUI's quantizers do it (per-tensor fp8 from the absolute
maximum; NVFP4 with an fp8 scale per 16 elements under a per-tensor scale; MXFP8 with a
power-of-two scale per 32 elements, rounded up), each with its ``comfy_quant`` JSON tensor,
the list repeated in the ``_quantization_metadata`` header entry, and the layers it leaves
alone kept as stored ("mixed"). Tests read these back through the real loader and compare
with a decoding written out by hand.
"""

from __future__ import annotations

import json
from typing import Mapping

import torch

from wfrun.models.comfy_quant import E2M1_VALUES, FORMATS, MARK, METADATA_KEY

#: tiny-file precision name → ComfyUI format of the marked layers
PRECISIONS = {"fp8mixed": "float8_e4m3fn", "fp8mixed_e5m2": "float8_e5m2", "nvfp4": "nvfp4", "mxfp8": "mxfp8"}

FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e5m2: 57344.0}


def to_blocked(scales: torch.Tensor) -> torch.Tensor:
    """A ``[rows, blocks]`` uint8 scale matrix in cuBLAS's blocked layout (zero-padded to 128 x 4
    tiles), shaped ``[padded rows, padded blocks]`` as ComfyUI saves it."""
    rows, cols = scales.shape
    pr, pc = -(-rows // 128) * 128, -(-cols // 4) * 4
    padded = torch.zeros(pr, pc, dtype=scales.dtype, device=scales.device)
    padded[:rows, :cols] = scales
    tiles = padded.reshape(pr // 128, 4, 32, pc // 4, 4).permute(0, 3, 2, 1, 4)  # [tr, tc, r%32, r//32, c]
    return tiles.contiguous().reshape(pr, pc)


def _pad(w: torch.Tensor, multiple: int) -> torch.Tensor:
    rows, cols = w.shape
    return torch.nn.functional.pad(w, (0, -cols % multiple, 0, -rows % multiple))


def quantize_fp8(w: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    scale = w.abs().amax().float() / FP8_MAX[dtype]
    q = (w.float() / scale).clamp(-FP8_MAX[dtype], FP8_MAX[dtype]).to(dtype)
    return {"weight": q, "weight_scale": scale.reshape(())}


def _e2m1_codes(x: torch.Tensor) -> torch.Tensor:
    """Nearest FP4 E2M1 code of each value (already scaled into [-6, 6])."""
    table = torch.tensor(E2M1_VALUES, device=x.device)
    index = (x.abs().unsqueeze(-1) - table).abs().argmin(dim=-1)
    return (index | ((x < 0).long() << 3)).to(torch.uint8)


def quantize_nvfp4(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x = _pad(w.float(), 16)
    rows, cols = x.shape
    tensor_scale = w.abs().amax().float() / (448.0 * 6.0)
    blocks = x.reshape(rows, cols // 16, 16)
    block_scale = (blocks.abs().amax(-1) / 6.0 / tensor_scale).clamp(max=448.0).to(torch.float8_e4m3fn)
    total = (block_scale.float() * tensor_scale).unsqueeze(-1)
    scaled = torch.where(total > 0, blocks / torch.where(total > 0, total, 1.0), 0.0).clamp(-6.0, 6.0)
    codes = _e2m1_codes(scaled.reshape(rows, cols))
    packed = (codes[:, 0::2] << 4) | codes[:, 1::2]
    return {"weight": packed, "weight_scale": to_blocked(block_scale.view(torch.uint8)).view(torch.float8_e4m3fn),
            "weight_scale_2": tensor_scale.reshape(())}


def quantize_mxfp8(w: torch.Tensor, scale_dtype: torch.dtype = torch.float8_e8m0fnu) -> dict[str, torch.Tensor]:
    x = _pad(w.float(), 32)
    rows, cols = x.shape
    blocks = x.reshape(rows, cols // 32, 32)
    amax = blocks.abs().amax(-1)
    exponent = torch.ceil(torch.log2((amax / 448.0).clamp(min=2.0 ** -127))).long() + 127
    exponent = torch.where(amax > 0, exponent.clamp(0, 254), 0)
    q = (blocks / torch.exp2(exponent.float() - 127).unsqueeze(-1)).clamp(-448.0, 448.0)
    q = torch.where((amax > 0).unsqueeze(-1), q, 0.0).reshape(rows, cols).to(torch.float8_e4m3fn)
    return {"weight": q, "weight_scale": to_blocked(exponent.to(torch.uint8)).view(scale_dtype)}


def quantize_layer(w: torch.Tensor, fmt: str, scale_dtype: torch.dtype = torch.float8_e8m0fnu) -> dict[str, torch.Tensor]:
    """The stored tensors (by suffix) of one linear weight in ``fmt``."""
    if fmt == "nvfp4":
        return quantize_nvfp4(w)
    if fmt == "mxfp8":
        return quantize_mxfp8(w, scale_dtype)
    return quantize_fp8(w, torch.float8_e4m3fn if fmt == "float8_e4m3fn" else torch.float8_e5m2)


def mark(config: Mapping) -> torch.Tensor:
    """A ``comfy_quant`` tensor: the layer's JSON as uint8 bytes."""
    return torch.tensor(list(json.dumps(dict(config)).encode("utf-8")), dtype=torch.uint8)


def quantize_state(sd: Mapping[str, torch.Tensor], fmt: str, eligible, rest: torch.dtype = torch.bfloat16, *,
                   keep=lambda key: False, marks: bool = True, input_scale: bool = False,
                   scale_dtype: torch.dtype = torch.float8_e8m0fnu) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``sd`` with each ``eligible`` weight (a regex) quantized in ``fmt`` unless ``keep(key)``;
    everything else cast to ``rest``. Returns the tensors and the ``__metadata__`` entry.
    ``marks=False`` leaves the per-layer tensors out (the metadata alone says which layers)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown ComfyUI quantization format {fmt!r}")
    out: dict[str, torch.Tensor] = {}
    layers: dict[str, dict] = {}
    for key, value in sd.items():
        if eligible.fullmatch(key) and not keep(key):
            layer = key.removesuffix(".weight")
            for suffix, tensor in quantize_layer(value, fmt, scale_dtype).items():
                out[f"{layer}.{suffix}"] = tensor
            if input_scale:
                out[f"{layer}.input_scale"] = torch.ones((), dtype=torch.float32)
            layers[layer] = {"format": fmt}
            if marks:
                out[layer + MARK] = mark(layers[layer])
        else:
            out[key] = value.to(rest)
    return out, {METADATA_KEY: json.dumps({"layers": layers})}


def prefixed(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
             prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Both under ``prefix`` (ComfyUI's ``model.diffusion_model.``): layer names in the metadata
    are full state-dict keys."""
    layers = json.loads(metadata[METADATA_KEY])["layers"]
    meta = dict(metadata, **{METADATA_KEY: json.dumps({"layers": {prefix + k: v for k, v in layers.items()}})})
    return {prefix + k: v for k, v in tensors.items()}, meta
