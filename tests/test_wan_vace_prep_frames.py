"""comfyui-wan-vace-prep's inpaint, first/middle/last and duration nodes against hand-worked
cases and a numpy bilinear resize written from the half-pixel-centre formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def numpy_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H, W, C] resized with half-pixel centres and clamped edges."""
    h, w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_inpaint_greys_masked_pixels_and_keeps_the_soft_mask():
    video = torch.rand(3, 16, 32, 3)
    mask = torch.zeros(16, 32)
    mask[2:5, 4:9] = 1.0
    mask[10, 10] = 0.4  # not over 0.5: kept, but still in the mask output
    control, out_mask, width, height, length = node("WanVACEInpaint")(ExecContext(), video=video, mask=mask)
    expected = video.numpy().copy()
    expected[:, 2:5, 4:9] = 0.5
    np.testing.assert_array_equal(control.numpy(), expected)
    assert out_mask.shape == (3, 16, 32) and float(out_mask[2, 10, 10]) == pytest.approx(0.4)
    assert (width, height, length) == (32, 16, 3)
    assert float(video[0, 2, 4, 0]) != 0.5  # the input is not changed in place


def test_inpaint_reference_image_goes_first_resized_with_mask_zero():
    video = torch.rand(2, 16, 16, 3)
    mask = torch.ones(2, 16, 16)
    reference = torch.rand(2, 8, 8, 3)
    control, out_mask, _, _, length = node("WanVACEInpaint")(ExecContext(), video=video, mask=mask,
                                                            reference_image=reference)
    assert length == 3 and control.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(control[0].numpy(), numpy_bilinear(reference[0].numpy(), 16, 16), atol=1e-6)
    assert torch.all(control[1:] == 0.5)
    assert out_mask[0].sum() == 0 and torch.all(out_mask[1:] == 1)


def test_inpaint_rejects_a_mask_of_another_length_and_sizes_off_the_grid():
    with pytest.raises(NodeInputError) as err:
        node("WanVACEInpaint")(ExecContext(), video=torch.rand(3, 16, 16, 3), mask=torch.ones(2, 16, 16))
    assert err.value.input_name == "mask"
    with pytest.raises(NodeInputError):
        node("WanVACEInpaint")(ExecContext(), video=torch.rand(1, 20, 16, 3), mask=torch.ones(20, 16))


def test_first_middle_last_layout_and_snapping():
    first = torch.full((2, 32, 48, 3), 0.1)
    middle = torch.full((3, 32, 48, 3), 0.2)
    last = torch.full((1, 32, 48, 3), 0.9)
    control, mask, width, height, length = node("WanVACEFirstMiddleLast")(
        ExecContext(), width=50, height=35, length=19, first=first, middle=middle, last=last)
    # 50x35 snaps to 48x32, 19 frames to 17; middle centred at round(0.5 * 16) = 8, starting at 8 - 1
    assert (width, height, length) == (48, 32, 17)
    values = [round(float(f[0, 0, 0]), 3) for f in control]
    assert values == [0.1, 0.1] + [0.5] * 5 + [0.2] * 3 + [0.5] * 6 + [0.9]
    assert [int(m[0, 0]) for m in mask] == [0 if v != 0.5 else 1 for v in values]


def test_first_middle_last_middle_is_pushed_inside_the_free_frames():
    first = torch.full((4, 16, 16, 3), 0.1)
    middle = torch.full((3, 16, 16, 3), 0.2)
    control, mask, *_ = node("WanVACEFirstMiddleLast")(
        ExecContext(), width=16, height=16, length=9, middle_position=0.0, first=first, middle=middle)
    # centre round(0) = 0 -> start -1, pushed to frame 4 after the four first frames
    assert [round(float(f[0, 0, 0]), 3) for f in control] == [0.1] * 4 + [0.2] * 3 + [0.5] * 2
    assert [int(m[0, 0]) for m in mask] == [0] * 7 + [1] * 2


def test_first_middle_last_resizes_other_sizes_bilinearly():
    first = torch.rand(1, 8, 8, 3)
    control, *_ = node("WanVACEFirstMiddleLast")(ExecContext(), width=16, height=16, length=5, first=first)
    np.testing.assert_allclose(control[0].numpy(), numpy_bilinear(first[0].numpy(), 16, 16), atol=1e-6)


@pytest.mark.parametrize("seconds, frames", [(6.0, 158), (0.0, 5), (0.2, 5), (0.25, 22), (1.0, 39)])
def test_duration_rounds_up_to_17k_plus_5(seconds, frames):
    # 6 s = 144 frames -> 158 (17 * 9 + 5); 0.25 s = 6 frames -> 22; 1 s = 24 -> 39
    out_frames, revised = node("Duration")(ExecContext(), seconds=seconds)
    assert out_frames == frames and (frames - 5) % 17 == 0 and revised == pytest.approx(frames / 24)


def test_duration_default_is_the_specs():
    assert node("Duration")(ExecContext())[0] == 158
