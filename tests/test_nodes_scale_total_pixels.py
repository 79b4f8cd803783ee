"""ImageScaleToTotalPixelsX: the target size of each release (1024² or 10⁶ pixels a
megapixel, told apart by the saved ver), crop / pad / stretch, worked out by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.nodes.executor import ExecContext

NODE = "ImageScaleToTotalPixelsX"


def _ctx(ver=None):
    props = {"ver": ver} if ver else {}
    return ExecContext(node_id="5", workflow_json={"nodes": [{"id": 5, "type": NODE, "properties": props}]})


def test_sizes_by_release():
    image = torch.rand(1, 480, 832, 3)
    # 1.1 * 1024² = 1153433 px: scale = sqrt(1153433 / 399360) = 1.69948; 832 -> 1414 -> 1408, 480 -> 816 -> 816
    _, w, h = node(NODE)(_ctx("694ae1f8352f770e4511f99ed35e2460d5591c83"), image=image, megapixels=1.1,
                         multiple_of=16, resize_mode="stretch", upscale_method="bilinear")
    assert (w, h) == (1408, 816)
    # 1.1e6 px (the current release, or no ver): scale = 1.65965; 832 -> 1381 -> 1376, 480 -> 797 -> 784
    _, w, h = node(NODE)(_ctx(), image=image, megapixels=1.1, multiple_of=16, resize_mode="stretch",
                         upscale_method="bilinear")
    assert (w, h) == (1376, 784)


def test_stretch_is_plain_interpolation():
    image = torch.rand(2, 40, 60, 3)
    out, w, h = node(NODE)(_ctx(), image=image, megapixels=0.0, multiple_of=16, resize_mode="stretch",
                           upscale_method="bilinear")
    # megapixels 0 keeps 60x40, cut to multiples of 16: 48x32
    expected = F.interpolate(image.movedim(-1, 1), size=(32, 48), mode="bilinear").movedim(1, -1).clamp(0, 1)
    assert (w, h) == (48, 32)
    torch.testing.assert_close(out, expected)


def test_crop_takes_the_centre_and_pad_adds_black():
    image = torch.rand(1, 40, 80, 3)
    out, w, h = node(NODE)(_ctx(), image=image, megapixels=0.0, multiple_of=40, resize_mode="crop",
                           upscale_method="nearest-exact")
    assert (w, h) == (80, 40)  # already multiples: nothing to change
    torch.testing.assert_close(out, image)
    square = torch.rand(1, 40, 40, 3)
    out, w, h = node(NODE)(_ctx(), image=square, megapixels=0.0032, multiple_of=8, resize_mode="pad",
                           upscale_method="nearest-exact")
    # 3200 px from 40x40: scale sqrt(2) -> 57x57 -> 56x56; pad: ratio 1.4 -> 56x56, nothing to pad
    assert (w, h) == (56, 56) and out.shape == (1, 56, 56, 3)


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_aspect_change(mode):
    image = torch.ones(1, 30, 90, 3)
    out, w, h = node(NODE)(_ctx(), image=image, megapixels=0.0, multiple_of=30, resize_mode=mode,
                           upscale_method="nearest-exact")
    assert (w, h) == (90, 30) and out.shape == (1, 30, 90, 3)
