"""Tiny GGUF files in ComfyUI-GGUF's layout, so the real GGUF loading code runs offline.

The state dicts are ``tiny``'s (the original Wan key names, from the same builders as the
safetensors tiny files); this module only stores them as city96's converter
(``tools/convert.py`` of ComfyUI-GGUF) does for Wan: ``general.architecture`` ``wan``, 1-D
and small tensors (at most 1,024 values) and the ``.modulation`` tables in F32, the 5-D
patch embeddings as F32 5-D tensors (its ``fix_5d_tensors.py``), and the weight matrices
quantized: the blocks' linears in the file's type, the other matrices (embeddings, head) in
``Q8_0``. A row that is not whole blocks of the type falls back to F16, as the converter
falls back when ``gguf.quants`` cannot quantize a tensor. One rule is relaxed: tiny matrices
hold 1,024 to 2,048 values, so the converter's size rule would keep most of them in F32;
tiny files quantize every matrix (``small=0``), so the quantized layers are what runs.

``gguf.quants`` can quantize the legacy types (``Q4_0``, ``Q4_1``, ``Q5_0``, ``Q5_1``,
``Q8_0``) but not the K-quants, which need llama.cpp's C quantizer. For those
:func:`k_quant_blocks` writes valid K-quant blocks directly: random codes and sub-block
scales under super-block scales chosen so the values are about ``1/sqrt(fan_in)``, as the
tiny state dicts' weights are. The loaders' tests compare against ``gguf.quants.dequantize``
of the very bytes written, so where the values come from does not matter, only that the
blocks are real ``Q4_K``/``Q6_K`` data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

#: Bump when what the writer stores changes (stand-ins are cached by it).
TINY_GGUF_VERSION = "1"

#: The converter's limits: smaller tensors and higher-precision keys stay F32.
QUANTIZATION_THRESHOLD = 1024
HIGH_PRECISION = (".modulation",)
#: Matrices of the transformer blocks (and VACE blocks): the file's main type.
BLOCK_LINEAR = re.compile(r"(^|\.)(vace_)?blocks\.\d+\..*\.weight$")
#: K-quant types written as synthetic blocks (``gguf.quants`` has no quantizer for them).
K_QUANTS = ("Q4_K", "Q6_K")


def _types():
    import gguf

    return gguf.GGMLQuantizationType, gguf.GGML_QUANT_SIZES


def choose_type(name: str, shape: tuple[int, ...], main: str, rest: str = "Q8_0",
                small: int = QUANTIZATION_THRESHOLD) -> str:
    """The GGML type of one tensor, by the converter's rules (see the module docstring)."""
    qtypes, sizes = _types()
    if len(shape) <= 1 or len(shape) > 4 or int(np.prod(shape)) <= small or \
            any(k in name for k in HIGH_PRECISION):
        return "F32"
    wanted = main if BLOCK_LINEAR.search(name) else rest
    block, _ = sizes[qtypes[wanted]]
    return wanted if shape[-1] % block == 0 else "F16"


def k_quant_blocks(shape: tuple[int, ...], qtype: str, seed: int) -> np.ndarray:
    """Valid ``Q4_K`` or ``Q6_K`` data for a matrix of ``shape`` (rows of 256-value blocks),
    bytes shaped as ``gguf.quants.quantize`` would return them."""
    qtypes, sizes = _types()
    block, size = sizes[qtypes[qtype]]
    if shape[-1] % block:
        raise ValueError(f"{qtype} needs rows of whole {block}-value blocks, not {shape[-1]}")
    rng = np.random.default_rng(seed)
    n_blocks = int(np.prod(shape)) // block
    data = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    std = shape[-1] ** -0.5
    if qtype == "Q4_K":  # d, dmin (f16), 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit codes
        # w = d·sc·q − dmin·m, sc, m in 0..63, q in 0..15: centred when dmin ≈ 7.5·d
        d = np.float16(std / 250)
        data[:, 0:2] = np.frombuffer(np.array([d], dtype=np.float16).tobytes(), dtype=np.uint8)
        data[:, 2:4] = np.frombuffer(np.array([np.float16(7.5 * float(d))], dtype=np.float16).tobytes(),
                                     dtype=np.uint8)
    elif qtype == "Q6_K":  # 128 bytes low bits, 64 high bits, 16 int8 scales, d (f16) last
        data[:, 192:208] = rng.integers(-16, 17, size=(n_blocks, 16), dtype=np.int8).view(np.uint8)
        d = np.float16(std / 170)
        data[:, 208:210] = np.frombuffer(np.array([d], dtype=np.float16).tobytes(), dtype=np.uint8)
    else:
        raise ValueError(f"no synthetic blocks for {qtype}; use one of {', '.join(K_QUANTS)}")
    return data.reshape(*shape[:-1], shape[-1] // block * size)


def encode(name: str, tensor: torch.Tensor, qtype: str, seed: int = 0) -> np.ndarray:
    """``tensor`` stored as ``qtype``: the array ``GGUFWriter.add_tensor`` takes with that raw dtype."""
    import gguf

    qtypes, _ = _types()
    array = tensor.detach().float().cpu().numpy()
    if qtype == "F32":
        return array
    if qtype == "F16":
        return array.astype(np.float16)
    if qtype in K_QUANTS:
        return k_quant_blocks(array.shape, qtype, seed)
    return gguf.quants.quantize(array, qtypes[qtype])


def write_gguf(path: str | Path, tensors: Mapping[str, torch.Tensor], types: Mapping[str, str] | Callable[
        [str, tuple[int, ...]], str], *, arch: str = "wan", metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``tensors`` (float) to a GGUF file at ``path``, each in the type ``types`` gives
    (a mapping, or a function of name and shape), with ``general.architecture`` ``arch`` and
    ``metadata`` (str, int, float, bool or lists of int)."""
    import gguf

    qtypes, _ = _types()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for key, value in (metadata or {}).items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value) if value >= 0 else writer.add_int32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        elif isinstance(value, (list, tuple)):
            writer.add_array(key, list(value))
        else:
            writer.add_string(key, str(value))
    for index, (name, tensor) in enumerate(tensors.items()):
        qtype = types(name, tuple(tensor.shape)) if callable(types) else types.get(name, "F32")
        writer.add_tensor(name, encode(name, tensor, qtype, seed=index), raw_dtype=qtypes[qtype])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_wan_gguf(path: str | Path, task: str, qtype: str, *, seed: int, dims: dict | None = None,
                   prefix: str = "", rest: str = "Q8_0", overrides: Mapping[str, str] | None = None) -> Path:
    """A tiny Wan transformer of family ``task`` as ComfyUI-GGUF's converter stores it, the
    blocks' linears in ``qtype`` (``overrides`` set single tensors' types, for tests)."""
    from wfrun.models.tiny import TRANSFORMER, TINY_VERSION, transformer_weights

    dims = dims or TRANSFORMER
    sd = transformer_weights(task, seed, dims)
    overrides = dict(overrides or {})

    def pick(name: str, shape: tuple[int, ...]) -> str:
        return overrides.get(name) or choose_type(name, shape, qtype, rest, small=0)

    tensors = {prefix + k: v for k, v in sd.items()}
    types = {prefix + k: pick(k, tuple(v.shape)) for k, v in sd.items()}
    meta = {"wfrun.tiny": f"{TINY_VERSION}.{TINY_GGUF_VERSION}", "wfrun.num_heads": dims["heads"]}
    return write_gguf(path, tensors, types, arch="wan", metadata=meta)


def write_vace_module_gguf(path: str | Path, qtype: str, *, seed: int, dims: dict | None = None,
                           rest: str = "Q8_0", overrides: Mapping[str, str] | None = None) -> Path:
    """A tiny separate VACE module (Kijai's ``Wan2_2_Fun_VACE_module_A14B_HIGH_Q4_K_M.gguf``)
    as the converter stores one: ``tiny.vace_module_weights`` (``vace_blocks.*`` and
    ``vace_patch_embedding.*``, original names), the blocks' matrices in ``qtype``, the 5-D
    patch embedding and the vectors in F32 (``overrides`` set single tensors' types, for tests)."""
    from wfrun.models.tiny import TRANSFORMER, TINY_VERSION, vace_module_weights

    dims = dims or TRANSFORMER
    sd = vace_module_weights(seed, dims)
    overrides = dict(overrides or {})
    types = {k: overrides.get(k) or choose_type(k, tuple(v.shape), qtype, rest, small=0) for k, v in sd.items()}
    meta = {"wfrun.tiny": f"{TINY_VERSION}.{TINY_GGUF_VERSION}"}
    return write_gguf(path, sd, types, arch="wan", metadata=meta)


#: transformers' T5 names → llama.cpp's, the inverse of ``load_gguf.T5_NAMES`` (longest first).
_LLAMA_T5 = (
    ("layer.0.SelfAttention.relative_attention_bias", "attn_rel_b"), ("layer.0.SelfAttention.q", "attn_q"),
    ("layer.0.SelfAttention.k", "attn_k"), ("layer.0.SelfAttention.v", "attn_v"),
    ("layer.0.SelfAttention.o", "attn_o"), ("layer.0.layer_norm", "attn_norm"),
    ("layer.1.DenseReluDense.wi_0", "ffn_gate"), ("layer.1.DenseReluDense.wi_1", "ffn_up"),
    ("layer.1.DenseReluDense.wo", "ffn_down"), ("layer.1.layer_norm", "ffn_norm"),
    ("final_layer_norm", "output_norm"), ("shared", "token_embd"), (".block.", ".blk."), ("encoder.", "enc."),
)


def llama_t5_name(name: str) -> str:
    """A transformers T5 tensor name as llama.cpp's converter names it (``enc.blk.0.attn_q.weight``)."""
    for old, new in _LLAMA_T5:
        name = name.replace(old, new)
    return name


def write_umt5_gguf(path: str | Path, qtype: str, *, seed: int) -> Path:
    """A tiny UMT5 encoder as llama.cpp's converter stores one (``t5encoder``, its T5 names;
    the relative position tables and norms in F32, the matrices in ``qtype``, the token
    embedding in Q8_0)."""
    from wfrun.models.tiny import TINY_VERSION, t5_to_transformers_names, t5_weights

    sd = {llama_t5_name(k): v for k, v in t5_to_transformers_names(t5_weights(seed)).items()}

    def pick(name: str, shape: tuple[int, ...]) -> str:
        if "attn_rel_b" in name:
            return "F32"
        return choose_type(name, shape, qtype if ".blk." in name else "Q8_0", small=0)

    meta = {"wfrun.tiny": f"{TINY_VERSION}.{TINY_GGUF_VERSION}", "tokenizer.ggml.model": "t5"}
    return write_gguf(path, sd, pick, arch="t5encoder", metadata=meta)


#: The GGML type a tiny stand-in is stored in for a release's type: tiny rows are 32 values
#: wide, and K-quants and i-quants need 256-value rows, so those take the legacy type of
#: about the same bits.
TINY_TYPES = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q4_0", "Q5_K": "Q5_0", "Q6_K": "Q8_0", "IQ4_NL": "Q4_0",
              "IQ4_XS": "Q4_0", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1", "Q8_0": "Q8_0",
              "F16": "F16", "BF16": "F16", "F32": "F32"}

_RELEASE_TYPE = re.compile(r"(?:^|[-_.])(i?q\d_(?:k(?:_[sml])?|\d|nl|xs)|bf16|f16|f32)(?=\.gguf$|$)", re.I)


def release_type(name: str) -> str:
    """The GGML type a release's file name states (``wan2.1-i2v-14b-480p-Q4_K_M.gguf`` → ``Q4_K``);
    ``Q8_0`` when it says none."""
    m = _RELEASE_TYPE.search(name)
    if not m:
        return "Q8_0"
    found = m.group(1).upper()
    return re.sub(r"(_K)_[SML]$", r"\1", found)


def write_wan_vae_gguf(path: str | Path, task: str, qtype: str, *, seed: int) -> Path:
    """A tiny Wan VAE (``task``: ``""``/``wan2.1`` or ``wan2.2``) as calcuis' ``pig_wan_vae_*``
    GGUF files hold one: ``general.architecture`` ``pig``, the original Wan VAE key names
    (``tiny.vae_weights``), the 1-D tensors (norm scales, biases) in F32 and the convolution
    weights, 5-D ones whole, in ``qtype`` where whole blocks fit a row, else F16."""
    from wfrun.models.families import vae_family
    from wfrun.models.tiny import TINY_VERSION, vae22_weights, vae_weights

    family = vae_family(task or "wan2.1")
    sd = vae22_weights(seed) if family is not None and family.residual else vae_weights(seed)
    qtypes, sizes = _types()

    def pick(name: str, shape: tuple[int, ...]) -> str:
        if len(shape) <= 1 or qtype == "F32":
            return "F32"
        if qtype in ("F16", "BF16"):
            return "F16"
        block, _ = sizes[qtypes[qtype]]
        return qtype if shape[-1] % block == 0 and len(shape) <= 4 else "F16"

    meta = {"wfrun.tiny": f"{TINY_VERSION}.{TINY_GGUF_VERSION}"}
    return write_gguf(path, sd, pick, arch="pig", metadata=meta)
