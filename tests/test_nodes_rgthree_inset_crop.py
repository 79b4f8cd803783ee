"""rgthree's Image Inset Crop against crops worked out by hand from the pack's rules."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
IMAGE = torch.arange(2 * 240 * 320 * 3, dtype=torch.float32).reshape(2, 240, 320, 3)
crop = node("Image Inset Crop (rgthree)")


def test_pixels_snap_down_to_eight():
    # 104 stays 104; 20 snaps to 16; 7 snaps to 0; 16 stays 16
    out = crop(CTX, image=IMAGE, measurement="Pixels", left=104, right=20, top=7, bottom=16)[0]
    assert torch.equal(out, IMAGE[:, 0:224, 104:304, :])


def test_percentage():
    # width 320: 10 % -> int(320 - 320 * 90 / 100) = 32; 25 % -> 80; height 240: 5 % -> 12 -> 8; 0 % -> 0
    out = crop(CTX, image=IMAGE, measurement="Percentage", left=10, right=25, top=5, bottom=0)[0]
    assert torch.equal(out, IMAGE[:, 8:240, 32:240, :])


def test_all_zero_after_snapping_is_the_same_image():
    assert crop(CTX, image=IMAGE, measurement="Pixels", left=7, right=0, top=3, bottom=0)[0] is IMAGE


def test_meeting_insets_give_an_empty_image_as_in_the_pack():
    out = crop(CTX, image=IMAGE, measurement="Pixels", left=160, right=160, top=0, bottom=0)[0]
    assert out.shape == (2, 240, 0, 3)


@pytest.mark.parametrize("inputs,name", [({"left": 200, "right": 200}, "left"),
                                         ({"top": 128, "bottom": 128}, "top"),
                                         ({"measurement": "Inches"}, "measurement"),
                                         ({"left": "8"}, "left")])
def test_bad_inputs(inputs, name):
    kwargs = {"image": IMAGE, "measurement": "Pixels", "left": 0, "right": 0, "top": 0, "bottom": 0, **inputs}
    with pytest.raises(NodeInputError) as err:
        crop(CTX, **kwargs)
    assert err.value.input_name == name
