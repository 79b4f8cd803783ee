"""WanVideoIntegratedKSampler (luguoli/ComfyUI-Wan-Video-Integrated-KSampler) against the pack's
steps written out with wfrun's core nodes: prompts, SD3 shift, the two expert passes of one
schedule (noise added once, leftover noise handed on), decode; and its image conditioning
(the low-noise expert's 0.1 on the end frames) worked out slot by slot."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wan_integrated_ksampler.nodes import clip_vision_states, image_conditioning

W = H = 32


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def parts(ctx):
    (high,) = node("UNETLoader")(ctx, unet_name="wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors",
                                 weight_dtype="default")
    (low,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return high, low, clip, vae


def integrated(ctx, parts, **inputs):
    high, low, clip, vae = parts
    base = dict(model_high_noise=high, model_low_noise=low, clip=clip, vae=vae, positive_prompt="a cat",
                negative_prompt="blur", batch_size=1, length=5, width=W, height=H, steps_high_noise=1,
                cfg_high_noise=2.0, steps_low_noise=1, cfg_low_noise=1.0, noise_seed=7, sampler_name="euler",
                scheduler="simple", sd3_shift=5.0)
    return node("WanVideoIntegratedKSampler")(ctx, **{**base, **inputs})


def by_hand(ctx, parts, width, height, steps_high, steps_low, shift=5.0):
    """The pack's text-to-video path, node by node."""
    high, low, clip, vae = parts
    (pos,) = node("CLIPTextEncode")(ctx, text="a cat", clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text="blur", clip=clip)
    (high,) = node("ModelSamplingSD3")(ctx, model=high, shift=shift)
    (low,) = node("ModelSamplingSD3")(ctx, model=low, shift=shift)
    latent = {"samples": torch.zeros(1, 16, 2, height // 8, width // 8)}
    total = steps_high + steps_low
    if steps_high:
        (latent,) = node("KSamplerAdvanced")(ctx, model=high, add_noise="enable", noise_seed=7, steps=total, cfg=2.0,
                                             sampler_name="euler", scheduler="simple", positive=pos, negative=neg,
                                             latent_image=latent, start_at_step=0, end_at_step=steps_high,
                                             return_with_leftover_noise="enable")
    (latent,) = node("KSamplerAdvanced")(ctx, model=low, add_noise="disable", noise_seed=7, steps=total, cfg=1.0,
                                         sampler_name="euler", scheduler="simple", positive=pos, negative=neg,
                                         latent_image=latent, start_at_step=steps_high, end_at_step=total,
                                         return_with_leftover_noise="disable")
    (images,) = node("VAEDecode")(ctx, samples=latent, vae=parts[3])
    return images, latent


@torch.no_grad()
def test_text_to_video_is_the_two_expert_passes(ctx, parts):
    images, last, latent = integrated(ctx, parts, width=30, height=20)  # rounded up to 32 x 24
    want_images, want_latent = by_hand(ctx, parts, 32, 24, 1, 1)
    assert latent["samples"].shape == (1, 16, 2, 3, 4)
    torch.testing.assert_close(latent["samples"], want_latent["samples"])
    torch.testing.assert_close(images, want_images)
    torch.testing.assert_close(last, images[-1:])


@torch.no_grad()
def test_a_phase_without_steps_is_skipped(ctx, parts):
    _, _, latent = integrated(ctx, parts, steps_high_noise=0, steps_low_noise=2)
    _, want = by_hand(ctx, parts, W, H, 0, 2)
    torch.testing.assert_close(latent["samples"], want["samples"])


def test_refusals(ctx, parts):
    with pytest.raises(NodeInputError, match="both 0"):
        integrated(ctx, parts, steps_high_noise=0, steps_low_noise=0)
    with pytest.raises(NodeInputError, match="end image without a start image"):
        integrated(ctx, parts, end_image=torch.rand(1, H, W, 3))


@torch.no_grad()
def test_image_conditioning_slot_by_slot(ctx, parts):
    vae = parts[3]
    g = torch.Generator().manual_seed(2)
    # 8-bit values at the output size: the lanczos crop leaves them as they are
    start = torch.randint(0, 256, (1, H, W, 3), generator=g).float() / 255
    end = torch.randint(0, 256, (1, H, W, 3), generator=g).float() / 255
    high, low, latent = image_conditioning(ctx, vae, start, end, W, H, 9, 2)
    assert latent.shape == (2, 16, 3, H // 8, W // 8) and not latent.any()
    video = torch.full((9, H, W, 3), 0.5)
    video[0], video[-1] = start[0], end[0]
    (encoded,) = node("VAEEncode")(ctx, pixels=video, vae=vae)
    torch.testing.assert_close(high["concat_latent_image"], encoded["samples"])
    torch.testing.assert_close(low["concat_latent_image"], encoded["samples"])
    # 12 mask slots over 3 latent frames (slot 4t + k is channel k of frame t): the start
    # frame and the 3 slots after it 0, the last slot the end frame: 0 high, 0.1 low
    for values, end_value in ((high, 0.0), (low, 0.1)):
        mask = values["concat_mask"]
        assert mask.shape == (1, 4, 3, H // 8, W // 8)
        slots = [float(mask[0, k, t, 0, 0]) for t in range(3) for k in range(4)]
        assert slots == pytest.approx([0.0] * 4 + [1.0] * 7 + [end_value])
        assert torch.equal(mask, mask[..., :1, :1].expand_as(mask))


@torch.no_grad()
def test_clip_vision_states_of_start_and_end_are_joined(ctx):
    (cv,) = node("CLIPVisionLoader")(ctx, clip_name="clip_vision_h_tiny.safetensors")
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(1, H, W, 3, generator=g), torch.rand(1, H, W, 3, generator=g)
    joined = clip_vision_states(ctx, cv, [a, b])
    (oa,) = node("CLIPVisionEncode")(ctx, clip_vision=cv, image=a, crop="none")
    (ob,) = node("CLIPVisionEncode")(ctx, clip_vision=cv, image=b, crop="none")
    torch.testing.assert_close(joined.penultimate_hidden_states,
                               torch.cat([oa.penultimate_hidden_states, ob.penultimate_hidden_states], dim=-2))
