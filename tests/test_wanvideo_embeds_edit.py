"""WanVideoCombineEmbeds (the second embeds' set fields over the first's, as the pack's dict
merge) and WanVideoAddExtraLatent (entries the sampler puts in place of the noise, each at
its index: negative from the end, moved inside the video, only from the first step), the
positions worked out by hand from the pack's rule."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from node_helpers import node
from test_sampling_loop import request, t2v_embeds, tiny
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.conditioning import ExtraLatent, ImageEmbeds, PhantomArgs
from wfrun.sampling.loop import SamplingError, prepare

CTX = ExecContext()


def test_combine_takes_the_second_embeds_set_fields_over_the_first():
    y = torch.randn(20, 3, 4, 4)
    first = ImageEmbeds(num_frames=9, image_embeds=y, lat_h=4, lat_w=4, max_seq_len=12)
    phantom = PhantomArgs(latents=torch.randn(16, 1, 4, 4))
    second = ImageEmbeds(num_frames=13, target_shape=(16, 4, 4, 4), phantom=phantom)
    (both,) = node("WanVideoCombineEmbeds")(CTX, embeds_1=first, embeds_2=second)
    assert both.image_embeds is y and both.lat_h == 4 and both.max_seq_len == 12  # kept from the first
    assert both.num_frames == 13 and both.target_shape == (16, 4, 4, 4) and both.phantom is phantom
    with pytest.raises(NodeInputError) as err:
        node("WanVideoCombineEmbeds")(CTX, embeds_1=first, embeds_2={"a": 1})
    assert err.value.input_name == "embeds_2"


def _latent(frames: int, value: float) -> dict:
    return {"samples": torch.full((1, 16, frames, 4, 4), value)}


def test_add_extra_latent_chains_entries():
    (one,) = node("WanVideoAddExtraLatent")(CTX, embeds=t2v_embeds(frames=17), extra_latents=_latent(1, 1.0),
                                            latent_index=0)
    (two,) = node("WanVideoAddExtraLatent")(CTX, embeds=one, extra_latents=_latent(2, 2.0), latent_index=-1)
    assert [(e.index, e.samples.shape[2]) for e in two.extra_latents] == [(0, 1), (-1, 2)]
    start = dataclasses.replace(t2v_embeds(frames=17), extra_latents=_latent(1, 5.0))  # WanVideoEmptyEmbeds' form
    (three,) = node("WanVideoAddExtraLatent")(CTX, embeds=start, extra_latents=_latent(1, 2.0), latent_index=3)
    assert [e.index for e in three.extra_latents] == [0, 3]


@torch.no_grad()
def test_the_sampler_puts_each_entry_where_the_pack_does():
    model = tiny()
    embeds = t2v_embeds(frames=17)  # 5 latent frames
    plain = prepare(request(model, image_embeds=embeds)[0])
    entries = (ExtraLatent(torch.full((1, 16, 1, 4, 4), 1.0), 0), ExtraLatent(torch.full((1, 16, 2, 4, 4), 2.0), -1),
               ExtraLatent(torch.full((1, 16, 1, 4, 4), 3.0), 2))
    p = prepare(request(model, image_embeds=dataclasses.replace(embeds, extra_latents=entries))[0])
    # index -1 of 5 frames is 4; 2 frames from 4 reach past the end: moved to 3 (frames 3, 4)
    expected = plain.latent.clone()
    expected[:, 0], expected[:, 3:5], expected[:, 2] = 1.0, 2.0, 3.0
    torch.testing.assert_close(p.latent, expected)
    assert list(p.empty_idx) == [1] and p.extra_count == 0
    # a sampler continuing from a later step keeps its input latents as they are
    later = prepare(request(model, image_embeds=dataclasses.replace(embeds, extra_latents=entries),
                            samples={"samples": torch.zeros(1, 16, 5, 4, 4)}, step_range=(2, -1, False))[0])
    assert torch.equal(later.latent, torch.zeros(16, 5, 4, 4))
    too_wide = (ExtraLatent(torch.ones(1, 16, 1, 8, 8), 0),)
    with pytest.raises(SamplingError):
        prepare(request(model, image_embeds=dataclasses.replace(embeds, extra_latents=too_wide))[0])
