"""The wrapper's DrawGaussianNoiseOnImage against the rule worked by hand: the subject kept,
the background filled with noise of the subject's per-channel mean and (unbiased) standard
deviation, drawn in order from one seeded generator (written here with ``randn``), clamped,
blended by the mask; the mask resized and its batch matched."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def test_fill_by_hand():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, 6, 8, 3, generator=g)
    mask = torch.zeros(1, 6, 8)
    mask[0, :, :4] = 1.0  # subject: the left half
    mask[0, 0, 4] = 0.3   # a soft edge pixel: blended, not subject
    (out,) = node("DrawGaussianNoiseOnImage")(ExecContext(), image=image, mask=mask, device="cpu", seed=9)
    gen = torch.Generator().manual_seed(9)
    for i in range(2):  # the one mask repeated for both images
        subject = image[i, :, :4]
        noise = torch.stack([torch.randn(6, 8, generator=gen) * subject[..., c].std() + subject[..., c].mean()
                             for c in range(3)], dim=-1)
        # the generator runs on: image 1's draws follow image 0's
        want = image[i] * mask[0, ..., None] + noise.clamp(0, 1) * (1 - mask[0, ..., None])
        torch.testing.assert_close(out[i], want, rtol=0, atol=1e-6)
    assert torch.equal(out[:, :, :4], image[:, :, :4])


def test_mask_resized_nearest_exact_and_cut_to_the_batch():
    image = torch.full((1, 4, 4, 3), 0.5)
    mask = torch.zeros(3, 2, 2)
    mask[0, 0, 0] = 1.0  # the top-left 2x2 block after nearest-exact upscaling
    (out,) = node("DrawGaussianNoiseOnImage")(ExecContext(), image=image, mask=mask, seed=0)
    assert out.shape == (1, 4, 4, 3)
    # the subject is flat (std 0): the background is its mean exactly
    torch.testing.assert_close(out, torch.full((1, 4, 4, 3), 0.5))
    empty = torch.zeros(1, 4, 4)  # no subject: zero noise, the image times the mask
    (out,) = node("DrawGaussianNoiseOnImage")(ExecContext(), image=image, mask=empty, seed=0)
    assert torch.equal(out, torch.zeros(1, 4, 4, 3))


def test_four_channels_are_refused_by_name():
    with pytest.raises(NodeInputError) as err:
        node("DrawGaussianNoiseOnImage")(ExecContext(), image=torch.rand(1, 4, 4, 4), mask=torch.ones(1, 4, 4))
    assert err.value.input_name == "image"
