"""ComfyUI's ImageInvert, ImageFlip, ImageRotate, LatentFromBatch and RepeatLatentBatch against
their ComfyUI code written out (``nodes.py``, ``comfy_extras/nodes_images.py``)."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
IMAGE = torch.rand(2, 5, 7, 3, generator=torch.Generator().manual_seed(0))


def test_invert_flip_rotate():
    assert torch.equal(node("ImageInvert")(CTX, image=IMAGE)[0], 1.0 - IMAGE)
    (upside_down,) = node("ImageFlip")(CTX, image=IMAGE, flip_method="x-axis: vertically")
    (mirrored,) = node("ImageFlip")(CTX, image=IMAGE, flip_method="y-axis: horizontally")
    assert torch.equal(upside_down[:, 0], IMAGE[:, -1]) and torch.equal(mirrored[:, :, 0], IMAGE[:, :, -1])
    (quarter,) = node("ImageRotate")(CTX, image=IMAGE, rotation="90 degrees")
    assert quarter.shape == (2, 7, 5, 3)
    # clockwise: the first row becomes the last column, read top to bottom
    assert torch.equal(quarter[:, :, -1], IMAGE[:, 0])
    for rotation, k in (("none", 0), ("180 degrees", 2), ("270 degrees", 3)):
        assert torch.equal(node("ImageRotate")(CTX, image=IMAGE, rotation=rotation)[0],
                           torch.rot90(IMAGE, k=k, dims=[2, 1]))
    with pytest.raises(NodeInputError) as err:
        node("ImageFlip")(CTX, image=IMAGE, flip_method="diagonal")
    assert err.value.input_name == "flip_method"


def _comfy_from_batch(samples, batch_index, length):
    """ComfyUI's LatentFromBatch.frombatch, written out."""
    s = samples.copy()
    s_in = samples["samples"]
    batch_index = min(s_in.shape[0] - 1, batch_index)
    length = min(s_in.shape[0] - batch_index, length)
    s["samples"] = s_in[batch_index:batch_index + length].clone()
    if "noise_mask" in samples:
        masks = samples["noise_mask"]
        if masks.shape[0] == 1:
            s["noise_mask"] = masks.clone()
        else:
            if masks.shape[0] < s_in.shape[0]:
                masks = masks.repeat(math.ceil(s_in.shape[0] / masks.shape[0]), 1, 1, 1)[:s_in.shape[0]]
            s["noise_mask"] = masks[batch_index:batch_index + length].clone()
    if "batch_index" not in s:
        s["batch_index"] = list(range(batch_index, batch_index + length))
    else:
        s["batch_index"] = samples["batch_index"][batch_index:batch_index + length]
    return s


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("index,length", [(0, 1), (2, 3), (9, 2), (1, 64)])
def test_latent_from_batch_is_comfyui_s(index, length):
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(4, 16, 3, 2, 2, generator=g)
    for extra in ({}, {"noise_mask": torch.rand(2, 1, 2, 2, generator=g)}, {"noise_mask": torch.rand(1, 1, 2, 2)},
                  {"batch_index": [5, 6, 7, 8]}):
        value = {"samples": latents, **extra}
        _same(node("LatentFromBatch")(CTX, samples=value, batch_index=index, length=length)[0],
              _comfy_from_batch(value, index, length))


def test_repeat_latent_batch_is_comfyui_s():
    latents = torch.randn(2, 16, 3, 2, 2, generator=torch.Generator().manual_seed(2))
    masks = torch.rand(2, 1, 2, 2)
    (out,) = node("RepeatLatentBatch")(CTX, samples={"samples": latents, "noise_mask": masks, "batch_index": [3, 4]},
                                       amount=3)
    assert torch.equal(out["samples"], torch.cat([latents] * 3)) and torch.equal(out["noise_mask"], torch.cat([masks] * 3))
    assert out["batch_index"] == [3, 4, 5, 6, 7, 8]  # each repeat offset by the span of 2
    (plain,) = node("RepeatLatentBatch")(CTX, samples={"samples": latents, "noise_mask": masks[:1]}, amount=2)
    assert plain["noise_mask"].shape[0] == 1 and "batch_index" not in plain
