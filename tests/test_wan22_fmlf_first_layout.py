"""WanAdvancedI2V saved with the pack's first layout (387155f, 2025-11-08 18:40): read from
the saved 16 widgets by the spec's first signature (migration keeps no slot for them), and
run as that commit computed it, restated here by hand from its code: motion frames from
``continue_frames`` with ``auto_continue``, per-frame weights in the masks, the legacy
``prev_latent`` overlap, the low stage's grey middle frame; the same day's second layout
(caf852e, 14 widgets) stays refused."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from tests.test_wan22_fmlf import COND, H, W, encoded, folded, frame, opts, video
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.types import ClipVisionOutput

# 387155f's widgets: width, height, length, batch_size, middle_frame_ratio, num_motion_frames,
# overlap_frames, video_frame_offset, auto_continue, continue_frames_count, high_noise_strength,
# low_noise_strength, start/middle/end_frame_weight, enable_middle_frame (the values of
# set 4's 006 file, at a small size)
FIRST_WIDGETS = [W, H, 17, 1, 0.5, 0, 1, 0, True, 1, 0, 0, 1, 0, 0, False]
# caf852e's: width, height, length, batch_size, mode, middle_frame_ratio, video_frame_offset,
# long_video_mode, continue_frames_count, high_noise_mid_strength, low_noise_start/mid/end_strength,
# enable_middle_frame
SECOND_WIDGETS = [W, H, 17, 1, "NORMAL", 0.5, 0, "DISABLED", 5, 0.8, 1.0, 0.2, 1.0, True]


@pytest.fixture(scope="module")
def vae(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def saved_ctx(tiny_models, widgets) -> ExecContext:
    workflow = {"nodes": [{"id": 7, "type": "WanAdvancedI2V", "widgets_values": widgets}]}
    return ExecContext(models=ModelRoots.from_options(tiny_models), node_id="7", saved_date="2025-11-08",
                       workflow_json=workflow)


def migrated_inputs(vae, **links):
    """What the node gets after in-memory migration: the newest layout's names (the shared
    ones from the saved values, the new ones at their defaults) and the links by name."""
    return dict(positive=COND, negative=COND, vae=vae, width=W, height=H, length=17, batch_size=1,
                middle_frame_ratio=0.5, video_frame_offset=0, continue_frames_count=1, enable_middle_frame=False,
                **links)


def test_saved_first_layout_continues_from_the_last_frame(tiny_models, vae):
    ctx = saved_ctx(tiny_models, FIRST_WIDGETS)
    continue_frames = torch.cat([frame(0.1), frame(0.2), frame(0.3)])
    high, low, neg, latent, trim_latent, trim_image, next_offset = node("WanAdvancedI2V")(
        ctx, **migrated_inputs(vae, start_image=frame(0.9), continue_frames=continue_frames))
    # auto_continue with a count of 1: the last frame is the one motion frame; the start
    # image is ignored beside motion frames; the offset (0) cannot go lower
    assert (trim_latent, trim_image, next_offset) == (0, 1, 17)
    mask = torch.ones(20)
    mask[:4] = 0.0  # the motion frame's latent frame, both stages
    assert torch.allclose(opts(high)["concat_mask"], folded(mask))
    assert torch.allclose(opts(low)["concat_mask"], folded(mask))
    want = encoded(ctx, vae, video(17, {0: 0.3}))
    assert torch.allclose(opts(high)["concat_latent_image"], want, atol=1e-5)
    assert opts(low)["concat_latent_image"] is opts(high)["concat_latent_image"]
    assert torch.allclose(opts(neg)["concat_mask"], folded(mask))
    assert latent["samples"].shape == (1, 16, 5, 4, 4) and not latent["samples"].any()


def test_first_layout_by_name_weights_overlap_and_grey_low_middle(tiny_models, vae):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    prev = torch.randn(1, 16, 5, 4, 4, generator=torch.Generator().manual_seed(2))
    clips = [ClipVisionOutput(torch.full((1, 2, 2), v)) for v in (1.0, 2.0)]
    high, low, neg, latent, _, trim_image, next_offset = node("WanAdvancedI2V")(
        ctx, positive=COND, negative=COND, vae=vae, width=W, height=H, length=17, batch_size=1,
        middle_frame_ratio=0.5, num_motion_frames=5, overlap_frames=5, video_frame_offset=3, auto_continue=False,
        continue_frames_count=5, high_noise_strength=0.75, low_noise_strength=0.0, start_frame_weight=0.5,
        middle_frame_weight=2.0, end_frame_weight=1.0, enable_middle_frame=True, start_image=frame(0.2),
        middle_image=frame(0.6), end_image=frame(0.8), prev_latent={"samples": prev},
        clip_vision_start_image=clips[0], clip_vision_end_image=clips[1])
    assert (trim_image, next_offset) == (0, 0)  # legacy mode: no offset chaining
    # (5 - 1) // 4 + 1 = 2 overlap latent frames from the end of prev_latent, in the LATENT
    assert torch.equal(latent["samples"][:, :, :2], prev[:, :, -2:]) and not latent["samples"][:, :, 2:].any()
    m_high, m_low = torch.ones(20), torch.ones(20)
    m_high[:4] = m_low[:4] = 0.5                     # 1 - start weight
    m_high[8:12], m_low[8:12] = 0.5, 2.0             # (1 - strength) * middle weight at frame 8
    m_high[16:] = m_low[16:] = 0.0                   # 1 - end weight over the last latent frame's slots
    m_high[:8] = m_low[:8] = 0.0                     # the overlap, set last
    assert torch.allclose(opts(high)["concat_mask"], folded(m_high))
    assert torch.allclose(opts(low)["concat_mask"], folded(m_low))
    assert torch.allclose(opts(high)["concat_latent_image"], encoded(ctx, vae, video(17, {0: 0.2, 8: 0.6, 16: 0.8})),
                          atol=1e-5)
    # low strength 0 with a middle frame: the low stage's video has it grey
    assert torch.allclose(opts(low)["concat_latent_image"], encoded(ctx, vae, video(17, {0: 0.2, 16: 0.8})),
                          atol=1e-5)
    joined = torch.cat([clips[0].penultimate_hidden_states, clips[1].penultimate_hidden_states], dim=-2)
    assert torch.equal(opts(low)["clip_vision_output"].penultimate_hidden_states, joined)
    assert torch.equal(opts(neg)["clip_vision_output"].penultimate_hidden_states, joined)
    assert "clip_vision_output" not in opts(high)


def test_the_same_days_second_layout_is_still_refused(tiny_models, vae):
    ctx = saved_ctx(tiny_models, SECOND_WIDGETS)
    with pytest.raises(NodeInputError) as err:
        node("WanAdvancedI2V")(ctx, **migrated_inputs(vae, start_image=frame(0.5)))
    assert err.value.input_name == "high_noise_start_strength"
