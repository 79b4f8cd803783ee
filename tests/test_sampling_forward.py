"""The block-by-block forward against diffusers' own forward, and its additions."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import WanTransformer3DModel

from wfrun.packs.wanvideo.types import SLGArgs, TeaCacheArgs
from wfrun.sampling.forward import (ForwardOptions, TeaCache, feta_score, rotary_embedding,
                                    transformer_forward)
from wfrun.sampling.hooks import sampling_pass


def tiny(in_channels=16, image=False, layers=3, seed=0):
    torch.manual_seed(seed)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16,
                                  in_channels=in_channels, out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48,
                                  num_layers=layers, cross_attn_norm=True, image_dim=20 if image else None,
                                  added_kv_proj_dim=32 if image else None)
    return model.eval()


def inputs(batch=1, channels=16, frames=3, h=4, w=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, frames, h, w, generator=g)
    ctx = torch.randn(batch, 512, 24, generator=g)
    return x, ctx


@torch.no_grad()
def test_matches_module_forward_t2v():
    model = tiny()
    x, ctx = inputs(batch=2)
    t = torch.tensor([900.0, 250.0])
    expected = model(x, t, ctx, return_dict=False)[0]
    got, pred = transformer_forward(model, x, t, ctx)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert pred is None


@torch.no_grad()
def test_matches_module_forward_i2v_with_clip():
    model = tiny(in_channels=36, image=True)
    x, ctx = inputs(channels=36)
    clip = torch.randn(1, 7, 20)
    t = torch.tensor([500.0])
    expected = model(x, t, ctx, encoder_hidden_states_image=clip, return_dict=False)[0]
    got, _ = transformer_forward(model, x, t, ctx, clip)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@torch.no_grad()
def test_per_frame_timesteps_equal_to_scalar_when_uniform():
    model = tiny()
    x, ctx = inputs()
    a, _ = transformer_forward(model, x, torch.tensor([700.0]), ctx)
    b, _ = transformer_forward(model, x, torch.full((1, 3), 700.0), ctx)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    c, _ = transformer_forward(model, x, torch.tensor([[0.0, 700.0, 700.0]]), ctx)
    assert not torch.allclose(a[:, :, 0], c[:, :, 0])


def test_rope_equals_module_rope_and_riflex_changes_only_one_frequency():
    model = tiny()
    x, _ = inputs()
    cos, sin = rotary_embedding(model, 3, 4, 6)
    mcos, msin = model.rope(x)
    torch.testing.assert_close(cos, mcos, rtol=0, atol=0)
    torch.testing.assert_close(sin, msin, rtol=0, atol=0)
    k, frames = 2, 21
    rcos, rsin = rotary_embedding(model, 3, 4, 6, riflex_k=k, riflex_frames=frames)
    diff = (rcos != cos).any(dim=(0, 1, 2)).nonzero().flatten().tolist()
    assert diff == [2 * (k - 1), 2 * (k - 1) + 1]
    # Token of frame 2: angle = 2 * 0.9 * 2π / frames
    tokens_per_frame = 2 * 3
    angle = 2 * 0.9 * 2 * math.pi / frames
    assert rcos[0, 2 * tokens_per_frame, 0, 2 * (k - 1)].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert rsin[0, 2 * tokens_per_frame, 0, 2 * (k - 1) + 1].item() == pytest.approx(math.sin(angle), abs=1e-6)


@torch.no_grad()
def test_slg_skips_blocks_only_for_uncond_in_window():
    model = tiny()
    x, ctx = inputs()
    t = torch.tensor([500.0])
    slg = SLGArgs(blocks=(1,), start_percent=0.2, end_percent=0.6)
    calls = []
    base, _ = transformer_forward(model, x, t, ctx)
    with sampling_pass(model, slg=slg, on_block=calls.append):
        for uncond, pct, skipped in [(True, 0.4, True), (False, 0.4, False), (True, 0.1, False), (True, 0.7, False)]:
            calls.clear()
            out, _ = transformer_forward(model, x, t, ctx, options=ForwardOptions(is_uncond=uncond, step_percent=pct))
            assert (1 not in calls) == skipped
            assert torch.equal(out, base) != skipped


@torch.no_grad()
def test_teacache_skips_and_reuses_residual():
    model = tiny()
    x, ctx = inputs()
    args = TeaCacheArgs(rel_l1_thresh=10.0, start_step=0, end_step=-1, use_coefficients=False, mode="e0")
    cache = TeaCache.create(args, num_timesteps=4, variant="1_3B", cache_device="cpu")
    calls = []
    pred = None
    outs = []
    with sampling_pass(model, teacache=cache, on_block=calls.append):
        for step, t in enumerate([900.0, 899.0, 898.0, 897.0]):
            out, pred = transformer_forward(model, x, torch.tensor([t]), ctx, options=ForwardOptions(
                step=step, pred_id=pred))
            outs.append(out)
    assert len(calls) == 3  # only the first step ran its 3 blocks
    assert cache.skipped_steps() == {0: [1, 2, 3]}
    ref, _ = transformer_forward(model, x, torch.tensor([899.0]), ctx)
    assert (outs[1] - ref).abs().max() < 0.05  # residual reuse approximates the step
    # Threshold 0 never skips.
    # (Without coefficients: the pack's polynomials can go below 0, so with them even 0 may skip.)
    cache0 = TeaCache.create(TeaCacheArgs(rel_l1_thresh=0.0, start_step=0, use_coefficients=False), 4, "1_3B", "cpu")
    calls.clear()
    pred = None
    with sampling_pass(model, teacache=cache0, on_block=calls.append):
        for step, t in enumerate([900.0, 899.0, 898.0, 897.0]):
            _, pred = transformer_forward(model, x, torch.tensor([t]), ctx, options=ForwardOptions(
                step=step, pred_id=pred))
    assert len(calls) == 12 and cache0.skipped_steps() == {0: []}


@torch.no_grad()
def test_feta_scales_self_attention():
    model = tiny()
    x, ctx = inputs()
    t = torch.tensor([500.0])
    base, _ = transformer_forward(model, x, t, ctx)
    same, _ = transformer_forward(model, x, t, ctx, options=ForwardOptions(feta_weight=-100.0, feta_frames=3))
    torch.testing.assert_close(same, base, rtol=1e-5, atol=1e-5)  # score clamps to 1
    more, _ = transformer_forward(model, x, t, ctx, options=ForwardOptions(feta_weight=50.0, feta_frames=3))
    assert not torch.allclose(more, base)


def test_feta_score_formula():
    q = torch.randn(1, 12, 2, 4)
    k = torch.randn(1, 12, 2, 4)
    frames = 3
    # independent: tokens read as (spatial=4, frames=3), softmax over frames per head.
    qs = q.reshape(1, 4, 3, 2, 4).permute(0, 1, 3, 2, 4)
    ks = k.reshape(1, 4, 3, 2, 4).permute(0, 1, 3, 2, 4)
    attn = torch.softmax(qs @ ks.transpose(-1, -2) / 2.0, dim=-1)
    off = attn.sum(dim=(-1, -2)) - attn.diagonal(dim1=-2, dim2=-1).sum(-1)
    expected = max(1.0, (off / 6).mean().item() * (frames + 4.0))
    assert feta_score(q, k, frames, 4.0).item() == pytest.approx(expected, rel=1e-5)


@torch.no_grad()
def test_multiple_prompts_split_over_frames():
    model = tiny()
    x, ctx = inputs(frames=4)
    ctx2 = torch.randn(1, 512, 24)
    t = torch.tensor([500.0])
    both = torch.cat([ctx, ctx2])
    out, _ = transformer_forward(model, x, t, both)
    a, _ = transformer_forward(model, x, t, ctx)
    assert not torch.allclose(out, a)
    # With the same prompt twice the split equals the plain forward.
    same, _ = transformer_forward(model, x, t, torch.cat([ctx, ctx]))
    torch.testing.assert_close(same, a, rtol=1e-5, atol=1e-5)
