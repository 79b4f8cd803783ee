"""VideoHelperSuite's VHS_SelectEveryNthImage and VHS_GetImageCount."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def frames(n):
    return torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 2, 2, 3).clone()


@pytest.mark.parametrize("nth,skip,expected", [
    (1, 0, [0, 1, 2, 3, 4, 5, 6]),
    (2, 0, [0, 2, 4, 6]),
    (3, 1, [1, 4]),
    (2, 7, []),
])
def test_select_every_nth(nth, skip, expected):
    out, count = node("VHS_SelectEveryNthImage")(ExecContext(), images=frames(7), select_every_nth=nth,
                                                  skip_first_images=skip)
    assert [int(f[0, 0, 0]) for f in out] == expected
    assert count == len(expected) and isinstance(count, int)


@pytest.mark.parametrize("inputs,name", [
    ({"select_every_nth": 0}, "select_every_nth"),
    ({"skip_first_images": -2}, "skip_first_images"),
    ({"images": torch.zeros(3, 3)}, "images"),
])
def test_select_every_nth_bad_inputs(inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("VHS_SelectEveryNthImage")(ExecContext(), **{"images": frames(3), **inputs})
    assert err.value.input_name == name


def test_get_image_count():
    assert node("VHS_GetImageCount")(ExecContext(), images=frames(5)) == (5,)
    with pytest.raises(NodeInputError) as err:
        node("VHS_GetImageCount")(ExecContext(), images=None)
    assert err.value.input_name == "images"
