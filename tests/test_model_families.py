"""The Wan transformer families: each released model's parts name exactly one family.

The shapes are the published configs (Wan-Video/Wan2.1 and Wan2.2 ``configs``: ``in_dim``,
``out_dim``, ``dim``; image-conditioned models carry the CLIP projection ``img_emb``)."""

from __future__ import annotations

import pytest

from wfrun.models.families import (TRANSFORMER_FAMILIES, classify_transformer, conditioning_by_channels,
                                   transformer_family)

RELEASES = [
    # (file name, in_dim, out_dim, CLIP projection, FLF2V emb_pos, VACE blocks, dim) → task
    ("Wan2_1-T2V-1_3B_bf16.safetensors", 16, 16, False, False, False, 1536, "t2v"),
    ("Wan2_1-T2V-14B_fp8_e4m3fn.safetensors", 16, 16, False, False, False, 5120, "t2v"),
    ("Wan2_1-VACE_module_14B_bf16.safetensors", 16, 16, False, False, True, 5120, "vace"),
    ("Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors", 36, 16, True, False, False, 5120, "i2v"),
    ("Wan2_1-FLF2V-14B-720P_fp16.safetensors", 36, 16, True, True, False, 5120, "flf2v"),
    ("Wan2.1-Fun-1.3B-InP.safetensors", 36, 16, True, False, False, 1536, "fun-inp"),
    ("Wan2.1-Fun-14B-InP.safetensors", 36, 16, True, False, False, 5120, "fun-inp"),
    ("Wan2.1-Fun-14B-Control.safetensors", 48, 16, True, False, False, 5120, "fun-control"),
    ("wan2.2_ti2v_5B_fp16.safetensors", 48, 48, False, False, False, 3072, "ti2v-5b"),
    ("wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", 16, 16, False, False, False, 5120, "t2v-a14b"),
    ("wan2.2_i2v_low_noise_14B_fp16.safetensors", 36, 16, False, False, False, 5120, "i2v-a14b"),
    ("Wan2.2-Fun-A14B-InP_high_noise.safetensors", 36, 16, False, False, False, 5120, "fun-inp-a14b"),
    ("wan2.1_vace_1.3B_fp16.safetensors", 16, 16, False, False, True, 1536, "vace"),
]


@pytest.mark.parametrize("name,in_dim,out_dim,clip,emb_pos,vace,dim,task", RELEASES, ids=[r[0] for r in RELEASES])
def test_each_release_is_its_family(name, in_dim, out_dim, clip, emb_pos, vace, dim, task):
    assert classify_transformer(in_dim, out_dim, clip, emb_pos, vace, dim, name) == task
    family = transformer_family(task)
    assert family.in_channels == in_dim and family.latent_channels == out_dim


def test_ti2v_5b_is_not_read_as_fun_control():
    """Both take 48 input channels; the 5B model denoises 48-channel latents and has no CLIP."""
    assert classify_transformer(48, 48, False, False, False, 3072, "model.safetensors") == "ti2v-5b"
    assert classify_transformer(48, 16, True, False, False, 5120, "model.safetensors") == "fun-control"


def test_an_unknown_layout_is_named_by_its_channels():
    assert classify_transformer(20, 16, True, False, False, 5120, "x.safetensors") == "in20-image"
    assert classify_transformer(16, 16, True, False, False, 5120, "x.safetensors") == "in16-image"


def test_image_latent_channels_follow_from_the_vae():
    """I2V-style families take noise + 4 mask channels + image latents: 16 + 4 + 16."""
    for family in TRANSFORMER_FAMILIES:
        if family.takes_image_latents:
            assert family.in_channels == family.latent_channels + 4 + family.latent_channels


def test_channels_alone_tell_text_from_image_conditioning():
    assert conditioning_by_channels(16) == "text"      # T2V (VACE is 16 too: told by its VACE blocks)
    assert conditioning_by_channels(36) == "image"     # I2V, FLF2V, Fun-InP
    assert conditioning_by_channels(48) == "control"   # Fun-Control (TI2V-5B is 48 too, with 48-ch latents)
    assert conditioning_by_channels(48, 48) == "image-latent"  # TI2V-5B
    assert conditioning_by_channels(20) is None


@pytest.mark.parametrize("in_dim,out_dim,clip,parts,task", [
    (52, 16, False, {"ref_conv"}, "fun-control-a14b"),
    (52, 16, False, set(), "fun-control-a14b"),
    (36, 16, False, {"control_adapter"}, "fun-camera-a14b"),
    (32, 16, True, {"control_adapter"}, "fun-camera"),
    (48, 16, True, {"ref_conv"}, "fun-control"),       # Wan 2.1 Fun 1.1 Control
    (100, 48, False, set(), "fun-inp-5b"),
    (100, 48, False, {"control_adapter"}, "fun-camera-5b"),
    (148, 48, False, {"ref_conv"}, "fun-control-5b"),
    (16, 16, False, {"control_adapter"}, "in16"),      # no family has these parts
])
def test_parts_name_the_fun_families(in_dim, out_dim, clip, parts, task):
    """Fun Camera's control_adapter and Fun Control's ref_conv, with the published channel counts."""
    assert classify_transformer(in_dim, out_dim, clip, False, False, 5120, "model.safetensors", parts) == task


@pytest.mark.parametrize("name,task", [
    ("wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", "i2v-a14b"),
    ("wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors", "t2v-a14b"),
    ("wan2.2_ti2v_5B_fp16.safetensors", "ti2v-5b"),
    ("Wan2_2-TI2V-5B_fp8_e4m3fn_scaled_KJ.safetensors", "ti2v-5b"),
    ("wan2.2_fun_control_5B_bf16.safetensors", "fun-control-5b"),
    ("wan2.2_fun_inpaint_5B_bf16.safetensors", "fun-inp-5b"),
    ("Wan2.2-Fun-A14B-Control/high_noise_model/diffusion_pytorch_model.safetensors", "fun-control-a14b"),
    ("wan2.2_fun_camera_high_noise_14B_fp8_scaled.safetensors", "fun-camera-a14b"),
    ("wan2.1_fun_camera_v1.1_14B_bf16.safetensors", "fun-camera"),
    ("wan2.1_vace_14B_fp16.safetensors", "vace"),
    ("Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors", "i2v"),
    ("my_finetune.safetensors", None),
])
def test_names_imply_families(name, task):
    from wfrun.models.families import task_from_name

    assert task_from_name(name) == task
