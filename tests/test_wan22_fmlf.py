"""ComfyUI-Wan22FMLF's conditioning nodes, against the pack's layout restated here: where
each frame goes in the grey video, the per-pixel-frame mask ``[1, 1, 4·T', h, w]`` folded
to ``[1, 4, T', h, w]`` (slot k of latent t = mask frame 4t + k), and for SVI the latent
frames set directly. Concat latents are compared with the tiny VAE's encode of the video
the pack would build."""

from __future__ import annotations

import inspect
import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.types import ClipVisionOutput

W = H = 32
COND = [[torch.zeros(1, 4, 8), {}]]


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def frame(value: float) -> torch.Tensor:
    return torch.full((1, H, W, 3), value)


def video(length: int, placed: dict[int, float]) -> torch.Tensor:
    out = torch.full((length, H, W, 3), 0.5)
    for index, value in placed.items():
        out[index] = value
    return out


def encoded(ctx, vae, frames: torch.Tensor) -> torch.Tensor:
    (latent,) = node("VAEEncode")(ctx, pixels=frames, vae=vae)
    return latent["samples"]


def folded(per_frame: torch.Tensor) -> torch.Tensor:
    """``[4·T']`` values → ``[1, 4, T', h, w]`` as ComfyUI's Wan nodes fold them."""
    t = per_frame.shape[0] // 4
    out = torch.empty(1, 4, t, H // 8, W // 8)
    for latent_t in range(t):
        for k in range(4):
            out[0, k, latent_t] = per_frame[4 * latent_t + k]
    return out


def opts(conditioning) -> dict:
    return conditioning[0][1]


def test_first_middle_last_layout_and_stages(ctx, vae):
    length = 17  # 5 latent frames, 20 mask frames
    clip_a = ClipVisionOutput(torch.ones(1, 3, 2))
    clip_b = ClipVisionOutput(torch.zeros(1, 2, 2))
    pos_high, pos_low, neg, latent = node("WanFirstMiddleLastFrameToVideo")(
        ctx, positive=COND, negative=COND, vae=vae, width=W, height=H, length=length, batch_size=2,
        start_image=frame(0.1), middle_image=frame(0.3), end_image=frame(0.9), middle_frame_ratio=0.5,
        high_noise_mid_strength=0.75, low_noise_start_strength=0.5, low_noise_mid_strength=0.25,
        low_noise_end_strength=1.0, mode="NORMAL", clip_vision_start_image=clip_a, clip_vision_end_image=clip_b)
    assert latent["samples"].shape == (2, 16, 5, 4, 4) and not latent["samples"].any()
    mid = max(4, min(int(length * 0.5) // 4 * 4, length - 5))  # 8
    assert mid == 8
    want = encoded(ctx, vae, video(length, {0: 0.1, mid: 0.3, length - 1: 0.9}))
    assert torch.allclose(opts(pos_high)["concat_latent_image"], want, atol=1e-5)
    assert opts(pos_low)["concat_latent_image"] is opts(pos_high)["concat_latent_image"]
    high, low = torch.ones(20), torch.ones(20)
    high[:4], low[:4] = 0.0, 0.5               # the start frame and 3 more
    high[8:12], low[8:12] = 0.25, 0.75         # the middle frame's 4
    high[-1:], low[-1:] = 0.0, 0.0             # the last of the 20 mask frames
    assert torch.allclose(opts(pos_high)["concat_mask"], folded(high))
    assert torch.allclose(opts(pos_low)["concat_mask"], folded(low))
    assert neg is COND and opts(neg) == {}  # this release leaves the negative alone
    assert "clip_vision_output" not in opts(pos_high)
    merged = opts(pos_low)["clip_vision_output"].penultimate_hidden_states
    assert torch.equal(merged, torch.cat([clip_a.penultimate_hidden_states, clip_b.penultimate_hidden_states], 1))


def test_first_middle_last_single_person_and_zero_strength_low_videos(ctx, vae):
    common = dict(positive=COND, negative=COND, vae=vae, width=W, height=H, length=9, batch_size=1,
                  start_image=frame(0.2), middle_image=frame(0.6), end_image=frame(0.8), middle_frame_ratio=0.5,
                  high_noise_mid_strength=0.8, low_noise_start_strength=1.0, low_noise_mid_strength=0.2)
    high, low, *_ = node("WanFirstMiddleLastFrameToVideo")(ctx, mode="SINGLE_PERSON", low_noise_end_strength=1.0,
                                                           **common)
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(9, {0: 0.2})), atol=1e-5)
    high, low, *_ = node("WanFirstMiddleLastFrameToVideo")(ctx, mode="NORMAL", low_noise_end_strength=0.0, **common)
    # middle frame: max(4, min(4, 4)) = 4; the end (strength 0) is left out of the low video only
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(9, {0: 0.2, 4: 0.6})), atol=1e-5)
    assert torch.allclose(opts(high)["concat_latent_image"],
                          encoded(ctx, vae, video(9, {0: 0.2, 4: 0.6, 8: 0.8})), atol=1e-5)


def test_multi_frame_positions_masks_and_stages(ctx, vae):
    length = 17
    refs = torch.cat([frame(0.1), frame(0.4), frame(0.7)])
    # "0, 0.5, 16": 0.5 is a fraction of length - 1 (frame 8), 16 an index
    high, low, neg, latent = node("WanMultiFrameRefToVideo")(
        ctx, positive=COND, negative=COND, vae=vae, width=W, height=H, length=length, batch_size=1,
        ref_images=refs, mode="NORMAL", ref_positions="0, 0.5, 16", ref_strength_high=0.6, ref_strength_low=0.0,
        end_frame_strength_high=0.9, end_frame_strength_low=0.5)
    m_high, m_low = torch.ones(20), torch.ones(20)
    m_high[:4], m_low[:4] = 0.0, 0.0
    m_high[8:12], m_low[8:12] = 0.4, 1.0
    m_high[-4:], m_low[-4:] = 0.1, 0.5
    assert torch.allclose(opts(high)["concat_mask"], folded(m_high))
    assert torch.allclose(opts(low)["concat_mask"], folded(m_low))
    full = video(length, {0: 0.1, 8: 0.4, 16: 0.7})
    assert torch.allclose(opts(high)["concat_latent_image"], encoded(ctx, vae, full), atol=1e-5)
    # ref_strength_low 0: the low stage's video leaves the middle reference out
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(length, {0: 0.1, 16: 0.7})),
                          atol=1e-5)
    assert neg is COND


def test_multi_frame_positions_are_pushed_apart_and_spread_when_empty():
    from wfrun.packs.wan22_fmlf.frames import parse_positions

    assert parse_positions("", 3, 17) == [0, 8, 16]
    assert parse_positions("[1, 5]", 3, 33) == [32, 5, 5]   # 1 is a fraction (the end); padded with the last
    assert parse_positions("nonsense", 2, 9) == [0, 8]     # unreadable: spread evenly, as the pack does
    with pytest.raises(NodeInputError) as err:
        parse_positions('["a"]', 1, 9)
    assert err.value.input_name == "ref_positions"


def test_multi_frame_single_person_low_keeps_first_and_last(ctx, vae):
    refs = torch.cat([frame(0.1), frame(0.4), frame(0.7)])
    _, low, *_ = node("WanMultiFrameRefToVideo")(
        ctx, positive=COND, negative=COND, vae=vae, width=W, height=H, length=17, batch_size=1, ref_images=refs,
        mode="SINGLE_PERSON", ref_positions="0, 4, 8", ref_strength_high=0.8, ref_strength_low=0.2,
        end_frame_strength_high=1.0, end_frame_strength_low=0.7)
    mask = torch.ones(20)
    mask[:4], mask[-4:] = 0.0, 0.3
    assert torch.allclose(opts(low)["concat_mask"], folded(mask))
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(17, {0: 0.1, 16: 0.7})),
                          atol=1e-5)


def test_four_frame_positions_and_masks(ctx, vae):
    length = 21  # 6 latent frames, 24 mask frames
    aligned = [max(0, min(int(length * r) // 4 * 4, length - 1)) for r in (0.33, 0.67, (length - 1) / length)]
    i2, i3, i4 = aligned  # 4, 12, 20
    i2 = max(i2, 4) if i2 > 4 else 4
    i3 = i3 if i3 > i2 + 4 else i2 + 4
    i4 = i4 if i4 > i3 + 4 else i3 + 4
    assert (i2, i3, i4) == (4, 12, 20)
    high, low, neg, _ = node("WanFourFrameReferenceUltimate")(
        ctx, positive=COND, negative=COND, vae=vae, width=W, height=H, length=length, batch_size=1, mode="NORMAL",
        frame_1_image=frame(0.1), frame_2_image=frame(0.3), frame_3_image=frame(0.6), frame_4_image=frame(0.9),
        frame_2_ratio=0.33, frame_2_strength_high=0.5, frame_2_strength_low=0.25, enable_frame_2="enable",
        frame_3_ratio=0.67, frame_3_strength_high=0.5, frame_3_strength_low=0.0, enable_frame_3="enable")
    m_high, m_low = torch.ones(24), torch.ones(24)
    m_high[:4] = m_low[:4] = 0.0
    m_high[4:8], m_low[4:8] = 0.5, 0.75
    m_high[12:16], m_low[12:16] = 0.5, 1.0
    m_high[20:24] = m_low[20:24] = 0.0
    assert torch.allclose(opts(high)["concat_mask"], folded(m_high))
    assert torch.allclose(opts(low)["concat_mask"], folded(m_low))
    assert torch.allclose(opts(high)["concat_latent_image"],
                          encoded(ctx, vae, video(length, {0: 0.1, 4: 0.3, 12: 0.6, 20: 0.9})), atol=1e-5)
    assert torch.allclose(opts(low)["concat_latent_image"],
                          encoded(ctx, vae, video(length, {0: 0.1, 4: 0.3, 20: 0.9})), atol=1e-5)
    assert neg is COND


def _wan21_mean() -> torch.Tensor:
    from diffusers import AutoencoderKLWan

    return torch.tensor(inspect.signature(AutoencoderKLWan.__init__).parameters["latents_mean"].default)


def advanced(ctx, vae, **inputs):
    base = dict(positive=COND, negative=COND, vae=vae, width=W, height=H, length=17, batch_size=1, mode="NORMAL",
                middle_frame_ratio=0.5, video_frame_offset=0, long_video_mode="DISABLED", continue_frames_count=5,
                high_noise_start_strength=1.0, high_noise_mid_strength=0.8, low_noise_start_strength=1.0,
                low_noise_mid_strength=0.2, low_noise_end_strength=1.0, structural_repulsion_boost=1.0,
                enable_middle_frame=True)
    base.update(inputs)
    return node("WanAdvancedI2V")(ctx, **base)


def test_advanced_svi_continue_sets_latent_frames(ctx, vae):
    g = torch.Generator().manual_seed(0)
    prev = torch.randn(1, 16, 5, 4, 4, generator=g)
    clip = ClipVisionOutput(torch.ones(1, 3, 2))
    # the example workflow's values: continue 4 frames (one latent), start strength 1 high, 0 low
    high, low, neg, latent, trim_latent, trim_image, next_offset = advanced(
        ctx, vae, long_video_mode="SVI", continue_frames_count=4, start_image=frame(0.3),
        prev_latent={"samples": prev}, high_noise_mid_strength=0.0, low_noise_start_strength=0.0,
        low_noise_mid_strength=0.0, low_noise_end_strength=0.0, enable_middle_frame=False,
        clip_vision_start_image=clip)
    concat = opts(high)["concat_latent_image"]
    assert concat.shape == (1, 16, 5, 4, 4)
    assert torch.allclose(concat[:, :, :1], encoded(ctx, vae, frame(0.3)), atol=1e-5)
    assert torch.equal(concat[:, :, 1:2], prev[:, :, -1:])
    assert torch.allclose(concat[:, :, 2:], _wan21_mean().view(1, 16, 1, 1, 1).expand(1, 16, 3, 4, 4), atol=1e-6)
    m_high, m_low = torch.ones(1, 1, 5, 4, 4), torch.ones(1, 1, 5, 4, 4)
    m_high[:, :, 0] = 0.0  # 1 - high start strength 1; the low stage's start (strength 0) stays 1
    assert torch.equal(opts(high)["concat_mask"], m_high) and torch.equal(opts(low)["concat_mask"], m_low)
    assert opts(neg)["concat_mask"] is opts(high)["concat_mask"]
    assert opts(low)["clip_vision_output"] is clip and opts(neg)["clip_vision_output"] is clip
    assert "clip_vision_output" not in opts(high)
    assert (trim_latent, trim_image, next_offset) == (0, 0, 17)
    assert latent["samples"].shape == (1, 16, 5, 4, 4)


def test_advanced_svi_first_clip_with_middle_and_end(ctx, vae):
    high, low, *_ = advanced(ctx, vae, long_video_mode="SVI", continue_frames_count=9, start_image=frame(0.3),
                             middle_image=frame(0.5), end_image=frame(0.7), high_noise_start_strength=0.5,
                             low_noise_mid_strength=0.4, low_noise_end_strength=0.6)
    concat = opts(high)["concat_latent_image"]
    mid = max(4, min(int(17 * 0.5) // 4 * 4, 12)) // 4  # latent frame 2
    assert torch.allclose(concat[:, :, mid:mid + 1], encoded(ctx, vae, frame(0.5)), atol=1e-5)
    assert torch.allclose(concat[:, :, 4:5], encoded(ctx, vae, frame(0.7)), atol=1e-5)
    assert torch.allclose(concat[:, :, 1:2], _wan21_mean().view(1, 16, 1, 1, 1).expand(1, 16, 1, 4, 4), atol=1e-6)
    want_high = torch.tensor([0.5, 1.0, 0.2, 1.0, 0.0]).view(1, 1, 5, 1, 1).expand(1, 1, 5, 4, 4)
    want_low = torch.tensor([0.0, 1.0, 0.6, 1.0, 0.4]).view(1, 1, 5, 1, 1).expand(1, 1, 5, 4, 4)
    assert torch.allclose(opts(high)["concat_mask"], want_high)
    assert torch.allclose(opts(low)["concat_mask"], want_low)


def test_advanced_normal_triple_and_auto_continue(ctx, vae):
    high, low, neg, *_ = advanced(ctx, vae, start_image=frame(0.2), end_image=frame(0.8),
                                  high_noise_start_strength=0.9, low_noise_start_strength=0.5)
    m_high, m_low = torch.ones(20), torch.ones(20)
    m_high[:4], m_low[:4] = 0.1, 0.5
    m_high[-1:], m_low[-1:] = 0.0, 0.0
    assert torch.allclose(opts(high)["concat_mask"], folded(m_high))
    assert torch.allclose(opts(low)["concat_mask"], folded(m_low))
    assert torch.allclose(opts(neg)["concat_latent_image"], encoded(ctx, vae, video(17, {0: 0.2, 16: 0.8})),
                          atol=1e-5)
    motion = torch.cat([frame(v) for v in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)])
    high, low, neg, _, _, trim_image, next_offset = advanced(
        ctx, vae, long_video_mode="AUTO_CONTINUE", motion_frames=motion, continue_frames_count=5,
        video_frame_offset=20, end_image=frame(0.9), low_noise_end_strength=0.5)
    assert (trim_image, next_offset) == (5, 15 + 17)
    m_high, m_low = torch.ones(20), torch.ones(20)
    m_high[:8] = m_low[:8] = 0.0        # 5 motion frames: 2 latent frames kept whole
    m_high[-1:], m_low[-1:] = 0.0, 0.5
    assert torch.allclose(opts(high)["concat_mask"], folded(m_high))
    assert torch.allclose(opts(low)["concat_mask"], folded(m_low))
    want = video(17, {0: 0.2, 1: 0.3, 2: 0.4, 3: 0.5, 4: 0.6, 16: 0.9})
    assert torch.allclose(opts(high)["concat_latent_image"], encoded(ctx, vae, want), atol=1e-5)


@pytest.mark.parametrize("inputs,name", [
    ({"long_video_mode": "LATENT_CONTINUE"}, "long_video_mode"),
    ({"structural_repulsion_boost": 1.5, "end_image": frame(0.7)}, "structural_repulsion_boost"),
    ({"prev_latent": {"samples": torch.zeros(1, 16, 3, 2, 2)}, "long_video_mode": "SVI"}, "prev_latent"),
])
def test_advanced_refusals_name_the_input(ctx, vae, inputs, name):
    with pytest.raises(NodeInputError) as err:
        advanced(ctx, vae, start_image=frame(0.5), **inputs)
    assert err.value.input_name == name


def test_advanced_boost_is_ignored_where_the_pack_never_reads_it(ctx, vae):
    """The pack computes its spatial gradient after the SVI branch has returned, for more
    than 4 frames, between two of start/middle/end: elsewhere a boost changes nothing, so
    these run exactly as at 1.0 (set 13's Kenpechi SVI workflow feeds 1.2 to SVI nodes)."""
    prev = {"samples": torch.randn(1, 16, 5, 4, 4, generator=torch.Generator().manual_seed(2))}
    for inputs in (dict(long_video_mode="SVI", continue_frames_count=4, start_image=frame(0.3), prev_latent=prev),
                   dict(start_image=frame(0.3)),                        # one image: no pair
                   dict(start_image=frame(0.3), end_image=frame(0.7), length=1)):
        plain = advanced(ctx, vae, **inputs)
        boosted = advanced(ctx, vae, structural_repulsion_boost=1.2, **inputs)
        for a, b in zip(plain, boosted):
            if isinstance(a, list):
                assert torch.equal(opts(a)["concat_mask"], opts(b)["concat_mask"])
                assert torch.equal(opts(a)["concat_latent_image"], opts(b)["concat_latent_image"])
            elif isinstance(a, dict):
                assert torch.equal(a["samples"], b["samples"])
            else:
                assert a == b


def test_advanced_older_layouts_are_refused_by_date(tiny_models, vae):
    other = ExecContext(models=ModelRoots.from_options(tiny_models), saved_date="2025-11-28")
    with pytest.raises(NodeInputError) as err:
        advanced(other, vae, start_image=frame(0.5))
    assert err.value.input_name == "high_noise_start_strength"


# The layout of 2026-01-27 (ec6cac9): enable_start_frame / enable_end_frame false leave that
# image out of the video, latents, mask (kept 1), low zero-strength video and CLIP vision join,
# but SINGLE_PERSON's low video still takes the start; enable_middle_frame false now drops the
# middle CLIP vision too; SVI continuing scales the prev_latent motion latents by
# svi_motion_strength.

def test_advanced_newest_svi_switches_and_motion_strength(tiny_models, vae):
    newest = ExecContext(models=ModelRoots.from_options(tiny_models), saved_date="2026-01-27")
    prev = torch.randn(1, 16, 5, 4, 4, generator=torch.Generator().manual_seed(1))
    clips = [ClipVisionOutput(torch.full((1, 2, 2), v)) for v in (1.0, 2.0, 3.0)]
    high, low, neg, *_ = advanced(
        newest, vae, long_video_mode="SVI", continue_frames_count=8, start_image=frame(0.3), middle_image=frame(0.5),
        end_image=frame(0.7), prev_latent={"samples": prev}, enable_start_frame=False, enable_end_frame=False,
        svi_motion_strength=0.5, high_noise_start_strength=0.5, low_noise_mid_strength=0.4,
        clip_vision_start_image=clips[0], clip_vision_middle_image=clips[1], clip_vision_end_image=clips[2])
    concat = opts(high)["concat_latent_image"]
    mean = _wan21_mean().view(1, 16, 1, 1, 1).expand(1, 16, 1, 4, 4)
    assert torch.allclose(concat[:, :, :1], mean, atol=1e-6)              # start left out: the mean stays
    # (8 - 1) // 4 + 1 = 2 motion latents, halved, at latents 1 and 2
    assert torch.allclose(concat[:, :, 1:2], prev[:, :, -2:-1] * 0.5)
    assert torch.allclose(concat[:, :, 4:5], mean, atol=1e-6)             # end left out
    # the middle (frame 8, latent 2) is overwritten after the motion latents, as the pack orders it
    assert torch.allclose(concat[:, :, 2:3], encoded(newest, vae, frame(0.5)), atol=1e-5)
    want_high = torch.tensor([1.0, 1.0, 0.2, 1.0, 1.0]).view(1, 1, 5, 1, 1).expand(1, 1, 5, 4, 4)
    want_low = torch.tensor([1.0, 1.0, 0.6, 1.0, 1.0]).view(1, 1, 5, 1, 1).expand(1, 1, 5, 4, 4)
    assert torch.allclose(opts(high)["concat_mask"], want_high)
    assert torch.allclose(opts(low)["concat_mask"], want_low)
    assert torch.equal(opts(low)["clip_vision_output"].penultimate_hidden_states, clips[1].penultimate_hidden_states)
    # enable_middle_frame false: the middle CLIP vision is left out from this layout on, not before
    _, low, *_ = advanced(newest, vae, long_video_mode="SVI", start_image=frame(0.3), enable_middle_frame=False,
                          clip_vision_start_image=clips[0], clip_vision_middle_image=clips[1])
    assert opts(low)["clip_vision_output"] is clips[0]
    older = ExecContext(models=ModelRoots.from_options(tiny_models), saved_date="2026-01-02")
    _, low, *_ = advanced(older, vae, long_video_mode="SVI", start_image=frame(0.3), enable_middle_frame=False,
                          clip_vision_start_image=clips[0], clip_vision_middle_image=clips[1])
    assert torch.equal(opts(low)["clip_vision_output"].penultimate_hidden_states,
                       torch.cat([clips[0].penultimate_hidden_states, clips[1].penultimate_hidden_states], 1))


def test_advanced_svi_continue_without_start_anchors_zeros(ctx, vae):
    prev = torch.randn(1, 16, 5, 4, 4, generator=torch.Generator().manual_seed(2))
    high, *_ = advanced(ctx, vae, long_video_mode="SVI", continue_frames_count=4, prev_latent={"samples": prev})
    concat = opts(high)["concat_latent_image"]
    assert not concat[:, :, :1].any()                  # a zero anchor, not Wan 2.1's mean
    assert torch.equal(concat[:, :, 1:2], prev[:, :, -1:])
    assert torch.equal(opts(high)["concat_mask"][:, :, 0], torch.zeros(1, 1, 4, 4))  # 1 - high start strength 1


def test_advanced_newest_switches_in_the_grey_video(ctx, vae):
    common = dict(start_image=frame(0.2), middle_image=frame(0.5), end_image=frame(0.8), enable_start_frame=False,
                  enable_end_frame=False, low_noise_start_strength=0.5)
    high, low, *_ = advanced(ctx, vae, low_noise_end_strength=0.0, **common)
    m_high, m_low = torch.ones(20), torch.ones(20)
    m_high[8:12], m_low[8:12] = 0.2, 0.8              # only the middle frame's 4 mask frames
    assert torch.allclose(opts(high)["concat_mask"], folded(m_high))
    assert torch.allclose(opts(low)["concat_mask"], folded(m_low))
    assert torch.allclose(opts(high)["concat_latent_image"], encoded(ctx, vae, video(17, {8: 0.5})), atol=1e-5)
    # the low stage's zero-strength video leaves them out too
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(17, {8: 0.5})), atol=1e-5)
    _, low, *_ = advanced(ctx, vae, mode="SINGLE_PERSON", **common)   # its low video still takes the start
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(17, {0: 0.2})), atol=1e-5)


def test_frames_nodes_refuse_later_layouts_and_misplaced_frames(tiny_models, ctx, vae):
    later = ExecContext(models=ModelRoots.from_options(tiny_models), saved_date="2025-11-28")
    with pytest.raises(NodeInputError) as err:
        node("WanFirstMiddleLastFrameToVideo")(later, positive=COND, negative=COND, vae=vae, width=W, height=H,
                                               length=9, batch_size=1, start_image=frame(0.5))
    assert err.value.input_name == "structural_repulsion_boost"
    with pytest.raises(NodeInputError) as err:  # length 9: the fourth frame would go at frame 12
        node("WanFourFrameReferenceUltimate")(ctx, positive=COND, negative=COND, vae=vae, width=W, height=H,
                                              length=9, batch_size=1, frame_4_image=frame(0.5))
    assert err.value.input_name == "frame_4_image"


# --- WanAdvancedExtractLastFrames / -Images, WanMultiImageLoader -------------------------------------

def test_extract_last_frames_takes_the_latent_frames_of_the_last_images():
    latent = {"samples": torch.arange(2 * 3 * 6).float().reshape(2, 3, 6, 1, 1), "noise_mask": torch.ones(1)}
    # 9 images -> (9 - 1) // 4 + 1 = 3 latent frames; 1 -> 1; 6 -> 2
    for n, frames in ((9, 3), (1, 1), (6, 2), (81, 6)):
        (out,) = node("WanAdvancedExtractLastFrames")(ExecContext(), samples=latent, num_frames=n)
        assert set(out) == {"samples"}
        torch.testing.assert_close(out["samples"], latent["samples"][:, :, 6 - frames:])
    (empty,) = node("WanAdvancedExtractLastFrames")(ExecContext(), samples=latent, num_frames=0)
    assert empty["samples"].shape == (2, 3, 0, 1, 1)
    assert node("WanAdvancedExtractLastFrames")(ExecContext(), samples=latent)[0]["samples"].shape[2] == 3  # default 9


def test_extract_last_images_takes_the_last_images():
    images = torch.rand(5, 2, 2, 3)
    torch.testing.assert_close(node("WanAdvancedExtractLastImages")(ExecContext(), images=images, num_frames=2)[0],
                               images[3:])
    torch.testing.assert_close(node("WanAdvancedExtractLastImages")(ExecContext(), images=images)[0], images)  # 9 > 5
    assert node("WanAdvancedExtractLastImages")(ExecContext(), images=images, num_frames=0)[0].shape[0] == 0
    with pytest.raises(NodeInputError) as err:
        node("WanAdvancedExtractLastImages")(ExecContext(), images=images, num_frames=-1)
    assert err.value.input_name == "num_frames"


def test_multi_image_loader_reads_the_chosen_input_image(tmp_path):
    import json

    import numpy as np

    from PIL import Image

    folder = tmp_path / "input"
    (folder / "sub").mkdir(parents=True)
    pixels = np.zeros((3, 4, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 51)
    Image.fromarray(pixels).save(folder / "sub" / "a.png")
    Image.fromarray(np.full((2, 2, 3), 255, dtype=np.uint8)).save(folder / "b.png")
    ctx = ExecContext(input_dir=folder)
    data = json.dumps([{"name": "a.png", "subfolder": "sub", "type": "input"}, {"name": "b.png", "subfolder": ""}])
    (first,) = node("WanMultiImageLoader")(ctx, images_data=data)  # index 0 (the spec's default)
    assert first.shape == (1, 3, 4, 3)
    torch.testing.assert_close(first[0, 0, 0], torch.tensor([1.0, 0.0, 0.2]))
    (last,) = node("WanMultiImageLoader")(ctx, index=7, images_data=data)  # clamped to the last entry
    torch.testing.assert_close(last, torch.ones(1, 2, 2, 3))
    (blank,) = node("WanMultiImageLoader")(ctx, images_data="")
    torch.testing.assert_close(blank, torch.zeros(1, 64, 64, 3))
    for bad in ('[{"name": "a.png", "subfolder": "sub", "type": "output"}]', '[{"name": "../x.png"}]',
                '[{"name": "missing.png"}]', "not json"):
        with pytest.raises(NodeInputError) as err:
            node("WanMultiImageLoader")(ctx, images_data=bad)
        assert err.value.input_name == "images_data"


# --- WanSVIProAdvancedI2V -----------------------------------------------------------------------------

def svi_pro(ctx, vae, **inputs):
    return node("WanSVIProAdvancedI2V")(ctx, **{**dict(positive=COND, negative=COND, vae=vae, width=W, height=H,
                                                       length=17), **inputs})


def test_svi_pro_continue_worked_by_hand(ctx, vae):
    g = torch.Generator().manual_seed(1)
    prev = torch.randn(1, 16, 5, 4, 4, generator=g)
    clip = ClipVisionOutput(torch.ones(1, 3, 2))
    # overlap 8 -> 2 motion latents (prev frames 3, 4); boost 2: f0 = p3, f1 = p3 + 2 (p4 - p3); influence 0.5
    high, low, neg, latent, trim_latent, trim_image, next_offset = svi_pro(
        ctx, vae, overlap_frames=8, motion_boost=2.0, motion_influence=0.5, low_noise_start_strength=0.5,
        start_image=frame(0.3), middle_image=frame(0.5), end_image=frame(0.7), prev_latent={"samples": prev},
        clip_vision_start_image=clip, video_frame_offset=3)
    concat = opts(high)["concat_latent_image"]
    assert torch.allclose(concat[:, :, :1], encoded(ctx, vae, frame(0.3)), atol=1e-5)
    torch.testing.assert_close(concat[:, :, 1], prev[:, :, 3] * 0.5)
    torch.testing.assert_close(concat[:, :, 2], (prev[:, :, 3] + 2 * (prev[:, :, 4] - prev[:, :, 3])) * 0.5)
    # the middle (frame 8 -> latent 2) is pushed past the motion latents to 3; the end on 4
    assert torch.allclose(concat[:, :, 3:4], encoded(ctx, vae, frame(0.5)), atol=1e-5)
    assert torch.allclose(concat[:, :, 4:5], encoded(ctx, vae, frame(0.7)), atol=1e-5)
    # decay 0.9 - (1 - 0.5) 0.4 = 0.7; motion k=0: high 1 - 1 -> 0.05, low 1 - 0.5 * 0.7 = 0.65;
    # k=1: high 1 - 0.7 = 0.3, low 1 - 0.5 * 0.7 * 0.7 = 0.755; middle 1 - 0.8, 1 - 0.2; end 0, 1 - 1
    want_high = torch.tensor([0.0, 0.05, 0.3, 0.2, 0.0]).view(1, 1, 5, 1, 1).expand(1, 4, 5, 4, 4)
    want_low = torch.tensor([0.5, 0.65, 0.755, 0.8, 0.0]).view(1, 1, 5, 1, 1).expand(1, 4, 5, 4, 4)
    torch.testing.assert_close(opts(high)["concat_mask"], want_high)
    torch.testing.assert_close(opts(low)["concat_mask"], want_low)
    assert opts(neg)["concat_mask"] is opts(high)["concat_mask"]
    assert opts(low)["clip_vision_output"] is clip and "clip_vision_output" not in opts(high)
    assert (trim_latent, trim_image, next_offset) == (0, 0, 20)
    assert latent["samples"].shape == (1, 16, 5, 4, 4) and not latent["samples"].any()


def test_svi_pro_detail_boost_and_no_start_frame(ctx, vae):
    prev = torch.randn(1, 16, 6, 4, 4, generator=torch.Generator().manual_seed(2))
    # overlap 4 -> 1 latent; detail 2.5 -> min(int(2.5), 6) = 2; no start frame: motion from latent 0
    high, low, *_ = svi_pro(ctx, vae, detail_boost=2.5, enable_start_frame=False, start_image=frame(0.3),
                            prev_latent={"samples": prev})
    concat = opts(high)["concat_latent_image"]
    torch.testing.assert_close(concat[:, :, :2], prev[:, :, 4:])
    assert torch.allclose(concat[:, :, 2:], _wan21_mean().view(1, 16, 1, 1, 1).expand(1, 16, 3, 4, 4), atol=1e-6)
    # decay 0.7 - 1.5 * 0.2 = 0.4: high 0.05 then 1 - 0.4 = 0.6; low 1 - 0.7 = 0.3, then 1 - 0.28 = 0.72
    want_high = torch.tensor([0.05, 0.6, 1, 1, 1]).view(1, 1, 5, 1, 1).expand(1, 4, 5, 4, 4)
    want_low = torch.tensor([0.3, 0.72, 1, 1, 1]).view(1, 1, 5, 1, 1).expand(1, 4, 5, 4, 4)
    torch.testing.assert_close(opts(high)["concat_mask"], want_high)
    torch.testing.assert_close(opts(low)["concat_mask"], want_low)


def test_svi_pro_without_images_and_first_layout_refused(ctx, vae, tiny_models):
    clip = ClipVisionOutput(torch.ones(1, 3, 2))
    high, low, neg, *_ = svi_pro(ctx, vae, clip_vision_end_image=clip)
    assert low is high and "clip_vision_output" not in opts(high)
    assert torch.allclose(opts(high)["concat_latent_image"],
                          _wan21_mean().view(1, 16, 1, 1, 1).expand(1, 16, 5, 4, 4), atol=1e-6)
    assert torch.equal(opts(neg)["concat_mask"], torch.ones(1, 4, 5, 4, 4))
    with pytest.raises(NodeInputError) as err:
        svi_pro(ctx, vae, motion_amplification=1.5)
    assert err.value.input_name == "motion_amplification"
