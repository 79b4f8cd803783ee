"""Wan 2.2 S2V through the wrapper (WanVideoAddS2VEmbeds into WanVideoSampler): the loader
takes the S2V file, the audio bucket worked out by hand, the audio encoder's frame count
against the real encoder, each call's inputs, one sampler step against the token-by-token
S2V reference of ``test_wan_s2v`` with the wrapper's choices (audio scale, the video's
token vector on the reference, the repeated first audio step, silent uncond), and the
framepack loop's two windows re-derived with that reference and the VAE."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from safetensors.torch import load_file

from node_helpers import node
from test_wan_s2v import encoder_output, reference
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny import S2V, TRANSFORMER, TinySpec, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import TextEmbeds
from wfrun.sampling.s2v import S2VInputs, s2v_forward
from wfrun.sampling.s2v_wrapper import WrapperS2V, call_inputs, encoded_frames, for_uncond

loader = node("WanVideoModelLoader")
empty_embeds = node("WanVideoEmptyEmbeds")
add_s2v = node("WanVideoAddS2VEmbeds")
sampler = node("WanVideoSampler")
context_options = node("WanVideoContextOptions")
teacache = node("WanVideoTeaCache")

NAME = "Wan2_2-S2V-14B_tiny_fp32.safetensors"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2v-wrapper")
    write_file(TinySpec("diffusion_models", NAME, "wan_transformer", "s2v-14b", "original", "fp32"), root)
    write_file(TinySpec("diffusion_models", "Wan2_2-S2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", "wan_transformer",
                        "s2v-14b", "original", "fp8_e4m3fn_scaled"), root)
    return root


@pytest.fixture(scope="module")
def ctx(files):
    return ExecContext(models=ModelRoots.from_options(str(files)))


@pytest.fixture(scope="module")
def model(ctx):
    return loader(ctx, model=NAME, base_precision="fp32", quantization="disabled", load_device="main_device",
                  attention_mode="sdpa")[0]


@pytest.fixture(scope="module")
def sd(files):
    return {k: v.float() for k, v in load_file(str(files / "diffusion_models" / NAME)).items()}


def test_the_loader_takes_kijais_s2v_release(ctx):
    m = loader(ctx, model="Wan2_2-S2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", base_precision="bf16",
               quantization="fp8_e4m3fn_scaled", load_device="main_device", attention_mode="sdpa")[0]
    tr = m.transformer
    assert tr.casual_audio_encoder is not None and len(tr.audio_injector.injector) == S2V["injectors"]
    assert tr.config.num_layers == S2V["layers"] and m.in_channels == 16


def hand_bucket(enc: dict, num_frames: int, window: int) -> torch.Tensor:
    """By hand, the pack's steps: 50/s states resampled linearly (ends kept) to int(T*30/50)
    steps, cut to num_frames*30//16, then buckets of ``window`` video frames covering them
    (int(n / (window * 30/16)) + 1 buckets); frame i reads step round(i*30/16) if it exists."""
    states = torch.cat(enc["encoded_audio_all_layers"])
    n = states.shape[1]
    steps = int(n / 50 * 30)
    resampled = []
    for j in range(steps):
        x = Fraction(j * (n - 1), steps - 1)
        lo = math.floor(x)
        frac = float(x - lo)
        resampled.append(states[:, lo] * (1 - frac) + states[:, min(lo + 1, n - 1)] * frac)
    resampled = resampled[:num_frames * 30 // 16]
    buckets = int(len(resampled) / (window * Fraction(30, 16))) + 1
    out = []
    for i in range(buckets * window):
        s = round(Fraction(i * 30, 16))
        out.append(resampled[s] if s < len(resampled) else torch.zeros_like(resampled[0]))
    return torch.stack(out).permute(1, 2, 0).unsqueeze(0)


def test_the_audio_bucket_by_hand(ctx):
    enc = encoder_output(60, seed=5, layers=3, width=4)  # 1.2 s: 36 steps at 30/s, cut to 17*30//16 = 31
    embeds = empty_embeds(ctx, width=32, height=32, num_frames=17)[0]
    out, count = add_s2v(ctx, embeds=embeds, frame_window_size=9, audio_encoder_output=enc)
    want = hand_bucket(enc, 17, 9)
    assert count == 18 and want.shape == (1, 3, 4, 18)  # two buckets of 9 frames
    torch.testing.assert_close(out.s2v.audio, want, rtol=1e-4, atol=3e-5)
    assert out.target_shape == embeds.target_shape


def test_encoded_frames_is_what_the_encoder_makes(model):
    enc = model.transformer.casual_audio_encoder
    with torch.no_grad():
        for steps in range(1, 23):
            glob, _local = enc(torch.randn(1, S2V["audio_layers"], S2V["audio_dim"], steps))
            assert glob.shape[1] == encoded_frames(steps), steps


def test_call_inputs_follow_the_pack():
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(1, 2, 3, 13, generator=g)
    pose = torch.randn(1, 16, 4, 2, 2, generator=g)
    s2v = WrapperS2V(audio=audio, audio_scale=0.5, ref_latent=None, pose_latent=pose, pose_start_percent=0.0,
                     pose_end_percent=0.5, frame_window_size=13)
    cpu = torch.device("cpu")
    whole = call_inputs(s2v, None, 4, 0, 0.0, cpu, torch.float32)
    assert torch.equal(whole.audio, torch.cat([audio[..., :1], audio], dim=-1))  # the first step repeated
    assert whole.control is None and whole.audio_scale == 0.5 and whole.video_kind_on_reference  # no pose unwindowed
    win = call_inputs(s2v, [1, 2, 3], 4, 1, 0.25, cpu, torch.float32)
    steps = [min(i, 12) for i in range(4, 13)]  # 4*1 … 4*3, clamped to the bucket
    assert torch.equal(win.audio, torch.cat([audio[..., 4:5], audio[..., steps]], dim=-1))
    assert torch.equal(win.control, pose[:, :, [1, 2, 3]])
    assert call_inputs(s2v, [1, 2, 3], 4, 3, 0.75, cpu, torch.float32).control is None  # after pose_end_percent
    assert for_uncond(win).audio.eq(0).all() and for_uncond(win).control is win.control
    with pytest.raises(ValueError, match="audio frames"):
        call_inputs(s2v, None, 3, 0, 0.0, cpu, torch.float32)  # 14 steps make 4 frames, not 3


def test_the_wrapper_forward_choices_against_the_reference(model, sd):
    g = torch.Generator().manual_seed(3)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    x, text, ref = r(1, 16, 3, 8, 8), r(1, 6, TRANSFORMER["text_dim"]), r(1, 16, 1, 8, 8)
    audio = r(1, S2V["audio_layers"], S2V["audio_dim"], 12)
    with torch.no_grad():
        got = s2v_forward(model.transformer, x, torch.tensor([600.0]), text,
                          S2VInputs(audio=audio, reference=ref, audio_scale=0.4, video_kind_on_reference=True))
        want = reference(sd, x, 600.0, text, audio=audio, ref=ref, audio_scale=0.4, video_kind_on_ref=True)
        plain = reference(sd, x, 600.0, text, audio=audio, ref=ref)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)
    assert (want - plain).abs().max() > 1e-3  # the two choices change the output


def padded(e: torch.Tensor) -> torch.Tensor:
    return torch.cat([e, e.new_zeros(512 - e.shape[0], e.shape[1])])[None]


@torch.no_grad()
def test_one_sampler_step_is_the_guided_reference(ctx, model, sd):
    g = torch.Generator().manual_seed(9)
    text = TextEmbeds(prompt_embeds=(torch.randn(7, TRANSFORMER["text_dim"], generator=g),),
                      negative_prompt_embeds=(torch.randn(5, TRANSFORMER["text_dim"], generator=g),))
    ref = torch.randn(1, 16, 1, 4, 4, generator=g)
    enc = encoder_output(40, seed=6, layers=S2V["audio_layers"], width=S2V["audio_dim"])
    embeds = empty_embeds(ctx, width=32, height=32, num_frames=9)[0]
    embeds, count = add_s2v(ctx, embeds=embeds, frame_window_size=9, audio_scale=0.7, audio_encoder_output=enc,
                            ref_latent={"samples": ref})
    out = sampler(ctx, model=model, image_embeds=embeds, text_embeds=text, steps=1, cfg=2.0, shift=5.0, seed=4,
                  scheduler="euler")[0]["samples"]
    noise = torch.randn(16, 3, 4, 4, generator=torch.Generator().manual_seed(4))[None]
    audio = embeds.s2v.audio
    audio = torch.cat([audio[..., :1], audio], dim=-1)  # 10 steps: 3 audio frames
    common = dict(ref=ref, audio_scale=0.7, video_kind_on_ref=True)
    cond = reference(sd, noise, 1000.0, padded(text.prompt_embeds[0]), audio=audio, **common)
    uncond = reference(sd, noise, 1000.0, padded(text.negative_prompt_embeds[0]), audio=audio * 0, **common)
    v = uncond + 2.0 * (cond - uncond)
    assert count == 9
    torch.testing.assert_close(out, noise - v, rtol=1e-4, atol=1e-4)  # one Euler step from sigma 1 to 0


@torch.no_grad()
def test_context_windows_run_with_pose(ctx, model):
    g = torch.Generator().manual_seed(2)
    text = TextEmbeds(prompt_embeds=(torch.randn(7, TRANSFORMER["text_dim"], generator=g),),
                      negative_prompt_embeds=(torch.randn(5, TRANSFORMER["text_dim"], generator=g),))
    enc = encoder_output(60, seed=7, layers=S2V["audio_layers"], width=S2V["audio_dim"])
    embeds = empty_embeds(ctx, width=32, height=32, num_frames=17)[0]
    embeds, _ = add_s2v(ctx, embeds=embeds, frame_window_size=17, audio_encoder_output=enc,
                        ref_latent={"samples": torch.randn(1, 16, 1, 4, 4, generator=g)},
                        pose_latent={"samples": torch.randn(1, 16, 5, 4, 4, generator=g)})
    windows = context_options(ctx, context_frames=9, context_stride=4, context_overlap=4)[0]
    out = sampler(ctx, model=model, image_embeds=embeds, text_embeds=text, steps=2, cfg=1.0, shift=5.0, seed=1,
                  scheduler="euler", context_options=windows)[0]["samples"]
    assert out.shape == (1, 16, 5, 4, 4) and torch.isfinite(out).all()


def test_refusals_name_the_input(ctx, model):
    text = TextEmbeds(prompt_embeds=(torch.randn(7, TRANSFORMER["text_dim"]),),
                      negative_prompt_embeds=(torch.randn(5, TRANSFORMER["text_dim"]),))
    plain = empty_embeds(ctx, width=32, height=32, num_frames=9)[0]
    run = dict(model=model, text_embeds=text, steps=1, cfg=1.0, shift=5.0, seed=1, scheduler="euler")
    with pytest.raises(NodeInputError) as err:  # an S2V model with plain embeds
        sampler(ctx, image_embeds=plain, **run)
    assert err.value.input_name == "image_embeds"
    with pytest.raises(NodeInputError) as err:  # the framepack loop needs the VAE
        add_s2v(ctx, embeds=plain, frame_window_size=9, enable_framepack=True)
    assert err.value.input_name == "vae"
    enc = encoder_output(60, seed=1, layers=S2V["audio_layers"], width=S2V["audio_dim"])
    long_window = add_s2v(ctx, embeds=plain, frame_window_size=17, audio_encoder_output=enc)[0]
    with pytest.raises(NodeInputError, match="gives 5 audio frames for 3") as err:  # 17 audio frames for a 9-frame video
        sampler(ctx, image_embeds=long_window, **run)
    assert err.value.input_name == "image_embeds"
    s2v = add_s2v(ctx, embeds=plain, frame_window_size=9, audio_encoder_output=enc)[0]
    with pytest.raises(NodeInputError) as err:
        sampler(ctx, image_embeds=s2v, cache_args=teacache(ctx)[0], **run)
    assert err.value.input_name == "cache_args"


# --- the framepack loop ----------------------------------------------------------------------

def test_framepack_plan_is_the_packs_arithmetic():
    from wfrun.sampling.s2v_wrapper import framepack_plan

    plan = framepack_plan(80, 240)  # the pack's default window: 73 motion frames, 19 latents, 20 new
    assert (plan.motion_frames, plan.motion_latents, plan.latents, plan.repeats) == (73, 19, 20, 3)
    # the encoder makes 39 audio frames of 73 + 80 steps; the first 19 are dropped
    assert encoded_frames(73 + 80) - 19 == 20


def test_dropped_audio_frames_against_the_reference(model, sd):
    g = torch.Generator().manual_seed(8)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    x, text, motion = r(1, 16, 3, 8, 8), r(1, 6, TRANSFORMER["text_dim"]), r(1, 16, 2, 8, 8)
    audio = r(1, S2V["audio_layers"], S2V["audio_dim"], 17)
    with torch.no_grad():
        got = s2v_forward(model.transformer, x, torch.tensor([800.0]), text,
                          S2VInputs(audio=audio, motion=motion, audio_skip_frames=2))
        want = reference(sd, x, 800.0, text, audio=audio, motion=motion, audio_skip=2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)


@torch.no_grad()
def test_framepack_windows_follow_each_other(ctx, model, sd, tiny_models):
    """Two windows of 12 frames (5 motion frames, 2 motion latents, 3 new latents), one Euler
    step each, re-derived with the token-by-token reference and the VAE: window k starts from
    the same noise, its motion latents are the encoding of the frames so far (grey at first)."""
    from wfrun.packs.wanvideo.vae import decode_latents, encode_video

    vae_ctx = ExecContext(models=ModelRoots.from_options(str(tiny_models)))
    vae = node("WanVideoVAELoader")(vae_ctx, model_name="Wan2_1_VAE_tiny_bf16.safetensors", precision="fp32")[0]
    g = torch.Generator().manual_seed(5)
    text = TextEmbeds(prompt_embeds=(torch.randn(7, TRANSFORMER["text_dim"], generator=g),),
                      negative_prompt_embeds=(torch.randn(5, TRANSFORMER["text_dim"], generator=g),))
    ref = torch.randn(1, 16, 1, 8, 8, generator=g)
    enc = encoder_output(60, seed=11, layers=S2V["audio_layers"], width=S2V["audio_dim"])
    embeds = empty_embeds(ctx, width=64, height=64, num_frames=17)[0]  # the 4x patches need 8x8 latents
    embeds, count = add_s2v(ctx, embeds=embeds, frame_window_size=12, audio_scale=0.8, audio_encoder_output=enc,
                            ref_latent={"samples": ref}, vae=vae, enable_framepack=True)
    assert count == 24  # two windows of audio
    video = sampler(ctx, model=model, image_embeds=embeds, text_embeds=text, steps=1, cfg=1.0, shift=5.0, seed=6,
                    scheduler="euler")[0]["video"]
    gen = torch.Generator().manual_seed(6)
    torch.randn(16, 5, 8, 8, generator=gen)  # the sampler's first draw (the embeds' shape)
    noise = torch.randn(16, 3, 8, 8, generator=gen)
    audio = embeds.s2v.audio
    so_far = torch.zeros(3, 5, 64, 64)
    frames = []
    for r in range(2):
        motion = encode_video(vae, so_far, "cpu").float()
        part = audio[..., r * 12:(r + 1) * 12]
        part = torch.cat([part[..., :1].repeat(1, 1, 1, 5), part], dim=-1)
        v = reference(sd, noise[None], 1000.0, padded(text.prompt_embeds[0]), audio=part, ref=ref,
                      motion=motion[None], audio_scale=0.8, video_kind_on_ref=True, audio_skip=2)[0]
        out = decode_latents(vae, torch.cat([motion, noise - v], dim=1), "cpu")[:, -12:]
        out = out[:, 3:] if r == 0 else out
        frames.append(out)
        so_far = torch.cat([so_far[:, 5:], out[:, -5:]], dim=1)
    want = torch.cat(frames, dim=1).permute(1, 2, 3, 0)
    assert video.shape == (21, 64, 64, 3)
    torch.testing.assert_close(video, want, rtol=1e-4, atol=5e-4)
