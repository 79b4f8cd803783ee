"""GGUF Wan transformers (ComfyUI-GGUF's files): loaded into diffusers with their quantized
weights kept quantized, checked against an independent dequantization, and hostile files
refused in one line.

The reference for every numerical check is built without wfrun's GGUF code: the file is
read with the ``gguf`` package's own ``GGUFReader`` and each tensor dequantized with
``gguf.quants.dequantize`` (llama.cpp's numpy reference), saved as a plain safetensors file
in the same Wan key names, and loaded by wfrun's safetensors loader into the same diffusers
``WanTransformer3DModel``.

Tolerances, and why: diffusers' GGUF layers (``dequantize_gguf_tensor``) dequantize in fp16,
the precision of the blocks' scales, as ComfyUI-GGUF does by default. For ``Q8_0`` and
``Q4_0`` a weight is one fp16 scale times a small integer, a product IEEE fp16 rounds
correctly: it equals the exact (fp32) reference value rounded to fp16. So against a
reference rounded to fp16 the weights are identical and so is the forward (same fp32
arithmetic); against the unrounded reference each weight differs by at most 2^-11 of its
value, and the forward by about that relatively (held to 2e-3). K-quants (``Q4_K``,
``Q6_K``) take two or three fp16 operations per weight (sub-block scale, code, minimum),
each rounded: a weight may be a few fp16 steps of the block's largest value away
(held to 4 · 2^-11 of the layer's largest weight), the forward again within 2e-3.
"""

from __future__ import annotations

import math
import struct
import tracemalloc
from collections import Counter
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from wfrun.models.detect import WrongModelError
from wfrun.models.gguf_reader import DEQUANTIZED, MAX_ARRAY_ITEMS, read_gguf_header
from wfrun.models.header import CheckpointError
from wfrun.models.load import load_transformer
from wfrun.models.load_gguf import dequant_linear_class, load_gguf_text_encoder, load_gguf_transformer
from wfrun.models.lora_files import merged
from wfrun.models.preflight import check_model_file
from wfrun.models.tiny import TRANSFORMER
from wfrun.models.tiny_gguf import write_umt5_gguf, write_wan_gguf

#: A Wan transformer wide enough for K-quants (rows of 256): dim 256 = 2 heads of 128, as real ones.
WIDE = dict(TRANSFORMER, dim=256, heads=2, ffn=512, text_dim=256, freq=256, image_dim=256)
#: Tensors of the small file stored as the plain types (the rest follow the converter's rules).
PLAIN = {"head.head.weight": "BF16", "blocks.1.cross_attn.o.weight": "F16"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gguf")
    return {
        "Q4_0": write_wan_gguf(root / "wan2.1-i2v-14b-480p-Q4_0.gguf", "i2v", "Q4_0", seed=1, overrides=PLAIN),
        "Q8_0": write_wan_gguf(root / "wan2.1-t2v-14b-Q8_0.gguf", "t2v", "Q8_0", seed=2,
                               prefix="model.diffusion_model."),
        "Q4_K": write_wan_gguf(root / "wan-wide-Q4_K_M.gguf", "t2v", "Q4_K", seed=3, dims=WIDE,
                               overrides={f"blocks.{i}.ffn.{j}.weight": "Q6_K" for i in range(2) for j in (0, 2)}),
    }


def reference(path: Path, out: Path, round_fp16: bool) -> Path:
    """The file's values by the gguf package alone (``GGUFReader`` + ``gguf.quants.dequantize``),
    as a plain fp32 safetensors file; ``round_fp16``: quantized tensors rounded to fp16."""
    reader = gguf.GGUFReader(path)
    tensors = {}
    for tensor in reader.tensors:
        values = np.array(gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        value = torch.from_numpy(values).reshape(tuple(int(d) for d in reversed(tensor.shape.tolist())))
        if round_fp16 and tensor.tensor_type.name in DEQUANTIZED:
            value = value.half().float()
        tensors[tensor.name] = value
    heads = reader.get_field("wfrun.num_heads")
    save_file(tensors, str(out), metadata={"wfrun.num_heads": str(heads.contents())} if heads else None)
    return out


def inputs(dims: dict, image: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    channels = 36 if image else 16
    out = {"hidden_states": torch.randn(1, channels, 3, 8, 8, generator=g), "timestep": torch.tensor([500.0]),
           "encoder_hidden_states": torch.randn(1, 12, dims["text_dim"], generator=g), "return_dict": False}
    if image:
        out["encoder_hidden_states_image"] = torch.randn(1, dims["image_tokens"], dims["image_dim"], generator=g)
    return out


CASES = {"Q4_0": (TRANSFORMER, True), "Q8_0": (TRANSFORMER, False), "Q4_K": (WIDE, False)}


def forward(model, case: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    dims, image = CASES[case]
    given = {k: v.to(dtype) if isinstance(v, torch.Tensor) and k != "timestep" else v
             for k, v in inputs(dims, image).items()}
    with torch.no_grad():
        return model(**given)[0]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


# --- what is loaded ------------------------------------------------------------------------


def test_the_files_hold_what_real_ones_do(files):
    header = read_gguf_header(files["Q4_0"])
    types = Counter(t.dtype for t in header.tensors.values())
    assert set(types) == {"F32", "F16", "BF16", "Q8_0", "Q4_0"}
    assert header.architecture == "wan"
    assert header.tensors["patch_embedding.weight"].shape == (32, 36, 1, 2, 2)  # the 5-D F32 embedding
    wide = Counter(t.dtype for t in read_gguf_header(files["Q4_K"]).tensors.values())
    assert wide["Q4_K"] > 0 and wide["Q6_K"] == 4
    assert all(name.startswith("model.diffusion_model.") for name in read_gguf_header(files["Q8_0"]).tensors)


@pytest.mark.parametrize("case", sorted(CASES))
def test_quantized_linears_stay_quantized_in_diffusers_gguf_layers(files, case):
    from diffusers.quantizers.gguf.utils import GGUFLinear, GGUFParameter

    header = read_gguf_header(files[case])
    prefix = "model.diffusion_model." if case == "Q8_0" else ""
    model = load_gguf_transformer(files[case], dtype=torch.float32)
    layers = {name: m for name, m in model.named_modules() if isinstance(m, GGUFLinear)}
    # every block linear, the text embedder, the time projection and the head, unless stored plain
    source = {"attn1.to_q": "self_attn.q", "attn2.to_out.0": "cross_attn.o", "ffn.net.0.proj": "ffn.0"}
    for target, original in source.items():
        for i in range(2):
            info = header.tensors[f"{prefix}blocks.{i}.{original}.weight"]
            layer = model.get_submodule(f"blocks.{i}.{target}")
            if info.dtype in DEQUANTIZED:
                assert isinstance(layer.weight, GGUFParameter) and layer.weight.dtype == torch.uint8
                assert layer.weight.quant_type.name == info.dtype
                assert tuple(layer.weight.quant_shape) == info.shape
                assert layer.weight.numel() == info.end - info.start  # the file's bytes, nothing more
            else:
                assert not isinstance(layer, GGUFLinear) and layer.weight.dtype == torch.float32
    assert "condition_embedder.text_embedder.linear_1" in layers and "condition_embedder.time_proj" in layers
    # diffusers' _keep_in_fp32_modules are dequantized on load, never converted
    assert not any("time_embedder" in name or "norm" in name for name in layers)
    assert all(p.dtype == torch.float32 for p in model.condition_embedder.time_embedder.parameters())
    assert len(layers) >= 20


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_matches_the_independently_dequantized_weights(files, case, tmp_path):
    from diffusers.quantizers.gguf.utils import GGUFLinear, dequantize_gguf_tensor

    model = load_gguf_transformer(files[case], dtype=torch.float32)
    exact = load_transformer(reference(files[case], tmp_path / "exact.safetensors", round_fp16=False))
    rounded = load_transformer(reference(files[case], tmp_path / "rounded.safetensors", round_fp16=True))
    out = forward(model, case)
    assert rel(out, forward(exact, case)) < 2e-3
    if case in ("Q4_0", "Q8_0"):  # one correctly rounded fp16 product per weight: identical
        assert torch.equal(out, forward(rounded, case))
    else:
        for name, layer in model.named_modules():
            if isinstance(layer, GGUFLinear):
                want = exact.get_submodule(name).weight
                error = (dequantize_gguf_tensor(layer.weight).float() - want).abs().max()
                assert error <= 4 * 2 ** -11 * want.abs().max(), name


def test_dequant_dtype_float32_computes_the_exact_values(files, tmp_path):
    """UnetLoaderGGUFAdvanced's dequant_dtype: in fp32 a Q8_0/Q4_0 weight is the exact value."""
    model = load_gguf_transformer(files["Q4_0"], dtype=torch.float32, dequant_dtype="float32")
    assert any(type(m) is dequant_linear_class() for m in model.modules())
    exact = load_transformer(reference(files["Q4_0"], tmp_path / "exact.safetensors", round_fp16=False))
    torch.testing.assert_close(forward(model, "Q4_0"), forward(exact, "Q4_0"), rtol=1e-5, atol=1e-5)


def test_bf16_compute_keeps_the_fp32_modules_and_the_file_bytes(files):
    model = load_gguf_transformer(files["Q4_0"], dtype=torch.bfloat16)
    assert model.blocks[0].attn1.to_q.compute_dtype == torch.bfloat16
    assert model.blocks[0].scale_shift_table.dtype == torch.float32  # diffusers keeps modulation in fp32
    assert model.proj_out.weight.dtype == torch.bfloat16  # stored BF16, a plain weight
    assert forward(model, "Q4_0", torch.bfloat16).float().isfinite().all()


def test_a_lora_on_a_gguf_layer_is_merged_for_the_pass_and_the_quantized_weight_restored(files, tmp_path):
    model = load_gguf_transformer(files["Q4_0"], dtype=torch.float32)
    layer = model.blocks[0].attn1.to_q
    quantized = layer.weight
    g = torch.Generator().manual_seed(5)
    down, up = torch.randn(2, 32, generator=g), torch.randn(32, 2, generator=g)
    path = tmp_path / "lora.safetensors"
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": down,
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": up,
               "diffusion_model.blocks.0.self_attn.q.alpha": torch.tensor(1.0)}, str(path))
    reader = gguf.GGUFReader(files["Q4_0"])
    stored = next(t for t in reader.tensors if t.name == "blocks.0.self_attn.q.weight")
    base = torch.from_numpy(np.array(gguf.quants.dequantize(stored.data, stored.tensor_type))).half().float()
    with merged(model, [(path, 0.5)]) as count:
        assert count == 1
        torch.testing.assert_close(layer.weight, base + 0.5 * (1.0 / 2) * (up @ down), rtol=0, atol=1e-6)
        x = torch.randn(3, 32)
        torch.testing.assert_close(layer(x), nn.functional.linear(x, layer.weight, layer.bias))
    assert layer.weight is quantized


# --- UMT5 --------------------------------------------------------------------------------


def test_a_umt5_gguf_in_llama_cpp_names_loads_with_its_linears_quantized(tmp_path):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    path = write_umt5_gguf(tmp_path / "umt5-xxl-encoder-Q8_0.gguf", "Q8_0", seed=4)
    assert "enc.blk.0.attn_q.weight" in read_gguf_header(path).tensors
    encoder = load_gguf_text_encoder(path, dtype=torch.float32)
    block = encoder.encoder.block[0]
    assert isinstance(block.layer[0].SelfAttention.q, GGUFLinear)
    assert isinstance(block.layer[1].DenseReluDense.wi_0, GGUFLinear)
    # transformers casts activations to wo.weight.dtype: wo stays a plain layer
    assert not isinstance(block.layer[1].DenseReluDense.wo, GGUFLinear)
    exact = reference(path, tmp_path / "ref.safetensors", round_fp16=True)
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor
    from safetensors import safe_open

    with safe_open(str(exact), "pt") as f:
        q, wo = f.get_tensor("enc.blk.0.attn_q.weight"), f.get_tensor("enc.blk.0.ffn_down.weight")
    assert torch.equal(dequantize_gguf_tensor(block.layer[0].SelfAttention.q.weight).float(), q)
    assert torch.equal(block.layer[1].DenseReluDense.wo.weight, wo)
    assert encoder(input_ids=torch.tensor([[5, 9, 17, 1]])).last_hidden_state.isfinite().all()


# --- hostile files -------------------------------------------------------------------------


def gguf_bytes(*, magic: bytes = b"GGUF", version: int = 3, kv: list[bytes] = (), tensors: list[bytes] = (),
               n_tensors: int | None = None, n_kv: int | None = None, data: bytes = b"", endian: str = "<") -> bytes:
    """A GGUF file written out by hand: header, metadata records, tensor records, aligned data."""
    head = magic + struct.pack(endian + "IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                               len(kv) if n_kv is None else n_kv)
    body = head + b"".join(kv) + b"".join(tensors)
    return body + bytes(-len(body) % 32) + data


def text(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def tensor_record(name: str, dims: tuple[int, ...], qtype: int, offset: int = 0) -> bytes:
    return text(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) + struct.pack(
        "<IQ", qtype, offset)


F32, Q8_0 = int(gguf.GGMLQuantizationType.F32), int(gguf.GGMLQuantizationType.Q8_0)
HOSTILE = {
    "wrong magic": (gguf_bytes(magic=b"GGUX"), "not a GGUF file"),
    "version 1": (gguf_bytes(version=1), "version 1"),
    "big-endian": (gguf_bytes(version=3, endian=">"), "big-endian"),
    "2**60 tensors": (gguf_bytes(n_tensors=2 ** 60), "declares 1,152,921,504,606,846,976 tensors"),
    "2**40 metadata entries": (gguf_bytes(n_kv=2 ** 40), "more than wfrun reads"),
    "more metadata entries than the file holds": (gguf_bytes(n_kv=100), "truncated or corrupt"),
    "an array of 2**40 items": (gguf_bytes(kv=[text("a") + struct.pack("<IIQ", 9, 0, 2 ** 40)]), "2**40 items"),
    "an array longer than wfrun reads": (gguf_bytes(kv=[text("a") + struct.pack("<IIQ", 9, 0, MAX_ARRAY_ITEMS + 1)],
                                                    data=bytes(MAX_ARRAY_ITEMS + 64)), "more than wfrun reads"),
    "a string of 2**62 bytes": (gguf_bytes(kv=[text("a") + struct.pack("<IQ", 8, 2 ** 62)]), "over wfrun's limit"),
    "a huge declared tensor": (gguf_bytes(tensors=[tensor_record("w", (2 ** 31, 2 ** 31), F32)], data=bytes(64)),
                               "ends past the end of the file"),
    "an unknown GGML type": (gguf_bytes(tensors=[tensor_record("w", (32,), 99)], data=bytes(64)),
                             "unknown GGML type 99"),
    "a GGML type wfrun cannot dequantize": (gguf_bytes(tensors=[tensor_record("w", (256,), 34)], data=bytes(512)),
                                            "TQ1_0"),
    "rows that are not whole blocks": (gguf_bytes(tensors=[tensor_record("w", (33, 2), Q8_0)], data=bytes(128)),
                                       "not whole 32-value blocks"),
    "a misaligned tensor": (gguf_bytes(tensors=[tensor_record("w", (4,), F32, 4)], data=bytes(64)), "alignment"),
    "overlapping tensors": (gguf_bytes(tensors=[tensor_record("a", (16,), F32), tensor_record("b", (16,), F32, 32)],
                                       data=bytes(128)), "overlaps"),
    "a tensor named twice": (gguf_bytes(tensors=[tensor_record("a", (8,), F32), tensor_record("a", (8,), F32, 32)],
                                        data=bytes(64)), "appears twice"),
    "six dimensions": (gguf_bytes(tensors=[tensor_record("w", (1,) * 6, F32)], data=bytes(32)), "6 dimensions"),
    "a key that is not UTF-8": (gguf_bytes(kv=[struct.pack("<Q", 2) + b"\xff\xfe" + struct.pack("<IB", 0, 1)]),
                                "not UTF-8"),
    "an orig_shape of another size": (gguf_bytes(
        kv=[text("comfy.gguf.orig_shape.w") + struct.pack("<IIQ", 9, 5, 2) + struct.pack("<ii", 3, 3)],
        tensors=[tensor_record("w", (8,), F32)], data=bytes(32)), "orig_shape"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_header_is_one_line_naming_the_file_without_a_large_allocation(case, tmp_path):
    content, needle = HOSTILE[case]
    path = tmp_path / "wan2.1-t2v-14b-Q4_K_M.gguf"
    path.write_bytes(content)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as err:
            read_gguf_header(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert needle.replace("2**40", f"{2 ** 40:,}") in message, message
    assert peak < 2 * len(content) + (1 << 20)  # the walk never holds more than the file itself


def test_a_truncated_file_is_refused_before_any_weight_is_read(files, tmp_path):
    data = files["Q4_0"].read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 40):
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as err:
            load_gguf_transformer(path)
        assert str(path) in str(err.value) and "truncated" in str(err.value)


def test_the_checked_header_agrees_with_the_gguf_package(files):
    """On intact files wfrun's reading of the header is the library's."""
    for path in files.values():
        ours = read_gguf_header(path)
        theirs = gguf.GGUFReader(path)
        assert list(ours.tensors) == [t.name for t in theirs.tensors]
        for tensor in theirs.tensors:
            info = ours.tensors[tensor.name]
            assert info.start == tensor.data_offset and info.end - info.start == tensor.n_bytes
            assert info.stored == tuple(int(d) for d in reversed(tensor.shape.tolist()))
            assert info.dtype == tensor.tensor_type.name
        assert ours.data_start == theirs.data_offset


def test_wfrun_reads_exactly_the_quant_types_diffusers_dequantizes():
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES

    assert set(DEQUANTIZED) | {"BF16"} == {t.name for t in SUPPORTED_GGUF_QUANT_TYPES}


def test_a_gguf_of_another_kind_or_architecture_is_named(tmp_path):
    umt5 = write_umt5_gguf(tmp_path / "umt5-xxl-encoder-Q8_0.gguf", "Q8_0", seed=4)
    with pytest.raises(WrongModelError) as err:
        load_gguf_transformer(umt5)
    assert "UMT5-XXL text encoder" in str(err.value) and "text_encoders" in str(err.value)
    from wfrun.models.tiny_gguf import write_gguf

    flux = write_gguf(tmp_path / "flux1-dev-Q4_0.gguf", {"double_blocks.0.img_attn.qkv.weight": torch.zeros(96, 32)},
                      {"double_blocks.0.img_attn.qkv.weight": "Q4_0"}, arch="flux")
    with pytest.raises(WrongModelError) as err:
        load_gguf_transformer(flux)
    assert "'flux'" in str(err.value) and str(flux) in str(err.value)


def test_the_dry_run_check_reads_gguf_only_for_loaders_that_do(files):
    info = check_model_file(files["Q8_0"], "unet_gguf", gguf=True)
    assert (info.kind, info.task, info.layout) == ("wan_transformer", "t2v", "comfyui")
    with pytest.raises(CheckpointError) as err:
        check_model_file(files["Q8_0"], "unet_gguf,diffusion_models")  # e.g. WanVideoModelLoader's
    assert "GGUF" in str(err.value) and "UnetLoaderGGUF" in str(err.value)


def test_file_sizes_stay_quantized(files):
    """A Q4_0 matrix takes 18 bytes per 32 values in memory, as in the file."""
    model = load_gguf_transformer(files["Q4_0"], dtype=torch.float32)
    weight = model.blocks[0].ffn.net[0].proj.weight
    assert weight.numel() == math.prod(weight.quant_shape) // 32 * 18
