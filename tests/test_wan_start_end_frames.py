"""ComfyUI-WanVideoStartEndFrames (raindrop313, 2025-03): the fork's start/end conditioning,
sampler and decode, against the fork's formulas written out and against the wrapper's
end-frame path where the computation is the same."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node
from wfrun.engine.progress import QuietProgress
from wfrun.media.image import common_upscale
from wfrun.models.paths import ModelRoots
from wfrun.models.vae_codec import decode_raw, latent_stats
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wan_start_end_frames.decode import splice_ends, tiled_decode, tiles
from wfrun.packs.wan_start_end_frames.encode import fork_geometry, fork_mask
from wfrun.sampling.conditioning import TextEmbeds

CLIP = "open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors"


@pytest.fixture(scope="module")
def ctx(tiny_models):
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    return node("WanVideoVAELoader_2frames")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]


@pytest.fixture(scope="module")
def clip(ctx):
    return node("LoadWanVideoClipTextEncoder_2frames")(ctx, model_name=CLIP, precision="fp32")[0]


def image(h: int = 64, w: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(seed))


def encode(ctx, vae, clip, **kw):
    inputs = dict(clip_vision=clip, vae=vae, start=image(seed=1), end=image(seed=2), generation_width=96,
                  generation_height=64, num_frames=9, adjust_resolution=False, force_offload=False)
    inputs.update(kw)
    return node("WanVideoStartEndImageClipEncode_2frames")(ctx, **inputs)[0]


@pytest.mark.parametrize("start_hw, end_hw, size", [((480, 640), (480, 640), (832, 480)),
                                                    ((720, 1280), (300, 500), (832, 480)),
                                                    ((1000, 700), (64, 64), (640, 640))])
def test_adjusted_size_is_the_official_rule_on_start_height_over_end_width(start_hw, end_hw, size):
    width, height = size
    ratio = start_hw[0] / end_hw[1]  # the fork reads H from start and W from end
    lat_h = math.floor(math.floor(math.sqrt(width * height * ratio) / 8) / 2) * 2
    lat_w = math.floor(math.floor(math.sqrt(width * height / ratio) / 8) / 2) * 2
    assert fork_geometry(start_hw[0], end_hw[1], width, height, True) == (lat_h * 8, lat_w * 8, lat_h, lat_w)
    assert fork_geometry(start_hw[0], end_hw[1], width, height, False) == (height, width, height // 8, width // 8)


@pytest.mark.parametrize("num_frames", [1, 9, 81])
def test_mask_marks_the_first_and_the_end_latent_in_all_four_channels(num_frames):
    mask = fork_mask(num_frames, 3, 5)
    frames = (num_frames - 1) // 4 + 2
    expected = torch.zeros(4, frames, 3, 5)
    expected[:, 0] = expected[:, -1] = 1
    torch.testing.assert_close(mask, expected, rtol=0, atol=0)


def test_unit_strengths_equal_the_wrappers_end_frame_mode(ctx, vae, clip):
    ours = encode(ctx, vae, clip)
    wrapper = node("WanVideoImageToVideoEncode")(ctx, vae=vae, width=96, height=64, num_frames=9,
                                                 start_image=image(seed=1), end_image=image(seed=2),
                                                 fun_or_fl2v_model=False, force_offload=False)[0]
    assert ours.image_embeds.shape == (20, 4, 8, 12)  # mask 4 + latents 16; (9-1)/4 + 2 latent frames
    torch.testing.assert_close(ours.image_embeds, wrapper.image_embeds, rtol=1e-5, atol=1e-5)
    assert (ours.lat_h, ours.lat_w, ours.max_seq_len, ours.num_frames) == \
        (wrapper.lat_h, wrapper.lat_w, wrapper.max_seq_len, wrapper.num_frames)
    assert ours.end_image is not None and not ours.fun_or_fl2v_model
    # CLIP sees the start image only, as WanVideoClipVisionEncode with a centre crop would
    start_only = node("WanVideoClipVisionEncode")(ctx, clip_vision=clip, image_1=image(seed=1), crop="center",
                                                  force_offload=False)[0].clip_embeds
    torch.testing.assert_close(ours.clip_context, start_only)
    doubled = encode(ctx, vae, clip, clip_embed_strength=2.0)
    torch.testing.assert_close(doubled.clip_context, 2 * start_only)


def test_a_comfyui_loaded_clip_gives_its_last_hidden_state_as_the_fork_takes_it(ctx, vae, clip):
    import dataclasses

    from wfrun.models.clip_vision_encode import last_hidden, penultimate

    comfy = dataclasses.replace(clip, comfy_loader=True)
    ours = encode(ctx, vae, comfy).clip_context
    want = last_hidden(comfy, image(seed=1), "cpu", True)
    torch.testing.assert_close(ours, want)
    assert not torch.allclose(want, penultimate(clip, image(seed=1), "cpu", True))


def test_latent_strength_scales_pixels_before_the_vae(ctx, vae, clip):
    # latent_strength 0 makes every frame 0 in -1..1 (mid grey) before encoding: the fork's
    # latents are those of a grey video (first 9 frames causally, the end frame alone), not zeros
    ours = encode(ctx, vae, clip, latent_strength=0.0).image_embeds[4:]
    grey = lambda n: torch.full((n, 64, 96, 3), 0.5)  # noqa: E731
    head = node("WanVideoEncode")(ctx, vae=vae, image=grey(9), enable_vae_tiling=False)[0]["samples"][0]
    tail = node("WanVideoEncode")(ctx, vae=vae, image=grey(1), enable_vae_tiling=False)[0]["samples"][0]
    torch.testing.assert_close(ours, torch.cat([head, tail], dim=1), rtol=1e-4, atol=1e-4)
    assert ours.abs().max() > 0


def test_frame_weights_scale_the_images_in_pixel_space(ctx, vae, clip):
    # start weight 0 multiplies the start frame to 0 in -1..1 before the VAE: which start
    # image was given no longer matters to the latents (CLIP still sees it)
    one = encode(ctx, vae, clip, start_frame_weight=0.0)
    other = encode(ctx, vae, clip, start_frame_weight=0.0, start=image(seed=9))
    torch.testing.assert_close(one.image_embeds, other.image_embeds, rtol=0, atol=0)
    assert not torch.equal(one.clip_context, other.clip_context)
    plain = encode(ctx, vae, clip).image_embeds
    assert not torch.allclose(one.image_embeds[4:, 0], plain[4:, 0])
    torch.testing.assert_close(one.image_embeds[4:, -1], plain[4:, -1], rtol=0, atol=0)  # the end frame alone


def test_encode_refuses_what_the_fork_cannot_run(ctx, vae, clip):
    with pytest.raises(NodeInputError) as err:
        encode(ctx, vae, clip, num_frames=10)
    assert err.value.input_name == "num_frames"
    with pytest.raises(NodeInputError) as err:
        encode(ctx, vae, clip, start=torch.rand(2, 64, 96, 3))
    assert err.value.input_name == "start"


def test_tiles_follow_diffsynths_rule():
    assert tiles(60, 272, 144) == [0]
    assert tiles(5, 3, 2) == [0, 2]  # 4 is skipped: the tile at 2 already reaches the end
    assert tiles(7, 3, 2) == [0, 2, 4]


def fake_decode(z: torch.Tensor) -> torch.Tensor:
    """A pointwise stand-in for the VAE decoder: 8x nearest in space, frame 0 once and every
    later latent four times (4T - 3 frames)."""
    x = z[:, :3].repeat_interleave(8, dim=-1).repeat_interleave(8, dim=-2)
    return torch.cat([x[:, :, :1], x[:, :, 1:].repeat_interleave(4, dim=2)], dim=2)


def test_tiled_blend_of_a_pointwise_decoder_is_the_whole_decode():
    z = torch.randn(1, 16, 3, 7, 5, generator=torch.Generator().manual_seed(0)) * 0.5
    whole = fake_decode(z).clamp(-1, 1)
    torch.testing.assert_close(tiled_decode(fake_decode, z, (3, 3), (2, 2)), whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(tiled_decode(fake_decode, z, (272, 272), (144, 128)), whole, rtol=0, atol=0)


def test_splice_puts_start_first_and_end_in_place_of_the_last_four_frames():
    video = torch.rand(3, 13, 16, 24)
    start, end = image(16, 24, seed=5), image(32, 48, seed=6)
    out = splice_ends(video, start, end)
    assert out.shape == (3, 10, 16, 24)
    torch.testing.assert_close(out[:, 1:-1], video[:, 1:-4], rtol=0, atol=0)
    torch.testing.assert_close(out[:, -1], common_upscale(end.movedim(-1, 1), 24, 16, "lanczos")[0])


def test_decode_is_the_whole_causal_decode_min_max_normalised(ctx, vae):
    z = torch.randn(1, 16, 3, 8, 12, generator=torch.Generator().manual_seed(4))
    start, end = image(seed=7), image(seed=8)
    out = node("WanVideoStartEndDecode_2frames")(ctx, vae=vae, samples={"samples": z}, start=start, end=end)[0]
    mean, std = latent_stats(vae.vae, z)
    raw = decode_raw(vae.vae, vae.dtype, z * std + mean, "cpu")[0]  # all 3 latents in one run: 9 frames
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    assert out.shape == (9 - 5 + 2, 64, 96, 3)
    torch.testing.assert_close(out[1:-1], expected[:, 1:-4].permute(1, 2, 3, 0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[0], common_upscale(start.movedim(-1, 1), 96, 64, "lanczos")[0].permute(1, 2, 0))
    with pytest.raises(NodeInputError) as err:
        node("WanVideoStartEndDecode_2frames")(ctx, vae=vae, samples={"samples": z}, start=start, end=end,
                                               enable_vae_tiling=False)
    assert err.value.input_name == "enable_vae_tiling"


def test_sampler_is_the_wrappers_march_sampler_on_the_forks_embeds(ctx, vae, clip):
    model = node("WanVideoModelLoader_2frames")(ctx, model="Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors",
                                                base_precision="fp32", load_device="main_device")[0]
    embeds = encode(ctx, vae, clip)
    g = torch.Generator().manual_seed(3)
    dim = int(model.transformer.config.text_dim)
    text = TextEmbeds(prompt_embeds=(torch.randn(7, dim, generator=g),), negative_prompt_embeds=(torch.randn(5, dim, generator=g),))
    progress = QuietProgress()
    common = dict(model=model, text_embeds=text, image_embeds=embeds, steps=4, cfg=3.0, shift=5.0, seed=11,
                  scheduler="unipc", force_offload=False, denoise_strength=0.5)
    (ours,) = node("WanVideoStartEndSampler_2frames")(ExecContext(progress=progress), **common)
    wrapper, _ = node("WanVideoSampler")(ExecContext(saved_date="2025-03-19"), **common)
    assert ours["samples"].shape == (1, 16, (9 - 1) // 4 + 2, 8, 12)
    torch.testing.assert_close(ours["samples"], wrapper["samples"], rtol=0, atol=0)
    assert progress.step_counts == [5]  # March rules: int(4/0.5) = 8 scheduled, the last int(8*0.5)+1 run
    with pytest.raises(NodeInputError) as err:
        node("WanVideoStartEndSampler_2frames")(ctx, **common, context_options=object())
    assert err.value.input_name == "context_options"


def test_the_forks_teacache_input_takes_the_wrappers_renamed_output():
    from wfrun.graph.types import compatible

    assert compatible("CACHEARGS", "TEACACHEARGS") and compatible("TEACACHEARGS", "CACHEARGS")
    assert not compatible("CACHEARGS", "FETAARGS")
