"""KJNodes' ImageCropByMask, ImageUncropByMask and PadImageBatchInterleaved against numpy
crops, PIL-free blends written out here, and hand-counted frame layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_crop_by_mask_is_the_box_of_the_rounded_mask():
    image = torch.rand(2, 10, 12, 3)
    mask = torch.zeros(1, 10, 12)
    mask[0, 2:5, 3:9] = 0.7
    mask[0, 8, 1] = 0.4  # rounds to 0: outside the box
    (out,) = node("ImageCropByMask")(CTX, image=image, mask=mask)
    assert np.array_equal(out.numpy(), image.numpy()[:, 2:5, 3:9])
    with pytest.raises(NodeInputError):
        node("ImageCropByMask")(CTX, image=image, mask=torch.zeros(1, 10, 12))


def test_uncrop_pastes_through_the_mask_into_the_box():
    dest = torch.rand(1, 8, 10, 3)
    source = (torch.rand(1, 4, 6, 3) * 255).round() / 255  # 8-bit levels at the box's own size: lanczos
    # (through PIL, as ComfyUI's) then gives them back unchanged
    mask = torch.zeros(1, 4, 6)
    mask[0, 1:3, 2:5] = 1.0
    (out,) = node("ImageUncropByMask")(CTX, destination=dest, source=source, mask=mask, bbox=[(3, 2, 9, 6)])
    ref = dest.numpy().copy()
    region = ref[0, 2:6, 3:9]
    m = mask[0].numpy()[..., None]
    ref[0, 2:6, 3:9] = region * (1 - m) + source[0].numpy() * m
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(NodeInputError):
        node("ImageUncropByMask")(CTX, destination=dest, source=source, mask=mask, bbox=[(3, 2, 19, 6)])


def test_pad_interleaved_layout():
    images = torch.rand(3, 2, 2, 3)
    padded, masks = node("PadImageBatchInterleaved")(CTX, images=images, empty_frames_per_image=2,
                                                     pad_frame_value=0.5, add_after_last=True)
    assert padded.shape[0] == 3 + 2 * 2 + 2
    assert masks[:, 0, 0].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert torch.equal(padded[3], images[1]) and torch.all(padded[1] == 0.5)
    single, single_mask = node("PadImageBatchInterleaved")(CTX, images=images[:1], empty_frames_per_image=2,
                                                           pad_frame_value=0.0, add_after_last=False)
    assert single.shape[0] == 1 and single_mask.sum() == 4


def test_bbox_to_int_and_split():
    listed = [(2, 3, 10, 5), {"x": 1, "y": 1, "width": 7, "height": 4}]
    assert node("BboxToInt")(CTX, bboxes=listed, index=0) == (2, 3, 10, 5, 7, 5)
    assert node("BboxToInt")(CTX, bboxes=listed, index=1) == (1, 1, 7, 4, 4, 3)
    a, b = node("SplitBboxes")(CTX, bboxes=listed, index=1)
    assert a == [(2, 3, 10, 5)] and b == [(1, 1, 7, 4)]
    with pytest.raises(NodeInputError):
        node("BboxToInt")(CTX, bboxes=listed, index=2)
