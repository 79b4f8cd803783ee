"""Loading GGUF files (ComfyUI-GGUF's Wan transformers and UMT5 encoders) into diffusers and
transformers modules whose quantized weights stay quantized.

The steps are ``load``'s, on a GGUF header (``gguf_reader``) instead of a safetensors one:
detect the model from its names and shapes (``detect.identify``: a Wan GGUF keeps the
original Wan key names, like Kijai's safetensors files), build the config, create the
module on ``meta``, plan and check every tensor by name and shape (``mapping``), then read
the file one tensor at a time. Then, as diffusers' own GGUF loading does
(``from_single_file(..., quantization_config=GGUFQuantizationConfig(compute_dtype))``):

- a quantized weight of an ``nn.Linear`` becomes a ``GGUFParameter`` (the file's bytes,
  untouched) and its layer a ``GGUFLinear`` (``_replace_with_gguf_linear``), which
  dequantizes the weight at each forward and computes in ``compute_dtype``: a Q4 14B model
  keeps about 4.5 bits a weight in memory, one layer at a time in full precision;
- the module's ``_keep_in_fp32_modules`` (Wan: the time embedder, norms, modulation
  tables; UMT5: ``wo``) are not converted: their weights are dequantized once, on load, to
  fp32 (the library's rule for those modules) or ``compute_dtype``, as is any quantized
  tensor that is not a linear weight (an embedding table, a reshaped tensor);
- F32/F16/BF16 tensors load as plain parameters, in ``compute_dtype`` (fp32 where the
  library keeps fp32), like ``load``'s safetensors path.

Dequantization is diffusers' (``dequantize_gguf_tensor``): like ComfyUI-GGUF's default it
computes in fp16, the precision of the blocks' scales, and the layer casts the result to
``compute_dtype``. ``dequant_dtype`` (ComfyUI-GGUF's UnetLoaderGGUFAdvanced) computes it in
another dtype instead (``target``: the compute dtype), with diffusers' block functions.

diffusers' ``from_single_file`` is not used on the file itself: it opens it with
``gguf.GGUFReader``, which trusts the header's counts (see ``gguf_reader``), and cannot
tell a tiny model's head count; here the checked header and wfrun's detection decide.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import torch
from torch import nn

from wfrun.models.meta_init import empty_weights
from wfrun.models import convert_t5, convert_transformer, convert_vae
from wfrun.models.detect import KIND_LABELS, ModelInfo, WrongModelError, identify, require_kind
from wfrun.models.gguf_reader import GGUFReader, GGUFTensorInfo, is_quantized, open_gguf
from wfrun.models.header import CheckpointError
from wfrun.models.load import _finish, _fp32_matcher, compute_dtype, loadable_config
from wfrun.models.mapping import build_plan, check_plan

if TYPE_CHECKING:
    from wfrun.models.vace_module import MergedReader

#: ``general.architecture`` of the GGUF files each kind comes in (ComfyUI-GGUF's
#: ``IMG_ARCH_LIST``/``TXT_ARCH_LIST`` entries for Wan and T5).
ARCHITECTURES = {"wan_transformer": ("wan",), "umt5": ("t5", "t5encoder"), "wan_vae": ("pig",)}

#: ComfyUI-GGUF's ``T5_SD_MAP``: llama.cpp's T5 tensor names → transformers' (applied in order).
T5_NAMES = (
    ("enc.", "encoder."), (".blk.", ".block."), ("token_embd", "shared"), ("output_norm", "final_layer_norm"),
    ("attn_q", "layer.0.SelfAttention.q"), ("attn_k", "layer.0.SelfAttention.k"),
    ("attn_v", "layer.0.SelfAttention.v"), ("attn_o", "layer.0.SelfAttention.o"),
    ("attn_norm", "layer.0.layer_norm"), ("attn_rel_b", "layer.0.SelfAttention.relative_attention_bias"),
    ("ffn_up", "layer.1.DenseReluDense.wi_1"), ("ffn_down", "layer.1.DenseReluDense.wo"),
    ("ffn_gate", "layer.1.DenseReluDense.wi_0"), ("ffn_norm", "layer.1.layer_norm"),
)

DEQUANT_DTYPES = {"default": None, "target": "target", "float32": torch.float32, "float16": torch.float16,
                  "bfloat16": torch.bfloat16}


def load_gguf_transformer(path: str | Path, *, dtype: Any = None, device: Any = "cpu", num_heads: int | None = None,
                          dequant_dtype: str = "default", vace_modules: tuple[str | Path, ...] = ()):
    """A Wan transformer GGUF file (ComfyUI-GGUF's, e.g. city96's or QuantStack's releases) as a
    diffusers ``WanTransformer3DModel`` (or ``WanVACETransformer3DModel``) with ``GGUFLinear``
    layers. ``dtype`` is the compute dtype (default bf16). ``vace_modules``: GGUF VACE module
    files laid over a T2V model (``models.vace_module``), their matrices kept quantized too."""
    from wfrun.models.vace_module import open_gguf_with_modules

    with open_gguf_with_modules(path, vace_modules) as reader:
        info = identify_gguf(reader, "wan_transformer")
        config = loadable_config(info, num_heads)
        from wfrun.models.wan_extra_parts import extra_parts

        parts = extra_parts(info.config)  # ref_conv, the camera adapter, S2V's and HuMo's parts
        return _load_gguf(reader, info, reader.tensors, {}, lambda: convert_transformer.build(config, parts),
                          convert_transformer.rename, convert_transformer.label_for(config), dtype, device,
                          dequant_dtype)


def load_gguf_text_encoder(path: str | Path, *, dtype: Any = None, device: Any = "cpu",
                           dequant_dtype: str = "default"):
    """A UMT5-XXL GGUF file (llama.cpp's T5 names, e.g. city96's ``umt5-xxl-encoder-Q8_0.gguf``)
    as a transformers ``UMT5EncoderModel`` with ``GGUFLinear`` layers (not ``wo``)."""
    with open_gguf(path) as reader:
        names = t5_names(reader.tensors)
        tensors = {new: reader.tensors[old] for new, old in names.items()}
        info = identify_gguf(reader, "umt5", tensors)
        config = convert_t5.transformers_config(info)
        return _load_gguf(reader, info, tensors, names, lambda: convert_t5.build(config),
                          convert_t5.rename_for(info, tensors), convert_t5.LABEL, dtype, device, dequant_dtype)


def load_gguf_vae(path: str | Path, *, dtype: Any = None, device: Any = "cpu"):
    """A Wan 2.1 or 2.2 VAE stored as GGUF (calcuis' ``pig_wan_vae_fp32-f16.gguf``:
    ``general.architecture`` ``pig``, the original Wan VAE key names, 5-D convolution weights
    whole or flattened under ``comfy.gguf.orig_shape``) as diffusers' ``AutoencoderKLWan``.

    The pack's ``VaeGGUF`` hands the file's tensors, names unchanged, to ComfyUI's VAE, which
    computes in its VAE dtype; here every tensor is read into ``dtype`` (a quantized one
    dequantized first, with diffusers' block functions): a VAE has no linear layer that could
    keep its weight quantized, and ``load_vae`` up-casts fp8 VAE files the same way."""
    with open_gguf(path) as reader:
        info = identify_gguf(reader, "wan_vae", reader.tensors)
        config = loadable_config(info)
        return _load_gguf(reader, info, reader.tensors, {}, lambda: convert_vae.build(config),
                          convert_vae.rename_for(info, reader.tensors), convert_vae.LABEL, dtype, device)


def t5_names(names) -> dict[str, str]:
    """transformers' T5 name → the file's, for a file in llama.cpp's names (ComfyUI-GGUF renames
    them the same way); other files keep theirs."""
    names = list(names)
    if not any(name.startswith("enc.") or name == "token_embd.weight" for name in names):
        return {name: name for name in names}
    renamed: dict[str, str] = {}
    for name in names:
        new = name
        for old, replacement in T5_NAMES:
            new = new.replace(old, replacement)
        renamed[new] = name
    return renamed


def identify_gguf(reader: GGUFReader | MergedReader, kind: str | Iterable[str], tensors: Mapping[str, GGUFTensorInfo] | None = None
                  ) -> ModelInfo:
    """What the GGUF file is, insisting on ``kind`` (or one of several kinds; none: any); a
    file of another architecture is named by its ``general.architecture`` (a Flux or Llama
    GGUF has no Wan key names to show)."""
    kinds = {kind} if isinstance(kind, str) else set(kind)
    if tensors is None:
        tensors = {new: reader.tensors[old] for new, old in t5_names(reader.tensors).items()}
    info = identify(reader.path, tensors, reader.metadata)
    if not kinds or info.kind in kinds:
        return info
    arch = reader.architecture
    known = {a for k in kinds for a in ARCHITECTURES.get(k, ())}
    if info.kind == "unknown" and arch and arch not in known:
        wanted = " or ".join(KIND_LABELS.get(k, k) for k in sorted(kinds))
        raise WrongModelError(f"{reader.path}: a GGUF {arch!r} model (its general.architecture), not {wanted}")
    require_kind(info, kinds)
    return info


def gguf_info(path: str | Path, kinds: Iterable[str] = ()) -> ModelInfo:
    """What a GGUF file is, from its checked header alone (the dry run's check), insisting on
    one of ``kinds`` if any are given."""
    with open_gguf(path) as reader:
        return identify_gguf(reader, kinds)


def _load_gguf(reader: GGUFReader | MergedReader, info: ModelInfo, tensors: Mapping[str, GGUFTensorInfo], names: Mapping[str, str],
               build: Callable[[], nn.Module], rename, label: str, dtype: Any, device: Any,
               dequant_dtype: str = "default") -> nn.Module:
    """``load._load`` for GGUF: ``tensors`` by the names the key map reads, ``names`` the
    file's name of each that was renamed (llama.cpp's T5 names)."""
    from diffusers.quantizers.gguf.utils import GGUFLinear, GGUFParameter, _replace_with_gguf_linear

    path = reader.path
    if dequant_dtype not in DEQUANT_DTYPES:
        raise ValueError(f"unknown dequant_dtype {dequant_dtype!r}; use one of {', '.join(DEQUANT_DTYPES)}")
    dtype = compute_dtype(dtype, info)
    device = torch.device(device)
    plan = build_plan(path, tensors, info.prefix, rename, label=label)
    with empty_weights():
        model = build()
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    expected = {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}
    check_plan(path, plan, tensors, expected, label=label, optional=tied)
    keep_fp32 = _fp32_matcher(model, dtype)
    not_converted = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    not_converted |= set(getattr(model, "_keep_in_fp32_modules_strict", None) or ())

    def stays_quantized(target: str, source: GGUFTensorInfo, op: str) -> bool:
        module_name, _, leaf = target.rpartition(".")
        return (leaf == "weight" and op == "copy" and source.stored == source.shape
                and not not_converted.intersection(module_name.split("."))
                and isinstance(model.get_submodule(module_name), nn.Linear))

    wanted = DEQUANT_DTYPES[dequant_dtype]
    wanted = dtype if wanted == "target" else wanted
    state: dict[str, torch.Tensor] = {}
    for target, take in plan.takes.items():
        source = tensors[take.source]
        raw = reader.read(names.get(take.source, take.source), device)
        if is_quantized(source):
            qtype = _qtype(source)
            if stays_quantized(target, source, take.op):
                state[target] = GGUFParameter(raw, quant_type=qtype)
                continue
            raw = dequantize(GGUFParameter(raw, quant_type=qtype), wanted).reshape(source.shape)
        state[target] = take.apply(raw).to(torch.float32 if keep_fp32(target) else dtype)
        del raw
    _replace_with_gguf_linear(model, dtype, state, modules_to_not_convert=sorted(not_converted))
    for module in model.modules():
        if isinstance(module, GGUFLinear) and wanted is not None:
            module.__class__ = dequant_linear_class()
            module.dequant_dtype = wanted
    for target, tensor in state.items():
        _assign(model, target, tensor)
    left = [t for t, v in state.items() if isinstance(v, GGUFParameter)
            and not isinstance(model.get_submodule(t.rpartition(".")[0]), GGUFLinear)]
    if left:  # diffusers' replacement and the rule above disagree: a quantized weight in a plain layer
        raise CheckpointError(f"{path}: cannot keep {left[0]} quantized in {label}")
    if tied and hasattr(model, "tie_weights"):
        model.tie_weights()
    _finish(model, path, device)
    return model


def _qtype(source: GGUFTensorInfo):
    import gguf

    return gguf.GGMLQuantizationType(source.qtype)


def dequantize(parameter: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A ``GGUFParameter``'s values in its logical (quantized) shape, with diffusers' block
    functions, computed in ``dtype`` (None: as diffusers does, in the scales' fp16)."""
    from diffusers.quantizers.gguf.utils import GGML_QUANT_SIZES, dequantize_functions, dequantize_gguf_tensor

    if dtype is None or not hasattr(parameter, "quant_type"):
        return dequantize_gguf_tensor(parameter)
    block, size = GGML_QUANT_SIZES[parameter.quant_type]
    data = parameter.as_tensor().view(torch.uint8)
    blocks = data.reshape(data.numel() // size, size)
    out = dequantize_functions[parameter.quant_type](blocks, block, size, dtype)
    return out.reshape(*data.shape[:-1], data.shape[-1] // size * block)


def _assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if leaf in module._parameters:
        module._parameters[leaf] = tensor if isinstance(tensor, nn.Parameter) else nn.Parameter(tensor,
                                                                                                requires_grad=False)
    else:
        module._buffers[leaf] = tensor


@cache
def dequant_linear_class() -> type:
    """diffusers' ``GGUFLinear`` dequantizing in its ``dequant_dtype`` (ComfyUI-GGUF's option)
    rather than in the scales' fp16 (made on first use: it needs diffusers imported)."""
    from diffusers.quantizers.gguf.utils import GGUFLinear

    class DequantGGUFLinear(GGUFLinear):
        dequant_dtype: torch.dtype | None = None

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            weight = dequantize(self.weight, self.dequant_dtype).to(self.compute_dtype)
            bias = self.bias.to(self.compute_dtype) if self.bias is not None else None
            return torch.nn.functional.linear(inputs, weight, bias)

    return DequantGGUFLinear
