"""Nodes added for the eighth public set: the LoRA Manager's Lora Loader, WAS's Latent Input
Switch and chrishill197724-gif's Wan22StoryboardGGUF, each against the pack's rules written
out by hand (and core's own nodes where the pack calls them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from node_helpers import node
from wfrun.media.image import upscale_image
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.vae_nodes import encode_images
from wfrun.packs.wan22_storyboard.storyboard import frame_counts, placements

LM = "Lora Loader (LoraManager)"


# --- Lora Loader (LoraManager) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def lm_ctx(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    loras = Path(tiny_models) / "loras"
    (loras / "lm").mkdir(parents=True, exist_ok=True)
    q = model.transformer.blocks[0].attn1.to_q
    weights = {"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.ones(2, q.weight.shape[1]),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.ones(q.weight.shape[0], 2)}
    for rel in ("lm_a.safetensors", "lm/lm_b.safetensors"):
        save_file(weights, str(loras / rel))
    (loras / "lm/lm_b.metadata.json").write_text(json.dumps({"civitai": {"trainedWords": ["b1", "b2"]}}))
    return ctx, model


def rows(*entries):
    return [dict(name=n, strength=s, active=a, clipStrength=c) for n, s, a, c in entries]


def test_lora_manager_loader_stacks_then_rows_as_core_lora_loader(lm_ctx):
    ctx, model = lm_ctx
    out_model, clip, words, loaded = node(LM)(
        ctx, model=model, text="ignored <lora:x:1>", lora_stack=[("lm_a.safetensors", 1, 1)],
        loras={"__value__": rows(("lm_b", 0.8, True, 0.8), ("lm_a", 1.0, False, 1.0), ("lm_a", 0.5, True, 0.7))})
    # core LoraLoader, once per LoRA in the pack's order (stack first); no CLIP: model half only
    want = node("LoraLoader")(ctx, model=model, clip=None, lora_name="lm_a.safetensors", strength_model=1,
                              strength_clip=0)[0]
    want = node("LoraLoader")(ctx, model=want, clip=None, lora_name="lm/lm_b.safetensors", strength_model=0.8,
                              strength_clip=0)[0]
    want = node("LoraLoader")(ctx, model=want, clip=None, lora_name="lm_a.safetensors", strength_model=0.5,
                              strength_clip=0)[0]
    assert [(p.path, p.strength) for p in out_model.loras] == [(p.path, p.strength) for p in want.loras]
    assert clip is None and model.loras == ()
    assert words == "b1,, b2"
    # a stack's strengths as it holds them, a row's as floats; clip shown when it differs
    assert loaded == "<lora:lm_a:1> <lora:lm_b:0.8> <lora:lm_a:0.5:0.7>"


def test_lora_manager_loader_empty_widget_passes_through_from_a_ui_file(lm_ctx):
    ctx, model = lm_ctx
    ui = {"nodes": [{"id": 384, "type": LM, "widgets_values": ["", []]}]}
    got = node(LM)(ExecContext(models=ctx.models, workflow_json=ui, node_id="384"), model=model, text="", clip="c")
    assert got == (model, "c", "", "")
    ui["nodes"][0]["widgets_values"] = ["", rows(("lm_a", 0.0, True, 0.0))]  # 0/0: core returns early
    got = node(LM)(ExecContext(models=ctx.models, workflow_json=ui, node_id="384"), model=model, text="")
    assert got[0] is model and got[3] == "<lora:lm_a:0.0>"


@pytest.mark.parametrize("kwargs,name", [
    ({"loras": rows(("missing", 1.0, True, 1.0))}, "loras"),
    ({"loras": rows(("lm_a", "strong", True, 1.0))}, "loras"),
    ({"lora_stack": [("lm_a.safetensors", 1.0)]}, "lora_stack"),
    ({"lora_stack": [("gone.safetensors", 1.0, 1.0)]}, "lora_stack"),
])
def test_lora_manager_loader_names_the_input_it_refuses(lm_ctx, kwargs, name):
    ctx, model = lm_ctx
    with pytest.raises(NodeInputError) as err:
        node(LM)(ctx, model=model, text="", **kwargs)
    assert err.value.input_name == name


def test_lora_manager_loader_refuses_saves_outside_its_version_range(lm_ctx):
    ctx, model = lm_ctx
    for date in ("2025-02-24", "2025-03-15", "2026-08-20"):
        with pytest.raises(NodeInputError) as err:
            node(LM)(ExecContext(models=ctx.models, saved_date=date), model=model, text="", loras=[])
        assert err.value.input_name == "text" and date in str(err.value)
    assert node(LM)(ExecContext(models=ctx.models, saved_date="2026-01-25"), model=model, text="", loras=[])[3] == ""


# --- WAS Latent Input Switch -------------------------------------------------------------------

def test_latent_input_switch_picks_as_the_pack():
    a, b = {"samples": torch.zeros(1)}, {"samples": torch.ones(1)}
    switch = node("Latent Input Switch")
    assert switch(ExecContext(), latent_a=a, latent_b=b, boolean=True)[0] is a
    assert switch(ExecContext(), latent_a=a, latent_b=b, boolean=False)[0] is b
    assert switch(ExecContext(), latent_a=a, latent_b=b, boolean_number=0.6)[0] is a   # rounds to 1
    assert switch(ExecContext(), latent_a=a, latent_b=b, boolean_number=2)[0] is b
    with pytest.raises(NodeInputError) as err:
        switch(ExecContext(), latent_a=a, latent_b=b)
    assert err.value.input_name == "boolean"


# --- Wan22StoryboardGGUF -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def vae_ctx(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    vae22, = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    vae21, = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return ctx, vae22, vae21


def test_storyboard_frame_arithmetic():
    assert frame_counts(5.0, 24) == (121, 31)
    assert frame_counts(0.1, 24) == (1, 1) and frame_counts(1.0, 7) == (5, 2)
    assert placements(4, 121) == [0, 40, 80, 120] and placements(2, 121) == [0, 120] and placements(1, 121) == [0]


def test_storyboard_places_images_as_the_pack(vae_ctx):
    ctx, vae, _ = vae_ctx
    g = torch.Generator().manual_seed(3)
    imgs = [torch.rand(2, 40, 56, 3, generator=g) for _ in range(3)]
    w, h, secs, fps = 64, 48, 1.0, 10  # 11 frames -> 9 -> 3 latent frames
    out, = node("Wan22StoryboardGGUF")(ctx, vae=vae, positive=[], negative=[], width=w, height=h,
                                       length_seconds=secs, fps=fps, batch_size=2, start_image=imgs[0],
                                       middle_image_2=imgs[1], end_image=imgs[2])
    # by hand: images at pixel frames 0, 4, 8 -> latent frames 0, 1, 2; the last also fills 1..2
    enc = [encode_images(ctx, vae, upscale_image(i[:1], w, h, "bilinear", "center"))[:, :, :1] for i in imgs]
    latent = torch.zeros(1, 48, 3, h // 16, w // 16)
    latent[:, :, 0:1], latent[:, :, 1:2], latent[:, :, 2:3] = enc[0], enc[2], enc[2]
    assert out["samples"].shape == (2, 48, 3, 3, 4) and torch.equal(out["noise_mask"], torch.zeros(2, 1, 3, 3, 4))
    torch.testing.assert_close(out["samples"], latent.repeat(2, 1, 1, 1, 1))


def test_storyboard_without_images_is_the_normalised_zero(vae_ctx):
    ctx, vae, _ = vae_ctx
    out, = node("Wan22StoryboardGGUF")(ctx, vae=vae, positive=[], negative=[], width=32, height=32,
                                       length_seconds=0.5, fps=10, batch_size=1)
    zero = latent_format(48).process_out(torch.zeros(1, 48, 2, 2, 2))
    torch.testing.assert_close(out["samples"], zero)
    assert torch.equal(out["noise_mask"], torch.ones(1, 1, 2, 2, 2))


def test_storyboard_refuses_a_wan21_vae_when_it_encodes(vae_ctx):
    ctx, _, vae21 = vae_ctx
    # without an image the pack never uses the VAE; an image's Wan 2.1 encoding cannot fill the latent
    node("Wan22StoryboardGGUF")(ctx, vae=vae21, positive=[], negative=[], width=32, height=32,
                                length_seconds=1.0, fps=8, batch_size=1)
    with pytest.raises(NodeInputError) as err:
        node("Wan22StoryboardGGUF")(ctx, vae=vae21, positive=[], negative=[], width=32, height=32,
                                    length_seconds=1.0, fps=8, batch_size=1, end_image=torch.rand(1, 32, 32, 3))
    assert err.value.input_name == "vae"


# --- tiled_ksampler's Tiled KSampler -----------------------------------------------------------

@pytest.fixture(scope="module")
def sampler_ctx(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    clip, = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    cond, = node("CLIPTextEncode")(ctx, text="a tiled floor", clip=clip)
    return ctx, model, cond


def test_tiled_ksampler_on_wan_is_ksampler(sampler_ctx):
    """ComfyUI's Wan transformer patches in 3D: no Conv2d for the node to pad circularly
    (checked on the network itself), so its result is KSampler's with the same widgets."""
    ctx, model, cond = sampler_ctx
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model.transformer.modules())
    latent, = node("EmptyHunyuanLatentVideo")(ctx, width=32, height=32, length=5, batch_size=1)
    common = dict(model=model, steps=2, cfg=3.0, sampler_name="euler", scheduler="simple", positive=cond,
                  negative=cond, latent_image=latent, denoise=1.0)
    want, = node("KSampler")(ctx, seed=7, **common)
    got, = node("Tiled KSampler")(ctx, seed=7, tiling=1, **common)
    assert torch.equal(got["samples"], want["samples"])
    got, = node("Tiled KSampler")(ctx, seed={"seed": 7}, tiling=0, **common)  # the first version's SEED input
    assert torch.equal(got["samples"], want["samples"])
    got, = node("Asymmetric Tiled KSampler")(ctx, seed=7, tileX=1, tileY=0, **common)
    assert torch.equal(got["samples"], want["samples"])


def test_tiled_ksampler_refuses_circular_padding_it_cannot_apply():
    from types import SimpleNamespace

    with_conv2d = SimpleNamespace(transformer=torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, padding=1)))
    with pytest.raises(NodeInputError) as err:
        node("Tiled KSampler")(ExecContext(), model=with_conv2d, seed=1, tiling=1, steps=1, cfg=1.0,
                               sampler_name="euler", scheduler="simple", positive=[], negative=[],
                               latent_image={}, denoise=1.0)
    assert err.value.input_name == "tiling"
    with pytest.raises(NodeInputError) as err:
        node("Asymmetric Tiled KSampler")(ExecContext(), model=with_conv2d, seed=1, tileX=0, tileY=1, steps=1,
                                          cfg=1.0, sampler_name="euler", scheduler="simple", positive=[],
                                          negative=[], latent_image={}, denoise=1.0)
    assert err.value.input_name == "tileY"


# --- comfyui-wan-i2v-control: WanI2VConditioningMaskPro, DropFirstFrames ---------------------

def test_mask_presets_by_hand():
    from wfrun.packs.wan_i2v_control.nodes import preset_mask

    h, w = 4, 6
    left = preset_mask("left_half", h, w, torch.float32)[0, 0]
    assert left[:, :3].eq(0).all() and left[:, 3:].eq(1).all()
    edges = preset_mask("edges", 8, 8, torch.float32)[0, 0]
    assert edges[2:6, 2:6].eq(1).all() and edges.sum() == 16
    grad = preset_mask("gradient_top", h, w, torch.float32)[0, 0]
    assert torch.equal(grad[:, 0], torch.tensor([0.0, 0.25, 0.5, 0.75]))
    vig = preset_mask("vignette", h, w, torch.float32)[0, 0]
    for y in range(h):  # the pack's per-pixel loop
        for x in range(w):
            d = ((y - h // 2) ** 2 + (x - w // 2) ** 2) ** 0.5 / ((h / 2) ** 2 + (w / 2) ** 2) ** 0.5
            assert vig[y, x].item() == pytest.approx(1.0 - min(d, 1.0), abs=1e-7)
    with pytest.raises(NodeInputError):
        preset_mask("stars", h, w, torch.float32)


def test_mask_shaping_steps():
    from wfrun.packs.wan_i2v_control.nodes import fill_colour, shape_mask

    base = torch.ones(1, 1, 10, 10)
    base[:, :, 4:6, 4:6] = 0  # 4 filled pixels: size 2
    grown = shape_mask(base.clone(), ignore_area="none", ignore_percent=0.5, grow_mask=0.5, feather=0.0,
                       mask_strength=1.0, invert_mask=False)
    assert grown[0, 0, 3:7, 3:7].eq(0).all() and grown.eq(0).sum() == 16  # eroded by int(0.5 * 2) = 1 pixel
    left_hole = torch.ones(1, 1, 10, 10)
    left_hole[:, :, 4:6, 2:4] = 0
    kept = shape_mask(left_hole, ignore_area="left", ignore_percent=0.5, grow_mask=0.0, feather=0.0,
                      mask_strength=0.5, invert_mask=True)
    assert kept.eq(0).all()  # the left half (5 columns) covers the hole; ones stay ones at 0.5; inverted
    half = shape_mask(base.clone(), ignore_area="left", ignore_percent=0.5, grow_mask=0.0, feather=0.0,
                      mask_strength=0.5, invert_mask=True)
    assert half[0, 0, 4, 5].item() == 0.5 and half.gt(0).sum() == 2  # column 5 of the hole: 1 - (0 * 0.5 + 0.5)
    weak = shape_mask(base.clone(), ignore_area="none", ignore_percent=0.5, grow_mask=0.0, feather=0.0,
                      mask_strength=0.25, invert_mask=False)
    assert weak.min().item() == 0.75
    assert fill_colour(0.5, True, "#FF0000") == pytest.approx([0.5 * 0.93 + 0.07, 0.465, 0.465])
    assert fill_colour(0.5, True, "zzzzzz") == [0.5] * 3 and fill_colour(0.4, False, "FF0000") == [0.4] * 3


@pytest.fixture(scope="module")
def i2v_cond(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    vae, = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    text = [[torch.ones(1, 3, 8), {}]]
    image = torch.rand(1, 32, 48, 3, generator=torch.Generator().manual_seed(5))
    pos, neg, _ = node("WanImageToVideo")(ctx, positive=text, negative=[[torch.ones(1, 3, 8), {}]], vae=vae,
                                          width=48, height=32, length=9, batch_size=1, start_image=image)
    return ctx, vae, image, pos, neg


def test_mask_pro_blends_a_grey_fill_into_the_concat_latent(i2v_cond):
    ctx, vae, image, pos, neg = i2v_cond
    out_pos, out_neg, mask = node("WanI2VConditioningMaskPro")(
        ctx, positive=pos, negative=neg, vae=vae, image=image, mask_mode="right_half", fill_brightness=0.5,
        text_strength=2.0)
    concat = pos[0][1]["concat_latent_image"]  # [1, 16, 3, 4, 6]
    grey = torch.full((12, 32, 48, 3), 0.5)  # 4 x 3 latent frames of the fill at 8x the latent size
    fill = encode_images(ctx, vae, grey)[:, :, :3]
    keep = torch.ones(1, 1, 32, 48)
    keep[..., 24:] = 0
    m = torch.nn.functional.interpolate(keep, size=(4, 6), mode="bilinear", align_corners=False).unsqueeze(2)
    torch.testing.assert_close(out_pos[0][1]["concat_latent_image"], concat * m + fill * (1 - m))
    torch.testing.assert_close(out_neg[0][1]["concat_latent_image"], concat * m + fill * (1 - m))
    cm = pos[0][1]["concat_mask"]
    inv = 1 - torch.nn.functional.interpolate(keep, size=cm.shape[-2:], mode="bilinear", align_corners=False)
    assert torch.equal(out_pos[0][1]["concat_mask"], torch.max(cm, inv.unsqueeze(2)))
    assert torch.equal(out_pos[0][0], pos[0][0] * 2.0) and torch.equal(out_neg[0][0], neg[0][0])
    assert torch.equal(mask, keep[:, 0]) and pos[0][1]["concat_latent_image"] is concat  # inputs untouched


def test_mask_pro_keeps_everything_and_refuses_what_it_cannot_do(i2v_cond):
    ctx, vae, image, pos, neg = i2v_cond
    same_pos, same_neg, mask = node("WanI2VConditioningMaskPro")(ctx, positive=pos, negative=neg, vae=vae,
                                                                 image=image, mask_mode="full", text_strength=3.0)
    assert same_pos is pos and same_neg is neg and mask.eq(1).all()
    for kwargs, name in (({"generate_person_mask": True}, "generate_person_mask"),
                         ({"positive": [[torch.ones(1), {}]]}, "positive")):
        with pytest.raises(NodeInputError) as err:
            node("WanI2VConditioningMaskPro")(ctx, **{"positive": pos, "negative": neg, "vae": vae, "image": image,
                                                      "mask_mode": "left_half", **kwargs})
        assert err.value.input_name == name
    with pytest.raises(NodeInputError) as err:
        node("WanI2VConditioningMaskPro")(ExecContext(models=ctx.models, saved_date="2026-01-31"), positive=pos,
                                          negative=neg, vae=vae, image=image)
    assert err.value.input_name == "mask_mode"


def test_drop_first_frames():
    frames = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 2, 2, 3)
    drop = node("DropFirstFrames")
    assert torch.equal(drop(ExecContext(), images=frames, frames_to_drop=4)[0], frames[4:])
    assert drop(ExecContext(), images=frames, frames_to_drop=0)[0] is frames
    assert torch.equal(drop(ExecContext(), images=frames, frames_to_drop=6)[0], frames[5:])
