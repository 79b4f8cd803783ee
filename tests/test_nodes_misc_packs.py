"""Easy-Use boolean and LoRA stack, Crystools' image switch, LayerStyle's
ImageScaleByAspectRatio V2, CRT's Upscale Model Advanced, WAS Tensor Batch to Image and
SuperNodes' helpers, against the packs' rules written out here (Pillow and numpy for the
pixels)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_upscale import save_weights, tiny_esrgan_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.crt_nodes.upscale_adv import name_scale, tiled

CTX = ExecContext()


# --- Easy-Use ---------------------------------------------------------------------------------

def test_easy_boolean_passes_its_value():
    assert node("easy boolean")(CTX, value=True) == (True,)
    assert node("easy boolean")(CTX) == (False,)


def _rows(**rows):
    base = {f"lora_{i}_name": "None" for i in range(1, 11)}
    base.update(rows)
    return base


def test_easy_lora_stack_simple_and_advanced_rows():
    stack, = node("easy loraStack")(CTX, toggle=True, mode="simple", num_loras=3,
                                    **_rows(lora_1_name="a.safetensors", lora_1_strength=0.5,
                                            lora_3_name="b.safetensors", lora_3_strength=0.0,
                                            lora_4_name="c.safetensors"))
    assert stack == [("a.safetensors", 0.5, 0.5), ("b.safetensors", 0.0, 0.0)]  # row 4 is past num_loras
    adv, = node("easy loraStack")(CTX, toggle=True, mode="advanced", num_loras=1, optional_lora_stack=stack
                                  + [("None", 1.0, 1.0)],
                                  **_rows(lora_1_name="d.safetensors", lora_1_model_strength=0.3,
                                          lora_1_clip_strength=0.7))
    assert adv == stack + [("d.safetensors", 0.3, 0.7)]
    assert node("easy loraStack")(CTX, toggle=False, mode="simple", num_loras=1, **_rows()) == (None,)


@pytest.fixture(scope="module")
def model_ctx(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    loras = Path(tiny_models) / "loras"
    loras.mkdir(exist_ok=True)
    q = model.transformer.blocks[0].attn1.to_q
    for name in ("s1.safetensors", "s2.safetensors"):
        save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.ones(2, q.weight.shape[1]),
                   "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.ones(q.weight.shape[0], 2)},
                  str(loras / name))
    return ctx, model


def test_easy_lora_stack_apply_adds_patches_in_order(model_ctx):
    ctx, model = model_ctx
    stack = [("s1.safetensors", 0.8, 0.8), ("s2.safetensors", 0.0, 1.0), ("s2.safetensors", -0.5, 0.0)]
    patched, clip = node("easy loraStackApply")(ctx, lora_stack=stack, model=model)
    assert clip is None and model.loras == ()
    assert [(p.path.name, p.strength) for p in patched.loras] == [("s1.safetensors", 0.8), ("s2.safetensors", -0.5)]
    same, _ = node("easy loraStackApply")(ctx, lora_stack=None, model=model)
    assert same is model
    with pytest.raises(NodeInputError):
        node("easy loraStackApply")(ctx, lora_stack=[("missing.safetensors", 1.0, 1.0)], model=model)


# --- Crystools / WAS ------------------------------------------------------------------------------

def test_crystools_switch_picks_by_boolean():
    a, b = torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 2, 3)
    assert node("Switch image [Crystools]")(CTX, on_true=a, on_false=b, boolean=True)[0] is a
    assert node("Switch image [Crystools]")(CTX, on_true=a, on_false=b, boolean=False)[0] is b
    with pytest.raises(NodeInputError) as err:
        node("Switch image [Crystools]")(CTX, on_true=a, on_false=None, boolean=False)
    assert err.value.input_name == "on_false"


def test_tensor_batch_to_image_picks_one_frame_or_the_last():
    batch = torch.arange(3.0).reshape(3, 1, 1, 1).expand(3, 2, 2, 3)
    assert node("Tensor Batch to Image")(CTX, images_batch=batch, batch_image_number=1)[0][0, 0, 0, 0] == 1.0
    last, = node("Tensor Batch to Image")(CTX, images_batch=batch, batch_image_number=7)
    assert last.shape == (1, 2, 2, 3) and last[0, 0, 0, 0] == 2.0


# --- LayerStyle ------------------------------------------------------------------------------------

def test_layerstyle_letterbox_longest_side_rounded_up_matches_pillow():
    rng = np.random.default_rng(0)
    frames = rng.random((2, 30, 50, 3), dtype=np.float32)
    image, mask, size, w, h = node("LayerUtility: ImageScaleByAspectRatio V2")(
        CTX, aspect_ratio="1:1", proportional_width=1, proportional_height=1, fit="letterbox", method="lanczos",
        round_to_multiple="8", scale_to_side="longest", scale_to_length=37, background_color="#102030",
        image=torch.from_numpy(frames))
    # ratio 1 is not above 1: height = 37, width = int(37 * 1) = 37; both up to 40
    assert (w, h, size, mask) == (40, 40, [50, 30], None)
    for i in range(2):
        pil = Image.fromarray(np.clip(255.0 * frames[i], 0, 255).astype(np.uint8))
        fitted = pil.resize((40, 24), Image.LANCZOS)  # wider: fit the width, height int(40 / 50 * 30)
        canvas = Image.new("RGB", (40, 40), color="#102030")
        canvas.paste(fitted, box=(0, 8))
        np.testing.assert_allclose(image[i].numpy(), np.asarray(canvas, dtype=np.float32) / 255.0, atol=1e-7)


def test_layerstyle_original_ratio_crop_and_mask():
    img = torch.rand(1, 20, 40, 3)
    mask = torch.zeros(1, 20, 40)
    mask[:, 5:15, 10:30] = 1.0
    image, out_mask, _, w, h = node("LayerUtility: ImageScaleByAspectRatio V2")(
        CTX, aspect_ratio="original", fit="crop", method="nearest", round_to_multiple="None", scale_to_side="width",
        scale_to_length=20, background_color="#000000", image=img, mask=mask)
    assert (w, h) == (20, 10) and image.shape == (1, 10, 20, 3) and out_mask.shape == (1, 10, 20)
    pil = Image.fromarray((mask[0].numpy() * 255).astype(np.uint8)).convert("RGB").resize((20, 10), Image.NEAREST)
    np.testing.assert_allclose(out_mask[0].numpy(), np.asarray(pil.convert("L"), dtype=np.float32) / 255.0)


# --- CRT Upscale Model Advanced ----------------------------------------------------------------------

def test_crt_name_scale_and_tiles_placed_by_it():
    assert [name_scale(n) for n in ("4x_foolhardy_Remacri.pth", "RealESRGAN_x2.pth", "8x_a", "plain")] == [4, 2, 8, 4]
    frames = torch.rand(2, 10, 7, 3)

    def nearest2(x):  # a stand-in 2x model: nearest-neighbour doubling
        return x.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)

    out = tiled(nearest2, frames, 4, 2)
    assert torch.equal(out, nearest2(frames))  # tiles without overlap put back where they belong


def test_crt_upscale_with_a_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "spandrel", None)  # wfrun's own ESRGAN, as on a base install
    folder = tmp_path / "models" / "upscale_models"
    save_weights(tiny_esrgan_state_dict(), folder / "4x_tiny.pth")
    ctx = ExecContext(models=ModelRoots((tmp_path / "models",)))
    image = torch.rand(3, 16, 24, 3, generator=torch.Generator().manual_seed(1))
    model, = node("UpscaleModelLoader")(ctx, model_name="4x_tiny.pth")
    plain, = node("ImageUpscaleWithModel")(ctx, upscale_model=model, image=image)
    same, w, h = node("CRT_UpscaleModelAdv")(ctx, image=image, upscale_model_name="4x_tiny.pth", output_multiplier=4.0,
                                             batch_size=2)
    assert (w, h) == (96, 64) and torch.allclose(same, plain, atol=1e-6)  # batches change nothing
    tiles, _, _ = node("CRT_UpscaleModelAdv")(ctx, image=image, upscale_model_name="4x_tiny.pth",
                                              output_multiplier=4.0, tile_count="4")
    # 24 // 4 = 6-pixel tiles, each upscaled alone (its own borders), placed at 4x their position
    piece, = node("ImageUpscaleWithModel")(ctx, upscale_model=model, image=image[:, 6:12, 12:18])
    assert torch.allclose(tiles[:, 24:48, 48:72], piece, atol=1e-6)
    fixed, w2, h2 = node("CRT_UpscaleModelAdv")(ctx, image=image, upscale_model_name="4x_tiny.pth",
                                                use_fixed_resolution=True, fixed_width=64, fixed_height=40)
    expected = np.asarray(Image.fromarray(np.clip(255.0 * plain[0].numpy(), 0, 255).astype(np.uint8))
                          .resize((64, 40), Image.LANCZOS), dtype=np.float32) / 255.0
    assert (w2, h2) == (64, 40) and np.allclose(fixed[0].numpy(), expected, atol=1e-6)  # ComfyUI lanczos: 8 bits truncated


# --- SuperNodes ------------------------------------------------------------------------------------------

def test_common_aspect_ratio_nearest_enabled_in_orientation():
    off = {k: False for k in ("1:1", "4:3", "3:2", "5:4", "16:9", "16:10", "21:9", "2:1", "1.85:1", "2.39:1")}
    assert node("GetCommonAspectRatio")(CTX, width=1024, height=1024, **{**off, "16:9": True}) == (16, 9)
    assert node("GetCommonAspectRatio")(CTX, width=720, height=1280, **{**off, "16:9": True, "4:3": True}) == (9, 16)
    assert node("GetCommonAspectRatio")(CTX, width=1000, height=740, **off) == (1, 1)  # none on: 1:1
    assert node("GetCommonAspectRatio")(CTX, width=1850, height=1000) == (37, 20)


def test_image_size_calculator_max_and_min():
    assert node("ImageSizeCalculator")(CTX, aspect_w=16, aspect_h=9, mode="max", size=720, multiple_of=16) == (720, 400)
    # 720 / (16/9) = 405 -> 405 / 16 = 25.3 -> 25 * 16 = 400
    assert node("ImageSizeCalculator")(CTX, aspect_w=16, aspect_h=9, mode="min", size=480, multiple_of=16) == (848, 480)
    # 480 * 16 / 9 = 853.3 -> 53.3 -> 53 * 16 = 848
    assert node("ImageSizeCalculator")(CTX, aspect_w=1, aspect_h=1, mode="max", size=4, multiple_of=16) == (16, 16)


def test_image_mask_crop_box_padding_and_multiple():
    image = torch.rand(2, 40, 50, 3)
    mask = torch.zeros(2, 40, 50)
    mask[0, 10:15, 20:23] = 1.0
    mask[1, 12:18, 21:24] = 0.6
    cropped, cmask, info = node("ImageMaskCrop")(CTX, image=image, mask=mask, padding=2, multiple_of=8)
    # box y 10..18, x 20..24; padded y 8..20 (12 -> 16: 2 each side), x 18..26 (8: kept)
    assert (info["x"], info["y"], info["w"], info["h"]) == (18, 6, 8, 16) and info["original_size"] == (40, 50)
    assert torch.equal(cropped, image[:, 6:22, 18:26]) and torch.equal(cmask, mask[:, 6:22, 18:26])
    edge = torch.zeros(1, 40, 50)
    edge[0, 0:5, 0:5] = 1.0  # at the corner: grown on one side only
    _, _, info = node("ImageMaskCrop")(CTX, image=image[:1], mask=edge, padding=0, multiple_of=8)
    assert (info["x"], info["y"], info["w"], info["h"]) == (0, 0, 8, 8)
    same = node("ImageMaskCrop")(CTX, image=image, mask=torch.zeros(2, 40, 50), padding=0, multiple_of=8)
    assert same[0] is image and same[2]["mask_patch"] is None


def test_sigmas_rescale_keeps_the_curve():
    sigmas = torch.tensor([0.9, 0.8333, 0.625, 0.0])
    out, = node("SigmasRescale")(CTX, sigmas=sigmas, max=1.0, min=0.9)
    expected = (sigmas.numpy() - 0.0) / 0.9 * 0.1 + 0.9
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    flat, = node("SigmasRescale")(CTX, sigmas=torch.full((3,), 0.5), max=2.0, min=0.0)
    assert flat.tolist() == [2.0, 2.0, 2.0]


def test_super_resize_cover_and_viewport():
    image = torch.rand(1, 30, 60, 3)
    mask = (torch.rand(1, 30, 60) > 0.5).float()
    out, m = node("SuperResizeImage")(CTX, width=30, height=30, crop="center", cover=True, upscale_method="bilinear",
                                      multiple_of=16, image=image, mask=mask)
    # target 32x32; cover scale max(32/60, 32/30) = 32/30 -> 64x32, centre cut x 16..48
    scaled = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(32, 64), mode="bilinear").movedim(1, -1)
    assert torch.allclose(out, scaled[:, :, 16:48]) and m.shape == (1, 32, 32)
    view, vm = node("SuperResizeImage")(CTX, width=40, height=100, crop="top-right", cover=False,
                                        upscale_method="bilinear", multiple_of=16, image=image)
    # window min(40, 60) floored to 32 wide, min(100, 30) = 30 -> floored 16 high; at the top right
    assert torch.equal(view, image[:, 0:16, 28:60]) and torch.equal(vm, torch.zeros(1, 16, 32))
