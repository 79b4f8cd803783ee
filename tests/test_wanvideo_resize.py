"""WanVideoImageResizeToClosest: the official Wan I2V size rule and ComfyUI's lanczos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

resize = node("WanVideoImageResizeToClosest")


@pytest.mark.parametrize("mode, expected", [("keep_input", (832, 464)), ("stretch_to_new", (832, 464)),
                                            ("crop_to_new", (832, 464))])
def test_sizes_follow_the_official_rule(mode, expected):
    # 1280x720 into an 832x480 budget: sqrt(399360 * 720/1280) = 473.98 -> //8 //2 *2 = 58 -> 464;
    # sqrt(399360 * 1280/720) = 842.6 -> 104 -> 832. The asked 832x480 itself: 480/832 is not
    # exact in floating point, sqrt(399360 * 480/832) = 479.99999999999994 -> 59 -> 58 -> 464,
    # as the official code computes it too.
    image = torch.rand(1, 720, 1280, 3)
    out, width, height = resize(ExecContext(), image=image, generation_width=832, generation_height=480,
                                aspect_ratio_preservation=mode)
    assert (width, height) == expected and out.shape == (1, expected[1], expected[0], 3)


def test_stretch_is_pillow_lanczos_on_8_bit_and_crop_cuts_the_centre_first():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 40, 100, 3, generator=g)
    out, width, height = resize(ExecContext(), image=image, generation_width=64, generation_height=64,
                                aspect_ratio_preservation="stretch_to_new")
    pixels = np.clip(255.0 * image[0].numpy(), 0, 255).astype(np.uint8)
    ref = np.asarray(Image.fromarray(pixels).resize((width, height), Image.LANCZOS)).astype(np.float32) / 255
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-6)
    cropped, w2, h2 = resize(ExecContext(), image=image, generation_width=64, generation_height=64,
                             aspect_ratio_preservation="crop_to_new")
    centre = pixels[:, 30:70]  # 100 wide cut to the 1:1 aspect around the middle
    ref = np.asarray(Image.fromarray(np.ascontiguousarray(centre)).resize((w2, h2), Image.LANCZOS))
    np.testing.assert_allclose(cropped[0].numpy(), ref.astype(np.float32) / 255, atol=1e-6)


def test_bad_input_names_the_input():
    with pytest.raises(NodeInputError) as err:
        resize(ExecContext(), image="x", generation_width=64, generation_height=64,
               aspect_ratio_preservation="keep_input")
    assert err.value.input_name == "image"
