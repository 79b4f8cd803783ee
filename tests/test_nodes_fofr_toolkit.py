"""fofr's toolkit: sizes with area target_size² in the image's (or ratio's) shape, sides
rounded to multiples, worked out by hand here."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
IMAGE_NODE = "Width and height for scaling image to ideal resolution 🪴"


def test_image_scaling_keeps_the_shape_near_the_target_area():
    # 480x832 (h x w) to 644²: scale = 644/sqrt(399360) = 1.01907...; 832*s/28 = 30.28 -> 30, 480*s/28 = 17.47 -> 17
    assert node(IMAGE_NODE)(CTX, image=torch.zeros(1, 480, 832, 3), target_size=644, multiple_of=28) == (840, 476)
    # a square to 1024 with the default multiple of 8 stays 1024x1024
    assert node(IMAGE_NODE)(CTX, image=torch.zeros(2, 300, 300, 3), target_size=1024) == (1024, 1024)


def test_aspect_ratio_sizes():
    # 16:9 to 1024²: scale = 1024/12 = 85.33; 16*s/8 = 170.67 -> 171 -> 1368; 9*s/8 = 96 -> 768
    assert node("Width and height from aspect ratio 🪴")(CTX, aspect_ratio="16:9", target_size=1024) == (1368, 768)
    with pytest.raises(NodeInputError):
        node("Width and height from aspect ratio 🪴")(CTX, aspect_ratio="wide", target_size=1024)


def test_rounding_halves_go_to_even_as_python_round_does():
    # 1:1 at 20 with multiple 8: 20/8 = 2.5 -> 2 (half to even) -> 16
    assert node("Width and height from aspect ratio 🪴")(CTX, aspect_ratio="1:1", target_size=20, multiple_of=8) == (16, 16)


def test_incrementer_wraps_at_max():
    inc = node("Incrementer 🪴")
    assert inc(CTX, current_index=7, max=0) == (7,)
    assert inc(CTX, current_index=7, max=4) == (2,)
    assert inc(CTX, current_index=3) == (3,)  # spec default max 10
