"""The wrapper's ATI nodes: WanVideoATITracks puts tracks on the model, WanVideoSampler gives the
model the motion-patched image conditioning inside their step window, and
WanVideoATITracksVisualize draws the tracks — checked against the pack's rules written out
here (the patch itself is checked against a hand-written reference in test_motion_tracks)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import WanTransformer3DModel

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.ati import age_color
from wfrun.packs.wanvideo.types import ContextOptions, ImageEmbeds, SamplerOptions, TextEmbeds, WanVideoModel
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.sampling.tracks import ati_patch

CTX = ExecContext()


def _i2v():
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=36,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=1,
                                 cross_attn_norm=True, image_dim=20, added_kv_proj_dim=32).eval()


def _model(transformer) -> WanVideoModel:
    return WanVideoModel(transformer=transformer, model_type="i2v", path=Path("ati.safetensors"),
                         base_dtype=torch.float32)


def _track(n=121, x0=8.0, y0=16.0, dx=0.2):
    return [{"x": x0 + dx * k, "y": y0} for k in range(n)]


def test_ati_tracks_node_attaches_the_tracks_and_leaves_the_model_alone():
    model = _model(_i2v())
    (patched,) = node("WanVideoATITracks")(CTX, model=model, tracks=json.dumps(_track()), width=32, height=32,
                                           temperature=100.0, topk=1, start_percent=0.1, end_percent=0.6)
    assert model.ati is None and patched.transformer is model.transformer
    ati = patched.ati
    assert ati.points.shape == (1, 121, 3) and (ati.width, ati.height) == (32, 32)
    assert (ati.temperature, ati.topk, ati.start_percent, ati.end_percent) == (100.0, 1, 0.1, 0.6)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoATITracks")(CTX, model=model, tracks="[]", width=32, height=32)
    assert err.value.input_name == "tracks"


@torch.no_grad()
def test_sampler_uses_the_patched_conditioning_inside_the_window_only():
    tr = _i2v()
    g = torch.Generator().manual_seed(1)
    y = torch.randn(20, 3, 4, 4, generator=g)
    embeds = ImageEmbeds(num_frames=9, image_embeds=y, lat_h=4, lat_w=4, clip_context=torch.randn(257, 20, generator=g))
    text = TextEmbeds(prompt_embeds=(torch.randn(7, 24, generator=g),), negative_prompt_embeds=(torch.randn(5, 24),))
    (patched,) = node("WanVideoATITracks")(CTX, model=_model(tr), tracks=json.dumps([_track(), _track(x0=20.0)]),
                                           width=32, height=32, start_percent=0.3, end_percent=0.5)
    seen = []
    orig = sample.__globals__["transformer_forward"]

    def spy(transformer, x, *a, **k):
        seen.append(x[0, 16:].clone())
        return orig(transformer, x, *a, **k)

    req = SamplingRequest(transformer=tr, image_embeds=embeds, text_embeds=text, steps=4, cfg=1.0, shift=5.0, seed=1,
                          scheduler="euler", ati=patched.ati)
    sample.__globals__["transformer_forward"] = spy
    try:
        sample(req)
    finally:
        sample.__globals__["transformer_forward"] = orig
    mask, feats = ati_patch(patched.ati.for_latent(3), y[4:], patched.ati.temperature, patched.ati.topk)
    want = torch.cat([mask.unsqueeze(0).expand(4, -1, -1, -1), feats])
    assert not torch.allclose(want, y)
    # steps at 0, 1/4, 1/2, 3/4 of the way: the window 0.3..0.5 holds step 2 only
    assert [torch.allclose(s, want, atol=1e-6) for s in seen] == [False, False, True, False]
    assert torch.equal(seen[0], y) and torch.equal(seen[3], y)


def test_sampler_refuses_ati_with_context_windows():
    tr = _i2v()
    (patched,) = node("WanVideoATITracks")(CTX, model=_model(tr), tracks=json.dumps(_track()), width=32, height=32)
    embeds = ImageEmbeds(num_frames=9, image_embeds=torch.zeros(20, 3, 4, 4), lat_h=4, lat_w=4)
    text = TextEmbeds(prompt_embeds=(torch.zeros(7, 24),), negative_prompt_embeds=(torch.zeros(5, 24),))
    req = SamplingRequest(transformer=tr, image_embeds=embeds, text_embeds=text, steps=1, cfg=1.0, shift=5.0, seed=1,
                          scheduler="euler", ati=patched.ati, options=SamplerOptions(context=ContextOptions()))
    with pytest.raises(SamplingError) as err:
        sample(req)
    assert err.value.input_name == "context_options"


def test_age_colours_run_blue_green_yellow_red():
    assert age_color(0.0) == (0, 0, 255) and age_color(1 / 3) == (0, 255, 0)
    assert age_color(2 / 3) == (255, 255, 0) and age_color(1.0) == (255, 0, 0)
    assert age_color(0.5) == (127, 255, 0)


def test_visualize_draws_81_frames_of_dots_with_their_age():
    images = torch.zeros(1, 48, 100, 3)
    track = [{"x": 2.0 + k * 0.75, "y": 20.0} for k in range(121)]  # frame j is at point 3j//2
    (out,) = node("WanVideoATITracksVisualize")(CTX, images=images, tracks=json.dumps(track), min_radius=1,
                                                max_radius=3, max_retain=4)
    assert out.shape == (81, 48, 100, 3) and out.dtype == torch.float32
    frame = out[40].numpy()
    # frame 40: the newest dot (age 0: ratio 1, radius 3, red) at point 60: x = int(2 + 45 + 0.5) = 47, y = 20
    assert frame[20, 47].tolist() == [255.0, 0.0, 0.0] and frame[20, 50].tolist() == [255.0, 0.0, 0.0]
    assert frame[20, 51].tolist() == [0.0, 0.0, 0.0]
    assert frame[23, 47].tolist() == [255.0, 0.0, 0.0] and frame[23, 49].tolist() == [0.0, 0.0, 0.0]  # 2²+3² > 3²
    # two frames back (ratio 1/2: radius round(2.0) = 2, (127, 255, 0)) at point 57: x = int(44.75 + 0.5) = 45,
    # left of the newer dots
    assert frame[20, 43].tolist() == [127.0, 255.0, 0.0]
    np.testing.assert_array_equal(out[0, :10].numpy(), 0)


def test_visualize_keeps_max_retain_frames_of_history():
    # the track jumps at point 100: frames up to 66 (point 3*66//2 = 99) are at (10, 10), later ones at (40, 10)
    track = [{"x": 10.0 if k < 100 else 40.0, "y": 10.0} for k in range(121)]
    (out,) = node("WanVideoATITracksVisualize")(CTX, images=torch.zeros(1, 24, 64, 3), tracks=json.dumps(track),
                                                min_radius=1, max_radius=3, max_retain=4)
    # frame 70: frame 66's dot is 4 frames old (ratio 0: blue, radius 1); frame 71: gone
    assert out[70, 10, 10].tolist() == [0.0, 0.0, 255.0] and out[70, 10, 12].tolist() == [0.0, 0.0, 0.0]
    assert not out[71, :, :20].any() and out[71, 10, 40].tolist() == [255.0, 0.0, 0.0]


def test_visualize_repeats_short_batches_and_refuses_max_retain_0():
    images = torch.rand(2, 16, 16, 3)
    (out,) = node("WanVideoATITracksVisualize")(CTX, images=images, tracks=json.dumps(_track(x0=100.0)),
                                                min_radius=1, max_radius=2, max_retain=3)
    assert out.shape[0] == 81  # the dots fall outside (clipped to the border column)
    assert torch.equal(out[2, :, :10], images[0, :, :10]) and torch.equal(out[3, :, :10], images[1, :, :10])
    with pytest.raises(NodeInputError) as err:
        node("WanVideoATITracksVisualize")(CTX, images=images, tracks=json.dumps(_track()), min_radius=1,
                                           max_radius=2, max_retain=0)
    assert err.value.input_name == "max_retain"


def test_model_replace_keeps_other_fields():
    model = _model(_i2v())
    (patched,) = node("WanVideoATITracks")(CTX, model=model, tracks=json.dumps(_track()), width=32, height=32)
    assert dataclasses.replace(patched, ati=None) == model
