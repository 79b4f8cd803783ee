"""Impact Pack's ImpactMakeImageBatch and ImpactCombineConditionings (util_nodes.py /
special_samplers.py): the numbered inputs the frontend adds, joined in slot order; a later
image of another size is centre-cropped to the first one's aspect and resized with Pillow's
LANCZOS on 8-bit data (``comfy.utils.common_upscale``), written out here with Pillow alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def pillow_crop_resize(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """One IMAGE [1, H, W, 3] centre-cropped to width/height's aspect and LANCZOS-resized."""
    h, w = image.shape[1:3]
    target, have = width / height, w / h
    x = round((w - w * (target / have)) / 2) if have > target else 0
    y = round((h - h * (have / target)) / 2) if have < target else 0
    array = np.clip(255.0 * image[0, y:h - y, x:w - x].numpy(), 0, 255).astype(np.uint8)
    resized = Image.fromarray(array).resize((width, height), resample=Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(resized).astype(np.float32) / 255.0)[None]


def test_make_image_batch_joins_in_slot_order_and_resizes_others_to_the_first():
    gen = torch.Generator().manual_seed(0)
    first = torch.rand(2, 16, 24, 3, generator=gen)
    same = torch.rand(1, 16, 24, 3, generator=gen)
    other = torch.rand(1, 20, 20, 3, generator=gen)
    # keyword order deliberately not slot order: the prompt lists slots in order
    (out,) = node("ImpactMakeImageBatch")(CTX, image1=first, image3=other, image2=same)
    assert out.shape == (4, 16, 24, 3)
    assert torch.equal(out[:2], first) and torch.equal(out[2:3], same)
    assert torch.allclose(out[3:], pillow_crop_resize(other, 24, 16), atol=1e-6)
    (alone,) = node("ImpactMakeImageBatch")(CTX, image1=first)
    assert alone is first


def test_make_image_batch_names_a_wrong_input():
    with pytest.raises(NodeInputError) as err:
        node("ImpactMakeImageBatch")(CTX, image1=torch.rand(1, 8, 8, 3), image2="not an image")
    assert err.value.input_name == "image2"


def test_combine_conditionings_lists_every_entry_in_slot_order():
    a = [[torch.zeros(1, 4, 8), {"x": 1}]]
    b = [[torch.ones(1, 4, 8), {}], [torch.full((1, 4, 8), 2.0), {"y": 2}]]
    c = [[torch.full((1, 4, 8), 3.0), {}]]
    (out,) = node("ImpactCombineConditionings")(CTX, conditioning1=a, conditioning3=c, conditioning2=b)
    assert [float(e[0].mean()) for e in out] == [0.0, 1.0, 2.0, 3.0]
    assert out[0][1] == {"x": 1} and out[2][1] == {"y": 2}
    with pytest.raises(NodeInputError) as err:
        node("ImpactCombineConditionings")(CTX, conditioning1=a, conditioning2=torch.zeros(1))
    assert err.value.input_name == "conditioning2"
