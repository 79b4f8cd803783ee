"""Small utility nodes of set 3: Masquerade's Get Image Size and Image To Mask, WAS's Image
Blank and Image Input Switch, Art Venture's ImageRepeat and ImageScaleToMegapixels,
QualityOfLife's Text _O and Impact's ImpactIfNone, against hand-worked values, numpy and
Pillow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def _pil(frame: torch.Tensor) -> Image.Image:
    return Image.fromarray(np.clip(255.0 * frame.numpy(), 0, 255).astype(np.uint8))


# --- Masquerade ------------------------------------------------------------------------------

def test_get_image_size_is_width_then_height():
    assert node("Get Image Size")(CTX, image=torch.zeros(2, 48, 80, 3)) == (80, 48)


def test_image_to_mask_intensity_uses_torchvisions_grey_weights():
    image = torch.tensor([[[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0.5]]]])
    mask, = node("Image To Mask")(CTX, image=image, method="intensity")
    torch.testing.assert_close(mask, torch.tensor([[[0.2989, 0.587, 0.114, 0.49995]]]), rtol=0, atol=1e-6)
    # alpha is dropped first; an RGBA image gives the grey of its colours
    rgba = torch.cat([image, torch.full((1, 1, 4, 1), 0.25)], dim=-1)
    assert torch.equal(node("Image To Mask")(CTX, image=rgba, method="intensity")[0], mask)


def test_image_to_mask_intensity_agrees_with_pillows_luma_to_a_level():
    g = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (1, 9, 7, 3), generator=g).float() / 255.0
    mask, = node("Image To Mask")(CTX, image=levels, method="intensity")
    luma = np.asarray(_pil(levels[0]).convert("L")).astype(np.float32) / 255.0
    assert np.abs(mask[0].numpy() - luma).max() <= 1.0 / 255.0 + 1e-6


def test_image_to_mask_alpha_takes_channel_zero_as_the_pack_does():
    rgba = torch.rand(2, 4, 5, 4)
    assert torch.equal(node("Image To Mask")(CTX, image=rgba, method="alpha")[0], rgba[..., 0])
    rgb = torch.rand(1, 4, 5, 3)
    assert torch.equal(node("Image To Mask")(CTX, image=rgb, method="alpha")[0], rgb[..., 0])
    with pytest.raises(NodeInputError) as err:
        node("Image To Mask")(CTX, image=rgb, method="luma")
    assert err.value.input_name == "method"


# --- WAS ----------------------------------------------------------------------------------------

def test_image_blank_matches_pillow_and_rounds_sizes_down_to_8():
    out, = node("Image Blank")(CTX, width=517, height=260, red=10, green=200, blue=255)
    expected = np.asarray(Image.new("RGB", (512, 256), (10, 200, 255))).astype(np.float32) / 255.0
    assert out.shape == (1, 256, 512, 3)
    assert torch.equal(out[0], torch.from_numpy(expected))


def test_image_input_switch_both_forms():
    a, b = torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 2, 3)
    switch = node("Image Input Switch")
    assert switch(CTX, image_a=a, image_b=b, boolean=True)[0] is a
    assert switch(CTX, image_a=a, image_b=b, boolean=False)[0] is b
    assert switch(CTX, image_a=a, image_b=None, boolean=True)[0] is a  # an unset Impact signal_opt
    assert switch(CTX, image_a=a, image_b=b, boolean_number=0.6)[0] is a  # before 2024-03: rounds to 1
    assert switch(CTX, image_a=a, image_b=b, boolean_number=2)[0] is b
    with pytest.raises(NodeInputError) as err:
        switch(CTX, image_a=a, image_b=b)
    assert err.value.input_name == "boolean"


# --- Art Venture ------------------------------------------------------------------------------

def test_image_repeat_tiles_the_whole_batch():
    frames = torch.arange(2 * 2 * 3 * 3, dtype=torch.float32).reshape(2, 2, 3, 3)
    out, = node("ImageRepeat")(CTX, images=frames, amount=3)
    assert torch.equal(out, torch.from_numpy(np.tile(frames.numpy(), (3, 1, 1, 1))))
    with pytest.raises(NodeInputError) as err:
        node("ImageRepeat")(CTX, images=frames, amount=0)
    assert err.value.input_name == "amount"


def _levels(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 255.0


def test_scale_to_megapixels_down_is_pillow_lanczos_at_the_truncated_size():
    frames = _levels((2, 64, 96, 3))
    out, = node("ImageScaleToMegapixels")(CTX, images=frames, megapixels=0.0015)
    s = math.sqrt(0.0015 * 1024 * 1024 / (96 * 64))  # 0.5017...: 48.16 x 32.11 -> 48 x 32
    w, h = int(96 * s), int(64 * s)
    assert (w, h) == (48, 32)
    for i in range(2):  # same aspect: no crop
        ref = np.asarray(_pil(frames[i]).resize((w, h), Image.Resampling.LANCZOS)).astype(np.float32) / 255.0
        assert torch.equal(out[i], torch.from_numpy(ref))


def test_scale_to_megapixels_down_crops_to_the_targets_aspect_first():
    frames = _levels((1, 50, 100, 3), seed=1)
    out, = node("ImageScaleToMegapixels")(CTX, images=frames, megapixels=0.001)
    s = math.sqrt(0.001 * 1024 * 1024 / 5000)  # 0.458: 45.79 x 22.89 -> 45 x 22
    assert out.shape == (1, 22, 45, 3) and (int(100 * s), int(50 * s)) == (45, 22)
    # aspect 2 against 45/22: 1 row is cut at top and bottom (round((50 - 50 * 2 / (45/22)) / 2) = 1)
    ref = _pil(frames[0, 1:49]).resize((45, 22), Image.Resampling.LANCZOS)
    assert torch.equal(out[0], torch.from_numpy(np.asarray(ref).astype(np.float32) / 255.0))


def test_scale_to_megapixels_up_without_a_model_is_bicubic_at_the_rounded_size():
    frames = torch.rand(1, 20, 30, 3)
    out, = node("ImageScaleToMegapixels")(CTX, images=frames, megapixels=0.001)
    s = math.sqrt(0.001 * 1024 * 1024 / 600)  # 1.32: 39.6 x 26.4 -> 40 x 26
    assert out.shape == (1, round(20 * s), round(30 * s), 3) == (1, 26, 40, 3)
    ref = torch.nn.functional.interpolate(frames.movedim(-1, 1), size=(26, 40), mode="bicubic",
                                          align_corners=False).movedim(1, -1)
    torch.testing.assert_close(out, ref)
    with pytest.raises(NodeInputError) as err:
        node("ImageScaleToMegapixels")(CTX, images=frames, megapixels=4.0, upscale_model_opt="4x.pth")
    assert err.value.input_name == "upscale_model_opt"


# --- QualityOfLife, Impact --------------------------------------------------------------------

def test_text_o_appends_a_space():
    assert node("Text _O")(CTX, text="a fox") == ("a fox ",)
    with pytest.raises(NodeInputError):
        node("Text _O")(CTX, text=3)


def test_impact_if_none_passes_the_signal_and_reports_any_input():
    assert node("ImpactIfNone")(CTX) == (None, False)
    assert node("ImpactIfNone")(CTX, signal="s", any_input=0) == ("s", True)
    assert node("ImpactIfNone")(CTX, signal="s", any_input=None) == ("s", False)
