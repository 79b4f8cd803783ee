"""ComfyUI_essentials' ImageFromBatch+ and GetImageSize+ against hand-computed slices."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def frames(n, h=4, w=6):
    """Frame i is flat at level i / 10, so a slice shows which frames it kept."""
    return torch.arange(n, dtype=torch.float32).div(10).reshape(n, 1, 1, 1).expand(n, h, w, 3).clone()


def levels(image):
    return [round(float(f[0, 0, 0]) * 10) for f in image]


@pytest.mark.parametrize("start,length,expected", [
    (0, -1, [0, 1, 2, 3, 4]),      # the spec defaults: the whole batch
    (2, 2, [2, 3]),
    (3, -1, [3, 4]),               # negative length: everything from start
    (3, 10, [3, 4]),               # length clipped at the end
    (9, 3, [4]),                   # start past the end: the last frame
    (1, 0, []),                    # zero length: an empty batch, as the pack slices it
])
def test_image_from_batch(start, length, expected):
    out, = node("ImageFromBatch+")(ExecContext(), image=frames(5), start=start, length=length)
    assert levels(out) == expected
    assert out.shape[1:] == (4, 6, 3)


def test_image_from_batch_defaults_take_everything():
    out, = node("ImageFromBatch+")(ExecContext(), image=frames(3))
    assert levels(out) == [0, 1, 2]


@pytest.mark.parametrize("inputs,name", [
    ({"image": torch.zeros(4, 6, 3)}, "image"),
    ({"image": "not an image"}, "image"),
    ({"image": frames(2), "start": -1}, "start"),
    ({"image": frames(2), "length": 1.5}, "length"),
])
def test_image_from_batch_bad_inputs(inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("ImageFromBatch+")(ExecContext(), **inputs)
    assert err.value.input_name == name


def test_get_image_size_gives_width_height_count():
    assert node("GetImageSize+")(ExecContext(), image=frames(7, h=48, w=80)) == (80, 48, 7)
    with pytest.raises(NodeInputError) as err:
        node("GetImageSize+")(ExecContext(), image=torch.zeros(0, 4, 4, 3))
    assert err.value.input_name == "image"
