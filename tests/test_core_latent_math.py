"""ComfyUI's LatentAdd, LatentSubtract, LatentMultiply, LatentInterpolate and
LatentBatchSeedBehavior against ``comfy_extras/nodes_latent.py`` written out (its
``reshape_latent_to``: bilinear after a centre crop, then the batch cut or tiled)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
G = torch.Generator().manual_seed(0)
A = torch.randn(1, 16, 3, 4, 6, generator=G)
B = torch.randn(1, 16, 3, 4, 6, generator=G)


def _comfy_interpolate(s1, s2, ratio):
    m1 = torch.linalg.vector_norm(s1, dim=(1))
    m2 = torch.linalg.vector_norm(s2, dim=(1))
    s1 = torch.nan_to_num(s1 / m1)
    s2 = torch.nan_to_num(s2 / m2)
    t = (s1 * ratio + s2 * (1.0 - ratio))
    mt = torch.linalg.vector_norm(t, dim=(1))
    st = torch.nan_to_num(t / mt)
    return st * (m1 * ratio + m2 * (1.0 - ratio))


@pytest.mark.parametrize("a,b", [(A, B), (A[:, :, 0], B[:, :, 0])])  # video and image latents, batch 1
def test_interpolate_is_comfyui_s(a, b):
    (out,) = node("LatentInterpolate")(CTX, samples1={"samples": a, "batch_index": [2]}, samples2={"samples": b},
                                       ratio=0.3)
    torch.testing.assert_close(out["samples"], _comfy_interpolate(a, b, 0.3), rtol=1e-6, atol=1e-6)
    assert out["batch_index"] == [2]  # the first latent's other keys


def test_add_subtract_multiply_and_the_second_latent_made_like_the_first():
    assert torch.equal(node("LatentAdd")(CTX, samples1={"samples": A}, samples2={"samples": B})[0]["samples"], A + B)
    assert torch.equal(node("LatentSubtract")(CTX, samples1={"samples": A}, samples2={"samples": B})[0]["samples"], A - B)
    assert torch.equal(node("LatentMultiply")(CTX, samples={"samples": A}, multiplier=0.5)[0]["samples"], A * 0.5)
    # another size: centre-cropped to the first's aspect 6:4 (8x8 keeps its width; rows
    # round((8 - 8 / 1.5) / 2) = 1 cut from the top and the bottom: rows 1..6), resampled, tiled
    small = torch.randn(1, 16, 3, 8, 8, generator=G)
    crop = small[..., 1:7, :]
    frames = crop.movedim(2, 1).reshape(3, 16, 6, 8)
    resized = F.interpolate(frames, size=(4, 6), mode="bilinear").reshape(1, 3, 16, 4, 6).movedim(1, 2)
    two = torch.cat([A, A])
    (out,) = node("LatentAdd")(CTX, samples1={"samples": two}, samples2={"samples": small})
    torch.testing.assert_close(out["samples"], two + resized.repeat(2, 1, 1, 1, 1), rtol=0, atol=1e-6)
    with pytest.raises(NodeInputError) as err:
        node("LatentAdd")(CTX, samples1={"samples": A}, samples2={"samples": A[:, :, :2]})
    assert err.value.input_name == "samples2"


def test_batch_seed_behavior():
    three = {"samples": torch.cat([A, A, A]), "batch_index": [4, 5, 6]}
    (fixed,) = node("LatentBatchSeedBehavior")(CTX, samples=three, seed_behavior="fixed")
    assert fixed["batch_index"] == [4, 4, 4] and three["batch_index"] == [4, 5, 6]
    (random,) = node("LatentBatchSeedBehavior")(CTX, samples=three, seed_behavior="random")
    assert "batch_index" not in random
    (plain,) = node("LatentBatchSeedBehavior")(CTX, samples={"samples": torch.cat([A, A])}, seed_behavior="fixed")
    assert plain["batch_index"] == [0, 0]
