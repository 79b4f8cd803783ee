"""PixelPerfectResolution against the pixel-perfect formula worked out by hand."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


@pytest.mark.parametrize("mode,expected", [
    ("Just Resize", 683),      # raw 480x640 (h x w) to 683x512: max(683/480, 512/640) * 480 = 683
    ("Resize and Fill", 384),  # min(683/480, 512/640) * 480 = 0.8 * 480 = 384
])
def test_pixel_perfect(mode, expected):
    image = torch.zeros(1, 480, 640, 3)
    out = node("PixelPerfectResolution")(CTX, original_image=image, image_gen_width=512, image_gen_height=683,
                                         resize_mode=mode)
    k_h, k_w = 683 / 480, 512 / 640
    assert out == (round((max if mode == "Just Resize" else min)(k_h, k_w) * 480),) == (expected,)


def test_halves_round_to_even_and_bad_modes_are_clear():
    image = torch.zeros(1, 2, 4, 3)  # k_h = 5/2, k_w = 4/4: max(2.5, 1) * min(2, 4) = 5
    assert node("PixelPerfectResolution")(CTX, original_image=image, image_gen_width=4, image_gen_height=5,
                                          resize_mode="Crop and Resize") == (5,)
    image = torch.zeros(1, 4, 4, 3)  # 0.625 * 4 = 2.5 -> 2
    assert node("PixelPerfectResolution")(CTX, original_image=image, image_gen_width=2, image_gen_height=2.5,
                                          resize_mode="Just Resize") == (2,)
    with pytest.raises(NodeInputError):
        node("PixelPerfectResolution")(CTX, original_image=image, image_gen_width=8, image_gen_height=8, resize_mode="x")
