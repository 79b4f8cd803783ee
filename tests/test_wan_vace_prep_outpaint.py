"""VACEOutpaint / VACEOutpaintLayout: window geometry worked by hand, scaling against a numpy
bilinear resize written from the half-pixel-centre formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from test_wan_vace_prep_frames import numpy_bilinear
from wfrun.nodes.executor import ExecContext, NodeInputError


def source(frames: int = 2, height: int = 32, width: int = 48) -> torch.Tensor:
    return torch.rand(frames, height, width, 3, generator=torch.Generator().manual_seed(0))


def test_window_hanging_over_left_and_top_is_grey_with_mask_one():
    images = source()
    control, mask, width, height, length = node("VACEOutpaint")(ExecContext(), images=images,
                                                                crop_state="-16,-16,48,48")
    assert (width, height, length) == (48, 48, 2)
    expected = np.full((2, 48, 48, 3), 0.5, dtype=np.float32)
    expected[:, 16:48, 16:48] = images[:, 0:32, 0:32].numpy()
    np.testing.assert_array_equal(control.numpy(), expected)
    expected_mask = np.ones((2, 48, 48), dtype=np.float32)
    expected_mask[:, 16:, 16:] = 0
    np.testing.assert_array_equal(mask.numpy(), expected_mask)


@pytest.mark.parametrize("mask_color, custom, rgb", [
    ("ltx", "", (0, 0, 0)), ("custom", "#ff8000", (1, 128 / 255, 0)), ("custom", "255, 0, 51", (1, 0, 0.2)),
    ("custom", "0.25,0.5,1", (0.25, 0.5, 1))])
def test_fill_colours(mask_color, custom, rgb):
    control, *_ = node("VACEOutpaint")(ExecContext(), images=source(1), crop_state="0,0,48,48",
                                       mask_color=mask_color, custom_color=custom)
    np.testing.assert_allclose(control[0, 40, 0].numpy(), rgb, atol=1e-6)  # below the 32 source rows


def test_unset_state_falls_back_to_the_packs_upward_padding():
    # 32 high: pad = max(16, round(9.6 / 16) * 16) = 16; window 0,-16,48,48
    control, mask, width, height, _ = node("VACEOutpaint")(ExecContext(), images=source(), crop_state="")
    assert (width, height) == (48, 48)
    assert torch.all(mask[:, :16] == 1) and torch.all(mask[:, 16:] == 0)
    assert torch.equal(control[:, 16:], source()[:, :, :, :])


def test_newer_versions_crop_then_scale():
    images = source(1)
    # window 48x48 from (0, -16) scaled to 24x24: source lands at rows 8.. and is 32x48 -> 16x24
    control, mask, width, height, _ = node("VACEOutpaint")(ExecContext(), images=images,
                                                           crop_state="0,-16,48,48,24,24")
    assert (width, height) == (24, 24)
    np.testing.assert_allclose(control[0, 8:].numpy(), numpy_bilinear(images[0].numpy(), 16, 24), atol=1e-6)
    assert torch.all(control[0, :8] == 0.5)
    assert torch.all(mask[0, :8] == 1) and torch.all(mask[0, 8:] == 0)


def test_first_signature_composes_then_scales():
    images = source(1)
    ctx = ExecContext(saved_date="2026-04-06")
    control, mask, width, height, _ = node("VACEOutpaint")(ctx, images=images, crop_state="0,-16,48,48,24,24")
    canvas = np.full((48, 48, 3), 0.5, dtype=np.float32)
    canvas[16:] = images[0].numpy()
    np.testing.assert_allclose(control[0].numpy(), numpy_bilinear(canvas, 24, 24), atol=1e-6)
    # nearest: output row r takes row floor(2r) of the canvas mask
    assert [int(mask[0, r, 0]) for r in range(24)] == [1] * 8 + [0] * 16
    layout = node("VACEOutpaintLayout")(ExecContext(), images=images, crop_state="0,-16,48,48,24,24")
    assert torch.equal(layout[0], control) and torch.equal(layout[1], mask)


def test_bad_inputs_name_the_input():
    with pytest.raises(NodeInputError) as err:
        node("VACEOutpaint")(ExecContext(), images=source(1, 16, 16), crop_state="")
    assert err.value.input_name == "images"
    with pytest.raises(NodeInputError) as err:
        node("VACEOutpaint")(ExecContext(), images=source(1), crop_state="", mask_color="custom",
                             custom_color="nope")
    assert err.value.input_name == "custom_color"
    with pytest.raises(NodeInputError) as err:
        node("VACEOutpaint")(ExecContext(), images=source(1), crop_state="100,0,48,48,24,24")
    assert err.value.input_name == "crop_state"


def test_a_file_with_the_canvas_value_in_front_is_read_back_into_place():
    # the pack's own example (2026-07-16) saves ['', crop, preset, colour]; bound by position
    images = source(1)
    shifted = node("VACEOutpaint")(ExecContext(), images=images, crop_state="", custom_color="ltx",
                                   mask_color="-16,-16,48,48,48,48,1")
    plain = node("VACEOutpaint")(ExecContext(), images=images, crop_state="-16,-16,48,48,48,48,1",
                                 mask_color="ltx")
    assert torch.equal(shifted[0], plain[0]) and torch.equal(shifted[1], plain[1])
    assert float(shifted[0][0, 0, 0, 0]) == 0.0  # the ltx fill
    with pytest.raises(NodeInputError) as err:
        node("VACEOutpaint")(ExecContext(), images=images, crop_state="", mask_color="0,0,48,48",
                             custom_color="custom")
    assert err.value.input_name == "custom_color"
