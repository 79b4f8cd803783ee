"""PainterI2VAdvanced (princepainter/ComfyUI-PainterI2Vadvanced) against independent references:
PainterI2V where the node reduces to it (no colour guard: the high pair is PainterI2V at the
amplitude, the low pair PainterI2V at 1), and the pack's colour guard re-derived by hand one
channel at a time, with the constants of the release the node was saved with."""

from __future__ import annotations


import pytest
import torch

from tests.node_helpers import empty_text, node, saved_as
from wfrun.nodes.executor import NodeInputError
from wfrun.packs.comfy_core_models.types import ClipVisionOutput
from wfrun.packs.painter_i2v.advanced import FIRST_GUARD, GUARD, guard_colors, guard_for

#: (drift limit, scale, dim limit, boost cap) as read in the pack before and from 2026-01-02.
FIRST = (0.12, 0.08, 0.96, 1.04)
NEWEST = (0.18, 0.03, 0.92, 1.05)


def hand_guard(original, moved, strength, constants):
    """The pack's guard, one (item, channel) at a time in Python floats; also says which
    branches ran (channels corrected, brightness boosted)."""
    limit, scale, dim, cap = constants
    out = moved.clone()
    corrected = 0
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            m0, m1 = original[b, c].mean().item(), moved[b, c].mean().item()
            if abs(m1 - m0) / (abs(m0) + 1e-6) > limit:
                corrected += 1
                x = out[b, c]
                x[x > 0] -= (m1 - m0) * strength * scale
    start, now = original.mean().item(), out.mean().item()
    boosted = now < start * dim
    if boosted:
        out[out < 0.5] *= min(start / (now + 1e-6), cap)
    return out.clamp(-6, 6), corrected, boosted


def made_latents(seed: int, darker: float):
    """An original latent (channel means near 1) and a 'moved' one where channels 0-5 are
    darker by different amounts, so some drift between the two releases' limits."""
    g = torch.Generator().manual_seed(seed)
    original = 1.0 + 0.5 * torch.randn(1, 16, 3, 4, 4, generator=g)
    moved = original + 0.05 * torch.randn(1, 16, 3, 4, 4, generator=g)
    shifts = torch.zeros(16)
    shifts[:6] = torch.tensor([0.15, 0.3, 0.2, 0.2, 0.2, 0.2]) * darker
    return original, moved - shifts[None, :, None, None, None]


@pytest.mark.parametrize("guard, constants", [(FIRST_GUARD, FIRST), (GUARD, NEWEST)])
@pytest.mark.parametrize("darker", [1.0, 2.5])
def test_guard_matches_the_pack_formula(guard, constants, darker):
    original, moved = made_latents(5, darker)
    want, corrected, boosted = hand_guard(original, moved, 0.3, constants)
    assert corrected > 0  # the case exercises the correction
    if darker > 1:
        assert boosted
    torch.testing.assert_close(guard_colors(original, moved, 0.3, guard, 1), want, atol=1e-6, rtol=0)


def test_the_two_releases_differ_where_their_limits_do():
    original, moved = made_latents(5, 1.0)
    first, n_first, boost_first = hand_guard(original, moved, 0.3, FIRST)
    newest, n_newest, boost_newest = hand_guard(original, moved, 0.3, NEWEST)
    assert (n_first, boost_first) != (n_newest, boost_newest)
    assert not torch.allclose(guard_colors(original, moved, 0.3, FIRST_GUARD, 1),
                              guard_colors(original, moved, 0.3, GUARD, 1))


def test_a_batch_the_pack_cannot_correct_is_refused():
    original, moved = made_latents(5, 1.0)
    with pytest.raises(NodeInputError) as err:
        guard_colors(original, moved, 0.3, GUARD, 2)
    assert err.value.input_name == "batch_size"


@pytest.mark.parametrize("ver, guard", [(None, GUARD), ("a044ac7b2a33565343ddc75283c94a41371b4352", GUARD),
                                        ("f87bf8d6f3193de503ce954a661fd7cdc76c0478", GUARD),
                                        ("841ea1fd1b5f5b8f62d423d3bbc42db0cbd6ff8f", FIRST_GUARD),
                                        ("7d3d0a16b152a696e0391589ae1e976b15c12e05", FIRST_GUARD),
                                        ("1.0.0", FIRST_GUARD), ("0123456789abcdef", GUARD)])
def test_the_saved_release_picks_the_constants(ver, guard):
    assert guard_for(ver) == guard


def start():
    return torch.rand(1, 24, 40, 3, generator=torch.Generator().manual_seed(3))


def test_without_the_guard_high_is_painter_i2v_and_low_is_painter_i2v_at_one(ctx, vae):
    common = dict(positive=empty_text(), negative=empty_text(), vae=vae, width=32, height=32, length=9, batch_size=1,
                  start_image=start())
    hp, hn, lp, ln, latent = node("PainterI2VAdvanced")(ctx, motion_amplitude=1.6, color_protect=False, **common)
    p_hi, n_hi, latent_ref = node("PainterI2V")(ctx, motion_amplitude=1.6, **common)
    p_lo, n_lo, _ = node("PainterI2V")(ctx, motion_amplitude=1.0, **common)
    torch.testing.assert_close(latent["samples"], latent_ref["samples"])
    for got, want in ((hp, p_hi), (hn, n_hi), (lp, p_lo), (ln, n_lo)):
        assert got[0][1].keys() == want[0][1].keys()
        for key in ("concat_latent_image", "concat_mask"):
            torch.testing.assert_close(got[0][1][key], want[0][1][key], atol=2e-3, rtol=0)
        torch.testing.assert_close(got[0][1]["reference_latents"][-1], want[0][1]["reference_latents"][-1],
                                   atol=2e-3, rtol=0)
    assert not torch.allclose(hp[0][1]["concat_latent_image"], lp[0][1]["concat_latent_image"])


@pytest.mark.parametrize("ver, constants", [("a044ac7b2a33565343ddc75283c94a41371b4352", NEWEST),
                                            ("76da697c1b6fb395ddc82c39c539d11306b40c83", FIRST)])
def test_the_guard_runs_on_the_moved_latent_with_the_saved_constants(ctx, vae, ver, constants):
    common = dict(positive=empty_text(), negative=empty_text(), vae=vae, width=32, height=32, length=9, batch_size=1,
                  start_image=start())
    hp, hn, lp, ln, _ = node("PainterI2VAdvanced")(saved_as(ctx, "PainterI2VAdvanced", "princepainter/ComfyUI-PainterI2Vadvanced", ver, "7"), motion_amplitude=1.8, color_protect=True,
                                                   correct_strength=0.3, **common)
    plain, _, _ = node("PainterI2V")(ctx, motion_amplitude=1.0, **common)
    moved, _, _ = node("PainterI2V")(ctx, motion_amplitude=1.8, **common)
    original = plain[0][1]["concat_latent_image"]
    want, corrected, _ = hand_guard(original, moved[0][1]["concat_latent_image"], 0.3, constants)
    assert corrected > 0
    for cond in (hp, hn):
        torch.testing.assert_close(cond[0][1]["concat_latent_image"], want, atol=2e-3, rtol=0)
    for cond in (lp, ln):
        torch.testing.assert_close(cond[0][1]["concat_latent_image"], original, atol=2e-3, rtol=0)


def test_without_an_image_all_four_are_the_inputs_with_clip_vision(ctx, vae):
    clip = ClipVisionOutput(torch.zeros(1, 257, 1280))
    outs = node("PainterI2VAdvanced")(ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=48, height=32, length=5,
                                      batch_size=2, clip_vision=clip)
    assert outs[4]["samples"].shape == (2, 16, 2, 4, 6)
    for cond in outs[:4]:
        assert cond[0][1] == {"clip_vision_output": clip}


def test_a_wrong_clip_vision_is_refused_under_this_node_s_input_name(ctx, vae):
    with pytest.raises(NodeInputError) as err:
        node("PainterI2VAdvanced")(ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=32, height=32, length=5,
                                   batch_size=1, clip_vision="not a clip vision output")
    assert err.value.input_name == "clip_vision"
