"""Loading single-file checkpoints into diffusers and transformers modules, offline.

Every loader does the same five steps, so they share one implementation:

1. detect what the file is from its header (``detect``), refusing the wrong kind;
2. build the module's config from the bundled JSON and the dimensions in the header;
3. create the module on the ``meta`` device (no memory), and plan where every tensor of
   the file goes, checking names and shapes before reading any weight;
4. swap in ``Fp8Linear`` where fp8 weights stay fp8, ``PackedLinear`` where ComfyUI's NVFP4 /
   MXFP8 block linears stay packed (``comfy_quant_linear``: when dequantized they would not fit);
5. read the file one tensor at a time, straight to ``device``, convert it, and *assign* it
   as the parameter (no copy into a pre-allocated module, no full fp32 copy anywhere).

Parameter dtypes follow the libraries' own ``from_pretrained`` rules, so a loaded module
is the one diffusers/transformers would give for the same weights: diffusers keeps the
``_keep_in_fp32_modules`` of a model (Wan: norms, time embedder, modulation tables) in
fp32 for any lower dtype; transformers does so for ``_keep_in_fp32_modules`` only in fp16
(UMT5: ``wo``) and for ``_keep_in_fp32_modules_strict`` in fp16 and bf16.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from wfrun.models.meta_init import empty_weights
from wfrun.models import comfy_quant, comfy_quant_linear, convert_clip, convert_t5, convert_transformer, convert_vae
from wfrun.models.detect import PART_OF, ModelInfo, identify, identify_part, require_kind
from wfrun.models.families import transformer_family
from wfrun.models.fp8 import FP8_DTYPES, quantize, swap_in
from wfrun.models.header import CheckpointError
from wfrun.models.mapping import Plan, build_plan, check_plan
from wfrun.models.reader import TORCH_DTYPES, CheckpointReader, open_checkpoint
from wfrun.models.wan_extra_parts import extra_parts

log = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
          "fp16_fast": torch.float16, "fp32": torch.float32, "float32": torch.float32}
_STORED = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def load_transformer(path: str | Path, *, dtype: Any = None, device: Any = "cpu", quantization: str | None = "auto",
                     num_heads: int | None = None, allow_pickle: bool | None = None,
                     vace_modules: tuple[str | Path, ...] = (), packed: bool | None = None):
    """A Wan transformer file (Kijai's or ComfyUI's layout, fp8 or not, or the transformer of an
    all-in-one checkpoint) as a diffusers ``WanTransformer3DModel`` — every Wan 2.1 and 2.2
    family diffusers has a module for (T2V, I2V, FLF2V, Fun InP/Control, the Wan 2.2 A14B
    experts, TI2V-5B) — or, for VACE, a ``WanVACETransformer3DModel``; for Wan 2.2 Animate a
    ``WanAnimateTransformer3DModel``.

    ``dtype`` is the compute dtype (default: the file's, or bf16 for fp8 files).
    ``quantization``: ``"auto"`` keeps fp8 weights as stored; ``"fp8_e4m3fn"``/``"fp8_e5m2"``
    stores the block linears in that format; ``"none"`` up-casts everything.
    ``vace_modules``: VACE module files laid over a T2V model (``models.vace_module``).
    ``packed``: for ComfyUI's NVFP4 / MXFP8 files, keep the block linears packed (True),
    dequantize them at load (False), or decide by memory (None, ``comfy_quant_linear.keep_packed``).
    """
    from wfrun.models.vace_module import open_with_modules

    with open_with_modules(path, vace_modules, allow_pickle=allow_pickle) as reader:
        info = _identify(reader, "wan_transformer")
        config = loadable_config(info, num_heads)
        parts = extra_parts(info.config)
        return _load(reader, info, lambda: convert_transformer.build(config, parts), convert_transformer.rename,
                     convert_transformer.label_for(config), convert_transformer.FP8_MODULES, dtype, device,
                     quantization, packed)


def load_vae(path: str | Path, *, dtype: Any = None, device: Any = "cpu", quantization: str | None = None,
             allow_pickle: bool | None = None):
    """A Wan 2.1 or Wan 2.2 VAE file (or the VAE of an all-in-one checkpoint) as a diffusers
    ``AutoencoderKLWan``: 16 latent channels at 4x8x8, or 48 at 4x16x16 (``is_residual``).

    ``quantization`` is accepted so every loader takes the same options, and checked, but a
    VAE is always computed from up-cast weights (fp8 VAE files are up-cast on load)."""
    _storage_policy(quantization)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        info = _identify(reader, "wan_vae")
        config = loadable_config(info)
        return _load(reader, info, lambda: convert_vae.build(config), convert_vae.rename_for(info, reader.tensors),
                     convert_vae.LABEL, None, dtype, device, "none")


def load_text_encoder(path: str | Path, *, dtype: Any = None, device: Any = "cpu", quantization: str | None = "auto",
                      allow_pickle: bool | None = None):
    """A UMT5-XXL encoder file (Kijai's Wan names or ComfyUI's transformers names) as ``UMT5EncoderModel``."""
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        info = _identify(reader, "umt5")
        config = convert_t5.transformers_config(info)
        return _load(reader, info, lambda: convert_t5.build(config), convert_t5.rename_for(info, reader.tensors),
                     convert_t5.LABEL, convert_t5.FP8_MODULES, dtype, device, quantization)


def load_clip_vision(path: str | Path, *, dtype: Any = None, device: Any = "cpu", quantization: str | None = "auto",
                     allow_pickle: bool | None = None):
    """A CLIP vision file (Wan/Kijai, open_clip or ComfyUI layout) as ``CLIPVisionModelWithProjection``."""
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        info = _identify(reader, "clip_vision")
        config = convert_clip.transformers_config(info)
        projection = info.config["projection_dim"] is not None
        return _load(reader, info, lambda: convert_clip.build(config, projection), convert_clip.rename_for(info),
                     convert_clip.LABEL, convert_clip.FP8_MODULES, dtype, device, quantization)


LOADERS: dict[str, Callable[..., Any]] = {
    "wan_transformer": load_transformer, "wan_vae": load_vae, "umt5": load_text_encoder,
    "clip_vision": load_clip_vision,
}


def load_model(path: str | Path, *, kind: str | None = None, allow_pickle: bool | None = None, **options):
    """Load whatever ``path`` is (or insist on ``kind``), with the matching loader."""
    if kind is None:
        with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
            kind = identify(reader.path, reader.tensors, reader.metadata).kind
    loader = LOADERS.get(PART_OF.get(kind, kind))  # a VACE module alone: the transformer loader says why not
    if loader is None:
        with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
            require_kind(identify(reader.path, reader.tensors, reader.metadata), "wan_transformer")
    return loader(path, allow_pickle=allow_pickle, **options)


def loadable_config(info: ModelInfo, num_heads: int | None = None) -> dict[str, Any] | None:
    """Refuse, from the header alone, a file of the right kind that its loader still cannot
    load; return the module config where building it is cheap (no library import).

    The loaders call this, and so does the dry run (``wfrun.models.preflight``), so both
    refuse the same files with the same words. UMT5 and CLIP configs need ``transformers``
    imported, which a dry run should not pay for: ``None`` for those kinds."""
    if info.kind == "wan_vace_module":
        raise CheckpointError(f"{info.path}: is a VACE module (VACE blocks only), not a whole model: load a "
                              "text-to-video model and give this file as its VACE module (WanVideoVACEModelSelect)")
    if info.kind == "wan_transformer":
        if info.layout == "diffusers":
            raise CheckpointError(f"{info.path}: is a diffusers-format file; load its folder with "
                                  "WanTransformer3DModel.from_pretrained")
        unsupported = [n for n in info.notes if n.startswith("unsupported parts")]
        if unsupported:
            family = transformer_family(info.task)
            what = family.label if family else info.variant
            raise CheckpointError(f"{info.path}: {what} model ({info.variant}) with {unsupported[0]} — diffusers' "
                                  "Wan transformer modules cannot run it")
        return convert_transformer.diffusers_config(info, num_heads)
    if info.kind == "wan_vae":
        if info.layout != "original" or info.notes:
            why = info.notes[0] if info.notes else f"{info.variant} in {info.layout} layout"
            raise CheckpointError(f"{info.path}: cannot be loaded as a Wan VAE ({why})")
        return convert_vae.diffusers_config(info)
    return None


# --- the shared implementation ------------------------------------------------------


def _identify(reader: CheckpointReader, kind: str) -> ModelInfo:
    """What the file is, insisting on ``kind``; from an all-in-one checkpoint, its ``kind`` part."""
    info = identify(reader.path, reader.tensors, reader.metadata)
    if info.kind != kind:
        part = identify_part(reader.path, reader.tensors, reader.metadata, kind)
        if part is not None:
            return part
    require_kind(info, kind)
    return info


def compute_dtype(dtype: Any, info: ModelInfo) -> torch.dtype:
    if dtype is None:
        return _STORED.get(info.dtype, torch.bfloat16)
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of bf16, fp16, fp32") from None


def _storage_policy(quantization: str | None) -> str | torch.dtype | None:
    """``"auto"`` (keep fp8 as stored), ``None`` (no fp8), or an fp8 dtype to store in."""
    q = (quantization or "none").lower()
    if q in ("auto", "disabled") or q.endswith("_scaled"):
        return "auto"
    if q in ("none", "upcast", "off"):
        return None
    for name, torch_dtype in FP8_DTYPES.items():
        if q.startswith(name):
            return torch_dtype
    raise ValueError(f"unknown quantization {quantization!r}; use auto, none, fp8_e4m3fn or fp8_e5m2")


def _fp32_matcher(model: nn.Module, dtype: torch.dtype) -> Callable[[str], bool]:
    """Which parameter names the library itself would keep in fp32 at this dtype."""
    if dtype == torch.float32:
        return lambda name: False
    from diffusers.models.modeling_utils import ModelMixin

    if isinstance(model, ModelMixin):
        keep = set(model._keep_in_fp32_modules or ())
        return lambda name: bool(keep.intersection(name.split(".")))
    patterns = list(getattr(model, "_keep_in_fp32_modules_strict", None) or ())
    if dtype == torch.float16:
        patterns += list(getattr(model, "_keep_in_fp32_modules", None) or ())
    regex = re.compile("|".join(patterns)) if patterns else None
    return lambda name: bool(regex and regex.search(name))


def _load(reader: CheckpointReader, info: ModelInfo, build: Callable[[], nn.Module], rename, label: str,
          fp8_modules: re.Pattern | None, dtype: Any, device: Any, quantization: str | None,
          packed: bool | None = False) -> nn.Module:

    path = reader.path
    dtype = compute_dtype(dtype, info)
    device = torch.device(device)
    policy = _storage_policy(quantization)
    plan = build_plan(path, reader.tensors, info.prefix, rename, label=label)
    with empty_weights():
        model = build()
    # names the library fills by tying (transformers 5: {target: source}; 4.x: a list of targets)
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    expected = {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}
    # ComfyUI's block-quantized layers (nvfp4, mxfp8) are read dequantized, in their logical shapes
    reader, tensors = _block_quantized(reader, plan, expected)
    _refuse_integer_weights(path, plan, tensors)
    check_plan(path, plan, tensors, expected, label=label, optional=tied)

    fp8 = _fp8_targets(model, plan, tensors, fp8_modules, policy)
    kept_packed = _packed_targets(model, plan, reader, fp8_modules, fp8, packed, dtype, device, label)
    swap_in(model, {t.rpartition(".")[0]: (storage, keep_scale) for t, (storage, keep_scale) in fp8.items()})
    comfy_quant_linear.swap_in(model, {t.rpartition(".")[0]: fmt for t, (fmt, _) in kept_packed.items()}, dtype)
    keep_fp32 = _fp32_matcher(model, dtype)

    scales = {target: reader.read(source, "cpu").float() for target, (source, _) in plan.scales.items()}
    for take, tensor, _shared in _each_take(plan, reader, device):
        scale = _scale_for(scales, plan, take, device)
        if take.target in kept_packed:
            _assign_packed(model, reader, take.target, *kept_packed[take.target], tensor, device)
            continue
        if take.target in fp8:
            storage, keep_scale = fp8[take.target]
            if keep_scale:
                _assign(model, take.target.rpartition(".")[0] + ".weight_scale", scale)
            elif tensor.dtype != storage or scale is not None:
                tensor = quantize(_dequantize(tensor, scale, torch.float32), storage)
        elif tensor.is_floating_point():
            tensor = _dequantize(tensor, scale, torch.float32 if keep_fp32(take.target) else dtype)
        _assign(model, take.target, tensor)
    if tied and hasattr(model, "tie_weights"):
        model.tie_weights()
    _finish(model, path, device)
    return model


def _block_quantized(reader, plan: Plan, expected: Mapping[str, tuple[int, ...]]):
    """The reader and header to load from: unchanged for files without ComfyUI quantization
    marks; else each marked layer checked (unsupported formats refused by name) and the
    block-scaled ones (nvfp4, mxfp8) read through :class:`BlockDequantizingReader`, their
    weights float32 in their logical shapes, their block scales out of the plan."""
    if not comfy_quant.marked_layers(reader.tensors, reader.metadata):
        return reader, reader.tensors
    configs = comfy_quant.layer_configs(reader)
    layers: dict[str, tuple[comfy_quant.Format, str, tuple[int, ...]]] = {}
    view = dict(reader.tensors)
    for target, take in plan.takes.items():
        layer = take.source.removesuffix(".weight")
        fmt = comfy_quant.FORMATS[configs[layer]["format"]] if layer in configs and take.source != layer else None
        if fmt is None or not fmt.block_scaled:
            continue
        stored = reader.tensors[take.source]
        shape = fmt.logical_shape(stored.shape)
        want = expected.get(target)
        if take.op == "copy" and want is not None and len(want) == 2 and fmt.storage_shape(want) == stored.shape:
            shape = tuple(want)  # padding cut off: the module's own shape
        layers[take.source] = (fmt, layer, shape)
        view[take.source] = comfy_quant.TensorInfo(fmt.name.upper(), shape, stored.start, stored.end)
        plan.scales.pop(target, None)
    if not layers:
        return reader, view
    return BlockDequantizingReader(reader, layers), view


def _packed_targets(model: nn.Module, plan: Plan, reader, fp8_modules, fp8: Mapping[str, Any], packed: bool | None,
                    dtype: torch.dtype, device: torch.device, label: str) -> dict[str, tuple[Any, str]]:
    """Block-quantized weight targets to keep packed (``comfy_quant_linear``): target →
    (format, layer). Candidates are the block linears that fp8 files keep in fp8
    (``fp8_modules``: the same layers, the same code paths around them), copied whole
    (not split) and not asked for in fp8; ``packed`` None decides by memory
    (:func:`comfy_quant_linear.keep_packed`, logged in one line)."""
    if packed is False or fp8_modules is None or not isinstance(reader, BlockDequantizingReader):
        return {}
    out: dict[str, tuple[Any, str]] = {}
    feeds = Counter(take.source for take in plan.takes.values())
    for target, take in plan.takes.items():
        module_name, _, leaf = target.rpartition(".")
        entry = reader.layers.get(take.source)
        if (entry is None or leaf != "weight" or take.op != "copy" or feeds[take.source] > 1 or target in fp8
                or not fp8_modules.search(module_name) or type(model.get_submodule(module_name)) is not nn.Linear):
            continue
        out[target] = (entry[0], entry[1])
    if not out:
        return {}
    if packed is None:
        packed, why = comfy_quant_linear.keep_packed(reader.dequantized_bytes(dtype), device)
        log.info("%s %s: %d %s layers %s", label, reader.path.name, len(out),
                 "/".join(sorted({fmt.name for fmt, _ in out.values()})), why)
    if not packed:
        return {}
    reader.keep_packed(take.source for target, take in plan.takes.items() if target in out)
    return out


def _assign_packed(model: nn.Module, reader, target: str, fmt, layer: str, weight: torch.Tensor,
                   device: torch.device) -> None:
    """A packed layer's stored tensors into its ``PackedLinear``: the weight's bytes as stored,
    the block scales (MXFP8's E8M0 viewed as the uint8 they are), NVFP4's per-tensor scale."""
    module_name = target.rpartition(".")[0]
    _assign(model, target, weight)
    scale = reader.read(f"{layer}.weight_scale", device)
    _assign(model, f"{module_name}.weight_scale", scale.view(torch.uint8) if fmt.name == "mxfp8" else scale)
    if fmt.name == "nvfp4":
        _assign(model, f"{module_name}.weight_scale_2", reader.read(f"{layer}.weight_scale_2", device).float())


class BlockDequantizingReader:
    """A reader whose block-quantized weights come out dequantized (float32, logical shape);
    every other tensor as stored, and so are the layers kept packed (:meth:`keep_packed`).
    Only what ``_load`` uses: ``iter_tensors`` and ``read``."""

    def __init__(self, reader, layers: Mapping[str, tuple[Any, str, tuple[int, ...]]]):
        self._reader, self._layers = reader, dict(layers)
        self.path, self.tensors, self.metadata = reader.path, reader.tensors, reader.metadata

    @property
    def layers(self) -> Mapping[str, tuple[Any, str, tuple[int, ...]]]:
        """Weight name → (format, layer, logical shape) of the layers read dequantized."""
        return self._layers

    def keep_packed(self, names) -> None:
        """Read these weights as stored from now on (their layers kept packed)."""
        for name in names:
            self._layers.pop(name, None)

    def dequantized_bytes(self, dtype: torch.dtype) -> int:
        """The file's bytes with each block-quantized weight dequantized to ``dtype`` (its
        scales gone): about what the loaded model takes when nothing stays packed."""
        scales = {f"{layer}.{s}" for _, layer, _ in self._layers.values() for s in ("weight_scale", "weight_scale_2")}
        total = 0
        for name, info in self.tensors.items():
            if name in self._layers:
                total += torch.Size(self._layers[name][2]).numel() * dtype.itemsize
            elif name not in scales:
                total += info.end - info.start
        return total

    def read(self, name: str, device: Any = "cpu") -> torch.Tensor:
        return self._dequantized(name, self._reader.read(name, device), device)

    def iter_tensors(self, names=None, device="cpu") -> Iterator[tuple[str, torch.Tensor]]:
        for name, tensor in self._reader.iter_tensors(names, device):
            yield name, self._dequantized(name, tensor, device)

    def _dequantized(self, name: str, tensor: torch.Tensor, device: Any) -> torch.Tensor:
        if name not in self._layers:
            return tensor
        fmt, layer, shape = self._layers[name]
        scale = self._reader.read(f"{layer}.weight_scale", device)
        scale_2 = self._reader.read(f"{layer}.weight_scale_2", device) if fmt.name == "nvfp4" else None
        return comfy_quant.dequantize(fmt, tensor, scale, scale_2, shape)


#: Integer storage of weight matrices: ComfyUI's int8 quantization (``int8_tensorwise``, with
#: a Hadamard "convrot" rotation in its ``*_int8_convrot`` files, e.g. Wan Animate 2's).
INTEGER_WEIGHTS = ("I8", "U8")


def _refuse_integer_weights(path: Path, plan: Plan, tensors: Mapping[str, Any]) -> None:
    """Integer-quantized weights are refused by name: scaling them back (as fp8 "scaled"
    files are) would load a convrot file's rotated weights as if they were the model's."""
    found = [take.source for target, take in plan.takes.items()
             if target.endswith(".weight") and tensors[take.source].dtype in INTEGER_WEIGHTS]
    if found:
        raise CheckpointError(f"{path}: {len(found)} weights are stored as integers (ComfyUI's int8 quantization, "
                              f"as its *_int8_convrot files; e.g. {found[0]}), which wfrun cannot read; use the "
                              "bf16, fp16 or fp8 release of this model")


def _fp8_targets(model: nn.Module, plan: Plan, tensors, fp8_modules, policy) -> dict[str, tuple[torch.dtype, bool]]:
    """Weight targets to keep in fp8: target → (storage dtype, whether its scale is kept)."""
    if fp8_modules is None or policy is None:
        return {}
    out: dict[str, tuple[torch.dtype, bool]] = {}
    for target, take in plan.takes.items():
        module_name, _, leaf = target.rpartition(".")
        if leaf != "weight" or not fp8_modules.search(module_name):
            continue
        if not isinstance(model.get_submodule(module_name), nn.Linear):
            continue
        stored = TORCH_DTYPES.get(tensors[take.source].dtype)
        if policy == "auto":
            if stored in FP8_DTYPES.values():
                out[target] = (stored, target in plan.scales)
        elif stored == policy:
            out[target] = (policy, target in plan.scales)
        else:
            out[target] = (policy, False)
    return out


def _scale_for(scales: dict, plan: Plan, take, device) -> torch.Tensor | None:
    """A weight's scale on ``device``. Copied without waiting: a plain ``.to(device)`` from host
    memory waits for all the work queued on the GPU first, so a model read in the background
    while a sampler runs (Wan 2.2's second expert) waited out the sampler's kernels at each of
    its 400 scales (4-6 s of its read, bench/RESULTS.md, session 21). The host tensor is not
    pinned, so the copy has taken its bytes when the call returns."""
    scale = scales.get(take.target)
    if scale is None:
        return None
    if scale.numel() > 1 and take.op == "chunk":
        scale = scale.reshape(-1).chunk(take.parts)[take.index]
    return (scale.reshape(()) if scale.numel() == 1 else scale).to(device, non_blocking=True)


def _dequantize(tensor: torch.Tensor, scale: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    if scale is None:
        return tensor.to(dtype)
    if scale.ndim == 1 and tensor.ndim >= 2:
        scale = scale.reshape(-1, *([1] * (tensor.ndim - 1)))
    return (tensor.float() * scale).to(dtype)


def assign_plan(model: nn.Module, plan: Any, reader: Any, device: Any, dtype: torch.dtype) -> None:
    """The plan's tensors into ``model``, each source read once (floating ones in ``dtype``).
    A target ``name#N`` is row ``N`` of ``name``, the rows joined in order (SAM keeps its point
    embeddings one row per key); a source feeding several targets is copied for each."""
    rows: dict[str, dict[int, torch.Tensor]] = {}
    for take, tensor, shared in _each_take(plan, reader, device):
        tensor = tensor.to(dtype) if tensor.is_floating_point() else tensor
        if "#" in take.target:
            name, _, row = take.target.partition("#")
            rows.setdefault(name, {})[int(row)] = tensor
        else:
            _assign(model, take.target, tensor.clone() if shared else tensor)
    for name, parts in rows.items():
        _assign(model, name, torch.cat([parts[i] for i in sorted(parts)], dim=0))


def _each_take(plan: Any, reader: Any, device: Any) -> Iterator[tuple[Any, torch.Tensor, bool]]:
    """Each of the plan's takes with its tensor, every file tensor read once however many
    targets it feeds (a fused qkv split three ways); the flag says it feeds several, whose
    tensors may share storage."""
    by_source: dict[str, list] = defaultdict(list)
    for take in plan.takes.values():
        by_source[take.source].append(take)
    for source, raw in reader.iter_tensors(list(by_source), device):
        takes = by_source[source]
        for take in takes:
            yield take, take.apply(raw), len(takes) > 1
        del raw


def _assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if leaf in module._parameters:
        module._parameters[leaf] = nn.Parameter(tensor, requires_grad=False)
    else:
        module._buffers[leaf] = tensor


def _finish(model: nn.Module, path: Path, device: torch.device) -> None:
    """Nothing left on ``meta``; unsaved buffers (rope tables, position ids) moved to ``device``."""
    left = [n for n, p in model.named_parameters() if p.is_meta] + [n for n, b in model.named_buffers() if b.is_meta]
    if left:
        raise CheckpointError(f"{path}: lacks tensors for {', '.join(left[:4])}")
    for module in model.modules():
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.device != device:
                module._buffers[name] = buffer.to(device)
    model.eval()
    model.requires_grad_(False)
