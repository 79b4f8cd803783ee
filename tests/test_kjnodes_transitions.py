"""KJNodes' shaped transitions against masks drawn by hand with numpy (slides, box,
doors, fade), the pack's zero-padded blur by scipy, and the frame layouts counted out."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.transition_nodes import transition_frame

CTX = ExecContext()
A, B = torch.zeros(6, 10, 3), torch.ones(6, 10, 3)


@pytest.mark.parametrize("kind,alpha,expected", [
    ("horizontal slide", 0.5, lambda m: m.__setitem__((slice(None), slice(0, 5)), 1)),
    ("vertical slide", 0.5, lambda m: m.__setitem__((slice(0, 3), slice(None)), 1)),
    ("box", 0.5, lambda m: m.__setitem__((slice(1, 4), slice(2, 7)), 1)),  # 5x3 box at ((10-5)//2, (6-3)//2)
    ("horizontal door", 0.5, lambda m: (m.__setitem__((slice(0, 2), slice(None)), 1),
                                        m.__setitem__((slice(4, 6), slice(None)), 1))),
])
def test_masks_by_hand(kind, alpha, expected):
    ref = np.zeros((6, 10), np.float32)
    expected(ref)
    out = transition_frame(A, B, alpha, kind, 0.0, False)
    assert np.array_equal(out[..., 0].numpy(), ref)


def test_fade_reverse_and_blur():
    assert torch.allclose(transition_frame(A, B, 0.25, "fade", 0.0, False), torch.full((6, 10, 3), 0.25))
    assert torch.allclose(transition_frame(A, B, 0.25, "fade", 0.0, True), torch.full((6, 10, 3), 0.75))
    sharp = transition_frame(A, B, 0.5, "horizontal slide", 0.0, False)[..., 0].numpy()
    soft = transition_frame(A, B, 0.5, "horizontal slide", 1.5, False)[..., 0].numpy()
    taps = np.arange(-2, 3)  # int(2 * 1.5) + 1 = 4 taps, made odd: 5; sigma 1.5 / 3
    kernel = np.exp(-0.5 * (taps / 0.5) ** 2)
    kernel /= kernel.sum()
    ref = scipy.ndimage.correlate(sharp, np.outer(kernel, kernel), mode="constant", cval=0.0)
    np.testing.assert_allclose(soft, ref, rtol=1e-5, atol=1e-6)


def test_layouts():
    images = torch.rand(3, 6, 10, 3)
    (pairs,) = node("TransitionImagesInBatch")(CTX, images=images, interpolation="linear", transition_type="fade",
                                               transitioning_frames=3, blur_radius=0.0, reverse=False, device="CPU")
    assert pairs.shape[0] == 6
    torch.testing.assert_close(pairs[1], 0.5 * images[0] + 0.5 * images[1])
    torch.testing.assert_close(pairs[5], images[2])
    (joined,) = node("TransitionImagesMulti")(CTX, inputcount=2, image_1=images[:2], image_2=images[2:],
                                              interpolation="linear", transition_type="fade",
                                              transitioning_frames=2, blur_radius=0.0, reverse=False, device="CPU")
    assert joined.shape[0] == 2 + 2 + 1 and torch.equal(joined[2], images[1]) and torch.equal(joined[4], images[2])
    (join,) = node("ImageBatchJoinWithTransition")(CTX, images_1=images, images_2=images.flip(0), start_index=1,
                                                   interpolation="linear", transition_type="fade",
                                                   transitioning_frames=2, blur_radius=0.0, reverse=False,
                                                   device="CPU")
    # images_1[0], then 2 blends (t = 0, 1) of images_1[1:3] with flipped[0:2], then flipped[2]
    assert join.shape[0] == 4
    torch.testing.assert_close(join[1], images[1])
    torch.testing.assert_close(join[2], images[1])
    torch.testing.assert_close(join[3], images[0])
    with pytest.raises(NodeInputError):
        node("TransitionImagesInBatch")(CTX, images=images, interpolation="linear", transition_type="fade",
                                        transitioning_frames=1, blur_radius=0.0, reverse=False, device="CPU")
