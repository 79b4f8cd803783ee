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


def flat(n, level, h, w):
    return torch.full((n, h, w, 3), level, dtype=torch.float32)


@pytest.mark.parametrize("strategy,a_size,b_size,size", [
    ("match A", (4, 4), (8, 8), (4, 4)),
    ("match B", (4, 4), (8, 8), (8, 8)),
    ("match smaller", (4, 4), (8, 8), (4, 4)),
    ("match larger", (4, 4), (8, 8), (8, 8)),
    ("match larger", (8, 8), (4, 4), (8, 8)),
    ("match smaller", (8, 8), (4, 4), (8, 8)),  # the pack's quirk: a larger A is always the template
])
def test_merge_images(strategy, a_size, b_size, size):
    out, count = node("VHS_MergeImages")(ExecContext(), images_A=flat(2, 0.25, *a_size), images_B=flat(3, 0.75, *b_size),
                                         merge_strategy=strategy, scale_method="bilinear", crop="disabled")
    assert out.shape == (5, *size, 3) and count == 5
    assert [round(float(f.mean()), 4) for f in out] == [0.25, 0.25, 0.75, 0.75, 0.75]  # flat stays flat


def test_merge_images_same_size_is_a_plain_join():
    a, b = frames(2), frames(3)
    out, count = node("VHS_MergeImages")(ExecContext(), images_A=a, images_B=b, merge_strategy="match A",
                                         scale_method="nearest-exact", crop="center")
    assert torch.equal(out, torch.cat((a, b))) and count == 5


@pytest.mark.parametrize("inputs,name", [
    ({"images_B": torch.zeros(1, 6, 2, 3)}, "images_B"),   # heights differ only: the pack does not resize
    ({"merge_strategy": "match C"}, "merge_strategy"),
    ({"scale_method": "bislerp", "images_B": torch.zeros(1, 4, 4, 3)}, "scale_method"),
    ({"images_A": None}, "images_A"),
])
def test_merge_images_bad_inputs(inputs, name):
    good = {"images_A": frames(2), "images_B": frames(1), "merge_strategy": "match A", "scale_method": "bilinear",
            "crop": "disabled"}
    with pytest.raises(NodeInputError) as err:
        node("VHS_MergeImages")(ExecContext(), **{**good, **inputs})
    assert err.value.input_name == name
