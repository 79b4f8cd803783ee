"""Dream Video Batches' Divide/Multiply and CRT-Nodes' Quantize and Crop / Strength To
Steps, against arithmetic and torch's own resize written out here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_divide_and_multiply():
    assert node("Divide [DVB]")(CTX, divisor=2, float=0.0, int=81) == (40.5, 40)
    assert node("Divide [DVB]")(CTX, divisor=4, float=-1.0, int=0) == (-0.25, -1)  # floor, not truncation
    assert node("Multiply [DVB]")(CTX, multiple=3, float=0.5, int=2) == (7.5, 8)  # round half to even
    with pytest.raises(NodeInputError):
        node("Divide [DVB]")(CTX, divisor=0, int=3)


def test_quantize_picks_the_closest_bucket_and_crops_the_centre():
    image = torch.rand(1, 480, 832, 3)  # aspect 1.733: closest bucket 1344x768 (1.75)
    out, w, h = node("CRT_QuantizeAndCropImage")(CTX, image=image, max_side_length=920)
    # 1344x768 scaled to 920 on the long side: 920 x 525.7 -> 920 x 526 -> multiples of 64: 896 x 512
    assert (w, h) == (896, 512) and out.shape == (1, 512, 896, 3)
    # the image (1.733) is narrower than 896/512 (1.75): width 896, height round(896 / 1.7333) = 517, centre 512 rows
    full = F.interpolate(image.movedim(-1, 1), size=(517, 896), mode="bicubic", antialias=True).movedim(1, -1)
    torch.testing.assert_close(out, full[:, 2:514])


def test_square_stays_square():
    out, w, h = node("CRT_QuantizeAndCropImage")(CTX, image=torch.rand(2, 300, 300, 3), max_side_length=1024)
    assert (w, h) == (1024, 1024) and out.shape == (2, 1024, 1024, 3)


def test_strength_to_steps():
    assert node("Strength To Steps")(CTX, desired_steps=6, strength_percent=15) == (40, 34)  # 6 / 0.15 = 40
    assert node("Strength To Steps")(CTX, desired_steps=6, strength_percent=40) == (15, 9)
    assert node("Strength To Steps")(CTX, desired_steps=5, strength_percent=0.5) == (500, 495)  # strength at least 1%


def test_jw_integer():
    assert node("JWInteger")(CTX, value=5) == (5,)
    assert node("JWInteger")(CTX) == (0,)  # the spec default
    with pytest.raises(NodeInputError):
        node("JWInteger")(CTX, value=1.5)
