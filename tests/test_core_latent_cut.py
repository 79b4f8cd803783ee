"""ComfyUI's LatentConcat, LatentCut and LatentCutToBatch, against numpy slicing worked out by
hand: the axes counted from the end (x, y, t), the clamping of LatentCut's index and amount,
and the order LatentCutToBatch stacks its pieces in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

ctx = ExecContext()


def latent(*shape, **extra):
    return {"samples": torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape), **extra}


def run(class_type, **inputs):
    return node(class_type)(ctx, **inputs)[0]


def test_concat_joins_along_each_axis_in_either_order():
    a, b = latent(1, 2, 3, 4, 5), {"samples": -latent(1, 2, 3, 4, 5)["samples"]}
    na, nb = a["samples"].numpy(), b["samples"].numpy()
    for dim, axis in (("x", 4), ("y", 3), ("t", 2)):
        assert np.array_equal(run("LatentConcat", samples1=a, samples2=b, dim=dim)["samples"].numpy(),
                              np.concatenate([na, nb], axis=axis))
        assert np.array_equal(run("LatentConcat", samples1=a, samples2=b, dim="-" + dim)["samples"].numpy(),
                              np.concatenate([nb, na], axis=axis))


def test_concat_tiles_samples2_to_the_batch_and_keeps_samples1s_keys():
    a = latent(3, 2, 2, 2, 2, noise_mask=torch.ones(1), batch_index=[4, 5, 6])
    b = {"samples": torch.full((1, 2, 1, 2, 2), 7.0)}
    out = run("LatentConcat", samples1=a, samples2=b, dim="t")
    assert out["samples"].shape == (3, 2, 3, 2, 2)
    for i in range(3):
        assert torch.equal(out["samples"][i, :, 2], torch.full((2, 2, 2), 7.0))
    assert out["noise_mask"] is a["noise_mask"] and out["batch_index"] == [4, 5, 6]
    with pytest.raises(NodeInputError) as err:
        run("LatentConcat", samples1=a, samples2={"samples": torch.zeros(1, 2, 1, 3, 2)}, dim="t")
    assert err.value.input_name == "samples2"


@pytest.mark.parametrize("index,amount,frames", [
    (0, 1, [0]), (3, 5, [3, 4]), (9, 2, [4]), (-2, 5, [3, 4]), (-9, 2, [0, 1]), (-1, 1, [4])])
def test_cut_clamps_index_and_amount_as_comfyui(index, amount, frames):
    a = latent(1, 2, 5, 2, 3)
    out = run("LatentCut", samples=a, dim="t", index=index, amount=amount)
    assert np.array_equal(out["samples"].numpy(), a["samples"].numpy()[:, :, frames])


def test_cut_on_x_and_y_and_t_of_an_image_latent_is_channels():
    a = latent(1, 4, 3, 5)
    assert np.array_equal(run("LatentCut", samples=a, dim="x", index=1, amount=2)["samples"].numpy(),
                          a["samples"].numpy()[..., 1:3])
    assert np.array_equal(run("LatentCut", samples=a, dim="y", index=-1, amount=3)["samples"].numpy(),
                          a["samples"].numpy()[:, :, 2:3])
    assert np.array_equal(run("LatentCut", samples=a, dim="t", index=2, amount=9)["samples"].numpy(),
                          a["samples"].numpy()[:, 2:4])


def test_cut_to_batch_stacks_pieces_batch_major_and_drops_the_remainder():
    a = latent(2, 3, 5, 2, 2)
    out = run("LatentCutToBatch", samples=a, dim="t", slice_size=2)["samples"].numpy()
    n = a["samples"].numpy()
    assert out.shape == (4, 3, 2, 2, 2)  # 5 frames: two pieces of 2, the fifth frame dropped
    expected = [n[0, :, 0:2], n[0, :, 2:4], n[1, :, 0:2], n[1, :, 2:4]]
    for got, want in zip(out, expected):
        assert np.array_equal(got, want)
    whole = run("LatentCutToBatch", samples=a, dim="t", slice_size=9)["samples"]
    assert torch.equal(whole, a["samples"])
    widths = run("LatentCutToBatch", samples=a, dim="x", slice_size=1)["samples"].numpy()
    assert widths.shape == (4, 3, 5, 2, 1)
    assert np.array_equal(widths[1], n[0, ..., 1:2]) and np.array_equal(widths[2], n[1, ..., 0:1])


def test_cut_to_batch_leaves_an_image_latents_channel_axis_alone():
    a = latent(1, 4, 3, 3)
    assert run("LatentCutToBatch", samples=a, dim="t", slice_size=2) is a
    with pytest.raises(NodeInputError) as err:
        run("LatentCut", samples={"samples": "x"}, dim="t", index=0, amount=1)
    assert err.value.input_name == "samples"
