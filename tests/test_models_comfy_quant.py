"""ComfyUI's per-layer quantized checkpoints (``comfy_quant`` marks: fp8 mixed, NVFP4, MXFP8)
through the real loaders, against a decoding of each stored byte written out by hand here
(FP4 E2M1 and E8M0 from their bit fields, the block-scale swizzle from its byte formula),
the stored tensors read with the ``safetensors`` library, not wfrun's reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import save_file

from run_helpers import ROOT, linked_models, nvfp4_t2v_template
from wfrun.cli import main
from wfrun.media.video import probe
from wfrun.models.comfy_quant import dequantize, FORMATS
from wfrun.models.detect import detect
from wfrun.models.fp8 import Fp8Linear
from wfrun.models.header import CheckpointError
from wfrun.models.load import load_text_encoder, load_transformer
from wfrun.models.tiny import TinySpec, master_weights, write_file
from wfrun.models.tiny_comfy_quant import mark, quantize_layer

PREFIX = "model.diffusion_model."


# --- the formats by hand ------------------------------------------------------------------


def e2m1(code: int) -> float:
    """FP4 E2M1 from its bits: sign, two exponent bits (bias 1), one mantissa bit."""
    sign = -1.0 if code & 8 else 1.0
    exponent, mantissa = (code >> 1) & 3, code & 1
    magnitude = mantissa * 0.5 if exponent == 0 else 2.0 ** (exponent - 1) * (1 + mantissa / 2)
    return sign * magnitude


def blocked_index(r: int, c: int, cols: int) -> int:
    """Byte of scale (row r, block column c) in cuBLAS's 128x4-tile layout of a [*, cols] matrix."""
    tiles_per_row = -(-cols // 4)
    tile = (r // 128) * tiles_per_row + c // 4
    return tile * 512 + (r % 32) * 16 + ((r % 128) // 32) * 4 + c % 4


def hand_nvfp4(weight: torch.Tensor, scale: torch.Tensor, scale_2: torch.Tensor, rows: int, cols: int):
    packed, flat = weight.view(torch.uint8), scale.reshape(-1).view(torch.float8_e4m3fn).float()
    blocks = -(-packed.shape[1] * 2 // 16)
    s2 = float(scale_2)
    out = torch.empty(rows, cols)
    for r in range(rows):
        for c in range(cols):
            byte = int(packed[r, c // 2])
            code = byte >> 4 if c % 2 == 0 else byte & 15
            out[r, c] = e2m1(code) * (float(flat[blocked_index(r, c // 16, blocks)]) * s2)
    return out


def hand_mxfp8(weight: torch.Tensor, scale: torch.Tensor, rows: int, cols: int):
    values, flat = weight.float(), scale.reshape(-1).view(torch.uint8)
    blocks = weight.shape[1] // 32
    out = torch.empty(rows, cols)
    for r in range(rows):
        for c in range(cols):
            out[r, c] = values[r, c] * 2.0 ** (int(flat[blocked_index(r, c // 32, blocks)]) - 127)
    return out


def hand_layer(fmt: str, stored: dict[str, torch.Tensor], rows: int, cols: int) -> torch.Tensor:
    if fmt == "nvfp4":
        return hand_nvfp4(stored["weight"], stored["weight_scale"], stored["weight_scale_2"], rows, cols)
    if fmt == "mxfp8":
        return hand_mxfp8(stored["weight"], stored["weight_scale"], rows, cols)
    return stored["weight"].float() * float(stored["weight_scale"])


@pytest.mark.parametrize("fmt, shape", [("nvfp4", (20, 40)), ("nvfp4", (130, 48)), ("mxfp8", (40, 72)),
                                        ("mxfp8", (32, 160)), ("float8_e4m3fn", (8, 24))])
def test_dequantize_matches_the_hand_decoding_and_cuts_the_padding(fmt, shape):
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(5)) * 0.05
    stored = quantize_layer(w, fmt)
    f = FORMATS[fmt]
    if f.block_scaled:  # padded to the format's multiple, two codes a byte for FP4
        assert stored["weight"].shape == f.storage_shape(shape)
    got = dequantize(f, stored["weight"], stored["weight_scale"], stored.get("weight_scale_2"), shape)
    assert got.shape == shape
    torch.testing.assert_close(got, hand_layer(fmt, stored, *shape), rtol=1e-6, atol=0)
    # and it is the weight, within the format's rounding (E2M1's coarsest step is 1/3 of a block's max)
    bound = {"nvfp4": 0.18, "mxfp8": 0.07, "float8_e4m3fn": 0.07}[fmt]
    assert (got - w).abs().max() <= bound * w.abs().max()


# --- tiny files through the loaders -----------------------------------------------------------


def stored_layers(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str]]:
    """Each marked layer's stored tensors (by suffix) and the header metadata, read with safetensors."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
        for key in f.keys():
            if key.endswith(".comfy_quant"):
                layer = key.removesuffix(".comfy_quant")
                config = json.loads(bytes(f.get_tensor(key).tolist()).decode())
                layers[layer] = {"format": config["format"]}
        for layer, parts in layers.items():
            for suffix in ("weight", "weight_scale", "weight_scale_2"):
                if f"{layer}.{suffix}" in f.keys():
                    parts[suffix] = f.get_tensor(f"{layer}.{suffix}")
    return layers, metadata


WAN_NAMES = {"self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
             "self_attn.o": "attn1.to_out.0", "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k",
             "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0", "ffn.0": "ffn.net.0.proj",
             "ffn.2": "ffn.net.2"}


def wan_module(model, layer: str):
    block, _, rest = layer.removeprefix(PREFIX).removeprefix("blocks.").partition(".")
    return model.blocks[int(block)].get_submodule(WAN_NAMES[rest])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("quant")
    out = {}
    for precision in ("fp8mixed", "nvfp4", "mxfp8"):
        spec = TinySpec("diffusion_models", f"wan2.1_t2v_1.3B_tiny_{precision}.safetensors", "wan_transformer",
                        "t2v", "comfyui", precision)
        out[precision] = write_file(spec, root)
    return out


@pytest.mark.parametrize("precision", ["nvfp4", "mxfp8"])
def test_block_quantized_wan_loads_as_the_hand_decoding_and_keeps_the_rest_as_stored(files, precision):
    path = files[precision]
    info = detect(path)
    assert (info.kind, info.variant, info.layout, info.scaled) == ("wan_transformer", "t2v", "comfyui", True)
    layers, metadata = stored_layers(path)
    assert len(layers) == 10 and all(k.startswith(f"{PREFIX}blocks.0.") for k in layers)  # block 1 left alone
    assert json.loads(metadata["_quantization_metadata"])["layers"] == {k: {"format": precision} for k in layers}
    model = load_transformer(path, dtype=torch.float32)
    for layer, parts in layers.items():
        module = wan_module(model, layer)
        assert type(module) is torch.nn.Linear and module.weight.dtype == torch.float32
        rows, cols = module.weight.shape
        torch.testing.assert_close(module.weight, hand_layer(precision, parts, rows, cols), rtol=1e-6, atol=0)
    with safe_open(str(path), "pt") as f:  # the unmarked block: the stored bf16 values, no scale anywhere
        torch.testing.assert_close(model.blocks[1].attn1.to_q.weight,
                                   f.get_tensor(f"{PREFIX}blocks.1.self_attn.q.weight").float(), rtol=0, atol=0)
    master = master_weights(TinySpec("x", path.name, "wan_transformer", "t2v", "comfyui", "bf16"))
    got, want = model.blocks[0].ffn.net[2].weight, master["blocks.0.ffn.2.weight"]
    assert (got - want).abs().max() <= 0.2 * want.abs().max()


def test_bf16_compute_is_the_float32_dequantization_rounded_once(files):
    f32 = load_transformer(files["nvfp4"], dtype=torch.float32)
    bf16 = load_transformer(files["nvfp4"])
    assert bf16.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert torch.equal(bf16.blocks[0].attn1.to_q.weight, f32.blocks[0].attn1.to_q.weight.bfloat16())


def test_fp8_mixed_keeps_fp8_weights_with_their_scale_and_unmarked_layers_as_stored(files):
    path = files["fp8mixed"]
    layers, _ = stored_layers(path)
    model = load_transformer(path)
    for layer, parts in layers.items():
        module = wan_module(model, layer)
        assert isinstance(module, Fp8Linear) and torch.equal(module.weight, parts["weight"])
        assert torch.equal(module.weight_scale, parts["weight_scale"].float())
        torch.testing.assert_close(module.dequantized_weight(torch.float32), hand_layer("float8_e4m3fn", parts, 0, 0))
    assert type(model.blocks[1].attn1.to_q) is torch.nn.Linear
    assert model.blocks[1].attn1.to_q.weight.dtype == torch.bfloat16
    upcast = load_transformer(path, dtype=torch.float32, quantization="none")
    torch.testing.assert_close(upcast.blocks[0].attn1.to_q.weight,
                               model.blocks[0].attn1.to_q.dequantized_weight(torch.float32))


def test_asking_for_fp8_requantizes_the_dequantized_block_weights(files):
    model = load_transformer(files["mxfp8"], quantization="fp8_e4m3fn", dtype=torch.float32)
    reference = load_transformer(files["mxfp8"], dtype=torch.float32)
    layer = model.blocks[0].attn1.to_q
    assert isinstance(layer, Fp8Linear) and layer.weight.dtype == torch.float8_e4m3fn
    want = reference.blocks[0].attn1.to_q.weight
    assert (layer.dequantized_weight(torch.float32) - want).abs().max() <= 0.07 * want.abs().max()


def rewrite(path: Path, dest: Path, change) -> Path:
    """A copy of ``path`` with ``change(tensors, metadata)`` applied."""
    with safe_open(str(path), "pt") as f:
        tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())
    change(tensors, metadata)
    save_file(tensors, str(dest), metadata=metadata)
    return dest


def test_the_metadata_list_alone_marks_the_layers(files, tmp_path):
    def drop_marks(tensors, metadata):
        for key in [k for k in tensors if k.endswith(".comfy_quant")]:
            del tensors[key]

    path = rewrite(files["nvfp4"], tmp_path / "wan2.1_t2v_nvfp4_metadata_only.safetensors", drop_marks)
    a, b = load_transformer(path, dtype=torch.float32), load_transformer(files["nvfp4"], dtype=torch.float32)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_mxfp8_scales_stored_as_uint8_read_the_same(files, tmp_path):
    def as_u8(tensors, metadata):
        for key in [k for k in tensors if k.endswith(".weight_scale")]:
            tensors[key] = tensors[key].view(torch.uint8)

    path = rewrite(files["mxfp8"], tmp_path / "mxfp8_u8.safetensors", as_u8)
    a, b = load_transformer(path, dtype=torch.float32), load_transformer(files["mxfp8"], dtype=torch.float32)
    assert torch.equal(a.blocks[0].ffn.net[0].proj.weight, b.blocks[0].ffn.net[0].proj.weight)


LAYER = f"{PREFIX}blocks.0.self_attn.q"


@pytest.mark.parametrize("change, needles", [
    (lambda t, m: t.__setitem__(f"{LAYER}.comfy_quant", mark({"format": "int8_tensorwise", "convrot": True})),
     ["int8_tensorwise", "convrot", LAYER]),
    (lambda t, m: t.__setitem__(f"{LAYER}.comfy_quant", mark({"format": "float4_magic"})), ["float4_magic", LAYER]),
    (lambda t, m: t.__setitem__(f"{LAYER}.comfy_quant", mark({"format": "float8_e4m3fn"})),
     ["float8_e4m3fn", "U8", LAYER]),
    (lambda t, m: t.pop(f"{LAYER}.weight_scale_2"), ["weight_scale_2", LAYER]),
    (lambda t, m: t.__setitem__(f"{LAYER}.weight_scale", t[f"{LAYER}.weight_scale"][:64]), ["block scales", LAYER]),
    (lambda t, m: t.__setitem__(f"{LAYER}.comfy_quant", torch.tensor(list(b"{not json"), dtype=torch.uint8)),
     ["damaged", f"{LAYER}.comfy_quant"]),
    (lambda t, m: m.__setitem__("_quantization_metadata", "[1, 2]"), ["_quantization_metadata"]),
], ids=["int8-convrot", "unknown", "format-vs-dtype", "no-scale-2", "scale-count", "bad-json", "bad-metadata"])
def test_what_wfrun_cannot_read_is_refused_naming_the_file_and_layer(files, tmp_path, change, needles):
    path = rewrite(files["nvfp4"], tmp_path / "broken_nvfp4.safetensors", change)
    with pytest.raises(CheckpointError) as err:
        load_transformer(path)
    assert str(path) in str(err.value) and all(n in str(err.value) for n in needles), str(err.value)


def test_detection_sees_the_logical_shapes_of_packed_weights(tmp_path):
    """A quantized text embedding (packed FP4 halves its columns) still says its true text width."""
    spec = TinySpec("x", "wan_nvfp4_text.safetensors", "wan_transformer", "t2v", "comfyui", "bf16")
    sd = master_weights(spec)
    tensors = {f"{PREFIX}{k}": v.bfloat16() for k, v in sd.items()}
    layer = f"{PREFIX}text_embedding.0"
    del tensors[f"{layer}.weight"]
    for suffix, value in quantize_layer(sd["text_embedding.0.weight"], "nvfp4").items():
        tensors[f"{layer}.{suffix}"] = value
    tensors[f"{layer}.comfy_quant"] = mark({"format": "nvfp4"})
    save_file(tensors, str(tmp_path / spec.name), metadata={"wfrun.num_heads": "2"})
    info = detect(tmp_path / spec.name)
    assert info.config["text_dim"] == sd["text_embedding.0.weight"].shape[1] and info.variant == "t2v"
    model = load_transformer(tmp_path / spec.name, dtype=torch.float32)
    assert model.condition_embedder.text_embedder.linear_1.weight.shape == sd["text_embedding.0.weight"].shape


def test_umt5_in_nvfp4_loads_as_the_hand_decoding(tmp_path):
    path = write_file(TinySpec("text_encoders", "umt5_xxl_tiny_nvfp4.safetensors", "umt5", "", "transformers",
                               "nvfp4"), tmp_path)
    layers, _ = stored_layers(path)
    assert layers and detect(path).kind == "umt5"
    model = load_text_encoder(path, dtype=torch.float32)
    for layer, parts in layers.items():
        weight = model.get_submodule(layer).weight
        torch.testing.assert_close(weight, hand_layer("nvfp4", parts, *weight.shape), rtol=1e-6, atol=0)


# --- whole runs, no --smoke ---------------------------------------------------------------------------


def video_frames(result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [probe(Path(p)).frame_count for p in json.loads(result.stdout)["written"] if p.endswith(".mp4")]


def test_core_t2v_template_runs_from_nvfp4_and_fp8_mixed_files(tiny_models, tmp_path):
    """ComfyUI's Wan 2.1 template: UNETLoader on an NVFP4 file, CLIPLoader on a UMT5 fp8-mixed one."""
    models, workflow, sets = nvfp4_t2v_template(tiny_models, tmp_path)
    result = CliRunner().invoke(main, ["run", str(workflow), "--models", str(models), "-o", str(tmp_path / "out"),
                                       "--device", "cpu", "--format", "json", *[a for s in sets for a in ("--set", s)]])
    assert video_frames(result) == [5]


def test_wrapper_t2v_runs_from_an_mxfp8_file(tiny_models, tmp_path):
    models = linked_models(tiny_models, tmp_path / "models", {
        "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors": "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors",
        "vae/Wan2_1_VAE_tiny_fp32.safetensors": "vae/Wan2_1_VAE_tiny_fp32.safetensors"})
    write_file(TinySpec("diffusion_models", "Wan2_1-T2V-1_3B_tiny_mxfp8.safetensors", "wan_transformer", "t2v",
                        "comfyui", "mxfp8"), models)
    sets = ["22.model=Wan2_1-T2V-1_3B_tiny_mxfp8.safetensors", "37.width=64", "37.height=64", "37.num_frames=5",
            "27.steps=2"]
    result = CliRunner().invoke(main, ["run", str(ROOT / "workflows" / "wan_t2v_tiny.json"), "--models", str(models),
                                       "-o", str(tmp_path / "out"), "--device", "cpu", "--format", "json",
                                       *[a for s in sets for a in ("--set", s)]])
    assert video_frames(result) == [5]


def test_the_dry_run_check_refuses_what_the_loader_refuses(files, tmp_path):
    from wfrun.models.preflight import check_model_file

    assert check_model_file(files["nvfp4"], "diffusion_models").variant == "t2v"
    path = rewrite(files["nvfp4"], tmp_path / "wan_int8_convrot.safetensors", lambda t, m: t.__setitem__(
        f"{LAYER}.comfy_quant", mark({"format": "int8_tensorwise", "convrot": True})))
    with pytest.raises(CheckpointError, match="int8_tensorwise"):
        check_model_file(path, "diffusion_models")


def test_a_listed_layer_without_weights_changes_nothing(files, tmp_path):
    def list_a_ghost(tensors, metadata):
        layers = json.loads(metadata["_quantization_metadata"])
        layers["layers"][f"{PREFIX}blocks.9.ffn.0"] = {"format": "int8_tensorwise"}
        metadata["_quantization_metadata"] = json.dumps(layers)

    path = rewrite(files["nvfp4"], tmp_path / "ghost_nvfp4.safetensors", list_a_ghost)
    a, b = load_transformer(path, dtype=torch.float32), load_transformer(files["nvfp4"], dtype=torch.float32)
    assert torch.equal(a.blocks[0].attn1.to_q.weight, b.blocks[0].attn1.to_q.weight)
