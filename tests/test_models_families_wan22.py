"""Every model family ComfyUI's Wan templates load: detected from tiny files in each key layout,
loaded into its diffusers module with a forward of the right shapes, full-size shapes against
the published configs, latent formats against ComfyUI's numbers, and a stand-in for every
model file the 22 templates name (read from the templates themselves)."""

from __future__ import annotations

import json
import re

import pytest
import torch
from test_models_detect import shapes_of, write_header_only

from wfrun.models import tiny as tiny_module
from wfrun.models.detect import detect
from wfrun.models.families import (LATENT_FORMATS, TRANSFORMER_FAMILIES, WAN21, WAN22, WAN21_VAE, WAN22_VAE,
                                   conditioning_by_channels, transformer_family)
from wfrun.models.load import load_text_encoder, load_transformer, load_vae
from wfrun.models.standins import NoStandin, family_for, write_standins
from wfrun.models.tiny import TinySpec, transformer_parts, write_file

# A release-like file name per family (the name decides between families with the same parts).
NAMES = {
    "t2v": "wan2.1_t2v_1.3B", "t2v-fps": "Wan2_1-SkyReels-V2-DF-1_3B-540P",
    "recammaster": "Wan2_1_kwai_recammaster_1_3B_step20000", "vace": "wan2.1_vace_14B", "i2v": "wan2.1_i2v_480p_14B",
    "flf2v": "wan2.1_flf2v_720p_14B", "fun-inp": "wan2.1_fun_inp_1.3B", "fun-control": "wan2.1_fun_control_1.3B",
    "fun-camera": "wan2.1_fun_camera_v1.1_1.3B", "t2v-a14b": "wan2.2_t2v_high_noise_14B",
    "i2v-a14b": "wan2.2_i2v_low_noise_14B", "fun-inp-a14b": "wan2.2_fun_inpaint_high_noise_14B",
    "fun-control-a14b": "wan2.2_fun_control_low_noise_14B", "fun-camera-a14b": "wan2.2_fun_camera_high_noise_14B",
    "ti2v-5b": "wan2.2_ti2v_5B", "fun-inp-5b": "wan2.2_fun_inpaint_5B", "fun-control-5b": "wan2.2_fun_control_5B",
    "fun-camera-5b": "wan2.2_fun_camera_5B", "animate-14b": "wan2.2_animate_14B", "s2v-14b": "wan2.2_s2v_14B",
    "humo-17b": "humo_17B", "humo-1.7b": "humo_1.7B", "t2v-causal": "causal_forcing-framewise",
    "minimax-remover": "Wan2_1-MiniMaxRemover_1_3B",
}
LAYOUTS = [("original", "bf16", "bf16"), ("comfyui", "fp16", "bf16"), ("comfyui", "fp8_e4m3fn_scaled", "fp16")]


def test_every_family_has_a_name_here():
    assert set(NAMES) == {f.task for f in TRANSFORMER_FAMILIES}


@pytest.mark.parametrize("layout,precision,rest", LAYOUTS, ids=[f"{a}-{b}" for a, b, _ in LAYOUTS])
@pytest.mark.parametrize("task", sorted(NAMES))
def test_each_family_is_detected_in_each_layout(tmp_path, task, layout, precision, rest):
    spec = TinySpec("diffusion_models", f"{NAMES[task]}_tiny_{precision}.safetensors", "wan_transformer", task,
                    layout, precision, rest)
    info = detect(write_file(spec, tmp_path))
    family = transformer_family(task)
    assert (info.kind, info.task, info.layout) == ("wan_transformer", task, layout)
    assert info.scaled == precision.endswith("_scaled")
    assert (info.config["in_dim"], info.config["out_dim"]) == (family.in_channels, family.latent_channels)
    assert (info.config["image_dim"] is not None) == bool(family.clip_projection)
    if family.generation == "2.2" and "a14b" in task:
        assert info.expert == ("high_noise" if "high" in NAMES[task] else "low_noise")


def _inputs(task: str, dtype=torch.float32) -> dict:
    family = transformer_family(task)
    g = torch.Generator().manual_seed(0)
    inputs = {"hidden_states": torch.randn(1, family.in_channels, 2, 4, 6, generator=g).to(dtype),
              "timestep": torch.tensor([500.0]), "encoder_hidden_states": torch.randn(1, 7, 32, generator=g).to(dtype),
              "return_dict": False}
    if family.clip_projection:
        inputs["encoder_hidden_states_image"] = torch.randn(2 if task == "flf2v" else 1, 5, 32, generator=g)
    if family.conditioning == "vace":
        inputs["control_hidden_states"] = torch.randn(1, 96, 2, 4, 6, generator=g)
    if family.conditioning == "animate":  # a pose for every frame but the first; one face crop (one latent frame)
        inputs["pose_hidden_states"] = torch.randn(1, family.latent_channels, 1, 4, 6, generator=g)
        inputs["face_pixel_values"] = torch.rand(1, 3, 1, 512, 512, generator=g) * 2 - 1
    return inputs


@pytest.mark.parametrize("task", sorted(NAMES))
def test_each_family_loads_where_diffusers_has_its_module(tmp_path, task):
    family = transformer_family(task)
    spec = TinySpec("diffusion_models", f"{NAMES[task]}_tiny_bf16.safetensors", "wan_transformer", task, "comfyui",
                    "bf16")
    path = write_file(spec, tmp_path)
    model = load_transformer(path, dtype="fp32")
    # parts diffusers has no module for are attached beside it with the file's weights
    from safetensors.torch import load_file

    stored = load_file(str(path))
    for part in sorted(transformer_parts(task) & {"control_adapter", "ref_conv"}):
        module = getattr(model, part)
        for name, param in module.state_dict().items():
            assert torch.equal(param, stored[f"model.diffusion_model.{part}.{name}"].float()), (part, name)
    model = load_transformer(path, dtype="fp32")
    assert type(model).__name__ == family.diffusers_class
    inputs = _inputs(task)
    with torch.no_grad():
        out = model(**inputs)[0]
    assert out.shape == (1, family.latent_channels, 2, 4, 6) and torch.isfinite(out).all()


def test_diffusers_layout_is_named(tmp_path):
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                      in_channels=48, out_channels=48, text_dim=32, freq_dim=16, ffn_dim=64,
                                      num_layers=1)
    path = write_header_only(tmp_path / "diffusion_pytorch_model.safetensors", shapes_of(model.state_dict()))
    info = detect(path)
    assert (info.kind, info.layout) == ("wan_transformer", "diffusers")
    with pytest.raises(Exception, match="from_pretrained"):
        load_transformer(path)


# --- full-size shapes against the published configs ------------------------------------------


def _full(tmp_path, task, dims, name, comfy=True):
    shapes = shapes_of(tiny_module.transformer_weights(task, 0, dims, meta=True))
    if comfy:
        shapes = {f"model.diffusion_model.{k}": v for k, v in shapes.items()}
    return detect(write_header_only(tmp_path / name, shapes))


def test_full_size_ti2v_5b_is_the_published_diffusers_config(tmp_path):
    """Wan-AI/Wan2.2-TI2V-5B-Diffusers' transformer config."""
    from wfrun.models.convert_transformer import diffusers_config

    info = _full(tmp_path, "ti2v-5b", tiny_module.TRANSFORMER_5B, "wan2.2_ti2v_5B_fp16.safetensors")
    assert (info.task, info.variant) == ("ti2v-5b", "ti2v-5b")
    config = diffusers_config(info)
    expected = {"patch_size": [1, 2, 2], "num_attention_heads": 24, "attention_head_dim": 128, "in_channels": 48,
                "out_channels": 48, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 14336, "num_layers": 30,
                "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None,
                "added_kv_proj_dim": None, "rope_max_seq_len": 1024, "pos_embed_seq_len": None}
    assert {k: config[k] for k in expected} == expected


@pytest.mark.parametrize("task,name,in_dim,extra", [
    ("i2v-a14b", "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", 36, None),
    ("t2v-a14b", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors", 16, None),
    ("fun-control-a14b", "wan2.2_fun_control_high_noise_14B_fp8_scaled.safetensors", 52, "ref_conv.weight"),
    ("fun-camera-a14b", "wan2.2_fun_camera_low_noise_14B_fp8_scaled.safetensors", 36,
     "control_adapter.conv.weight"),
    ("fun-camera", "wan2.1_fun_camera_v1.1_14B_bf16.safetensors", 32, "control_adapter.conv.weight"),
])
def test_full_size_a14b_and_fun_shapes(tmp_path, task, name, in_dim, extra):
    """DiffSynth-Studio's table of released configs: I2V A14B 36 in and no CLIP projection;
    Fun A14B Control 52 with ref_conv [5120, 16, 2, 2]; Fun Camera: control_adapter.conv over
    24 x 8 x 8 folded ray channels."""
    info = _full(tmp_path, task, tiny_module.TRANSFORMER_14B, name)
    assert info.task == task and info.config["in_dim"] == in_dim and info.config["dim"] == 5120
    assert info.config["image_dim"] == (1280 if task == "fun-camera" else None)
    if extra == "ref_conv.weight":
        assert info.config["ref_in_dim"] == 16
    if extra == "control_adapter.conv.weight":
        assert info.config["camera_in_dim"] == 24 * 64


def test_full_size_vace_14b_config(tmp_path):
    """Wan-AI/Wan2.1-VACE-14B-diffusers: VACE blocks at every 5th of 40 blocks, 96 context channels."""
    from wfrun.models.convert_transformer import diffusers_config

    info = _full(tmp_path, "vace", tiny_module.TRANSFORMER_14B, "wan2.1_vace_14B_fp16.safetensors")
    config = diffusers_config(info)
    assert info.variant == "vace-14B"
    assert config["vace_layers"] == [0, 5, 10, 15, 20, 25, 30, 35] and config["vace_in_channels"] == 96


# --- latent formats ---------------------------------------------------------------------------


def test_latent_formats_are_comfyuis_numbers():
    """Spot values from ComfyUI's comfy/latent_formats.py (Wan21, Wan22; scale_factor 1.0)."""
    assert WAN21.channels == 16 and WAN21.mean[0] == -0.7571 and WAN21.std[15] == 1.9160
    assert WAN22.channels == 48 and WAN22.mean[19] == 0.5109 and WAN22.std[39] == 1.6887
    assert WAN21.scale_factor == WAN22.scale_factor == 1.0
    assert set(LATENT_FORMATS) == {"Wan21", "Wan22"}
    assert WAN21_VAE.latent_format is WAN21 and WAN22_VAE.latent_format is WAN22


def test_wan21_latent_format_is_diffusers_default_vae_statistics():
    """diffusers' AutoencoderKLWan defaults hold the Wan 2.1 VAE's statistics."""
    import inspect

    from diffusers import AutoencoderKLWan

    params = inspect.signature(AutoencoderKLWan.__init__).parameters
    assert tuple(params["latents_mean"].default) == WAN21.mean
    assert tuple(params["latents_std"].default) == WAN21.std


@pytest.mark.parametrize("fmt", [WAN21, WAN22], ids=lambda f: f.name)
def test_latent_format_process_in_and_out(fmt):
    x = torch.randn(2, fmt.channels, 3, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    inside = fmt.process_in(x)
    mean = torch.tensor(fmt.mean, dtype=torch.float64).view(1, -1, 1, 1, 1)
    std = torch.tensor(fmt.std, dtype=torch.float64).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(inside, (x - mean) / std)
    torch.testing.assert_close(fmt.process_out(inside), x)
    image = torch.randn(1, fmt.channels, 4, 4, dtype=torch.float64)  # one frame, 4-D
    torch.testing.assert_close(fmt.process_out(fmt.process_in(image)), image)
    with pytest.raises(ValueError, match="channels"):
        fmt.process_in(torch.zeros(1, fmt.channels + 1, 2, 2, 2))


def test_latent_shapes_and_strides():
    assert WAN21_VAE.latent_shape(81, 480, 832) == (16, 21, 60, 104)
    assert WAN22_VAE.latent_shape(121, 704, 1280) == (48, 31, 44, 80)
    assert WAN22_VAE.coded_channels == 12 and WAN21_VAE.coded_channels == 3


def test_conditioning_by_channels_is_unchanged_for_the_families_wfrun_samples():
    assert conditioning_by_channels(16) == "text"
    assert conditioning_by_channels(36) == "image"
    assert conditioning_by_channels(48) == "control"
    for family in TRANSFORMER_FAMILIES:
        if family.generation == "2.2":  # no Wan 2.2 model has img_emb but Animate (a Wan 2.1 I2V backbone)
            assert family.clip_projection is (family.conditioning == "animate")
        assert family.vae == ("wan2.2" if family.latent_channels == 48 else "wan2.1")


# --- an all-in-one checkpoint -------------------------------------------------------------


def test_all_in_one_checkpoint_parts_load(tmp_path):
    """CheckpointLoaderSimple's layout: transformer, VAE and text encoder under their prefixes."""
    from wfrun.models.tiny import file_tensors, write_safetensors_streaming

    parts = {"model.diffusion_model.": TinySpec("x", "a.safetensors", "wan_transformer", "ti2v-5b", "original", "bf16"),
             "vae.": TinySpec("x", "b.safetensors", "wan_vae", "wan2.2", "original", "bf16"),
             "text_encoders.umt5xxl.transformer.": TinySpec("x", "c.safetensors", "umt5", "", "transformers", "bf16")}
    entries = []
    for prefix, spec in parts.items():
        for name, t in file_tensors(spec).items():
            if name != "spiece_model":
                entries.append((prefix + name, t.dtype, tuple(t.shape), lambda t=t: t))
    path = write_safetensors_streaming(tmp_path / "wan2.2_ti2v_5B_all_in_one.safetensors", entries,
                                       {"wfrun.num_heads": "2"})
    info = detect(path)
    assert (info.kind, info.task, info.prefix) == ("wan_transformer", "ti2v-5b", "model.diffusion_model.")
    assert type(load_transformer(path)).__name__ == "WanTransformer3DModel"
    vae = load_vae(path)
    assert vae.config.z_dim == 48
    encoder = load_text_encoder(path)
    assert type(encoder).__name__ == "UMT5EncoderModel"


# --- stand-ins for every model the templates name -------------------------------------------

TEMPLATES = ["text_to_video_wan", "image_to_video_wan", "wan2.1_flf2v_720_f16", "wan2.1_fun_control",
             "wan2.1_fun_inp", "video_wan2.1_fun_camera_v1.1_1.3B", "video_wan2.1_fun_camera_v1.1_14B",
             "video_wan2_2_14B_t2v", "video_wan2_2_14B_i2v", "video_wan2_2_14B_flf2v",
             "video_wan2_2_14B_fun_control", "video_wan2_2_14B_fun_inpaint", "video_wan2_2_14B_fun_camera",
             "video_wan2_2_5B_ti2v", "video_wan2_2_5B_fun_control", "video_wan2_2_5B_fun_inpaint",
             "video_wan_vace_14B_t2v", "video_wan_vace_14B_ref2v", "video_wan_vace_14B_v2v", "video_wan_vace_flf2v",
             "video_wan_vace_inpainting", "video_wan_vace_outpainting"]
LOADERS = {"UNETLoader": ("unet_name", "diffusion_models"), "VAELoader": ("vae_name", "vae"),
           "CLIPLoader": ("clip_name", "text_encoders"), "CLIPVisionLoader": ("clip_name", "clip_vision"),
           "LoraLoader": ("lora_name", "loras"), "LoraLoaderModelOnly": ("lora_name", "loras"),
           "CheckpointLoaderSimple": ("ckpt_name", "checkpoints")}

#: What each name implies, written from the release names (not from wfrun's name rules).
IMPLIED = [
    (r"^wan2\.1_t2v_", "wan_transformer", "t2v"), (r"^wan2\.1_i2v_", "wan_transformer", "i2v"),
    (r"^wan2\.1_flf2v_", "wan_transformer", "flf2v"), (r"^wan2\.1_fun_control_", "wan_transformer", "fun-control"),
    (r"^wan2\.1_fun_inp_", "wan_transformer", "fun-inp"), (r"^wan2\.1_fun_camera_", "wan_transformer", "fun-camera"),
    (r"^wan2\.1_vace_", "wan_transformer", "vace"),
    (r"^wan2\.2_t2v_(high|low)_noise_14B", "wan_transformer", "t2v-a14b"),
    (r"^wan2\.2_i2v_(high|low)_noise_14B", "wan_transformer", "i2v-a14b"),
    (r"^wan2\.2_fun_control_(high|low)_noise_14B", "wan_transformer", "fun-control-a14b"),
    (r"^wan2\.2_fun_inpaint_(high|low)_noise_14B", "wan_transformer", "fun-inp-a14b"),
    (r"^wan2\.2_fun_camera_(high|low)_noise_14B", "wan_transformer", "fun-camera-a14b"),
    (r"^wan2\.2_ti2v_5B", "wan_transformer", "ti2v-5b"),
    (r"^wan2\.2_fun_control_5B", "wan_transformer", "fun-control-5b"),
    (r"^wan2\.2_fun_inpaint_5B", "wan_transformer", "fun-inp-5b"),
    (r"^wan_2\.1_vae", "wan_vae", "wan2.1"), (r"^wan2\.2_vae", "wan_vae", "wan2.2"),
    (r"^umt5_xxl_", "umt5", ""), (r"^clip_vision_h", "clip_vision", ""), (r"^sam3\.1_", "sam3", ""), (r"lora|CausVid|lightx2v", "lora", ""),
]


def _template_models() -> list[tuple[str, str, str, str]]:
    from importlib import resources

    folder = resources.files("comfyui_workflow_templates_json") / "templates"
    found = set()
    for name in TEMPLATES:
        document = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        nodes = list(document.get("nodes", []))
        for graph in document.get("definitions", {}).get("subgraphs", []):
            nodes += graph.get("nodes", [])
        for node in nodes:
            if node.get("type") in LOADERS and node.get("widgets_values"):
                input_name, folder_name = LOADERS[node["type"]]
                found.add((node["type"], input_name, folder_name, node["widgets_values"][0]))
    return sorted(found)


def test_every_template_model_gets_a_stand_in_of_its_family(tmp_path):
    models = _template_models()
    assert len({m[3] for m in models}) >= 25  # every UNET/VAE/CLIP/LoRA file of the 22 templates
    standins, refused = [], {}
    for class_type, input_name, folder, name in models:
        try:
            standins.append(family_for(class_type, input_name, folder, name))
        except NoStandin as err:
            refused[name] = str(err)
    assert not refused  # the one non-Wan model, SAM 3.1 (the VACE inpainting template's masks), included
    root = write_standins(standins, tmp_path / "tiny", tmp_path / "cache")
    for standin in standins:
        info = detect(root / standin.relpath)
        kind, task = next((k, t) for pattern, k, t in IMPLIED if re.search(pattern, standin.name))
        assert info.kind == kind, standin.name
        if kind == "wan_transformer":
            assert info.task == task == standin.family.task, standin.name
            assert info.layout == "comfyui"
            assert info.scaled == ("fp8_scaled" in standin.name)
        if kind == "wan_vae":
            assert info.variant == task, standin.name
        assert standin.notice is None, standin.name


def test_stand_in_descriptions_name_the_family():
    standin = family_for("UNETLoader", "unet_name", "diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors")
    assert standin.family.describe() == "a tiny Wan 2.2 TI2V-5B transformer (comfyui layout, fp16)"
    vae = family_for("VAELoader", "vae_name", "vae", "wan2.2_vae.safetensors")
    assert vae.family.describe() == "a tiny Wan 2.2 VAE (original layout, bf16)"
    kijai = family_for("WanVideoModelLoader", "model", "diffusion_models",
                       "WanVideo\\Wan2_2-I2V-A14B-HIGH_fp8_e4m3fn_scaled_KJ.safetensors")
    assert (kijai.family.task, kijai.family.layout) == ("i2v-a14b", "original")
    lora = family_for("LoraLoaderModelOnly", "lora_name", "loras",
                      "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors")
    assert lora.family.kind == "lora"


@pytest.mark.parametrize("task,model_type", [("t2v-a14b", "t2v"), ("i2v-a14b", "i2v"), ("fun-inp-a14b", "fun_inp"),
                                             ("i2v", "i2v"), ("flf2v", "fl2v")])
def test_wan22_experts_take_the_wrappers_model_type_of_the_task_they_sample_as(task, model_type):
    """The wrapper's loader sets ``model_type`` from the patch embedding's width (36: i2v), so
    a Wan 2.2 A14B expert is an ``i2v``/``t2v`` model to its sampler."""
    from wfrun.packs.wanvideo.model_loader import pack_model_type

    assert pack_model_type(task) == model_type
