"""Detection from keys and shapes, on every tiny layout and on full-size headers.

Full-size files are written as a real safetensors header followed by a *sparse* data area
(the file has its full length but no data on disk), so detection of the real 14B, UMT5-XXL
and ViT-H shapes is tested without writing gigabytes.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from test_models_support import tiny_models_root

from wfrun.models import tiny as tiny_module
from wfrun.models.detect import WrongModelError, detect
from wfrun.models.load import load_clip_vision, load_model, load_text_encoder, load_transformer, load_vae

SIZES = {"F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1, "F8_E5M2": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models_root(tmp_path_factory)


def write_header_only(path: Path, shapes: dict[str, tuple[int, ...]], dtype_of=lambda name, shape: "BF16") -> Path:
    """A safetensors file with these tensors' header and an unwritten (sparse) data area."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        dtype = dtype_of(name, shape)
        nbytes = math.prod(shape) * SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + offset)
    return path


def fp8_blocks(name: str, shape) -> str:
    """Kijai's fp8 files: the 2-D weights inside the blocks in fp8, everything else bf16."""
    return "F8_E4M3" if name.split(".")[-2:-1] != ["modulation"] and ".blocks." in f".{name}" and len(shape) == 2 \
        else "BF16"


def shapes_of(state_dict) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


# --- every tiny file ----------------------------------------------------------------------

TINY_EXPECTED = {
    # name: (kind, variant, layout, dtype, scaled)
    "Wan2_1-T2V-1_3B_tiny_bf16.safetensors": ("wan_transformer", "t2v", "original", "bf16", False),
    "Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors": ("wan_transformer", "t2v", "original", "fp8_e4m3fn", True),
    "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors": ("wan_transformer", "i2v-480P", "original", "fp8_e4m3fn", False),
    "Wan2_1-I2V-14B-720P_tiny_fp8_e5m2.safetensors": ("wan_transformer", "i2v-720P", "original", "fp8_e5m2", False),
    "Wan2_1-FLF2V-14B-720P_tiny_fp16.safetensors": ("wan_transformer", "flf2v-720P", "original", "fp16", False),
    "Wan2.1-Fun-1.3B-Control_tiny_bf16.safetensors": ("wan_transformer", "fun-control", "original", "bf16", False),
    "wan2.1_t2v_1.3B_tiny_bf16.safetensors": ("wan_transformer", "t2v", "comfyui", "bf16", False),
    "wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors": ("wan_transformer", "i2v-480P", "comfyui", "fp8_e4m3fn", True),
    "wan2.1_flf2v_720p_14B_tiny_fp16.safetensors": ("wan_transformer", "flf2v-720P", "comfyui", "fp16", False),
    "wan2.1_fun_control_1.3B_tiny_bf16.safetensors": ("wan_transformer", "fun-control", "comfyui", "bf16", False),
    "wan2.1_fun_inp_1.3B_tiny_bf16.safetensors": ("wan_transformer", "fun-inp", "comfyui", "bf16", False),
    "wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors":
        ("wan_transformer", "t2v-a14b-low-noise", "comfyui", "fp8_e4m3fn", True),
    "wan2.2_i2v_high_noise_14B_tiny_fp8_scaled.safetensors":
        ("wan_transformer", "i2v-a14b-high-noise", "comfyui", "fp8_e4m3fn", True),
    "wan2.2_ti2v_5B_tiny_fp16.safetensors": ("wan_transformer", "ti2v-5b", "comfyui", "fp16", False),
    "Wan2_2-TI2V-5B_tiny_bf16.safetensors": ("wan_transformer", "ti2v-5b", "original", "bf16", False),
    "wan2.1_vace_1.3B_tiny_fp16.safetensors": ("wan_transformer", "vace", "comfyui", "fp16", False),
    "Wan2_1_VAE_tiny_bf16.safetensors": ("wan_vae", "wan2.1", "original", "bf16", False),
    "Wan2_1_VAE_tiny_fp32.safetensors": ("wan_vae", "wan2.1", "original", "fp32", False),
    "wan_2.1_vae_tiny.safetensors": ("wan_vae", "wan2.1", "original", "fp16", False),
    "wan2.2_vae_tiny.safetensors": ("wan_vae", "wan2.2", "original", "fp32", False),
    "Wan2_2_VAE_tiny_bf16.safetensors": ("wan_vae", "wan2.2", "original", "bf16", False),
    "umt5-xxl-enc-tiny-bf16.safetensors": ("umt5", "umt5", "original", "bf16", False),
    "umt5-xxl-enc-tiny-fp8_e4m3fn.safetensors": ("umt5", "umt5", "original", "fp8_e4m3fn", False),
    "umt5_xxl_tiny_fp16.safetensors": ("umt5", "umt5", "transformers", "fp16", False),
    "umt5_xxl_tiny_fp8_e4m3fn_scaled.safetensors": ("umt5", "umt5", "transformers", "fp8_e4m3fn", True),
    "open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors":
        ("clip_vision", "vit-32d-2l", "original", "fp16", False),
    "clip_vision_h_tiny.safetensors": ("clip_vision", "vit-32d-2l", "transformers", "fp16", False),
    "open_clip_vit_h_14_tiny_fp32.safetensors": ("clip_vision", "vit-32d-2l", "open_clip", "fp32", False),
}


@pytest.mark.parametrize("name", sorted(TINY_EXPECTED))
def test_detects_every_tiny_layout(tiny, name):
    path = next(tiny.rglob(name))
    info = detect(path)
    assert (info.kind, info.variant, info.layout, info.dtype, info.scaled) == TINY_EXPECTED[name]
    assert info.path == path and name in info.describe()


def test_detection_does_not_use_the_file_name_for_the_kind(tiny, tmp_path):
    for name, (kind, *_rest) in TINY_EXPECTED.items():
        renamed = tmp_path / "x.safetensors"
        renamed.write_bytes(next(tiny.rglob(name)).read_bytes())
        assert detect(renamed).kind == kind, name


def test_tiny_transformer_dimensions(tiny):
    info = detect(tiny / "diffusion_models" / "wan2.1_flf2v_720p_14B_tiny_fp16.safetensors")
    assert info.prefix == "model.diffusion_model."
    c = info.config
    assert (c["dim"], c["in_dim"], c["out_dim"], c["ffn_dim"], c["num_layers"], c["text_dim"], c["freq_dim"]) == \
        (32, 36, 16, 64, 2, 32, 16)
    assert c["image_dim"] == 32 and c["pos_embed_seq_len"] == 10 and c["qk_norm"] and c["cross_attn_norm"]
    # 32 is not a multiple of Wan's 128-wide heads: the tiny file's metadata says 2
    assert c["num_heads"] == 2


# --- full-size headers ----------------------------------------------------------------------


def full_transformer(tmp_path: Path, name: str, task: str, dims=tiny_module.TRANSFORMER_14B, comfy=False,
                     dtype_of=fp8_blocks) -> Path:
    shapes = shapes_of(tiny_module.transformer_weights(task, 0, dims, meta=True))
    if comfy:
        shapes = {f"model.diffusion_model.{k}": v for k, v in shapes.items()}
    return write_header_only(tmp_path / name, shapes, dtype_of)


def test_full_size_14b_i2v_shapes_are_the_real_ones(tmp_path):
    """The shapes the detection tests rest on, against the published Wan 2.1 14B I2V ones."""
    shapes = shapes_of(tiny_module.transformer_weights("i2v", 0, tiny_module.TRANSFORMER_14B, meta=True))
    assert shapes["patch_embedding.weight"] == (5120, 36, 1, 2, 2)
    assert shapes["text_embedding.0.weight"] == (5120, 4096)
    assert shapes["time_embedding.0.weight"] == (5120, 256)
    assert shapes["time_projection.1.weight"] == (30720, 5120)
    assert shapes["blocks.39.ffn.0.weight"] == (13824, 5120)
    assert shapes["blocks.0.cross_attn.k_img.weight"] == (5120, 5120)
    assert shapes["blocks.0.modulation"] == (1, 6, 5120)
    assert shapes["img_emb.proj.1.weight"] == (1280, 1280) and shapes["img_emb.proj.3.weight"] == (5120, 1280)
    assert shapes["head.head.weight"] == (64, 5120) and shapes["head.modulation"] == (1, 2, 5120)
    assert "blocks.40.ffn.0.weight" not in shapes


@pytest.mark.parametrize("name,task,dims,comfy,variant,layout,dtype", [
    ("Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors", "i2v", "14B", False, "i2v-14B-480P", "original", "fp8_e4m3fn"),
    ("wan2.1_i2v_720p_14B_fp16.safetensors", "i2v", "14B", True, "i2v-14B-720P", "comfyui", "fp16"),
    ("my_model.safetensors", "i2v", "14B", False, "i2v-14B", "original", "fp8_e4m3fn"),
    ("Wan2_1-T2V-14B_fp8_e4m3fn.safetensors", "t2v", "14B", False, "t2v-14B", "original", "fp8_e4m3fn"),
    ("wan2.1_t2v_1.3B_bf16.safetensors", "t2v", "1.3B", True, "t2v-1.3B", "comfyui", "bf16"),
    ("Wan2_1-FLF2V-14B-720P_fp8_e4m3fn.safetensors", "flf2v", "14B", False, "flf2v-14B-720P", "original",
     "fp8_e4m3fn"),
    ("Wan2.1-Fun-1.3B-Control.safetensors", "fun-control", "1.3B", False, "fun-control-1.3B", "original",
     "fp8_e4m3fn"),
    ("wan2.1_fun_control_14B_bf16.safetensors", "fun-control", "14B", True, "fun-control-14B", "comfyui", "bf16"),
    ("Wan2.1-Fun-1.3B-InP.safetensors", "fun-inp", "1.3B", False, "fun-inp-1.3B", "original", "fp8_e4m3fn"),
    ("Wan2.1-Fun-14B-InP.safetensors", "fun-inp", "14B", False, "fun-inp-14B", "original", "fp8_e4m3fn"),
])
def test_detects_full_size_transformers(tmp_path, name, task, dims, comfy, variant, layout, dtype):
    sizes = {"14B": tiny_module.TRANSFORMER_14B, "1.3B": tiny_module.TRANSFORMER_1_3B}[dims]
    dtype_of = fp8_blocks if dtype.startswith("fp8") else (lambda n, s: {"bf16": "BF16", "fp16": "F16"}[dtype])
    path = full_transformer(tmp_path, name, task, sizes, comfy, dtype_of)
    info = detect(path)
    assert (info.kind, info.variant, info.layout, info.dtype) == ("wan_transformer", variant, layout, dtype)
    c = info.config
    heads, layers, ffn = (40, 40, 13824) if dims == "14B" else (12, 30, 8960)
    assert (c["num_heads"], c["num_layers"], c["ffn_dim"], c["text_dim"], c["freq_dim"]) == (heads, layers, ffn, 4096,
                                                                                           256)
    assert c["in_dim"] == {"t2v": 16, "i2v": 36, "flf2v": 36, "fun-inp": 36, "fun-control": 48}[task]
    assert c["image_dim"] == (None if task == "t2v" else 1280)
    assert c["pos_embed_seq_len"] == (514 if task == "flf2v" else None)


def test_full_size_i2v_config_is_the_diffusers_one(tmp_path):
    """The diffusers config wfrun builds for a full-size I2V file: the published one's values."""
    from wfrun.models.convert_transformer import diffusers_config

    info = detect(full_transformer(tmp_path, "Wan2_1-I2V-14B-720P_fp8_e4m3fn.safetensors", "i2v"))
    config = diffusers_config(info)
    expected = {"patch_size": [1, 2, 2], "num_attention_heads": 40, "attention_head_dim": 128, "in_channels": 36,
                "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 13824, "num_layers": 40,
                "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": 1280,
                "added_kv_proj_dim": 5120, "rope_max_seq_len": 1024, "pos_embed_seq_len": None}
    assert {k: config[k] for k in expected} == expected


def test_detects_full_size_vae(tmp_path):
    path = write_header_only(tmp_path / "Wan2_1_VAE_bf16.safetensors",
                             shapes_of(tiny_module.vae_weights(0, tiny_module.VAE_WAN21, meta=True)))
    info = detect(path)
    assert (info.kind, info.variant, info.layout, info.dtype) == ("wan_vae", "wan2.1", "original", "bf16")
    assert info.config == {"dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                           "temperal_downsample": [False, True, True], "attn_scales": []}


def test_detects_full_size_wan22_vae(tmp_path):
    """The released Wan 2.2 VAE's shapes (160 encoder / 256 decoder channels, 48 latents, 12
    coded channels) give its family and the diffusers config of Wan-AI/Wan2.2-TI2V-5B-Diffusers."""
    from wfrun.models.convert_vae import diffusers_config

    path = write_header_only(tmp_path / "wan2.2_vae.safetensors",
                             shapes_of(tiny_module.vae22_weights(0, tiny_module.VAE_WAN22, meta=True)), lambda n, s: "F32")
    info = detect(path)
    assert (info.kind, info.variant, info.layout, info.dtype) == ("wan_vae", "wan2.2", "original", "fp32")
    assert info.config == {"dim": 160, "z_dim": 48, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                           "temperal_downsample": [False, True, True], "attn_scales": [], "decoder_dim": 256,
                           "in_channels": 12, "out_channels": 12}
    config = diffusers_config(info)
    expected = {"base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "is_residual": True, "in_channels": 12,
                "out_channels": 12, "patch_size": 2, "scale_factor_spatial": 16, "scale_factor_temporal": 4,
                "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "temperal_downsample": [False, True, True]}
    assert {k: config[k] for k in expected} == expected
    assert config["latents_mean"][:2] == [-0.2289, -0.0052] and config["latents_std"][-1] == 0.7744


def test_an_incomplete_vae_is_named_and_refused(tmp_path):
    shapes = {"decoder.middle.0.residual.0.gamma": (384, 1, 1, 1),
              "encoder.downsamples.0.downsamples.0.residual.0.gamma": (160, 1, 1, 1),
              "conv2.weight": (48, 48, 1, 1, 1)}
    path = write_header_only(tmp_path / "wan2.2_vae.safetensors", shapes)
    info = detect(path)
    assert (info.kind, info.variant) == ("wan_vae", "incomplete")
    with pytest.raises(Exception) as err:
        load_vae(path)
    assert "incomplete" in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("layout", ["original", "transformers"])
def test_detects_full_size_umt5_xxl(tmp_path, layout):
    sd = tiny_module.t5_weights(0, tiny_module.UMT5_XXL, meta=True)
    if layout == "transformers":
        sd = tiny_module.t5_to_transformers_names(sd)
    path = write_header_only(tmp_path / "umt5.safetensors", shapes_of(sd))
    info = detect(path)
    assert (info.kind, info.variant, info.layout) == ("umt5", "umt5-xxl", layout)
    assert info.config == {"vocab": 256384, "dim": 4096, "dim_attn": 4096, "dim_ffn": 10240, "num_heads": 64,
                           "num_layers": 24, "num_buckets": 32}
    from wfrun.models.convert_t5 import transformers_config

    config = transformers_config(info)
    assert (config.d_kv, config.num_heads, config.d_ff, config.vocab_size) == (64, 64, 10240, 256384)


def test_detects_english_t5_as_not_umt5(tmp_path):
    """T5 v1.1 XXL (Flux/SD3's) has a position table in block 0 only."""
    sd = tiny_module.t5_to_transformers_names(tiny_module.t5_weights(0, tiny_module.UMT5_XXL, meta=True))
    shapes = {k: v for k, v in shapes_of(sd).items()
              if "relative_attention_bias" not in k or k.startswith("encoder.block.0.")}
    shapes["shared.weight"] = (32128, 4096)
    path = write_header_only(tmp_path / "t5xxl_fp16.safetensors", shapes)
    assert detect(path).kind == "t5"
    with pytest.raises(WrongModelError) as err:
        load_text_encoder(path)
    assert "not the UMT5-XXL" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("layout", ["original", "open_clip", "transformers"])
def test_detects_full_size_clip_vit_h(tmp_path, layout):
    sd = tiny_module.clip_to_layout(tiny_module.clip_weights(0, tiny_module.CLIP_VIT_H, meta=True), layout)
    path = write_header_only(tmp_path / "clip.safetensors", shapes_of(sd))
    info = detect(path)
    assert (info.kind, info.variant, info.layout) == ("clip_vision", "vit-h-14", layout)
    assert info.config == {"dim": 1280, "patch_size": 14, "image_size": 224, "num_layers": 32, "mlp_dim": 5120,
                           "num_heads": 16, "projection_dim": 1024}


def test_detects_lora_and_unknown_files(tmp_path):
    lora = write_header_only(tmp_path / "lora.safetensors", {
        "diffusion_model.blocks.0.self_attn.q.lora_down.weight": (16, 5120),
        "diffusion_model.blocks.0.self_attn.q.lora_up.weight": (5120, 16)})
    assert detect(lora).kind == "lora"
    other = write_header_only(tmp_path / "sdxl.safetensors", {"conditioner.embedders.0.weight": (4, 4)})
    info = detect(other)
    assert info.kind == "unknown" and "conditioner.embedders.0.weight" in info.variant


# --- the wrong file for the loader --------------------------------------------------------

WRONG = [
    (load_transformer, "vae/Wan2_1_VAE_tiny_bf16.safetensors", "a Wan VAE, not a Wan transformer",
     "models/vae"),
    (load_vae, "diffusion_models/Wan2_1-T2V-1_3B_tiny_bf16.safetensors",
     "a Wan transformer (diffusion model), not a Wan VAE", "models/diffusion_models"),
    (load_text_encoder, "clip_vision/clip_vision_h_tiny.safetensors",
     "a CLIP vision encoder, not a UMT5-XXL text encoder", "models/clip_vision"),
    (load_clip_vision, "text_encoders/umt5_xxl_tiny_fp16.safetensors",
     "a UMT5-XXL text encoder, not a CLIP vision encoder", "models/text_encoders"),
    (load_transformer, "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors", "a UMT5-XXL text encoder, not a Wan",
     "models/text_encoders"),
    (load_vae, "clip_vision/open_clip_vit_h_14_tiny_fp32.safetensors", "a CLIP vision encoder, not a Wan VAE",
     "models/clip_vision"),
]


@pytest.mark.parametrize("loader,relpath,says,folder", WRONG, ids=[f"{w[0].__name__}-{w[1]}" for w in WRONG])
def test_wrong_file_for_the_loader_is_one_clear_line(tiny, loader, relpath, says, folder):
    path = tiny / relpath
    with pytest.raises(WrongModelError) as err:
        loader(path)
    message = str(err.value)
    assert says in message and folder in message and str(path) in message
    assert "\n" not in message and "shape" not in message


def test_load_model_with_a_kind_refuses_other_kinds(tiny):
    with pytest.raises(WrongModelError, match="not a Wan VAE"):
        load_model(tiny / "diffusion_models" / "wan2.1_t2v_1.3B_tiny_bf16.safetensors", kind="wan_vae")


def test_load_model_refuses_lora_and_unknown(tmp_path):
    lora = write_header_only(tmp_path / "lora.safetensors", {
        "blocks.0.self_attn.q.lora_A.weight": (16, 32), "blocks.0.self_attn.q.lora_B.weight": (32, 16)})
    with pytest.raises(WrongModelError) as err:
        load_model(lora)
    assert "this is a LoRA" in str(err.value) and "models/loras" in str(err.value)
    other = write_header_only(tmp_path / "other.safetensors", {"foo.weight": (4, 4)})
    with pytest.raises(WrongModelError, match="not a model file wfrun recognises"):
        load_model(other)


def test_diffusers_format_and_unsupported_variants_are_named(tmp_path):
    shard = write_header_only(tmp_path / "diffusion_pytorch_model.safetensors", {
        "condition_embedder.time_proj.weight": (30720, 5120), "blocks.0.attn1.to_q.weight": (5120, 5120)})
    with pytest.raises(Exception) as err:
        load_transformer(shard)
    assert "diffusers-format" in str(err.value) and "from_pretrained" in str(err.value)
    # VACE blocks on an image-to-video backbone: no family has that mix, no module takes it
    shapes = shapes_of(tiny_module.transformer_weights("i2v", 0, tiny_module.TRANSFORMER_1_3B, meta=True))
    vace = shapes_of(tiny_module.transformer_weights("vace", 0, tiny_module.TRANSFORMER_1_3B, meta=True))
    shapes.update({k: v for k, v in vace.items() if k.startswith("vace_")})
    mixed = write_header_only(tmp_path / "wan2.1_i2v_vace_mix_bf16.safetensors", shapes)
    with pytest.raises(Exception) as err:
        load_transformer(mixed)
    message = str(err.value)
    assert "vace_blocks" in message and "cannot run it" in message and "\n" not in message


@pytest.mark.parametrize("task,dims,name,model_type", [
    ("i2v", tiny_module.TRANSFORMER_14B, "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors", "i2v"),
    ("i2v", tiny_module.TRANSFORMER_14B, "Wan2_1-I2V-14B-720P_fp8_e4m3fn.safetensors", "i2v"),
    ("flf2v", tiny_module.TRANSFORMER_14B, "Wan2_1-FLF2V-14B-720P_fp16.safetensors", "fl2v"),
    ("fun-inp", tiny_module.TRANSFORMER_1_3B, "Wan2.1-Fun-1.3B-InP.safetensors", "fun_inp"),
    ("t2v", tiny_module.TRANSFORMER_14B, "Wan2_1-T2V-14B_fp8_e4m3fn.safetensors", "t2v"),
])
def test_full_size_models_get_the_packs_model_type(tmp_path, task, dims, name, model_type):
    """Real files carry their size (and resolution) in the variant, e.g. ``i2v-14B-480P``; the
    pack's model type (which picks TeaCache coefficients and the I2V checks) is the family's."""
    from wfrun.packs.wanvideo.model_loader import pack_model_type

    info = detect(full_transformer(tmp_path, name, task, dims))
    assert info.variant.startswith(task) and info.variant != task  # the size is in the variant
    assert info.task == task
    assert pack_model_type(info.task) == model_type
