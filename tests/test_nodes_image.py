"""Image node executors (comfy-core, KJNodes, essentials) against hand-computed expectations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, NodeInputError, run_plan
from node_helpers import node
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.media.image import read_png_text
from wfrun.nodes.executor import ExecContext


def run(class_type, ctx=None, **inputs):
    return node(class_type)(ctx or ExecContext(), **inputs)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output",
                       workflow_json={"nodes": [], "links": [], "extra": {}})


def ramp(h, w, c=3, frames=1):
    """Frames whose pixel (y, x) holds x / w in every channel, frame i offset by i / 10."""
    x = torch.arange(w, dtype=torch.float32) / w
    img = x.view(1, 1, w, 1).expand(frames, h, w, c).clone()
    return img + torch.arange(frames).view(frames, 1, 1, 1) / 10


# ---------------------------------------------------------------------------- comfy-core

def test_load_image_rgb_and_alpha(ctx):
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, "RGBA").save(ctx.input_dir / "a.png")
    image, mask = run("LoadImage", ctx, image="a.png")
    assert image.shape == (1, 4, 6, 3) and torch.all(image[..., 1] == 1) and torch.all(image[..., 0] == 0)
    assert mask.shape == (1, 4, 6) and mask[0, 0, 0] == 1 and mask.sum() == 1


def test_load_image_subfolder_and_output_annotation(ctx):
    (ctx.input_dir / "pasted").mkdir()
    Image.new("RGB", (3, 2), (255, 0, 0)).save(ctx.input_dir / "pasted" / "image (1).png")
    image, mask = run("LoadImage", ctx, image="pasted/image (1).png")
    assert image.shape == (1, 2, 3, 3) and mask.shape == (1, 64, 64)
    ctx.output_dir.mkdir()
    Image.new("RGB", (5, 5)).save(ctx.output_dir / "prev.png")
    assert run("LoadImage", ctx, image="prev.png [output]")[0].shape == (1, 5, 5, 3)


@pytest.mark.parametrize("name", ["../secret.png", "/etc/hostname", "sub/../../secret.png", "link.png"])
def test_load_image_refuses_escape(ctx, name):
    secret = ctx.input_dir.parent / "secret.png"
    Image.new("RGB", (2, 2)).save(secret)
    (ctx.input_dir / "link.png").symlink_to(secret)
    with pytest.raises(NodeInputError) as err:
        run("LoadImage", ctx, image=name)
    assert err.value.input_name == "image"
    assert "outside" in str(err.value) or "refused" in str(err.value)


def test_load_image_missing_file_names_folder(ctx):
    with pytest.raises(NodeInputError, match="not found"):
        run("LoadImage", ctx, image="nope.png")


def test_save_image_numbering_metadata_and_subfolder(ctx):
    images = torch.rand(2, 4, 5, 3)
    (out,) = run("SaveImage", ctx, images=images, filename_prefix="shots/demo")
    assert out is images
    folder = ctx.output_dir / "shots"
    assert sorted(p.name for p in folder.iterdir()) == ["demo_00001_.png", "demo_00002_.png"]
    run("SaveImage", ctx, images=images[:1], filename_prefix="shots/demo")
    assert (folder / "demo_00003_.png").exists()
    text = read_png_text(folder / "demo_00001_.png")
    assert json.loads(text["workflow"]) == ctx.workflow_json
    saved = np.asarray(Image.open(folder / "demo_00002_.png"))
    assert np.array_equal(saved, np.clip(images[1].numpy() * 255, 0, 255).astype(np.uint8))
    assert [p.name for p in ctx.written] == ["demo_00001_.png", "demo_00002_.png", "demo_00003_.png"]


def test_save_image_api_prompt_embedded_as_prompt(ctx):
    ctx.workflow_json = {"1": {"class_type": "SaveImage", "inputs": {}}}
    run("SaveImage", ctx, images=torch.zeros(1, 2, 2, 3), filename_prefix="p")
    text = read_png_text(ctx.output_dir / "p_00001_.png")
    assert json.loads(text["prompt"]) == ctx.workflow_json and "workflow" not in text


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/abs", "a/../../b"])
def test_save_image_refuses_prefix_outside(ctx, prefix):
    with pytest.raises(NodeInputError) as err:
        run("SaveImage", ctx, images=torch.zeros(1, 2, 2, 3), filename_prefix=prefix)
    assert err.value.input_name == "filename_prefix"


def test_preview_image_goes_to_temp(ctx):
    run("PreviewImage", ctx, images=torch.zeros(1, 2, 2, 3))
    files = list((ctx.output_dir / "temp").iterdir())
    assert len(files) == 1 and files[0].name.startswith("ComfyUI_temp_") and files[0].name.endswith("_00001_.png")


def test_empty_image_color():
    (img,) = run("EmptyImage", width=3, height=2, batch_size=4, color=0xFF8000)
    assert img.shape == (4, 2, 3, 3)
    assert torch.allclose(img[0, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]))


def test_image_scale_keeps_aspect_for_zero_side():
    (out,) = run("ImageScale", image=ramp(10, 20), upscale_method="bilinear", width=0, height=5, crop="disabled")
    assert out.shape == (1, 5, 10, 3)
    (out,) = run("ImageScale", image=ramp(10, 20), upscale_method="nearest-exact", width=10, height=10, crop="center")
    assert out.shape == (1, 10, 10, 3) and abs(float(out[0, 0, 0, 0]) - 5 / 20) < 1e-6
    (same,) = run("ImageScale", image=ramp(4, 4), upscale_method="area", width=0, height=0, crop="disabled")
    assert same.shape == (1, 4, 4, 3)
    (by,) = run("ImageScaleBy", image=ramp(10, 20), upscale_method="lanczos", scale_by=0.5)
    assert by.shape == (1, 5, 10, 3)


def test_image_scale_by_to_zero_pixels_names_scale_by():
    """scale_by's minimum, 0.01, on a 40x20 image: round(20 * 0.01) = 0 px, where ComfyUI's resize fails."""
    with pytest.raises(NodeInputError) as err:
        run("ImageScaleBy", image=ramp(20, 40), upscale_method="nearest-exact", scale_by=0.01)
    assert err.value.input_name == "scale_by" and "0x0 px" in str(err.value)
    (small,) = run("ImageScaleBy", image=ramp(20, 40), upscale_method="nearest-exact", scale_by=0.05)
    assert small.shape == (1, round(20 * 0.05), round(40 * 0.05), 3)


# ---------------------------------------------------------------------------- KJNodes resize

def test_image_resize_kj_keep_proportion_divisible():
    # 150x100 into 64x64: ratio min(64/150, 64/100) = 0.4267 -> 64x43 -> down to /16 -> 64x32
    out, w, h = run("ImageResizeKJ", image=ramp(100, 150), width=64, height=64, upscale_method="bilinear",
                    keep_proportion=True, divisible_by=16)
    assert (w, h) == (64, 32) and out.shape == (1, 32, 64, 3)
    # one side 0 with keep_proportion: follows the aspect
    _, w, h = run("ImageResizeKJ", image=ramp(100, 150), width=0, height=50, upscale_method="bilinear",
                  keep_proportion=True, divisible_by=2)
    assert (w, h) == (75 - 1, 50)  # round(150 * 0.5) = 75 -> 74 (divisible by 2)


def test_image_resize_kj_stretch_zero_and_get_image_size_and_old_inputs():
    _, w, h = run("ImageResizeKJ", image=ramp(100, 150), width=0, height=50, upscale_method="nearest-exact",
                  keep_proportion=False, divisible_by=16)
    assert (w, h) == (144, 48)
    _, w, h = run("ImageResizeKJ", image=ramp(100, 150), width=64, height=64, upscale_method="bilinear",
                  keep_proportion=True, divisible_by=16, get_image_size=torch.zeros(1, 21, 33, 3))
    assert (w, h) == (33, 21)  # copied exactly, never rounded
    _, w, h = run("ImageResizeKJ", image=ramp(100, 150), width=64, height=64, upscale_method="bilinear",
                  keep_proportion=False, divisible_by=8, width_input=40, height_input=0, crop="disabled")
    assert (w, h) == (40, 64)


def test_image_resize_kj_crop_zero_means_center():
    out, _, _ = run("ImageResizeKJ", image=ramp(10, 20), width=10, height=10, upscale_method="nearest-exact",
                    keep_proportion=False, divisible_by=0, crop=0)
    assert abs(float(out[0, 0, 0, 0]) - 5 / 20) < 1e-6  # left edge of the centre crop


def test_image_resize_kj_v2_modes():
    img = ramp(100, 200)
    out, w, h, mask = run("ImageResizeKJv2", image=img, width=64, height=64, upscale_method="bilinear",
                          keep_proportion="stretch", divisible_by=2, pad_color="0, 0, 0", crop_position="center")
    assert out.shape == (1, 64, 64, 3) and mask.shape == (1, 64, 64) and mask.abs().sum() == 0
    _, w, h, _ = run("ImageResizeKJv2", image=img, width=64, height=64, upscale_method="bilinear",
                     keep_proportion="resize", divisible_by=2, pad_color="0, 0, 0", crop_position="center")
    assert (w, h) == (64, 32)
    _, w, h, _ = run("ImageResizeKJv2", image=img, width=64, height=64, upscale_method="bilinear",
                     keep_proportion="total_pixels", divisible_by=2, pad_color="0, 0, 0", crop_position="center")
    assert (w, h) == (90, 44)  # sqrt(4096*2)=90.5 -> 90; sqrt(4096/2)=45.25 -> 45 -> 44
    out, w, h, _ = run("ImageResizeKJv2", image=img, width=64, height=64, upscale_method="nearest-exact",
                       keep_proportion="crop", divisible_by=2, pad_color="0, 0, 0", crop_position="left")
    assert (w, h) == (64, 64) and float(out[0, 0, 0, 0]) == 0.0  # left crop starts at column 0
    out, *_ = run("ImageResizeKJv2", image=img, width=64, height=64, upscale_method="nearest-exact",
                  keep_proportion="crop", divisible_by=2, pad_color="0, 0, 0", crop_position="right")
    assert abs(float(out[0, 0, 0, 0]) - 100 / 200) < 1e-6  # right crop starts at column 100


def test_image_resize_kj_v2_pad_color_mask_and_divisible_rounding_up():
    img = torch.ones(1, 100, 200, 3)
    out, w, h, mask = run("ImageResizeKJv2", image=img, width=128, height=128, upscale_method="bilinear",
                          keep_proportion="pad", divisible_by=16, pad_color="255, 0, 0", crop_position="center")
    # fit: 128x64, pad 32 above and below -> 128x128
    assert (w, h) == (128, 128) and out.shape == (1, 128, 128, 3)
    # bilinear resampling of ones gives 1 within float rounding (0.99999994 on some thread counts)
    assert out[0, 0, 0].tolist() == [1.0, 0.0, 0.0] and torch.allclose(out[0, 64, 64], torch.ones(3))
    assert mask[0, :32].min() == 1 and mask[0, 32:96].max() == 0 and mask[0, 96:].min() == 1
    # 200x100 into 100x70 padded at the top: fit 100x50, pad bottom 20; the fitted size is cut
    # to /16 (96x48) and the padded 96x68 is then rounded up to /16 by more bottom padding: 96x80
    out, w, h, _ = run("ImageResizeKJv2", image=img, width=100, height=70, upscale_method="bilinear",
                       keep_proportion="pad", divisible_by=16, pad_color="0, 0, 0", crop_position="top")
    assert (w, h) == (96, 80)
    assert out[0, :48].min() > 1 - 1e-6 and out[0, 48:].max() == 0  # image at the top, black below


def test_image_resize_kj_v2_refusals():
    with pytest.raises(NodeInputError):
        run("ImageResizeKJv2", image=ramp(4, 4), width=8, height=8, upscale_method="nvidia_rtx_vsr",
            keep_proportion="stretch", divisible_by=2, pad_color="0,0,0", crop_position="center")
    with pytest.raises(NodeInputError, match="GPU"):
        run("ImageResizeKJv2", image=ramp(4, 4), width=8, height=8, upscale_method="lanczos",
            keep_proportion="stretch", divisible_by=2, pad_color="0,0,0", crop_position="center", device="gpu")


# ---------------------------------------------------------------------------- KJNodes pad / concat / batch

def test_image_pad_kj_color_and_masks():
    img = torch.ones(2, 4, 5, 3)
    out, mask = run("ImagePadKJ", image=img, left=2, right=3, top=1, bottom=0, extra_padding=1,
                    pad_mode="color", color="0, 0, 255")
    assert out.shape == (2, 4 + 1 + 1 + 1, 5 + 3 + 4, 3)
    assert out[0, 0, 0].tolist() == [0.0, 0.0, 1.0] and out[1, 2, 3].tolist() == [1.0, 1.0, 1.0]
    assert mask.shape == (2, 7, 12) and mask[0, 2:6, 3:8].max() == 0 and mask.sum() == 2 * (7 * 12 - 20)


def test_image_pad_kj_target_size_and_edge_pixel():
    img = ramp(4, 4)
    out, mask = run("ImagePadKJ", image=img, left=0, right=0, top=0, bottom=0, extra_padding=0,
                    pad_mode="edge_pixel", color="0, 0, 0", target_width=8, target_height=6)
    assert out.shape == (1, 6, 8, 3)
    assert torch.equal(out[0, :, 0], out[0, :, 2]) and torch.equal(out[0, 1, 2:6], img[0, 0])
    in_mask = torch.zeros(1, 4, 4)
    in_mask[0, 0, 0] = 1
    _, mask = run("ImagePadKJ", image=img, left=1, right=0, top=0, bottom=0, extra_padding=0,
                  pad_mode="edge", color="0", mask=in_mask)
    assert mask.shape == (1, 4, 5) and mask[0, 0, 0] == 1  # replicated edge of the given mask
    # the pack shrinks the image by extra_padding first: more than the image is a clear error
    with pytest.raises(NodeInputError) as err:
        run("ImagePadKJ", image=img, left=0, right=0, top=0, bottom=0, extra_padding=4, pad_mode="color",
            color="0", target_width=8, target_height=6)
    assert err.value.input_name == "extra_padding"


def test_image_concat_multi_right_and_missing_input():
    a, b = torch.ones(1, 4, 6, 3), torch.full((1, 4, 3, 3), 0.5)
    (out,) = run("ImageConcatMulti", inputcount=2, image_1=a, image_2=b, direction="right", match_image_size=False)
    assert out.shape == (1, 4, 9, 3) and out[0, 0, 8, 0] == 0.5 and out[0, 0, 0, 0] == 1
    (out,) = run("ImageConcatMulti", inputcount=3, image_1=a, image_2=b, direction="left", match_image_size=False)
    assert out.shape == (1, 4, 15, 3) and out[0, 0, 0, 0] == 0  # image_3 missing: black, leftmost


def test_image_concat_multi_match_size_down_and_batch_repeat():
    a = torch.ones(3, 4, 8, 3)
    b = torch.zeros(1, 2, 2, 3)
    (out,) = run("ImageConcatMulti", inputcount=2, image_1=a, image_2=b, direction="down", match_image_size=True)
    # image_2 resized to width 8, keeping 1:1 -> 8x8; its single frame repeats for all 3
    assert out.shape == (3, 12, 8, 3) and out[2, 4:].abs().max() < 1e-6
    (out,) = run("ImageConcatMulti", inputcount=2, image_1=torch.ones(1, 4, 4, 3), image_2=torch.ones(1, 2, 3, 3),
                 direction="right", match_image_size=False)
    assert out.shape == (1, 4, 7, 3) and out[0, 0, 5, 0] == 0 and out[0, 1, 5, 0] == 1  # centred, black around


def test_image_concat_multi_masks_and_mixed():
    m = torch.ones(1, 4, 4)
    (out,) = run("ImageConcatMulti", inputcount=2, image_1=m, image_2=torch.zeros(1, 4, 2, 3), direction="up",
                 match_image_size=False)
    assert out.shape == (1, 8, 4)  # a MASK, because image_1 is one
    (out,) = run("ImageConcatMulti", inputcount=2, image_1=torch.zeros(1, 4, 4, 3), image_2=m, direction="right",
                 match_image_size=False)
    assert out.shape == (1, 4, 8, 3) and out[0, 0, 7].tolist() == [1, 1, 1]


def test_image_concat_multi_match_size_to_zero_pixels_is_named():
    """inputcount at its maximum (1000) stacks a strip so thin that matching its height
    leaves int(4 * 2 / 100) = 0 px: the pack's resize fails there; wfrun names the input."""
    a, thin = torch.ones(1, 4, 4, 3), torch.ones(1, 100, 2, 3)
    with pytest.raises(NodeInputError) as err:
        run("ImageConcatMulti", inputcount=2, image_1=a, image_2=thin, direction="right", match_image_size=True)
    assert err.value.input_name == "match_image_size" and "4x0 px" in str(err.value)
    (out,) = run("ImageConcatMulti", inputcount=2, image_1=a, image_2=torch.ones(1, 100, 50, 3), direction="right",
                 match_image_size=True)
    assert out.shape == (1, 4, 4 + int(4 * 50 / 100), 3)  # 2 px wide: still a picture


def test_image_batch_multi_resizes_and_pads_channels():
    a = torch.zeros(2, 4, 4, 3)
    b = torch.ones(1, 8, 8, 4)
    (out,) = run("ImageBatchMulti", inputcount=3, image_1=a, image_2=b)
    assert out.shape == (2 + 1 + 2, 4, 4, 4)
    assert out[0, ..., 3].min() == 1  # alpha filled with 1 for the RGB input
    assert out[2].min() == 1 and out[3:].sum() == 0


def test_get_image_range_from_batch():
    imgs = ramp(2, 2, frames=5)
    masks = torch.arange(5.0).view(5, 1, 1).expand(5, 2, 2)
    got, m = run("GetImageRangeFromBatch", start_index=1, num_frames=2, images=imgs, masks=masks)
    assert got.shape[0] == 2 and m[:, 0, 0].tolist() == [1, 2]
    got, m = run("GetImageRangeFromBatch", start_index=-1, num_frames=3, images=imgs)
    assert got.shape[0] == 3 and m is None and abs(float(got[0, 0, 0, 0]) - 0.2) < 1e-6
    got, _ = run("GetImageRangeFromBatch", start_index=4, num_frames=10, images=imgs)
    assert got.shape[0] == 1
    with pytest.raises(NodeInputError, match="out of range"):
        run("GetImageRangeFromBatch", start_index=5, num_frames=1, images=imgs)


def test_constants_and_size_count():
    assert run("INTConstant", value=81) == (81,)
    img = torch.zeros(7, 3, 5, 3)
    out, w, h, n = run("GetImageSizeAndCount", image=img)
    assert out is img and (w, h, n) == (5, 3, 7)


# ---------------------------------------------------------------------------- AddLabel

def test_add_label_up_down_height_and_text_pixels(ctx):
    img = torch.full((2, 20, 200, 3), 0.5)
    (out,) = run("AddLabel", ctx, image=img, text_x=10, text_y=2, height=48, font_size=32, font_color="white",
                 label_color="black", font="FreeMono.ttf", text="start_frame", direction="up")
    assert out.shape == (2, 68, 200, 3)
    strip = out[0, :48]
    assert strip.max() == 1.0 and (strip == 0).float().mean() > 0.5  # white text on black
    assert torch.equal(out[:, 48:], img)
    (down,) = run("AddLabel", ctx, image=img, text_x=10, text_y=2, height=-1, font_size=16, font_color="255, 0, 0",
                  label_color="#00ff00", font="FreeMono.ttf", text="a\nb", direction="down")
    assert down.shape == (2, 20 + 2 + 2 * 16 + 8, 200, 3)
    assert torch.equal(down[:, :20], img) and down[0, 20, 0].tolist() == [0.0, 1.0, 0.0]


def test_add_label_overlay_caption_and_left(ctx):
    img = torch.zeros(2, 64, 64, 3)
    (out,) = run("AddLabel", ctx, image=img, text_x=2, text_y=2, height=16, font_size=12, font_color="white",
                 label_color="black", font="", text="x", direction="overlay", caption=["one", "two"])
    assert out.shape == (2, 64, 64, 3) and out.max() == 1.0
    assert not torch.equal(out[0], out[1])
    with pytest.raises(NodeInputError):
        run("AddLabel", ctx, image=img, text_x=2, text_y=2, height=16, font_size=12, font_color="white",
            label_color="black", font="", text="x", direction="up", caption=["only one"])
    (left,) = run("AddLabel", ctx, image=img, text_x=2, text_y=2, height=16, font_size=12, font_color="white",
                  label_color="black", font="", text="x", direction="left")
    assert left.shape == (2, 64, 80, 3)


def test_add_label_uses_font_from_kjnodes_fonts_folder(ctx, tmp_path):
    from PIL import ImageFont

    from wfrun.models.paths import ModelRoots
    from wfrun.packs.kjnodes.text_nodes import find_font

    fonts = tmp_path / "models" / "kjnodes_fonts"
    fonts.mkdir(parents=True)
    default = ImageFont.load_default(size=10)
    assert find_font(ctx, "FreeMono.ttf") is None
    ctx.models = ModelRoots(roots=(tmp_path / "models",))
    (fonts / "Mine.ttf").write_bytes(default.font_bytes)  # Pillow's own font, as a file
    assert find_font(ctx, "Mine.ttf") == (fonts / "Mine.ttf").resolve()
    assert find_font(ctx, "../Mine.ttf") is None
    img = torch.zeros(1, 8, 64, 3)
    (out,) = run("AddLabel", ctx, image=img, text_x=2, text_y=2, height=16, font_size=12, font_color="white",
                 label_color="black", font="Mine.ttf", text="hello", direction="up")
    assert out.shape == (1, 24, 64, 3) and out.max() == 1.0


# ---------------------------------------------------------------------------- essentials

def test_image_resize_plus_fill_crop_multiple_of():
    # 40x30 to 16x32 fill/crop: ratio max(0.4, 1.0667) -> 43x32, centre cut x 13..29
    out, w, h = run("ImageResize+", image=ramp(30, 40), width=16, height=32, interpolation="nearest",
                    method="fill / crop", condition="always", multiple_of=16)
    assert (w, h) == (16, 32) and out.shape == (1, 32, 16, 3)


def test_image_resize_plus_keep_proportion_and_final_crop():
    out, w, h = run("ImageResize+", image=ramp(30, 40), width=20, height=20, interpolation="bilinear",
                    method="keep proportion", condition="always", multiple_of=0)
    assert (w, h) == (20, 15)
    # multiple_of 8: asked 16x16 -> 16x12 -> centre-cropped to 16x8
    out, w, h = run("ImageResize+", image=ramp(30, 40), width=20, height=20, interpolation="lanczos",
                    method="keep proportion", condition="always", multiple_of=8)
    assert (w, h) == (16, 8)


def test_image_resize_plus_pad_stretch_and_conditions():
    out, w, h = run("ImageResize+", image=torch.ones(1, 30, 40, 3), width=20, height=20, interpolation="nearest",
                    method="pad", condition="always", multiple_of=0)
    assert (w, h) == (20, 20) and out[0, :2].max() == 0 and out[0, 17:].max() == 0 and out[0, 2:17].min() == 1
    out, w, h = run("ImageResize+", image=ramp(30, 40), width=0, height=10, interpolation="area",
                    method="stretch", condition="always", multiple_of=0)
    assert (w, h) == (40, 10)
    img = ramp(30, 40)
    out, w, h = run("ImageResize+", image=img, width=80, height=60, interpolation="bicubic",
                    method="stretch", condition="downscale if bigger", multiple_of=0)
    assert out is not None and (w, h) == (40, 30) and torch.equal(out, img.clamp(0, 1))
    _, w, h = run("ImageResize+", image=img, width=80, height=60, interpolation="bicubic",
                  method="stretch", condition="upscale if smaller", multiple_of=0)
    assert (w, h) == (80, 60)
    _, w, h = run("ImageResize+", image=img, width=20, height=20, interpolation="nearest-exact",
                  method="stretch", condition="always", multiple_of=0, keep_proportion=True)
    assert (w, h) == (20, 15)  # the oldest signature's boolean


@pytest.mark.parametrize("expr,a,b,c,expected", [
    ("a*2+b", 3, 0.5, 0, (6, 6.5)),
    ("a // 2 + a % 2", 7, 0, 0, (4, 4)),
    ("2 ** 10 / b", 0, 4, 0, (256, 256.0)),
    ("max(a, b, c) - min(a, b)", 1, 5, 9, (8, 8)),
    ("a > b and b >= c", 3, 2, 2, (1, 1)),
    ("1 < a < 3", 5, 0, 0, (0, 0)),
    ("round(a / 3, 1)", 10, 0, 0, (3, 3.3)),
    ("-a + +b", 1, 4, 0, (3, 3)),
    ("not a", 0, 0, 0, (1, True)),
    ("a[1] * a[2]", torch.zeros(2, 16, 9, 3), 0, 0, (144, 144)),
    ("len(a) + sum(b)", torch.zeros(2, 4), torch.zeros(3, 1), 0, (6, 6)),
    ("a + 1", "2.5", 0, 0, (4, 3.5)),
])
def test_simple_math(expr, a, b, c, expected):
    assert run("SimpleMath+", value=expr, a=a, b=b, c=c) == expected


def test_simple_math_defaults():
    assert run("SimpleMath+", value="a + b + c + 1") == (1, 1.0)


@pytest.mark.parametrize("expr,why", [
    ("__import__('os').system('echo hi')", "__import__"),
    ("a.real", "attribute"),
    ("(1).__class__", "attribute"),
    ("'x' * 3", "numbers"),
    ("lambda: 1", "Lambda"),
    ("[x for x in a]", "ListComp"),
    ("eval('1')", "eval"),
    ("open", "open"),
    ("2 ** 100000", "bits"),
    ("1 / 0", "division by zero"),
    ("a << 2", "<<"),
    ("", "empty"),
    ("1 +", "valid"),
    ("a[b]", "constant"),
    ("x" * 1001, "longer"),
])
def test_simple_math_refuses(expr, why):
    with pytest.raises(NodeInputError) as err:
        run("SimpleMath+", value=expr, a=1.0, b=2.0)
    assert err.value.input_name == "value" and why in str(err.value)


# ---------------------------------------------------------------------------- through the engine

def test_api_prompt_load_resize_save_through_engine(ctx):
    Image.new("RGB", (40, 30), (0, 255, 0)).save(ctx.input_dir / "in.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
        "2": {"class_type": "ImageResize+", "inputs": {"image": ["1", 0], "width": 20, "height": 20,
                                                       "interpolation": "bilinear", "method": "keep proportion",
                                                       "condition": "always", "multiple_of": 0}},
        "3": {"class_type": "SimpleMath+", "inputs": {"value": "a * 2", "a": ["2", 1]}},
        "4": {"class_type": "ImageResizeKJ", "inputs": {"image": ["2", 0], "width": ["3", 0], "height": 0,
                                                        "upscale_method": "nearest-exact", "keep_proportion": True,
                                                        "divisible_by": 8}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "e2e"}},
    }
    ctx.workflow_json = prompt
    graph = build(from_data(prompt, "p.json"))
    result = run_plan(graph, make_plan(graph), ctx)
    saved = ctx.output_dir / "e2e_00001_.png"
    assert result.written == [saved]
    # 40x30 -> keep proportion 20x15 -> width 40, keep proportion -> 40x30 -> /8 -> 40x24
    assert Image.open(saved).size == (40, 24)
    assert json.loads(read_png_text(saved)["prompt"]) == prompt


def test_engine_names_node_for_bad_image_name(ctx):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "../x.png"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    graph = build(from_data(prompt, "p.json"))
    with pytest.raises(NodeError, match=r"node 1 .*input 'image'"):
        run_plan(graph, make_plan(graph), ctx)


def test_small_core_nodes():
    a, b = torch.zeros(2, 4, 4, 3), torch.ones(1, 8, 8, 4)
    (batch,) = run("ImageBatch", image1=a, image2=b)
    assert batch.shape == (3, 4, 4, 4) and batch[0, ..., 3].min() == 1 and batch[2].min() == 1
    imgs = ramp(2, 2, frames=5)
    (got,) = run("ImageFromBatch", image=imgs, batch_index=-2, length=5)
    assert got.shape[0] == 2 and abs(float(got[0, 0, 0, 0]) - 0.3) < 1e-6
    (got,) = run("ImageFromBatch", image=imgs, batch_index=99, length=1)
    assert abs(float(got[0, 0, 0, 0]) - 0.4) < 1e-6
    assert run("GetImageSize", image=torch.zeros(3, 5, 7, 3)) == (7, 5, 3)
    assert run("PrimitiveInt", value=81) == (81,) and run("PrimitiveStringMultiline", value="a\nb") == ("a\nb",)


def test_image_blur_is_comfyuis_gaussian_with_reflected_edges():
    image_blur = node("ImageBlur")

    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 7, 9, 3, generator=g)
    radius, sigma = 2, 0.8
    [blurred] = image_blur(None, image=image, blur_radius=radius, sigma=sigma)
    assert blurred.shape == image.shape
    # the formula, written out: taps at -1..1, weights exp(-d^2 / 2 sigma^2) / sum, reflect indexing
    taps = [-1 + 2 * i / (2 * radius) for i in range(2 * radius + 1)]
    weights = torch.tensor([[math.exp(-(a * a + b * b) / (2 * sigma * sigma)) for b in taps] for a in taps])
    weights /= weights.sum()

    def reflect(i, n):
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    for f, y, x in [(0, 0, 0), (1, 3, 4), (0, 6, 8), (1, 1, 7)]:
        expected = sum(weights[dy + radius, dx + radius] * image[f, reflect(y + dy, 7), reflect(x + dx, 9)]
                       for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1))
        torch.testing.assert_close(blurred[f, y, x], expected)
    flat = torch.full((1, 6, 6, 3), 0.4)
    torch.testing.assert_close(image_blur(None, image=flat, blur_radius=3, sigma=2.0)[0], flat)  # edges stay bright
    assert image_blur(None, image=image, blur_radius=0, sigma=1.0)[0] is image
    with pytest.raises(NodeInputError) as err:
        image_blur(None, image=image, blur_radius=7, sigma=1.0)
    assert err.value.input_name == "blur_radius"


def test_image_sharpen_is_comfyuis_unsharp_kernel():
    """ComfyUI's ImageSharpen written out: its Gaussian kernel times -(10 alpha), the centre
    raised so the kernel sums to 1, over the reflected image (its zero padding is cropped off
    again), clamped."""
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, 7, 9, 3, generator=g)
    radius, sigma, alpha = 2, 1.5, 0.3
    [sharpened] = node("ImageSharpen")(None, image=image, sharpen_radius=radius, sigma=sigma, alpha=alpha)
    size = 2 * radius + 1
    x, y = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    kernel = torch.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    kernel = kernel / kernel.sum() * -(alpha * 10)
    kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
    kernel = kernel.repeat(3, 1, 1).unsqueeze(1)
    padded = torch.nn.functional.pad(image.permute(0, 3, 1, 2), (radius,) * 4, "reflect")
    expected = torch.nn.functional.conv2d(padded, kernel, padding=radius, groups=3)[:, :, radius:-radius, radius:-radius]
    torch.testing.assert_close(sharpened, expected.permute(0, 2, 3, 1).clamp(0, 1), rtol=0, atol=1e-6)
    flat = torch.full((1, 6, 6, 3), 0.4)
    torch.testing.assert_close(node("ImageSharpen")(None, image=flat, sharpen_radius=1, sigma=1.0, alpha=1.0)[0], flat)
    assert node("ImageSharpen")(None, image=image, sharpen_radius=0, sigma=1.0, alpha=1.0)[0] is image
    with pytest.raises(NodeInputError) as err:
        node("ImageSharpen")(None, image=image, sharpen_radius=7, sigma=1.0, alpha=1.0)
    assert err.value.input_name == "sharpen_radius"
