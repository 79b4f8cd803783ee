"""Wan 2.2 Animate through ComfyUI's core nodes: the family detected in ComfyUI's and Kijai's
layouts, the key map against diffusers' own converter, the loaded model's forward against
diffusers' ``WanAnimateTransformer3DModel`` built straight from the same weights, ComfyUI's
rules where its model differs from diffusers' forward (a short pose, no face), the
conditioning of WanAnimateToVideo written out from ComfyUI's node, and a tiny workflow
(core loaders → WanAnimateToVideo → KSampler → TrimVideoLatent → VAEDecode) run end to end."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_models_detect import shapes_of, write_header_only

from tests.node_helpers import node
from wfrun.models import tiny as tiny_module
from wfrun.models.detect import detect
from wfrun.models.families import task_from_name, transformer_family
from wfrun.models.load import load_transformer
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny import ANIMATE, TinySpec, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.forward import ForwardOptions, face_motion, transformer_forward

COMFY = TinySpec("diffusion_models", "wan2.2_animate_14B_tiny_bf16.safetensors", "wan_transformer", "animate-14b",
                 "comfyui", "fp32")
KIJAI = TinySpec("diffusion_models", "Wan2_2-Animate-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", "wan_transformer",
                 "animate-14b", "original", "fp8_e4m3fn_scaled")


@pytest.fixture(scope="module")
def models(tiny_models) -> Path:
    """The tiny models plus the two Animate files."""
    for spec in (COMFY, KIJAI):
        write_file(spec, tiny_models)
    return tiny_models


@pytest.fixture(scope="module")
def animate(models):
    return load_transformer(models / COMFY.relpath, dtype="fp32")


def _diffusers_reference(model):
    """diffusers' ``WanAnimateTransformer3DModel`` of the same config, its weights converted
    from the tiny file's master weights by diffusers' own single-file converter."""
    from diffusers import WanAnimateTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    master = tiny_module.transformer_weights("animate-14b", COMFY.seed)
    converted = convert_wan_transformer_to_diffusers({f"model.diffusion_model.{k}": v.clone() for k, v in master.items()})
    reference = WanAnimateTransformer3DModel(**dict(model.config)).eval()
    missing, unexpected = reference.load_state_dict(converted, strict=False)
    assert not missing and not unexpected, (missing[:3], unexpected[:3])
    return reference, converted


def _inputs(frames: int = 2, face_frames: int = 1, seed: int = 0) -> dict:
    """Latents of ``frames`` frames and ``face_frames`` crops, which the face encoder makes
    ``frames - 1`` tokens frames of (diffusers' forward needs them to match; the crops are
    what takes a CPU long here, at 512x512)."""
    g = torch.Generator().manual_seed(seed)
    return {"hidden_states": torch.randn(1, 36, frames, 4, 6, generator=g), "timestep": torch.tensor([700.0]),
            "encoder_hidden_states": torch.randn(1, 7, 32, generator=g),
            "encoder_hidden_states_image": torch.randn(1, 5, 32, generator=g),
            "pose": torch.randn(1, 16, frames - 1, 4, 6, generator=g),
            "face": torch.rand(1, 3, face_frames, 512, 512, generator=g) * 2 - 1}


# --- the family ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [COMFY, KIJAI], ids=["comfyui", "kijai-fp8-scaled"])
def test_both_layouts_are_detected_with_their_parts(models, spec):
    info = detect(models / spec.relpath)
    assert (info.kind, info.task, info.layout, info.notes) == ("wan_transformer", "animate-14b", spec.layout, ())
    assert info.scaled == spec.precision.endswith("_scaled")
    c = info.config
    assert (c["in_dim"], c["out_dim"], c["image_dim"], c["num_layers"]) == (36, 16, 32, ANIMATE["layers"])
    assert c["motion_widths"] == ANIMATE["motion_widths"] and c["motion_size"] == 512
    assert (c["motion_style_dim"], c["motion_dim"], c["motion_out_dim"]) == (ANIMATE["style"], ANIMATE["motion_dim"],
                                                                            ANIMATE["motion_out"])
    assert (c["face_hidden_dim"], c["face_heads"], c["face_adapters"]) == (ANIMATE["face_hidden"], ANIMATE["face_heads"],
                                                                           ANIMATE["layers"] // 5)
    assert type(load_transformer(models / spec.relpath, dtype="fp32")).__name__ == "WanAnimateTransformer3DModel"


def test_release_names_mean_the_animate_family():
    for name in ("wan2.2_animate_14B_bf16.safetensors", "split_files/diffusion_models/wan2.2_animate_14B_fp8_scaled.safetensors",
                 "Wan2_2-Animate-14B_fp8_e4m3fn_scaled_KJ.safetensors", "Wan2.2-Animate-14B-Q8_0.gguf"):
        assert task_from_name(name) == "animate-14b", name
    family = transformer_family("animate-14b")
    assert (family.in_channels, family.latent_channels, family.clip_projection) == (36, 16, True)
    assert family.diffusers_class == "WanAnimateTransformer3DModel"


def test_full_size_header_fits_diffusers_default_animate_model(tmp_path):
    """diffusers' defaults are Wan2.2-Animate-14B's config: the file's plan fills every one of
    its parameters with the right shape (with Wan 2.1 I2V's image key/value projections)."""
    from diffusers import WanAnimateTransformer3DModel

    from wfrun.models.convert_transformer import diffusers_config, rename
    from wfrun.models.mapping import build_plan, check_plan

    dims = tiny_module.TRANSFORMER_14B
    shapes = {f"model.diffusion_model.{k}": v for k, v in
              shapes_of(tiny_module.transformer_weights("animate-14b", 0, dims, meta=True)).items()}
    path = write_header_only(tmp_path / "wan2.2_animate_14B_bf16.safetensors", shapes)
    info = detect(path)
    assert (info.task, info.variant, info.notes) == ("animate-14b", "animate-14b", ())
    config = diffusers_config(info)
    with torch.device("meta"):
        default = WanAnimateTransformer3DModel(added_kv_proj_dim=5120)
    for key, value in config.items():
        if key == "motion_encoder_channel_sizes":
            assert all(default.config[key] is None or default.config[key][s] == w for s, w in value.items())
        elif key != "added_kv_proj_dim":
            assert value == (list(default.config[key]) if isinstance(value, list) else default.config[key]), key
    from diffusers.models.transformers.transformer_wan_animate import WAN_ANIMATE_MOTION_ENCODER_CHANNEL_SIZES

    assert all(WAN_ANIMATE_MOTION_ENCODER_CHANNEL_SIZES[s] == w for s, w in config["motion_encoder_channel_sizes"].items())
    from wfrun.models.reader import open_checkpoint

    with open_checkpoint(path) as reader:
        tensors = dict(reader.tensors)
    plan = build_plan(path, tensors, info.prefix, rename, label="animate")
    expected = {k: tuple(v.shape) for k, v in default.state_dict(keep_vars=True).items()}
    check_plan(path, plan, tensors, expected, label="animate")


def test_key_map_is_diffusers_single_file_converter(animate):
    """Every tensor of the loaded model equals what diffusers' own converter makes of the file."""
    _, converted = _diffusers_reference(animate)
    state = animate.state_dict()
    assert set(state) == set(converted)
    for key, value in converted.items():
        assert torch.equal(state[key], value.float()), key


def test_blur_kernels_in_a_file_are_dropped():
    from wfrun.models.convert_transformer import rename

    assert rename("motion_encoder.enc.net_app.convs.3.conv2.0.kernel") is None
    assert rename("motion_encoder.enc.net_app.convs.3.skip.0.kernel") is None
    assert rename("motion_encoder.enc.net_app.convs.8.weight") == "motion_encoder.conv_out.weight"


# --- the forward -----------------------------------------------------------------------------


def test_forward_equals_diffusers_module_built_from_the_same_weights(animate):
    reference, _ = _diffusers_reference(animate)
    x = _inputs()
    with torch.no_grad():
        want = reference(x["hidden_states"], x["timestep"], x["encoder_hidden_states"], x["encoder_hidden_states_image"],
                         pose_hidden_states=x["pose"], face_pixel_values=x["face"], return_dict=False)[0]
        direct = animate(x["hidden_states"], x["timestep"], x["encoder_hidden_states"], x["encoder_hidden_states_image"],
                         pose_hidden_states=x["pose"], face_pixel_values=x["face"], return_dict=False)[0]
        got, _ = transformer_forward(animate, x["hidden_states"], x["timestep"], x["encoder_hidden_states"],
                                     x["encoder_hidden_states_image"], ForwardOptions(pose=x["pose"], face=x["face"]))
        tokens = face_motion(animate, x["face"], 2, 1)
        cached, _ = transformer_forward(animate, x["hidden_states"], x["timestep"], x["encoder_hidden_states"],
                                        x["encoder_hidden_states_image"], ForwardOptions(pose=x["pose"], face_tokens=tokens))
    assert want.abs().max() > 0.1
    torch.testing.assert_close(direct, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert torch.equal(cached, got)


def test_a_short_pose_leaves_the_last_frames_alone(animate):
    """ComfyUI adds the pose to as many frames as it has: with a zero pose bias, a pose one
    frame short is diffusers' forward with a zero latent frame appended."""
    model = copy.deepcopy(animate)
    model.pose_patch_embedding.bias.data.zero_()
    x = _inputs(frames=3, face_frames=5)
    short = x["pose"][:, :, :1]
    padded = torch.cat([short, torch.zeros_like(x["pose"][:, :, :1])], dim=2)
    with torch.no_grad():
        want = model(x["hidden_states"], x["timestep"], x["encoder_hidden_states"], x["encoder_hidden_states_image"],
                     pose_hidden_states=padded, face_pixel_values=x["face"], return_dict=False)[0]
        got, _ = transformer_forward(model, x["hidden_states"], x["timestep"], x["encoder_hidden_states"],
                                     x["encoder_hidden_states_image"], ForwardOptions(pose=short, face=x["face"]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_without_face_crops_no_face_adapter_runs(animate):
    """ComfyUI skips the adapters when no face video is given: diffusers' forward with the
    adapters' output projections zeroed."""
    model = copy.deepcopy(animate)
    for adapter in model.face_adapter:
        adapter.to_out.weight.data.zero_()
        adapter.to_out.bias.data.zero_()
    x = _inputs()
    with torch.no_grad():
        want = model(x["hidden_states"], x["timestep"], x["encoder_hidden_states"], x["encoder_hidden_states_image"],
                     pose_hidden_states=x["pose"], face_pixel_values=x["face"], return_dict=False)[0]
        got, _ = transformer_forward(animate, x["hidden_states"], x["timestep"], x["encoder_hidden_states"],
                                     x["encoder_hidden_states_image"], ForwardOptions(pose=x["pose"]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_face_tokens_get_a_zero_frame_in_front_and_fit_the_latent(animate):
    """ComfyUI's ``after_patch_embedding``: encoder tokens, a zero frame first, then zeros
    after (fewer than the latent's frames) or cut (more)."""
    face = torch.rand(1, 3, 3, 512, 512, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        vectors = animate.motion_encoder(face[0].movedim(1, 0)).unsqueeze(0)  # the 3 crops at once
        encoded = animate.face_encoder(vectors)  # [1, 1, heads + 1, dim]: 3 → 2 → 1 frames
        tokens = face_motion(animate, face, 4, 2)
    assert encoded.shape[1] == math.ceil(math.ceil(3 / 2) / 2)
    assert tokens.shape == (2, 4, ANIMATE["face_heads"] + 1, 32)
    assert tokens[:, 0].eq(0).all() and tokens[:, 2:].eq(0).all()
    torch.testing.assert_close(tokens[:, 1:2], encoded.expand(2, -1, -1, -1), rtol=1e-5, atol=1e-6)
    cut = face_motion(animate, face[:, :, :1], 1, 1)  # one crop, one latent frame: the zero frame only
    assert cut.shape == (1, 1, ANIMATE["face_heads"] + 1, 32) and cut.eq(0).all()


# --- WanAnimateToVideo ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(models))


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def _area_fit(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's ``common_upscale(..., "area", "center")`` on IMAGE frames, written out."""
    h, w = frames.shape[1:3]
    if w / h > width / height:
        x = round((w - w * (width / height) / (w / h)) / 2)
        frames = frames[:, :, x:w - x]
    elif w / h < width / height:
        y = round((h - h * (w / h) / (width / height)) / 2)
        frames = frames[:, y:h - y]
    return F.interpolate(frames.movedim(-1, 1), size=(height, width), mode="area").movedim(1, -1)


def test_animate_to_video_conditioning_is_comfyuis(ctx, vae):
    from wfrun.packs.comfy_core_models.vae_nodes import encode_images

    g = torch.Generator().manual_seed(5)
    W, H, length = 32, 16, 9
    reference = torch.rand(1, H, W, 3, generator=g)
    pose = torch.rand(7, H, W, 3, generator=g)            # ends before the chunk does: its last frame is held
    face = torch.rand(12, 40, 48, 3, generator=g)          # resized to 512x512, centre-cropped to square
    background = torch.rand(20, H, W, 3, generator=g)
    motion = torch.rand(6, H, W, 3, generator=g)           # the previous chunk; the last 5 are kept
    mask = torch.full((1, H, W), 0.25)                     # one frame: every frame
    positive = [[torch.zeros(1, 512, 32), {}]]
    negative = [[torch.ones(1, 512, 32), {}]]
    pos, neg, latent, trim_latent, trim_image, next_offset = node("WanAnimateToVideo")(
        ctx, positive=positive, negative=negative, vae=vae, width=W, height=H, length=length, batch_size=2,
        continue_motion_max_frames=5, video_frame_offset=7, reference_image=reference, face_video=face,
        pose_video=pose, background_video=background, character_mask=mask, continue_motion=motion)
    frames = (length - 1) // 4 + 1
    offset = 7 - 5                                         # the continued frames are taken back off the offset
    motion_latents = (5 - 1) // 4 + 1
    assert (trim_latent, trim_image, next_offset) == (1, motion_latents * 4 - 3, offset + length)
    assert latent["samples"].shape == (2, 16, 1 + frames, H // 8, W // 8) and latent["samples"].eq(0).all()

    video = torch.full((length, H, W, 3), 0.5)
    video[:5] = motion[-5:]
    video[trim_image:length] = background[offset:offset + length][trim_image:]
    want_concat = torch.cat([encode_images(ctx, vae, reference), encode_images(ctx, vae, video)], dim=2)
    opts = pos[0][1]
    torch.testing.assert_close(opts["concat_latent_image"], want_concat)

    pixel_mask = torch.ones(frames * 4, H // 8, W // 8)
    pixel_mask[:motion_latents * 4] = 0.0
    pixel_mask[trim_image:length] = 0.25                   # the character mask from the continued pixel frames on
    folded = pixel_mask.view(frames, 4, H // 8, W // 8).transpose(0, 1).unsqueeze(0)
    want_mask = torch.cat([torch.zeros(1, 4, 1, H // 8, W // 8), folded], dim=2)
    assert torch.equal(opts["concat_mask"], want_mask)

    held = torch.cat([pose[offset:], pose[-1:].expand(length - (7 - offset), -1, -1, -1)])
    torch.testing.assert_close(opts["pose_video_latent"], encode_images(ctx, vae, held))
    want_face = (_area_fit(face[offset:offset + length], 512, 512) * 2 - 1).movedim(-1, 0).unsqueeze(0)
    torch.testing.assert_close(opts["face_video_pixels"], want_face, rtol=1e-5, atol=1e-5)
    assert torch.equal(neg[0][1]["face_video_pixels"], torch.full_like(want_face, -1.0))
    for key in ("concat_latent_image", "concat_mask", "pose_video_latent"):
        assert neg[0][1][key] is opts[key]
    assert positive[0][1] == {} and torch.equal(neg[0][0], negative[0][0])


def test_animate_to_video_without_inputs_is_a_grey_video_after_a_black_reference(ctx, vae):
    from wfrun.packs.comfy_core_models.vae_nodes import encode_images

    positive = [[torch.zeros(1, 512, 32), {}]]
    pos, _, latent, trim_latent, trim_image, offset = node("WanAnimateToVideo")(
        ctx, positive=positive, negative=positive, vae=vae, width=16, height=16, length=5, batch_size=1)
    opts = pos[0][1]
    assert (trim_latent, trim_image, offset) == (1, 0, 5) and latent["samples"].shape == (1, 16, 3, 2, 2)
    want = torch.cat([encode_images(ctx, vae, torch.zeros(1, 16, 16, 3)),
                      encode_images(ctx, vae, torch.full((5, 16, 16, 3), 0.5))], dim=2)
    torch.testing.assert_close(opts["concat_latent_image"], want)
    assert opts["concat_mask"][:, :, 0].eq(0).all() and opts["concat_mask"][:, :, 1:].eq(1).all()
    assert "pose_video_latent" not in opts and "face_video_pixels" not in opts


def test_animate_to_video_refuses_a_wan22_vae(ctx):
    (v22,) = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    positive = [[torch.zeros(1, 512, 32), {}]]
    with pytest.raises(NodeInputError) as err:
        node("WanAnimateToVideo")(ctx, positive=positive, negative=positive, vae=v22, width=32, height=32, length=5,
                                  batch_size=1)
    assert err.value.input_name == "vae"


# --- a tiny workflow, end to end ---------------------------------------------------------------


def test_core_animate_workflow_runs_end_to_end(models, tmp_path):
    from wfrun.jobs.run import RunOptions, run_file

    W, H, L = 32, 32, 5
    image = lambda w, h, n, color: {"class_type": "EmptyImage",  # noqa: E731
                                    "inputs": {"width": w, "height": h, "batch_size": n, "color": color}}
    prompt = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": COMFY.name, "weight_dtype": "default"}},
        "2": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 8.0}},
        "3": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_tiny_fp16.safetensors", "type": "wan",
                                                     "device": "default"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a dancer", "clip": ["3", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["3", 0]}},
        "6": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae_tiny.safetensors"}},
        "7": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "clip_vision_h_tiny.safetensors"}},
        "8": image(W, H, 1, 0x8040C0),
        "9": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["7", 0], "image": ["8", 0], "crop": "center"}},
        "10": image(W, H, L, 0x20A040),
        "11": image(48, 40, L, 0xC08080),
        "12": image(W, H, L, 0x404040),
        "13": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": W, "height": H}},
        "14": {"class_type": "WanAnimateToVideo", "inputs": {
            "positive": ["4", 0], "negative": ["5", 0], "vae": ["6", 0], "width": W, "height": H, "length": L,
            "batch_size": 1, "continue_motion_max_frames": 5, "video_frame_offset": 0, "clip_vision_output": ["9", 0],
            "reference_image": ["8", 0], "face_video": ["11", 0], "pose_video": ["10", 0],
            "background_video": ["12", 0], "character_mask": ["13", 0]}},
        "15": {"class_type": "KSampler", "inputs": {
            "model": ["2", 0], "seed": 1, "steps": 2, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["14", 0], "negative": ["14", 1], "latent_image": ["14", 2], "denoise": 1.0}},
        "16": {"class_type": "TrimVideoLatent", "inputs": {"samples": ["15", 0], "trim_amount": ["14", 3]}},
        "17": {"class_type": "VAEDecode", "inputs": {"samples": ["16", 0], "vae": ["6", 0]}},
        "18": {"class_type": "SaveImage", "inputs": {"images": ["17", 0], "filename_prefix": "animate"}},
    }
    path = tmp_path / "animate_api.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    report = run_file(path, RunOptions(models_dir=str(models), output_dir=tmp_path / "out", device="cpu"))
    written = [Path(p) for p in report.result.written]
    assert len(written) == L and all(p.suffix == ".png" and p.stat().st_size > 0 for p in written)


# --- other loaders ---------------------------------------------------------------------------


def test_gguf_animate_loads_through_unet_loader_gguf_and_runs(ctx, models):
    """ComfyUI-GGUF's loader (the Q8_0 release's stand-in): an Animate MODEL whose forward
    takes the pose and the face crops."""
    from wfrun.models.tiny_gguf import write_wan_gguf

    write_wan_gguf(models / "unet" / "Wan2.2-Animate-14B-Q8_0.gguf", "animate-14b", "Q8_0", seed=3)
    (model,) = node("UnetLoaderGGUF")(ctx, unet_name="Wan2.2-Animate-14B-Q8_0.gguf")
    assert model.task == "animate-14b" and type(model.transformer).__name__ == "WanAnimateTransformer3DModel"
    x = _inputs()
    with torch.no_grad():
        plain, _ = transformer_forward(model.transformer, x["hidden_states"], x["timestep"],
                                       x["encoder_hidden_states"], x["encoder_hidden_states_image"])
        posed, _ = transformer_forward(model.transformer, x["hidden_states"], x["timestep"],
                                       x["encoder_hidden_states"], x["encoder_hidden_states_image"],
                                       ForwardOptions(pose=x["pose"], face=x["face"]))
    assert torch.isfinite(posed).all() and not torch.allclose(plain, posed)


def test_the_wrappers_loader_loads_animate(ctx):
    """The wrapper's loader takes an Animate file (its conditioning: test_wanvideo_animate.py)."""
    (model,) = node("WanVideoModelLoader")(ctx, model=KIJAI.name, base_precision="fp32")
    assert type(model.transformer).__name__ == "WanAnimateTransformer3DModel"
