"""ComfyUI's ImageColorToMask, CropMask, FeatherMask and ThresholdMask against their code in
``comfy_extras/nodes_mask.py`` written out (FeatherMask's ``-x`` indexing included)."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
MASK = torch.rand(2, 9, 11, generator=torch.Generator().manual_seed(0))


def _comfy_feather(mask, left, top, right, bottom):
    output = mask.reshape((-1, mask.shape[-2], mask.shape[-1])).clone()
    left, right = min(left, output.shape[-1]), min(right, output.shape[-1])
    top, bottom = min(top, output.shape[-2]), min(bottom, output.shape[-2])
    for x in range(left):
        output[:, :, x] *= (x + 1.0) / left
    for x in range(right):
        output[:, :, -x] *= (x + 1) / right
    for y in range(top):
        output[:, y, :] *= (y + 1) / top
    for y in range(bottom):
        output[:, -y, :] *= (y + 1) / bottom
    return output


@pytest.mark.parametrize("edges", [(0, 0, 0, 0), (3, 0, 0, 0), (0, 2, 4, 5), (20, 20, 20, 20)])
def test_feather_mask_is_comfyui_s(edges):
    left, top, right, bottom = edges
    (out,) = node("FeatherMask")(CTX, mask=MASK, left=left, top=top, right=right, bottom=bottom)
    assert torch.equal(out, _comfy_feather(MASK, *edges))
    assert torch.equal(MASK, torch.rand(2, 9, 11, generator=torch.Generator().manual_seed(0)))  # input untouched


def test_crop_threshold_and_colour_masks():
    assert torch.equal(node("CropMask")(CTX, mask=MASK, x=2, y=3, width=4, height=100)[0], MASK[:, 3:, 2:6])
    assert torch.equal(node("ThresholdMask")(CTX, mask=MASK, value=0.5)[0], (MASK > 0.5).float())
    image = torch.zeros(1, 2, 2, 3)
    image[0, 0, 1] = torch.tensor([1.0, 128 / 255, 2 / 255])
    (mask,) = node("ImageColorToMask")(CTX, image=image, color=(255 << 16) + (128 << 8) + 2)
    assert torch.equal(mask, torch.tensor([[[0.0, 1.0], [0.0, 0.0]]]))
    with pytest.raises(NodeInputError) as err:
        node("ThresholdMask")(CTX, mask="not a mask", value=0.5)
    assert err.value.input_name == "mask"
