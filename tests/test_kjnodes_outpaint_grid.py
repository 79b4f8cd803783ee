"""KJNodes' outpaint padding, grids and multi cross-fade against references written out
here: the pack's per-pixel feather loop, numpy grids and blends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def feather_loop(h, w, top, bottom, left, right, f):
    """The pack's double loop, verbatim in spirit."""
    t = np.zeros((h, w), np.float32)
    for i in range(h):
        for j in range(w):
            d = min(i if top else h, h - i if bottom else h, j if left else w, w - j if right else w)
            if d < f:
                t[i, j] = ((f - d) / f) ** 2
    return t


def test_pad_for_outpaint_without_mask_feathers_like_the_loop():
    image = torch.rand(2, 10, 12, 3)
    out, mask = node("ImagePadForOutpaintMasked")(CTX, image=image, left=4, top=0, right=2, bottom=3, feathering=3)
    assert out.shape == (2, 13, 18, 3) and torch.equal(out[:, 0:10, 4:16], image)
    assert torch.all(out[:, 10:, :] == 0.5) and torch.all(out[:, :, :4] == 0.5)
    ref = np.ones((13, 18), np.float32)
    ref[0:10, 4:16] = feather_loop(10, 12, 0, 3, 4, 2, 3)
    np.testing.assert_allclose(mask[1].numpy(), ref, rtol=1e-6)


def test_pad_for_outpaint_with_mask_pads_and_inverts():
    image, mask = torch.rand(1, 4, 4, 3), torch.zeros(1, 4, 4)
    mask[0, 1, 1] = 1.0
    _, out = node("ImagePadForOutpaintMasked")(CTX, image=image, left=1, top=1, right=0, bottom=0, feathering=1,
                                               mask=mask)
    ref = 1 - np.pad(mask[0].numpy(), ((1, 0), (1, 0)))
    assert np.array_equal(out[0].numpy(), ref)


def test_pad_to_target_size_shrinks_then_centres():
    image = torch.rand(1, 20, 40, 3)
    out, mask = node("ImagePadForOutpaintTargetSize")(CTX, image=image, target_width=32, target_height=32,
                                                      feathering=0, upscale_method="area")
    assert out.shape == (1, 32, 32, 3)  # 40x20 shrunk by 0.8 to 32x16, padded 8 above and below
    torch.testing.assert_close(out[0, 8:24], torch.nn.functional.interpolate(
        image.movedim(-1, 1), size=(16, 32), mode="area").movedim(1, -1)[0])
    assert torch.all(mask[0, :8] == 1) and torch.all(mask[0, 8:24] == 0)


def test_grids_and_back():
    tiles = [torch.full((2, 3, 4, 3), float(i)) for i in range(9)]
    (grid,) = node("ImageGridComposite3x3")(CTX, **{f"image{i + 1}": t for i, t in enumerate(tiles)})
    ref = np.block([[tiles[r * 3 + c][0, ..., 0].numpy() for c in range(3)] for r in range(3)])
    assert grid.shape == (2, 9, 12, 3) and np.array_equal(grid[0, ..., 0].numpy(), ref)
    (small,) = node("ImageGridComposite2x2")(CTX, image1=tiles[0], image2=tiles[1], image3=tiles[2], image4=tiles[3])
    assert small.shape == (2, 6, 8, 3) and small[0, 5, 7, 0] == 3
    (cells,) = node("ImageGridtoBatch")(CTX, image=grid[:1], columns=3, rows=3)
    assert cells.shape == (9, 3, 4, 3) and [float(c[0, 0, 0]) for c in cells] == list(range(9))
    with pytest.raises(NodeInputError):
        node("ImageGridComposite2x2")(CTX, image1=tiles[0], image2=torch.zeros(2, 5, 4, 3), image3=tiles[2],
                                      image4=tiles[3])


def test_cross_fade_multi_blends_last_into_first():
    a, b = torch.rand(2, 3, 4, 3), torch.rand(3, 3, 4, 3)
    (out,) = node("CrossFadeImagesMulti")(CTX, inputcount=2, image_1=a, image_2=b, interpolation="ease_in",
                                          transitioning_frames=3)
    weights = [0.0, 0.25, 1.0]  # (frame / 2) ** 2
    ref = [a[0], a[1]] + [(1 - w) * a[-1] + w * b[0] for w in weights] + [b[0], b[1], b[2]]
    np.testing.assert_allclose(out.numpy(), torch.stack(ref).numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(NodeInputError):
        node("CrossFadeImagesMulti")(CTX, inputcount=2, image_1=a, image_2=b, interpolation="linear",
                                     transitioning_frames=1)
