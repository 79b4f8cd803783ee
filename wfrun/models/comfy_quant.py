"""ComfyUI's per-layer ("mixed precision") quantized checkpoints: what they hold and how to read them.

Since late 2025 ComfyUI and Comfy-Org's repackaged releases (files named ``*_fp8mixed*``,
``*_nvfp4*``, ``*_mxfp8*``) mark each quantized linear layer ``L`` of a state dict with a
small uint8 tensor ``L.comfy_quant`` holding JSON such as ``{"format": "nvfp4"}``, and
often repeat the list in the safetensors ``__metadata__`` as ``_quantization_metadata``
(``{"layers": {"L": {"format": ...}}}``; ComfyUI turns the metadata into the per-layer tensors
when a file has only it). Layers without a mark are plain tensors, cast to the compute dtype.
The formats ComfyUI's ``QUANT_ALGOS`` names, and what wfrun does with each:

- ``float8_e4m3fn`` / ``float8_e5m2``: ``L.weight`` in that fp8 dtype and one float32
  ``L.weight_scale``; ``W = weight * weight_scale``. An optional ``L.input_scale`` is the
  static activation scale of ComfyUI's fp8 x fp8 matmul; ``full_precision_matrix_mult: true``
  makes ComfyUI compute from the dequantized weight instead. wfrun loads these as it loads
  fp8 "scaled" files (kept fp8 with their scale, or up-cast), so ``input_scale`` is unused.
- ``nvfp4``: ``L.weight`` uint8, two FP4 E2M1 codes per byte (element ``2k`` in the high
  nibble, ``2k+1`` in the low one), rows and columns zero-padded to multiples of 16;
  ``L.weight_scale`` float8_e4m3fn, one per block of 16 elements along a row, in cuBLAS's
  blocked layout; ``L.weight_scale_2`` float32, one per tensor;
  ``W[r, c] = e2m1(code) * weight_scale_2 * block_scale[r, c // 16]``.
- ``mxfp8``: ``L.weight`` float8_e4m3fn, padded to multiples of 32; ``L.weight_scale``
  E8M0 (stored ``F8_E8M0`` or ``U8``), one power of two per block of 32 along a row, in the
  blocked layout; ``W[r, c] = weight[r, c] * 2 ** (e[r, c // 32] - 127)``.
- ``int8_tensorwise`` (with or without a ``convrot`` Hadamard rotation), ``convrot_w4a4``,
  ``asym_w4a8_int8``, ``awq_w4a16``: refused by name (their rotated or codebook weights
  are not the model's weights).

The blocked layout (cuBLAS's scale swizzle for block-scaled matmuls): the ``[rows, blocks]``
scale matrix is zero-padded to multiples of 128 rows and 4 columns and cut into 128 x 4
tiles of 512 bytes, tiles row-major; inside a tile the scale of (row ``r``, column ``c``) is
byte ``(r % 32) * 16 + (r // 32) * 4 + c``.

ComfyUI computes nvfp4 and mxfp8 layers with Blackwell's block-scaled matmuls where it can
and otherwise dequantizes each weight per call. wfrun does one of two things, decided at load
by memory (``comfy_quant_linear.keep_packed``, logged in one line): where the model with its
block-scaled layers dequantized fits the card with wfrun's working margin (``residency``:
``MARGIN_SHARE``, ``MIN_MARGIN``, the ``--gpu-memory`` budget), it dequantizes them once at load
(to the compute dtype, or re-quantizes to per-tensor fp8 when the loader is asked for fp8):
no per-call cost. Where it would not (a 14B model's block linears: 8.5 GiB as NVFP4, 30 GiB
dequantized to bf16, on a 24-32 GB card), the transformer blocks' linears stay packed as
stored (``comfy_quant_linear.PackedLinear``: weight bytes, block scales, ``weight_scale_2``)
and are dequantized by :func:`dequantize` for each call, 0.25 s (NVFP4) / 0.13 s (MXFP8) per
forward of the 40 blocks on an H200; the output is bit for bit the dequantized-at-load one.
A loader may also ask for either (``load_transformer(packed=...)``: block swap wants packed).
The products are formed in float32 and rounded once; ComfyUI's eager dequantizer multiplies in
the compute dtype, which can differ by one rounding of the scales (bf16: at most 0.4 %).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from wfrun.models.header import CheckpointError, TensorInfo

MARK = ".comfy_quant"
METADATA_KEY = "_quantization_metadata"
#: The per-layer tensors of the quantized layers besides the weight (read by name, never mapped).
EXTRA_SUFFIXES = (".weight_scale_2", ".pre_quant_scale", ".weight_zero")

#: A ``comfy_quant`` tensor is a few dozen bytes of JSON; anything far larger is not one.
MAX_MARK_BYTES = 4096

#: FP4 E2M1 values of the codes 0-7 (bit 3 is the sign).
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


@dataclass(frozen=True)
class Format:
    """One format wfrun reads: the weight's stored dtype, its block length and padding."""

    name: str
    weight_dtype: str        # safetensors dtype name of ``L.weight``
    block: int = 0           # elements per block scale along a row (0: one scale per tensor)
    pad: int = 1             # rows and columns padded to a multiple of this
    packed: int = 1          # elements per stored element (2 for FP4)

    @property
    def block_scaled(self) -> bool:
        return self.block > 0

    def storage_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The stored shape of a weight of logical ``shape`` (``[out, in]``)."""
        if not self.block_scaled:
            return tuple(shape)
        rows, cols = shape
        return (_roundup(rows, self.pad), _roundup(cols, self.pad) // self.packed)

    def logical_shape(self, stored: tuple[int, ...]) -> tuple[int, ...]:
        """The padded logical shape a stored weight stands for."""
        if not self.block_scaled or len(stored) != 2:
            return tuple(stored)
        return (stored[0], stored[1] * self.packed)


FORMATS = {
    "float8_e4m3fn": Format("float8_e4m3fn", "F8_E4M3"),
    "float8_e5m2": Format("float8_e5m2", "F8_E5M2"),
    "nvfp4": Format("nvfp4", "U8", block=16, pad=16, packed=2),
    "mxfp8": Format("mxfp8", "F8_E4M3", block=32, pad=32),
}

#: Formats ComfyUI runs that wfrun refuses, and why (said in the refusal).
REFUSED = {
    "int8_tensorwise": "int8 weights",
    "convrot_w4a4": "rotated 4-bit weights",
    "asym_w4a8_int8": "4-bit codebook weights",
    "awq_w4a16": "AWQ 4-bit weights",
}


def _roundup(n: int, m: int) -> int:
    return -(-n // m) * m


# --- what a file declares ----------------------------------------------------------------


def marked_layers(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None) -> set[str]:
    """Layer keys a file marks as quantized (per-layer tensors or the metadata list), from the
    header alone."""
    layers = {k[: -len(MARK)] for k in tensors if k.endswith(MARK)}
    layers.update(_metadata_layers(metadata, None))
    return layers


def _metadata_layers(metadata: Mapping[str, str] | None, path) -> dict[str, dict]:
    raw = (metadata or {}).get(METADATA_KEY)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, dict) or not all(isinstance(v, dict) for v in layers.values()):
        if path is None:
            return {}
        raise CheckpointError(f"{path}: its {METADATA_KEY} metadata is not ComfyUI's "
                              '{"layers": {layer: {"format": ...}}}; the file is damaged or not a ComfyUI file')
    return {str(k): v for k, v in layers.items()}


def infer_format(tensors: Mapping[str, TensorInfo], layer: str) -> Format | None:
    """The format a marked layer's stored dtypes say (header only: detection cannot read the
    JSON), or None when they fit none wfrun reads."""
    weight = tensors.get(f"{layer}.weight")
    scale = tensors.get(f"{layer}.weight_scale")
    if weight is None or scale is None:
        return None
    if weight.dtype == "U8" and f"{layer}.weight_scale_2" in tensors:
        return FORMATS["nvfp4"]
    if weight.dtype in ("F8_E4M3", "F8_E5M2"):
        if scale.numel <= 1:
            return FORMATS["float8_e4m3fn" if weight.dtype == "F8_E4M3" else "float8_e5m2"]
        if scale.dtype in ("F8_E8M0", "U8"):
            return FORMATS["mxfp8"]
    return None


def logical_header(tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str] | None) -> Mapping[str, TensorInfo]:
    """The header as detection should see it: each block-quantized weight with its logical
    (padded) shape and the format's name as its dtype, the marks themselves left out.
    Unchanged (the same object) for files without marks."""
    layers = marked_layers(tensors, metadata)
    if not layers:
        return tensors
    out = {k: v for k, v in tensors.items() if not k.endswith(MARK)}
    for layer in layers:
        fmt = infer_format(tensors, layer)
        key = f"{layer}.weight"
        if fmt is not None and fmt.block_scaled and key in out:
            info = out[key]
            out[key] = TensorInfo(fmt.name.upper(), fmt.logical_shape(info.shape), info.start, info.end)
    return out


# --- what the loader reads -----------------------------------------------------------------


def layer_configs(reader) -> dict[str, dict]:
    """Each marked layer's config (its ``comfy_quant`` JSON, else the metadata entry), every
    one checked against what the file stores; unsupported formats refused by name."""
    path, tensors = reader.path, reader.tensors
    configs = _metadata_layers(reader.metadata, path)
    for key, info in tensors.items():
        if not key.endswith(MARK):
            continue
        layer = key[: -len(MARK)]
        if info.dtype not in ("U8", "I8") or info.numel > MAX_MARK_BYTES or len(info.shape) > 1:
            raise CheckpointError(f"{path}: {key} is not a ComfyUI quantization mark (a short uint8 JSON "
                                  f"tensor; found {info.dtype} {list(info.shape)})")
        raw = bytes(reader.read(key, "cpu").view(torch.uint8).numpy().tobytes())
        try:
            config = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            config = None
        if not isinstance(config, dict):
            raise CheckpointError(f"{path}: {key} does not hold ComfyUI's quantization JSON "
                                  '({"format": ...}); the file is damaged')
        configs[layer] = config  # the per-layer mark wins, as in ComfyUI (it reads the tensor)
    # a listed layer with no weight in the file changes nothing (ComfyUI leaves such marks unused)
    configs = {layer: config for layer, config in configs.items() if f"{layer}.weight" in tensors}
    for layer, config in configs.items():
        check_layer(path, tensors, layer, config)
    return configs


def check_layer(path, tensors: Mapping[str, TensorInfo], layer: str, config: Mapping[str, Any]) -> Format:
    """The layer's format, after checking the file stores what that format needs."""
    name = config.get("format")
    if name in REFUSED:
        extra = ' with a Hadamard "convrot" rotation (its *_int8_convrot files)' if config.get("convrot") else ""
        raise CheckpointError(
            f"{path}: layer {layer} is stored in ComfyUI's {name!r} quantization{extra} ({REFUSED[name]}), "
            "which wfrun cannot load; use the bf16, fp16, fp8, nvfp4 or mxfp8 release of this model")
    fmt = FORMATS.get(name) if isinstance(name, str) else None
    if fmt is None:
        raise CheckpointError(
            f"{path}: layer {layer} is stored in ComfyUI quantization format {name!r}, which wfrun does not know "
            f"(it reads {', '.join(FORMATS)}); use the bf16, fp16 or fp8 release of this model")
    weight = tensors[f"{layer}.weight"]
    needed = ["weight_scale"] + (["weight_scale_2"] if name == "nvfp4" else [])
    missing = [s for s in needed if f"{layer}.{s}" not in tensors]
    if missing:
        raise CheckpointError(f"{path}: layer {layer} is marked {name} but lacks {layer}.{missing[0]}")
    if weight.dtype != fmt.weight_dtype or (fmt.block_scaled and len(weight.shape) != 2):
        raise CheckpointError(f"{path}: layer {layer} is marked {name}, whose weights are stored as "
                              f"{fmt.weight_dtype}{' matrices' if fmt.block_scaled else ''}, but {layer}.weight is "
                              f"{weight.dtype} {list(weight.shape)}")
    scale = tensors[f"{layer}.weight_scale"]
    if fmt.block_scaled:
        rows, cols = fmt.logical_shape(weight.shape)
        want = _roundup(rows, 128) * _roundup(cols // fmt.block, 4)
        dtypes = ("F8_E4M3",) if name == "nvfp4" else ("F8_E8M0", "U8")
        if scale.dtype not in dtypes or scale.numel != want:
            raise CheckpointError(f"{path}: {layer}.weight_scale should hold {want} block scales "
                                  f"({' or '.join(dtypes)}) for a {name} weight of {rows}x{cols}; "
                                  f"found {scale.dtype} {list(scale.shape)}")
        if name == "nvfp4" and tensors[f"{layer}.weight_scale_2"].numel != 1:
            raise CheckpointError(f"{path}: {layer}.weight_scale_2 should be one number (the per-tensor scale)")
    elif scale.numel != 1:
        raise CheckpointError(f"{path}: {layer}.weight_scale should be one number for {name} "
                              f"(ComfyUI's per-tensor fp8); found shape {list(scale.shape)}")
    return fmt


# --- dequantization -------------------------------------------------------------------------


def from_blocked(blocked: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The ``[rows, cols]`` scale matrix from its blocked (swizzled) storage."""
    tiles_r, tiles_c = _roundup(rows, 128) // 128, _roundup(cols, 4) // 4
    # a tile's byte (r % 32) * 16 + (r // 32) * 4 + c  ->  [r % 32, r // 32, c]
    t = blocked.reshape(tiles_r, tiles_c, 32, 4, 4).permute(0, 3, 2, 1, 4)  # [tr, r//32, r%32, tc, c]
    return t.reshape(tiles_r * 128, tiles_c * 4)[:rows, :cols]


def decode_e2m1(packed: torch.Tensor) -> torch.Tensor:
    """float32 values of packed FP4 E2M1 bytes ``[rows, n]`` → ``[rows, 2n]`` (high nibble first)."""
    codes = torch.stack((packed >> 4, packed & 0x0F), dim=-1).reshape(packed.shape[0], -1).long()
    table = torch.tensor(E2M1_VALUES + tuple(-v for v in E2M1_VALUES), dtype=torch.float32, device=packed.device)
    return table[codes]


def dequantize(fmt: Format, weight: torch.Tensor, scale: torch.Tensor, scale_2: torch.Tensor | None,
               shape: tuple[int, int]) -> torch.Tensor:
    """The float32 weight of logical ``shape`` from a layer's stored tensors."""
    if not fmt.block_scaled:
        return weight.float() * scale.float().reshape(())
    if fmt.name == "nvfp4":
        values = decode_e2m1(weight.view(torch.uint8))
        factors = scale.view(torch.float8_e4m3fn).float() * scale_2.float().reshape(())
    else:  # mxfp8: E8M0 exponents
        values = weight.float()
        factors = torch.exp2(scale.view(torch.uint8).float() - 127.0)
    rows, cols = values.shape
    blocks = from_blocked(factors.reshape(-1), rows, cols // fmt.block)
    out = (values.reshape(rows, -1, fmt.block) * blocks.unsqueeze(-1)).reshape(rows, cols)
    return out[: shape[0], : shape[1]].contiguous()
