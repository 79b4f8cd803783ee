"""The wrapper's Wan-Move, Time-to-Move, Stand-In and early image-encode nodes, against the
pack's rules written out by hand here: WanVideoAddWanMoveTracks (latent cells of the tracks,
the cond pass's moved conditioning, the uncond pass's unmoved one), WanVideoWanDrawWanMoveTracks
(Wan-Move's discs and fading tails), WanVideoAddTTMLatents (mask on the latent grid, the
reference held inside it step by step), WanVideoAddStandInLatent (refused by the sampler by
name) and WanVideoImageClipEncode (official size rule, CLIP states by loader, VAE input)."""

from __future__ import annotations

import dataclasses

import json
import math
from pathlib import Path

import pytest
import torch
from diffusers import WanTransformer3DModel

from node_helpers import node
from wfrun.models.clip_vision_encode import clip_preprocess
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ImageEmbeds, TextEmbeds
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.sampling.schedulers import build_schedule

CTX = ExecContext()


def _i2v():
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=36,
                                 out_channels=16, text_dim=24, freq_dim=16, ffn_dim=48, num_layers=1,
                                 cross_attn_norm=True, image_dim=20, added_kv_proj_dim=32).eval()


def _embeds(seed=1):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(20, 3, 4, 4, generator=g)
    return ImageEmbeds(num_frames=9, image_embeds=y, lat_h=4, lat_w=4, clip_context=torch.randn(257, 20, generator=g))


def _text():
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=(torch.randn(7, 24, generator=g),), negative_prompt_embeds=(torch.randn(5, 24,
                                                                                                         generator=g),))


def _moving_track():
    # 9 frames at y=12; x = 4 + 2f: frames 0, 4, 8 are at x 4, 12, 20 -> cells (1,0), (1,1), (1,2)
    return [{"x": 4 + 2 * f, "y": 12} for f in range(9)]


class _Spy:
    """Replaces the transformer call: records each call's input and returns ``out(x)``."""

    def __init__(self, out=None):
        self.inputs = []
        self.out = out

    def __enter__(self):
        self.orig = sample.__globals__["transformer_forward"]

        def spy(transformer, x, *a, **k):
            self.inputs.append(x[0].clone())
            if self.out is None:
                return self.orig(transformer, x, *a, **k)
            return self.out(x), None
        sample.__globals__["transformer_forward"] = spy
        return self

    def __exit__(self, *exc):
        sample.__globals__["transformer_forward"] = self.orig


# --- Wan-Move -------------------------------------------------------------------------------

def test_wanmove_node_places_each_track_on_its_latent_cell_per_latent_frame():
    emb = _embeds()
    out, tracks = node("WanVideoAddWanMoveTracks")(CTX, image_embeds=emb, strength=0.5,
                                                   track_coords=json.dumps(_moving_track()))
    assert out.wanmove.strength == 0.5 and emb.wanmove is None
    assert out.wanmove.positions.tolist() == [[[1, 0], [1, 1], [1, 2]]]
    assert tracks["track_path"].shape == (9, 1, 2) and bool(tracks["track_visibility"].all())
    # a track mask hides frame 4 (the second latent frame): that cell is not placed
    mask = torch.ones(9, 8, 8)
    mask[4] = 0
    out, tracks = node("WanVideoAddWanMoveTracks")(CTX, image_embeds=emb, strength=1.0, track_mask=mask,
                                                   track_coords=json.dumps(_moving_track()))
    assert out.wanmove.positions.tolist() == [[[1, 0], [-1, -1], [1, 2]]]
    assert tracks["track_visibility"].shape == (9, 1)
    # a TRACKS dict (cut to the embeds' 9 frames), its own visibility
    path = torch.tensor([[[4.0 + 2 * f, 28.0]] for f in range(13)])
    out, tracks = node("WanVideoAddWanMoveTracks")(CTX, image_embeds=emb, strength=1.0,
                                                   tracks={"track_path": path,
                                                           "track_visibility": torch.ones(13, 1, dtype=torch.bool)})
    assert out.wanmove.positions.tolist() == [[[3, 0], [3, 1], [3, 2]]] and tracks["track_path"].shape[0] == 9
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAddWanMoveTracks")(CTX, image_embeds=emb, strength=1.0)
    assert err.value.input_name == "track_coords"


@torch.no_grad()
def test_sampler_moves_the_cond_conditioning_and_keeps_the_uncond_one():
    tr = _i2v()
    emb = _embeds()
    y = emb.image_embeds
    moved_embeds, _ = node("WanVideoAddWanMoveTracks")(CTX, image_embeds=emb, strength=0.25,
                                                       track_coords=json.dumps(_moving_track()))
    req = SamplingRequest(transformer=tr, image_embeds=moved_embeds, text_embeds=_text(), steps=2, cfg=3.0, shift=5.0,
                          seed=1, scheduler="euler")
    with _Spy() as spy:
        sample(req)
    want = y.clone()
    src = y[4:, 0, 1, 0]  # the start cell's latent features; mask channels stay
    for t, col in ((1, 1), (2, 2)):
        want[4:, t, 1, col] = y[4:, t, 1, col] + (src - y[4:, t, 1, col]) * 0.25
    assert not torch.equal(want, y)
    conds = [x[16:] for x in spy.inputs]
    assert len(conds) == 4  # two steps, cond then uncond
    torch.testing.assert_close(conds[0], want, rtol=0, atol=1e-6)
    torch.testing.assert_close(conds[2], want, rtol=0, atol=1e-6)
    assert torch.equal(conds[1], y) and torch.equal(conds[3], y)


def test_sampler_refuses_wanmove_in_context_windows_and_without_image_embeds():
    from wfrun.packs.wanvideo.types import ContextOptions, SamplerOptions

    tr = _i2v()
    moved, _ = node("WanVideoAddWanMoveTracks")(CTX, image_embeds=_embeds(), strength=1.0,
                                                track_coords=json.dumps(_moving_track()))
    req = SamplingRequest(transformer=tr, image_embeds=moved, text_embeds=_text(), steps=1, cfg=1.0, shift=5.0, seed=1,
                          scheduler="euler", options=SamplerOptions(context=ContextOptions()))
    with pytest.raises(SamplingError) as err:
        sample(req)
    assert err.value.input_name == "context_options"


def test_draw_puts_a_half_opaque_disc_in_the_first_colour():
    images = torch.zeros(1, 40, 40, 3)
    tracks = {"track_path": torch.tensor([[[20.0, 20.0]]]), "track_visibility": torch.ones(1, 1, dtype=torch.bool)}
    (out,) = node("WanVideoWanDrawWanMoveTracks")(CTX, images=images, tracks=tracks, line_resolution=24,
                                                  circle_size=2, opacity=0.5, line_width=14)
    # alpha int(255*0.5) = 127 over black: colour*127/255, truncated to 8 bits
    want = [math.floor(c * 127 / 255) / 255 for c in (102, 153, 255)]
    torch.testing.assert_close(out[0, 20, 20], torch.tensor(want), rtol=0, atol=1e-6)
    assert float(out[0, 20, 30].abs().max()) == 0.0 and float(out[0, 5, 5].abs().max()) == 0.0
    # no tracks: the images come back unchanged
    (same,) = node("WanVideoWanDrawWanMoveTracks")(CTX, images=images + 0.5, tracks={}, line_resolution=24,
                                                   circle_size=2, opacity=0.5, line_width=14)
    assert torch.equal(same, images + 0.5)


def test_draw_tail_fades_from_the_newest_point_and_hidden_points_get_no_disc():
    images = torch.zeros(1, 40, 60, 3)
    path = torch.tensor([[[10.0, 20.0]], [[40.0, 20.0]]])
    vis = torch.ones(2, 1, dtype=torch.bool)
    (out,) = node("WanVideoWanDrawWanMoveTracks")(CTX, images=images, tracks={"track_path": path,
                                                                               "track_visibility": vis},
                                                  line_resolution=24, circle_size=2, opacity=1.0, line_width=6)
    assert out.shape == (2, 40, 60, 3)  # one image repeated for the 2 track frames
    frame = out[1]
    near, mid, far = (float(frame[20, x].sum()) for x in (34, 25, 14))
    assert near > mid > far > 0.0  # the tail fades toward the old point
    assert float(frame[20, 5].sum()) == 0.0  # nothing behind the oldest point
    vis[1] = False
    (hidden,) = node("WanVideoWanDrawWanMoveTracks")(CTX, images=images, tracks={"track_path": path,
                                                                                  "track_visibility": vis},
                                                     line_resolution=24, circle_size=2, opacity=1.0, line_width=6)
    assert float(hidden[1].abs().max()) == 0.0


# --- Time-to-Move -------------------------------------------------------------------------

def test_ttm_node_keeps_every_4th_mask_frame_at_latent_size():
    mask = torch.zeros(9, 32, 32)
    mask[4, 8:16, 16:32] = 1  # pixel frame 4 = latent frame 1; rows 8..15 = latent row 1, cols 16..31 = 2, 3
    mask[5] = 1  # not a kept frame
    ref = torch.randn(1, 16, 3, 4, 4)
    (out,) = node("WanVideoAddTTMLatents")(CTX, embeds=_embeds(), reference_latents={"samples": ref}, mask=mask,
                                           start_step=1, end_step=3)
    want = torch.zeros(1, 3, 4, 4)
    want[0, 1, 1, 2:4] = 1
    assert torch.equal(out.ttm.mask, want)
    assert torch.equal(out.ttm.reference, ref[0]) and (out.ttm.start_step, out.ttm.end_step) == (1, 3)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAddTTMLatents")(CTX, embeds=_embeds(), reference_latents={"samples": ref}, mask=mask,
                                      start_step=3, end_step=2)
    assert err.value.input_name == "end_step"


@torch.no_grad()
def test_sampler_starts_from_the_noised_reference_and_holds_it_inside_the_mask():
    tr = _i2v()
    g = torch.Generator().manual_seed(7)
    ref = torch.randn(16, 3, 4, 4, generator=g)
    mask = torch.zeros(9, 32, 32)
    mask[::4, :16] = 1  # the top half of every latent frame
    (emb,) = node("WanVideoAddTTMLatents")(CTX, embeds=_embeds(), reference_latents={"samples": ref[None]},
                                           mask=mask, start_step=1, end_step=3)
    req = SamplingRequest(transformer=tr, image_embeds=emb, text_embeds=_text(), steps=4, cfg=1.0, shift=5.0, seed=5,
                          scheduler="euler")
    # a model predicting zero velocity: euler leaves the latents alone, so only TTM moves them
    with _Spy(out=lambda x: torch.zeros_like(x[:, :16])) as spy:
        out = sample(req)
    timesteps = build_schedule("euler", 4, 5.0).timesteps
    noise = torch.randn(16, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    m = torch.zeros(1, 3, 4, 4)
    m[:, :, :2] = 1

    def noised(t):
        s = float(t) / 1000
        return (1 - s) * ref + s * noise

    seen = [x[:16] for x in spy.inputs]
    assert len(seen) == 3  # steps 1, 2, 3 of 4: the first is skipped
    want = noised(timesteps[1])  # the whole video starts as the reference at the first walked timestep
    torch.testing.assert_close(seen[0], want, rtol=0, atol=1e-5)
    want = want * (1 - m) + noised(timesteps[2]) * m  # after step 1 (< end 3)
    torch.testing.assert_close(seen[1], want, rtol=0, atol=1e-5)
    want = want * (1 - m) + noised(timesteps[3]) * m  # after step 2
    torch.testing.assert_close(seen[2], want, rtol=0, atol=1e-5)
    torch.testing.assert_close(out["samples"][0], want, rtol=0, atol=1e-5)  # step 3: the window is over


def test_ttm_start_past_the_steps_is_refused():
    ref = torch.zeros(1, 16, 3, 4, 4)
    (emb,) = node("WanVideoAddTTMLatents")(CTX, embeds=_embeds(), reference_latents={"samples": ref},
                                           mask=torch.ones(9, 32, 32), start_step=9, end_step=10)
    req = SamplingRequest(transformer=_i2v(), image_embeds=emb, text_embeds=_text(), steps=4, cfg=1.0, shift=5.0,
                          seed=5, scheduler="euler")
    with pytest.raises(SamplingError) as err:
        sample(req)
    assert "beyond" in str(err.value)
    # a window starting right at the sampler's end: an error naming it, not an index fault
    (emb,) = node("WanVideoAddTTMLatents")(CTX, embeds=_embeds(), reference_latents={"samples": ref},
                                           mask=torch.ones(9, 32, 32), start_step=4, end_step=6)
    with pytest.raises(SamplingError, match="the sampler's end"):
        sample(dataclasses.replace(req, image_embeds=emb))


# --- Stand-In -------------------------------------------------------------------------------

def test_standin_node_stores_the_reference_and_the_sampler_refuses_it_by_name():
    latent = torch.randn(1, 16, 1, 4, 4)
    (emb,) = node("WanVideoAddStandInLatent")(CTX, embeds=_embeds(), ip_image_latent={"samples": latent},
                                              freq_offset=2)
    assert torch.equal(emb.standin.ip_image_latent, latent) and emb.standin.freq_offset == 2
    req = SamplingRequest(transformer=_i2v(), image_embeds=emb, text_embeds=_text(), steps=1, cfg=1.0, shift=5.0,
                          seed=5, scheduler="euler")
    with pytest.raises(SamplingError) as err:
        sample(req)
    assert err.value.input_name == "image_embeds" and "Stand-In" in str(err.value)


# --- WanVideoImageClipEncode ----------------------------------------------------------------

@pytest.fixture(scope="module")
def models_ctx(tiny_models):
    return ExecContext(models=ModelRoots.from_options(tiny_models))


def test_image_clip_encode_size_clip_states_and_latents(models_ctx):
    ctx = models_ctx
    vae = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]
    comfy_clip = node("CLIPVisionLoader")(ctx, clip_name="clip_vision_h_tiny.safetensors")[0]
    image = torch.rand(1, 30, 60, 3, generator=torch.Generator().manual_seed(2))
    common = dict(image=image, vae=vae, num_frames=9, force_offload=False, noise_aug_strength=0.0,
                  latent_strength=1.0, clip_embed_strength=2.0)
    (emb,) = node("WanVideoImageClipEncode")(ctx, clip_vision=comfy_clip, generation_width=64, generation_height=64,
                                             adjust_resolution=True, **common)
    # area 4096, aspect 1/2: sqrt(2048) = 45.25 -> //8 = 5 -> //2*2 = 4; sqrt(8192) = 90.5 -> 11 -> 10
    assert (emb.lat_h, emb.lat_w) == (4, 10) and emb.image_embeds.shape == (20, 3, 4, 10)
    assert emb.max_seq_len == 3 * 4 * 10 // 4 and emb.num_frames == 9
    want_mask = torch.zeros(4, 3, 4, 10)
    want_mask[:, 0] = 1
    assert torch.equal(emb.image_embeds[:4], want_mask)
    # ComfyUI's CLIPVisionLoader: last_hidden_state (the last block's output), times the strength
    model = comfy_clip.model
    pixels = clip_preprocess(image, size=int(model.config.image_size), crop=True).to(comfy_clip.dtype)
    hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states
    torch.testing.assert_close(emb.clip_context, hidden[-1].float() * 2.0, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(hidden[-1].float(), hidden[-2].float())
    # the wrapper's own CLIP loader: Wan's visual(), the penultimate states
    wan_clip = node("LoadWanVideoClipTextEncoder")(ctx, model_name="clip_vision_h_tiny.safetensors", precision="fp32",
                                                   load_device="main_device")[0]
    (emb2,) = node("WanVideoImageClipEncode")(ctx, clip_vision=wan_clip, generation_width=64, generation_height=64,
                                              adjust_resolution=True, **common)
    pixels = clip_preprocess(image, size=int(wan_clip.model.config.image_size), crop=True).to(wan_clip.dtype)
    hidden = wan_clip.model(pixel_values=pixels, output_hidden_states=True).hidden_states
    torch.testing.assert_close(emb2.clip_context, hidden[-2].float() * 2.0, rtol=1e-4, atol=1e-4)


def test_image_clip_encode_latents_are_the_i2v_encoders_at_the_generation_size(models_ctx):
    ctx = models_ctx
    vae = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]
    comfy_clip = node("CLIPVisionLoader")(ctx, clip_name="clip_vision_h_tiny.safetensors")[0]
    image = torch.rand(1, 32, 48, 3, generator=torch.Generator().manual_seed(4))
    (emb,) = node("WanVideoImageClipEncode")(ctx, clip_vision=comfy_clip, image=image, vae=vae, generation_width=48,
                                             generation_height=32, num_frames=9, force_offload=False,
                                             noise_aug_strength=0.0, latent_strength=1.0, clip_embed_strength=1.0,
                                             adjust_resolution=False)
    # the same start image + zero frames through WanVideoImageToVideoEncode (the node that replaced it)
    (i2v,) = node("WanVideoImageToVideoEncode")(ctx, vae=vae, width=48, height=32, num_frames=9, start_image=image,
                                                force_offload=False)
    torch.testing.assert_close(emb.image_embeds, i2v.image_embeds, rtol=1e-5, atol=1e-5)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoImageClipEncode")(ctx, clip_vision=comfy_clip, image=image, vae=vae, generation_width=48,
                                        generation_height=32, num_frames=8, force_offload=False,
                                        noise_aug_strength=0.0, latent_strength=1.0, clip_embed_strength=1.0,
                                        adjust_resolution=False)
    assert err.value.input_name == "num_frames"


def test_a_wan_move_file_name_stands_in_as_wan21_i2v():
    from wfrun.models.families.wan_transformer import task_from_name

    assert task_from_name("WanVideo/Wan21-WanMove_fp8_scaled_e4m3fn_KJ.safetensors") == "i2v"
    assert task_from_name("wan_move_14B.safetensors") == "i2v"
