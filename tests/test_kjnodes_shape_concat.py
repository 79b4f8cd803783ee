"""KJNodes' CreateShapeMask against hand geometry (PIL's inclusive boxes) and
ImageConcatFromBatch against a numpy grid."""

from __future__ import annotations

import numpy as np
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext

CTX = ExecContext()


def test_square_grows_and_inverts():
    masks, inverted = node("CreateShapeMask")(CTX, shape="square", frames=2, location_x=10, location_y=8, grow=4,
                                              frame_width=24, frame_height=16, shape_width=6, shape_height=4)
    ref0 = np.zeros((16, 24), np.float32)
    ref0[6:11, 7:14] = 1  # corners (7, 6) and (13, 10), both drawn
    ref1 = np.zeros((16, 24), np.float32)
    ref1[4:13, 5:16] = 1  # grown to 10x8: corners (5, 4) and (15, 12)
    assert np.array_equal(masks[0].numpy(), ref0) and np.array_equal(masks[1].numpy(), ref1)
    assert torch.equal(inverted, 1 - masks)


def test_circle_is_symmetric_and_inside_its_box():
    (masks, _) = node("CreateShapeMask")(CTX, shape="circle", frames=1, location_x=16, location_y=16, grow=0,
                                         frame_width=32, frame_height=32, shape_width=20, shape_height=20)
    m = masks[0].numpy()
    box = m[6:27, 6:27]  # the ellipse's box, corners (6, 6) and (26, 26) drawn: symmetric about 16
    assert np.array_equal(box, box[::-1, :]) and np.array_equal(box, box[:, ::-1]) and np.array_equal(box, box.T)
    ys, xs = np.nonzero(m)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (6, 26, 6, 26)
    assert abs(m.sum() - np.pi * 10.5 ** 2) < 0.1 * m.sum()


def test_concat_from_batch_grid():
    images = torch.rand(5, 8, 16, 3)
    (grid,) = node("ImageConcatFromBatch")(CTX, images=images, num_columns=2, match_image_size=False,
                                           max_resolution=4096)
    ref = np.zeros((24, 32, 3), np.float32)
    for i in range(5):
        r, c = divmod(i, 2)
        ref[r * 8:(r + 1) * 8, c * 16:(c + 1) * 16] = images[i].numpy()
    np.testing.assert_allclose(grid[0].numpy(), ref, rtol=1e-6, atol=1e-6)
