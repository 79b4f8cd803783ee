"""comfyui_controlnet_aux's BinaryPreprocessor against hand-made cases: OpenCV's 8-bit grey
((4899 R + 9617 G + 1868 B + 8192) >> 14), THRESH_BINARY_INV then inverted (a level above
the threshold is white), and Otsu's threshold for 0 / 255."""

from __future__ import annotations

import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext
from wfrun.packs.controlnet_aux.binary import otsu_threshold, rgb_to_grey

CTX = ExecContext()


def _grey_image(levels: torch.Tensor) -> torch.Tensor:
    """An IMAGE whose three channels hold ``levels``: half a level above each, so the pack's
    truncation to 8 bits gives the level back whatever float rounding does."""
    return ((levels.float() + 0.5) / 255.0).unsqueeze(-1).expand(*levels.shape, 3).unsqueeze(0)


def test_grey_is_opencvs_fixed_point():
    rgb = torch.tensor([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [7, 7, 7], [10, 20, 30]]])
    # by hand: 0.299*255 = 76.2 -> 76, 0.587*255 = 149.7 -> 150, 0.114*255 = 29.07 -> 29
    # 10*4899 + 20*9617 + 30*1868 + 8192 = 297662 -> 297662 >> 14 = 18
    assert rgb_to_grey(rgb).tolist() == [[76, 150, 29, 7, 18]]


def test_fixed_threshold_keeps_levels_above_it():
    levels = torch.arange(64 * 64).reshape(64, 64) % 256
    out, = node("BinaryPreprocessor")(CTX, image=_grey_image(levels), bin_threshold=100, resolution=64)
    assert out.shape == (1, 64, 64, 3)
    assert torch.equal(out[0, ..., 0], (levels > 100).float())
    assert torch.equal(out[..., 0], out[..., 2])


def test_red_against_its_grey_level():
    red = torch.zeros(1, 64, 64, 3)
    red[..., 0] = 1.0  # grey 76
    assert node("BinaryPreprocessor")(CTX, image=red, bin_threshold=75, resolution=64)[0].all()
    assert not node("BinaryPreprocessor")(CTX, image=red, bin_threshold=76, resolution=64)[0].any()


def test_otsu_on_two_levels_splits_them():
    levels = torch.full((64, 64), 50)
    levels[:, 40:] = 200
    # every threshold from 50 to 199 separates the classes equally well; OpenCV keeps the first
    assert otsu_threshold(levels) == 50
    for marker in (0, 255):
        out, = node("BinaryPreprocessor")(CTX, image=_grey_image(levels), bin_threshold=marker, resolution=64)
        assert torch.equal(out[0, ..., 0], (levels > 50).float())
    # a flat image has no split: threshold 0, every level above it
    assert otsu_threshold(torch.full((8, 8), 30)) == 0


def test_otsu_three_levels_by_hand():
    # 10 pixels at 0, 10 at 100, 20 at 200: between-class variance at t = 0 is
    # 0.25 * 0.75 * (0 - 166.67)^2 = 5208; at t = 100: 0.5 * 0.5 * (50 - 200)^2 = 5625 -> 100
    grey = torch.tensor([0] * 10 + [100] * 10 + [200] * 20)
    assert otsu_threshold(grey) == 100


def test_resolution_resizes_the_short_side():
    image = torch.rand(2, 40, 60, 3)
    out, = node("BinaryPreprocessor")(CTX, image=image, bin_threshold=100, resolution=128)
    assert out.shape == (2, 128, 192, 3)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
