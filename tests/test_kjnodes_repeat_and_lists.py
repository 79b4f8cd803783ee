"""KJNodes' ImageBatchRepeatInterleaving and AppendStringsToList, against the pack's documented
behaviour worked out by hand (frames 0, 1, 2 with repeats 2 become 0, 0, 1, 1, 2, 2; the
mask marks the first copy of each frame)."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

ctx = ExecContext()


def test_repeat_interleaving_repeats_each_frame_in_place():
    images = torch.stack([torch.full((2, 3, 3), float(i)) for i in range(3)])
    out, mask = node("ImageBatchRepeatInterleaving")(ctx, images=images, repeats=2)
    assert [float(f[0, 0, 0]) for f in out] == [0, 0, 1, 1, 2, 2]
    assert mask.shape == (6, 2, 3)
    assert [float(m.max()) for m in mask] == [1, 0, 1, 0, 1, 0] and [float(m.min()) for m in mask] == [1, 0, 1, 0, 1, 0]
    given = torch.stack([torch.full((2, 3), 0.1 * i) for i in range(3)])
    _, repeated = node("ImageBatchRepeatInterleaving")(ctx, images=images, repeats=3, mask=given)
    assert [round(float(m[0, 0]), 3) for m in repeated] == [0, 0, 0, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2]
    same, ones = node("ImageBatchRepeatInterleaving")(ctx, images=images, repeats=1)
    assert torch.equal(same, images) and bool((ones == 1).all())


def test_repeat_interleaving_names_bad_inputs():
    for name, inputs in (("images", {"images": "x", "repeats": 2}),
                         ("repeats", {"images": torch.zeros(1, 2, 2, 3), "repeats": 0}),
                         ("mask", {"images": torch.zeros(1, 2, 2, 3), "repeats": 2, "mask": "m"})):
        with pytest.raises(NodeInputError) as err:
            node("ImageBatchRepeatInterleaving")(ctx, **inputs)
        assert err.value.input_name == name


def test_append_strings_to_list_joins_items_into_one_list():
    run = node("AppendStringsToList")
    assert run(ctx, string1="a", string2="b") == (["a", "b"],)
    assert run(ctx, string1=["a", "b"], string2="c") == (["a", "b", "c"],)
    assert run(ctx, string1=["a"], string2=["b", ["c"]]) == (["a", "b", ["c"]],)
    first = ["x"]
    run(ctx, string1=first, string2="y")
    assert first == ["x"]  # the input list is left alone
    with pytest.raises(NodeInputError) as err:
        run(ctx, string1=None, string2="y")
    assert err.value.input_name == "string1"
