"""MultiTalkReferenceMasks against masks worked out by hand from the pack's rule."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_default_strips_and_background():
    (masks,) = node("MultiTalkReferenceMasks")(CTX, width=20, height=10, human_number=2, face_scale=0.1)
    assert masks.shape == (3, 10, 20)
    # rows int(10*0.1)=1 .. int(10*0.9)=9; strips of 10: columns 1..9 and 11..19
    first, second = torch.zeros(10, 20), torch.zeros(10, 20)
    first[1:9, 1:9] = 1
    second[1:9, 11:19] = 1
    assert torch.equal(masks[0], first) and torch.equal(masks[1], second)
    assert torch.equal(masks[2], 1 - first - second)


def test_a_box_indexes_rows_first_and_overlaps_clamp():
    (masks,) = node("MultiTalkReferenceMasks")(CTX, width=8, height=6, human_number=2, bbox_person1="1,2,4,6",
                                               bbox_person2="0, 0, 3.7, 5", face_scale=0.0)
    want = torch.zeros(6, 8)
    want[1:4, 2:6] = 1
    assert torch.equal(masks[0], want)
    assert masks[1][:3, :5].eq(1).all() and masks[1].sum() == 15
    assert masks[2].sum() == 6 * 8 - ((masks[0] + masks[1]) > 0).sum()


def test_one_speaker_and_bad_counts():
    (masks,) = node("MultiTalkReferenceMasks")(CTX, width=4, height=3, human_number=1)
    assert torch.equal(masks, torch.stack([torch.ones(3, 4), torch.zeros(3, 4)]))
    with pytest.raises(NodeInputError):
        node("MultiTalkReferenceMasks")(CTX, width=4, height=3, human_number=5)
