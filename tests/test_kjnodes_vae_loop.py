"""KJNodes' VAEDecodeLoopKJ against the pack's recipe written out with the core VAEDecode node:
the opening frames come from a decode of the last ``overlap + 1`` latent frames followed by the
first ``overlap``, the rest from the plain decode, at the pack's cut points."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import NodeInputError


@pytest.mark.parametrize("overlap", [2, 3])
def test_loop_decode_is_the_pack_s_recipe(ctx, vae, overlap):
    latents = torch.randn(1, 16, 4, 4, 6, generator=torch.Generator().manual_seed(overlap))
    (looped,) = node("VAEDecodeLoopKJ")(ctx, samples={"samples": latents}, vae=vae, overlap_latent_frames=overlap)
    (plain,) = node("VAEDecode")(ctx, samples={"samples": latents}, vae=vae)
    wrapped_latents = torch.cat([latents[:, :, -(overlap + 1):], latents[:, :, :overlap]], dim=2)
    (wrapped,) = node("VAEDecode")(ctx, samples={"samples": wrapped_latents}, vae=vae)
    total = 2 * overlap + 1
    keep_from, main_from = 2 * total - 1, total + (overlap if overlap > 2 else 0)
    assert plain.shape[0] == 13 and wrapped.shape[0] == 4 * (total - 1) + 1
    assert looped.shape == (wrapped.shape[0] - keep_from + plain.shape[0] - main_from, *plain.shape[1:])
    assert torch.equal(looped[:wrapped.shape[0] - keep_from], wrapped[keep_from:])
    assert torch.equal(looped[wrapped.shape[0] - keep_from:], plain[main_from:])
    assert looped.shape[0] == {2: 16, 3: 15}[overlap]  # the pack's counts for 4 latent frames


def test_loop_decode_refuses_a_video_shorter_than_its_overlap(ctx, vae):
    with pytest.raises(NodeInputError) as err:
        node("VAEDecodeLoopKJ")(ctx, samples={"samples": torch.zeros(1, 16, 2, 4, 4)}, vae=vae, overlap_latent_frames=2)
    assert err.value.input_name == "overlap_latent_frames"
    with pytest.raises(NodeInputError) as err:
        node("VAEDecodeLoopKJ")(ctx, samples={"samples": torch.zeros(1, 16, 4, 4, 4)}, vae=object(),
                                overlap_latent_frames=2)
    assert err.value.input_name == "vae"
