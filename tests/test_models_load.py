"""Tiny checkpoints in every layout and precision → wfrun's loaders → the same outputs as a
diffusers/transformers module built directly from the same weights (see test_models_support)."""

from __future__ import annotations

import pytest
import torch
from test_models_support import (
    IMAGE_TASKS,
    OUT_CHANNELS,
    plain_fp32_state_dict,
    reference_clip,
    reference_t5,
    reference_transformer,
    reference_vae,
    reference_vae22,
    tiny_models_root,
    transformer_inputs,
    umt5_parameter_names,
    wan_t5_name,
)

from wfrun.models.fp8 import Fp8Linear
from wfrun.models.load import load_clip_vision, load_model, load_text_encoder, load_transformer, load_vae

BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
E4M3, E5M2 = torch.float8_e4m3fn, torch.float8_e5m2

#: Every tiny transformer file: (name, task, the compute dtype wfrun picks by default, fp8 storage, scaled).
TRANSFORMERS = [
    ("Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v", BF16, None, False),
    ("Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", "t2v", BF16, E4M3, True),
    ("Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "i2v", BF16, E4M3, False),
    ("Wan2_1-I2V-14B-720P_tiny_fp8_e5m2.safetensors", "i2v", BF16, E5M2, False),
    ("Wan2_1-FLF2V-14B-720P_tiny_fp16.safetensors", "flf2v", FP16, None, False),
    ("Wan2.1-Fun-1.3B-Control_tiny_bf16.safetensors", "fun-control", BF16, None, False),
    ("wan2.1_t2v_1.3B_tiny_bf16.safetensors", "t2v", BF16, None, False),
    ("wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors", "i2v", BF16, E4M3, True),
    ("wan2.1_flf2v_720p_14B_tiny_fp16.safetensors", "flf2v", FP16, None, False),
    ("wan2.1_fun_control_1.3B_tiny_bf16.safetensors", "fun-control", BF16, None, False),
    ("wan2.1_fun_inp_1.3B_tiny_bf16.safetensors", "fun-inp", BF16, None, False),
    ("wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors", "t2v-a14b", BF16, E4M3, True),
    ("wan2.2_i2v_high_noise_14B_tiny_fp8_scaled.safetensors", "i2v-a14b", BF16, E4M3, True),
    ("wan2.2_ti2v_5B_tiny_fp16.safetensors", "ti2v-5b", FP16, None, False),
    ("Wan2_2-TI2V-5B_tiny_bf16.safetensors", "ti2v-5b", BF16, None, False),
    ("wan2.1_vace_1.3B_tiny_fp16.safetensors", "vace", FP16, None, False),
]
VAES = [("Wan2_1_VAE_tiny_bf16.safetensors", BF16), ("Wan2_1_VAE_tiny_fp32.safetensors", FP32),
        ("wan_2.1_vae_tiny.safetensors", FP16)]
VAES22 = [("wan2.2_vae_tiny.safetensors", FP32), ("Wan2_2_VAE_tiny_bf16.safetensors", BF16)]
T5S = [("umt5-xxl-enc-tiny-bf16.safetensors", BF16, None), ("umt5-xxl-enc-tiny-fp8_e4m3fn.safetensors", BF16, E4M3),
       ("umt5_xxl_tiny_fp16.safetensors", FP16, None),
       ("umt5_xxl_tiny_fp8_e4m3fn_scaled.safetensors", BF16, E4M3)]
CLIPS = [("open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors", FP16),
         ("clip_vision_h_tiny.safetensors", FP16), ("open_clip_vit_h_14_tiny_fp32.safetensors", FP32)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models_root(tmp_path_factory)


def _run(model, inputs):
    with torch.no_grad():
        return model(**inputs)[0]


def _assert_same_dtypes(model, reference, fp8_storage):
    """Each parameter has the dtype the library gives it, except the block linears kept in fp8."""
    ref = dict(reference.named_parameters())
    for name, param in model.named_parameters():
        if param.dtype in (E4M3, E5M2):
            assert param.dtype == fp8_storage, name
            assert name.endswith(".weight")
        else:
            assert param.dtype == ref[name].dtype, (name, param.dtype, ref[name].dtype)


def test_every_tiny_file_is_covered(tiny):
    from wfrun.models.tiny import DEPTH_FILES

    names = {p.name for p in tiny.rglob("*.safetensors") if p.parent.name not in ("depthanything", "hdemucs")}
    listed = {row[0] for row in TRANSFORMERS + VAES + VAES22 + T5S + CLIPS}
    assert names == listed
    # AudioSeparation's Hybrid Demucs stand-in (its tests: tests/test_hdemucs.py)
    from wfrun.models.hdemucs import TINY, load_hdemucs

    assert [p.name for p in (tiny / "hdemucs").iterdir()] == ["hdemucs_high_trained.safetensors"]
    assert load_hdemucs(tiny / "hdemucs" / "hdemucs_high_trained.safetensors").config == TINY
    # Depth Anything files are loaded by the Fun-control tests (tests/test_run_i2v_fun_examples.py)
    assert {p.name for p in (tiny / "depthanything").iterdir()} == set(DEPTH_FILES)


@pytest.mark.parametrize("name,task,dtype,fp8,scaled", TRANSFORMERS, ids=[row[0] for row in TRANSFORMERS])
def test_transformer_matches_diffusers(tiny, tmp_path, name, task, dtype, fp8, scaled):
    path = tiny / "diffusion_models" / name
    model = load_transformer(path)
    reference = reference_transformer(path, task, dtype, tmp_path)
    _assert_same_dtypes(model, reference, fp8)
    fp8_layers = [m for m in model.modules() if isinstance(m, Fp8Linear)]
    if fp8 is None:
        assert not fp8_layers
    else:
        # attn1/attn2 q, k, v, o (+ k_img, v_img) and ffn.0/ffn.2 of each of the 2 blocks
        assert len(fp8_layers) == 2 * (8 + 2 * (task in IMAGE_TASKS) + 2)
        assert all((m.weight_scale is not None) == scaled for m in fp8_layers)
    inputs = transformer_inputs(task, dtype)
    out = _run(model, inputs)
    assert out.dtype == dtype and out.shape == (1, OUT_CHANNELS.get(task, 16), *inputs["hidden_states"].shape[2:])
    assert type(model) is type(reference)
    assert torch.equal(out, _run(reference, inputs))


@pytest.mark.parametrize("name,task", [
    ("Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "i2v"),
    ("wan2.1_flf2v_720p_14B_tiny_fp16.safetensors", "flf2v"),
    ("Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", "t2v"),
])
def test_transformer_in_fp32_matches_diffusers(tiny, tmp_path, name, task):
    path = tiny / "diffusion_models" / name
    model = load_transformer(path, dtype="fp32", quantization="none")
    assert all(p.dtype == FP32 for p in model.parameters())
    reference = reference_transformer(path, task, FP32, tmp_path)
    inputs = transformer_inputs(task, FP32)
    assert torch.equal(_run(model, inputs), _run(reference, inputs))


def test_transformer_quantized_on_load_is_within_fp8_rounding(tiny, tmp_path):
    """A bf16 file stored as fp8_e4m3fn on load: close to bf16, and equal to the reference
    whose block linears were rounded to fp8 the same way."""
    path = tiny / "diffusion_models" / "Wan2_1-T2V-1_3B_tiny_bf16.safetensors"
    model = load_transformer(path, dtype="bf16", quantization="fp8_e4m3fn")
    layers = [m for m in model.modules() if isinstance(m, Fp8Linear)]
    assert len(layers) == 2 * 10 and all(m.weight.dtype == E4M3 for m in layers)
    reference = reference_transformer(path, "t2v", BF16, tmp_path)
    inputs = transformer_inputs("t2v", BF16)
    exact = _run(reference, inputs).float()
    got = _run(model, inputs).float()
    error = (got - exact).norm() / exact.norm()
    # e4m3 keeps 3 mantissa bits: ~3 % relative error per weight, less after averaging
    assert 1e-4 < error < 0.06
    with torch.no_grad():
        for name, module in reference.named_modules():
            if name in dict(model.named_modules()) and isinstance(model.get_submodule(name), Fp8Linear):
                module.weight.copy_(module.weight.float().clamp(-448, 448).to(E4M3).to(BF16))
    assert torch.equal(got, _run(reference, inputs).float())


def test_transformer_quantization_none_upcasts_fp8(tiny):
    path = tiny / "diffusion_models" / "Wan2_1-I2V-14B-720P_tiny_fp8_e5m2.safetensors"
    model = load_transformer(path, dtype=FP16, quantization="none")
    assert not any(isinstance(m, Fp8Linear) for m in model.modules())
    weight = model.blocks[0].attn1.to_q.weight
    stored = plain_fp32_state_dict(path)["blocks.0.self_attn.q.weight"]
    assert weight.dtype == FP16 and torch.equal(weight.float(), stored)


@pytest.mark.parametrize("name,dtype", VAES, ids=[row[0] for row in VAES])
def test_vae_matches_diffusers(tiny, tmp_path, name, dtype):
    path = tiny / "vae" / name
    model = load_vae(path)
    reference = reference_vae(path, dtype, tmp_path)
    _assert_same_dtypes(model, reference, None)
    video = torch.rand(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(1)).to(dtype) * 2 - 1
    with torch.no_grad():
        latent = model.encode(video).latent_dist.mean
        assert latent.shape == (1, 16, 2, 2, 2)
        assert torch.equal(latent, reference.encode(video).latent_dist.mean)
        decoded = model.decode(latent).sample
        assert decoded.shape == video.shape
        assert torch.equal(decoded, reference.decode(latent).sample)


@pytest.mark.parametrize("name,dtype", VAES22, ids=[row[0] for row in VAES22])
def test_wan22_vae_matches_diffusers(tiny, tmp_path, name, dtype):
    """The Wan 2.2 VAE: 12 coded channels, 48 latent channels at 4x16x16, against a diffusers
    module filled by the rules of diffusers' own conversion script (``reference_vae22``)."""
    path = tiny / "vae" / name
    model = load_vae(path)
    assert model.config.is_residual and model.config.z_dim == 48 and model.config.patch_size == 2
    reference = reference_vae22(path, dtype, tmp_path)
    _assert_same_dtypes(model, reference, None)
    video = torch.rand(1, 3, 5, 32, 64, generator=torch.Generator().manual_seed(1)).to(dtype) * 2 - 1
    with torch.no_grad():
        latent = model.encode(video).latent_dist.mean
        assert latent.shape == (1, 48, 2, 2, 4)  # 1 + 4 frames → 2; 32x64 pixels / 16
        assert torch.equal(latent, reference.encode(video).latent_dist.mean)
        decoded = model.decode(latent).sample
        assert decoded.shape == video.shape
        assert torch.equal(decoded, reference.decode(latent).sample)


@pytest.mark.parametrize("name,dtype,fp8", T5S, ids=[row[0] for row in T5S])
def test_text_encoder_matches_transformers(tiny, tmp_path, name, dtype, fp8):
    path = tiny / "text_encoders" / name
    model = load_text_encoder(path)
    reference = reference_t5(path, dtype, tmp_path)
    _assert_same_dtypes(model, reference, fp8)
    assert any(isinstance(m, Fp8Linear) for m in model.modules()) == (fp8 is not None)
    ids = torch.tensor([[5, 17, 99, 42, 1, 0, 0], [7, 8, 9, 10, 11, 12, 1]])
    mask = (torch.arange(7) < torch.tensor([[5], [7]])).long()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    assert out.shape == (2, 7, 32) and torch.isfinite(out).all()
    assert torch.equal(out, expected)


@pytest.mark.parametrize("name", ["umt5-xxl-enc-tiny-bf16.safetensors", "umt5_xxl_tiny_fp16.safetensors"])
def test_t5_converter_fills_every_umt5_parameter_from_its_source(tiny, name):
    """Names from transformers' own UMT5EncoderModel, sources from the model definitions
    (``wan_t5_name``), values straight from the file: nothing of wfrun's key table."""
    path = tiny / "text_encoders" / name
    loaded = load_text_encoder(path).state_dict()
    expected = umt5_parameter_names()
    assert sorted(loaded) == sorted(expected)
    stored = plain_fp32_state_dict(path)
    wan_layout = "token_embedding.weight" in stored
    for target in expected:
        source = wan_t5_name(target) if wan_layout else target
        if source not in stored and target == "encoder.embed_tokens.weight":
            source = "shared.weight"  # ComfyUI's files store the tied embedding once
        assert torch.equal(loaded[target].float(), stored[source]), f"{target} is not {source} of {name}"


def test_t5_ffn_gate_is_the_gelu_branch(tiny):
    """Wan's T5 feed-forward, ``fc2(fc1(x) * gelu_tanh(gate(x)))``, computed from the file's
    tensors, equals the loaded layer: the converter puts ``gate`` and ``fc1`` where the
    formula needs them (names alone cannot tell the two branches apart)."""
    path = tiny / "text_encoders" / "umt5-xxl-enc-tiny-bf16.safetensors"
    stored = plain_fp32_state_dict(path)
    model = load_text_encoder(path, dtype=FP32)
    x = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(0))
    for block in range(2):
        gate, fc1, fc2 = (stored[f"blocks.{block}.ffn.{k}.weight"] for k in ("gate.0", "fc1", "fc2"))
        wan = (x @ fc1.T * torch.nn.functional.gelu(x @ gate.T, approximate="tanh")) @ fc2.T
        with torch.no_grad():
            out = model.encoder.block[block].layer[1].DenseReluDense(x)
        torch.testing.assert_close(out, wan, rtol=1e-5, atol=1e-5)


def test_text_encoder_fp16_keeps_wo_in_fp32_like_transformers(tiny):
    model = load_text_encoder(tiny / "text_encoders" / "umt5_xxl_tiny_fp16.safetensors")
    assert model.encoder.block[0].layer[1].DenseReluDense.wo.weight.dtype == FP32
    assert model.encoder.block[0].layer[0].SelfAttention.q.weight.dtype == FP16


@pytest.mark.parametrize("name,dtype", CLIPS, ids=[row[0] for row in CLIPS])
def test_clip_vision_matches_transformers(tiny, tmp_path, name, dtype):
    path = tiny / "clip_vision" / name
    model = load_clip_vision(path)
    reference = reference_clip(path, dtype, tmp_path)
    _assert_same_dtypes(model, reference, None)
    pixels = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(2)).to(dtype)
    with torch.no_grad():
        out = model(pixel_values=pixels, output_hidden_states=True)
        expected = reference(pixel_values=pixels, output_hidden_states=True)
    # Wan feeds the penultimate block's output to the transformer
    assert out.hidden_states[-2].shape == (2, 5, 32)
    assert torch.equal(out.hidden_states[-2], expected.hidden_states[-2])
    assert torch.equal(out.image_embeds, expected.image_embeds)


@pytest.mark.parametrize("folder,name,cls", [
    ("diffusion_models", "wan2.1_t2v_1.3B_tiny_bf16.safetensors", "WanTransformer3DModel"),
    ("vae", "wan_2.1_vae_tiny.safetensors", "AutoencoderKLWan"),
    ("text_encoders", "umt5_xxl_tiny_fp16.safetensors", "UMT5EncoderModel"),
    ("clip_vision", "clip_vision_h_tiny.safetensors", "CLIPVisionModelWithProjection"),
])
def test_load_model_picks_the_loader_from_the_keys(tiny, tmp_path, folder, name, cls):
    # renamed so that nothing can be learnt from the name
    renamed = tmp_path / "model.safetensors"
    renamed.write_bytes((tiny / folder / name).read_bytes())
    model = load_model(renamed, dtype="fp32")
    assert type(model).__name__ == cls
    assert all(p.device.type == "cpu" and not p.is_meta for p in model.parameters())
    assert all(not b.is_meta for b in model.buffers())
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_bf16_file_is_not_upcast_in_memory(tiny):
    """Memory-aware: a bf16 file loaded at bf16 stays bf16 (only the few layers diffusers
    itself keeps in fp32 are fp32), and an fp8 file's block linears stay fp8."""
    model = load_transformer(tiny / "diffusion_models" / "Wan2_1-T2V-1_3B_tiny_bf16.safetensors")
    sizes: dict[torch.dtype, int] = {}
    for p in model.parameters():
        sizes[p.dtype] = sizes.get(p.dtype, 0) + p.numel()
    assert sizes[BF16] > 3 * sizes.get(FP32, 0)
    fp8 = load_transformer(tiny / "diffusion_models" / "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors")
    block_weights = [p for n, p in fp8.named_parameters() if n.startswith("blocks.") and p.ndim == 2]
    assert block_weights and all(p.dtype == E4M3 for p in block_weights)


def test_fp8_model_moves_between_devices_keeping_fp8(tiny):
    model = load_transformer(tiny / "diffusion_models" / "Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors")
    layer = model.blocks[0].attn1.to_q
    scale = layer.weight_scale.clone()
    model.to("cpu", dtype=BF16)
    assert layer.weight.dtype == E4M3 and layer.weight_scale.dtype == FP32 and torch.equal(layer.weight_scale, scale)


def test_ensure_tiny_models_writes_once_and_reuses(tmp_path, monkeypatch):
    from wfrun.models import tiny as tiny_module

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "cache"))
    root = tiny_module.ensure_tiny_models()
    assert root == tmp_path / "cache" / "tiny-models" / f"v{tiny_module.TINY_VERSION}"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.safetensors"))
    assert len(files) == len(tiny_module.SPECS) + len(tiny_module.DEPTH_FILES) + 1  # + AudioSeparation's
    assert (root / "text_encoders" / "umt5-xxl" / "spiece.model").is_file()
    stamp = (root / "manifest.json").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(tiny_module, "write_tiny_models", lambda r: calls.append(r))
    assert tiny_module.ensure_tiny_models() == root
    assert calls == [] and (root / "manifest.json").stat().st_mtime_ns == stamp


def test_tiny_models_are_deterministic_and_small(tiny, tmp_path):
    from wfrun.models.tiny import write_tiny_models

    again = write_tiny_models(tmp_path / "again")
    total = 0
    for path in tiny.rglob("*.safetensors"):
        twin = again / path.relative_to(tiny)
        assert path.read_bytes() == twin.read_bytes(), path.name
        total += path.stat().st_size
    assert total < 8 * 2**20


_PEAK_PROBE = """
import json, sys
from pathlib import Path
import accelerate, diffusers, transformers  # imported before the baseline
from diffusers import WanTransformer3DModel
from wfrun.models.load import load_transformer

def status():
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out

Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
before = status()["VmRSS"]
model = load_transformer(sys.argv[1], dtype=sys.argv[2])
params = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({"before": before, "peak": status()["VmHWM"], "params": params}))
"""


def test_host_memory_peak_is_the_model_plus_one_tensor(tmp_path):
    """Loading a 53 MB bf16 file at bf16 in a fresh process: the resident-memory peak grows by
    the model and little more, never by a second copy of the file or an fp32 copy of it."""
    import json
    import subprocess
    import sys

    from wfrun.models.tiny import transformer_weights, write_safetensors_streaming

    dims = dict(dim=512, heads=4, ffn=2048, layers=6, freq=256, text_dim=512, image_dim=512, image_tokens=5, out=16)
    weights = transformer_weights("t2v", 1, dims)
    path = write_safetensors_streaming(tmp_path / "medium.safetensors", [
        (name, BF16, tuple(value.shape), lambda value=value: value.to(BF16)) for name, value in weights.items()])
    size = path.stat().st_size
    run = subprocess.run([sys.executable, "-c", _PEAK_PROBE, str(path), "bf16"], capture_output=True, text=True,
                         check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    grown = result["peak"] - result["before"]
    assert size * 0.95 < result["params"] < size * 1.1
    # a whole-file read or an fp32 copy would add at least another `size`
    assert grown < result["params"] + 0.6 * size, (grown, size)


@pytest.mark.parametrize("relpath", [
    "diffusion_models/Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "vae/Wan2_1_VAE_tiny_bf16.safetensors",
    "text_encoders/umt5_xxl_tiny_fp8_e4m3fn_scaled.safetensors", "clip_vision/clip_vision_h_tiny.safetensors"])
def test_load_model_takes_the_same_options_for_every_kind(tiny, relpath):
    model = load_model(tiny / relpath, dtype="bf16", device="cpu", quantization="auto")
    assert all(p.dtype in (BF16, FP32, E4M3) for p in model.parameters())
    model = load_model(tiny / relpath, dtype="fp32", device=torch.device("cpu"), quantization="none")
    assert all(p.dtype == FP32 for p in model.parameters())
