"""The wrapper's HuMo nodes: WhisperModelLoader and HuMoEmbeds (``HuMo/nodes.py``), their
outputs worked out from the pack's steps with independent pieces: transformers' Whisper
feature extractor and model for the audio, the VAE encode of the grey video and of each
reference for the image conditioning."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.whisper import write_tiny
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.vae import encode_video


@pytest.fixture(scope="module")
def ctx(tiny_models, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    write_tiny(models / "audio_encoders" / "whisper_large_v3_fp16.safetensors", seed=2, dtype=torch.float32)
    for sub in ("vae",):
        (models / sub).symlink_to(tiny_models / sub)
    return ExecContext(models=ModelRoots.from_options(models), device="cpu", offload_device="cpu")


@pytest.fixture(scope="module")
def whisper(ctx):
    (w,) = node("WhisperModelLoader")(ctx, model="whisper_large_v3_fp16.safetensors")
    return w


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")
    return v


def voice(seconds: float, rate: int = 16000, channels: int = 2) -> dict:
    g = torch.Generator().manual_seed(9)
    wave = torch.randn(1, channels, int(seconds * rate), generator=g) * 0.1
    return {"waveform": wave, "sample_rate": rate}


def test_audio_features_follow_the_pack(ctx, whisper):
    """First channel, 30 s windows through transformers' extractor and encoder, states cut to
    2 x samples // 640, groups of 8 averaged, linear 50 → 25 per second."""
    import torch.nn.functional as F
    from transformers import WhisperFeatureExtractor

    from wfrun.packs.wanvideo.humo import audio_features

    audio = voice(0.9)
    got, frames = audio_features(ctx, whisper, audio)
    assert frames == 22 and got.shape == (22, 5, 64)  # 14400 samples // 640
    mel = WhisperFeatureExtractor(feature_size=128)(audio["waveform"][0, 0].numpy(), sampling_rate=16000,
                                                    return_tensors="pt").input_features
    with torch.no_grad():
        states = whisper.encoder.model(mel.float(), output_hidden_states=True).hidden_states
    hidden = torch.stack(states, dim=2)[0, :44]  # [44, 33, 64]
    groups = [hidden[:, 8 * k:8 * k + 8].mean(1) for k in range(4)] + [hidden[:, 32]]
    for k, grp in enumerate(groups):
        want = F.interpolate(grp.T[None], size=22, mode="linear", align_corners=True)[0].T
        torch.testing.assert_close(got[:, k], want, rtol=1e-4, atol=1e-4)


def test_embeds_with_references(ctx, whisper, vae):
    g = torch.Generator().manual_seed(3)
    refs = torch.rand(2, 40, 24, 3, generator=g)  # resized to 32 x 48 (lanczos, no crop)
    (emb,) = node("HuMoEmbeds")(ctx, num_frames=11, width=32, height=48, audio_scale=1.5, audio_cfg_scale=2.0,
                                whisper_model=whisper, vae=vae, reference_images=refs, audio=voice(0.5))
    h = emb.humo
    assert emb.num_frames == 9 and emb.target_shape == (16, 3 + 2, 6, 4)  # 11 frames → 9 → 3 latent frames
    assert h.references == 2 and h.audio.shape == (12, 5, 64) and h.audio_scale == 1.5 and h.audio_cfg_scale == 2.0
    grey = encode_video(vae, torch.zeros(3, 9 + 8, 48, 32), "cpu")  # 4 more frames per reference
    assert grey.shape[1] == 5
    from wfrun.packs.wanvideo.vae import resize_images

    sized = resize_images(refs, 32, 48)
    ref_latents = torch.cat([encode_video(vae, im.movedim(-1, 0).unsqueeze(1) * 2 - 1, "cpu") for im in sized], dim=1)
    assert h.image_cond.shape == (20, 5, 6, 4)
    assert h.image_cond[:4, :3].eq(0).all() and h.image_cond[:4, 3:].eq(1).all()
    torch.testing.assert_close(h.image_cond[4:, :3], grey[:, :3])
    torch.testing.assert_close(h.image_cond[4:, 3:], ref_latents)
    torch.testing.assert_close(h.image_cond_neg[4:], grey)
    torch.testing.assert_close(h.image_cond_neg[:4], h.image_cond[:4])


def test_embeds_without_sound_or_references(ctx, whisper, vae):
    (emb,) = node("HuMoEmbeds")(ctx, num_frames=9, width=32, height=32, whisper_model=whisper, vae=vae)
    h = emb.humo
    assert h.references == 0 and h.audio.shape == (9, 5, 1280) and h.audio.eq(0).all()
    assert h.image_cond[:4].eq(0).all() and emb.target_shape == (16, 3, 4, 4)
    torch.testing.assert_close(h.image_cond, h.image_cond_neg)
    (emb,) = node("HuMoEmbeds")(ctx, num_frames=-1, width=32, height=32, whisper_model=whisper, vae=vae,
                                audio=voice(0.7))  # 17 frames of sound → 17
    assert emb.num_frames == 17 and emb.target_shape[1] == 5


def test_refusals_name_their_input(ctx, whisper, vae):
    for inputs, name in (({"reference_images": torch.rand(1, 32, 32, 3)}, "vae"), ({"vae": vae}, "whisper_model")):
        with pytest.raises(NodeInputError) as err:
            node("HuMoEmbeds")(ctx, num_frames=9, width=32, height=32, **inputs)
        assert err.value.input_name == name
    with pytest.raises(NodeInputError) as err:
        node("WhisperModelLoader")(ctx, model="missing.safetensors")
    assert err.value.input_name == "model"


# --- the sampler ---------------------------------------------------------------------------------

def test_humo_guidance_calls_and_formulas():
    """The pack's predict_with_cfg for HuMo, its calls recorded and its sums by hand."""
    from wfrun.sampling.humo_guidance import HuMoRun, humo_predict

    audio = torch.ones(3, 8, 5, 2)
    y, y_neg = torch.full((20, 3, 2, 2), 2.0), torch.full((20, 3, 2, 2), -2.0)
    pos, neg = torch.full((1, 4, 8), 1.0), torch.full((1, 4, 8), -1.0)
    outputs = {}

    def fake(latents, yy, prompt, au):  # a distinct output per call kind
        key = (None if yy is None else float(yy.flatten()[0]), float(prompt.flatten()[0]),
               None if au is None else float(au.flatten()[0]))
        outputs.setdefault(key, torch.full((16, 3, 2, 2), float(len(outputs) + 1)))
        return outputs[key]

    def run(**kw):
        base = dict(audio=audio, audio_neg=torch.zeros_like(audio), image_cond=y, image_cond_neg=y_neg,
                    references=None, scale=1.0, audio_cfg=[2.5] * 3, start=0.0, end=1.0)
        return HuMoRun(**{**base, **kw})

    combine = lambda c, u: u + 3.0 * (c - u)  # noqa: E731
    # 17B, audio CFG, early step (t > 980): cond, uncond (positive prompt, zero audio), audio-free with y_neg
    outputs.clear()
    got = humo_predict(run(), fake, torch.zeros(16, 3, 2, 2), 990.0, 0, 0.0, 3.0, pos, lambda: neg, combine, True)
    assert list(outputs) == [(2.0, 1.0, 1.0), (2.0, 1.0, 0.0), (-2.0, -1.0, 0.0)]
    c, u, n = 1.0, 2.0, 3.0
    torch.testing.assert_close(got, torch.full_like(got, u + 2.5 * (c - n) + (3.0 - 2.0) * (n - u)))
    # later step: the audio-free call keeps y
    outputs.clear()
    humo_predict(run(), fake, torch.zeros(16, 3, 2, 2), 500.0, 1, 0.3, 3.0, pos, lambda: neg, combine, True)
    assert list(outputs)[2] == (2.0, -1.0, 0.0)
    # audio off (outside start/end): no audio anywhere, the negative prompt, plain CFG
    outputs.clear()
    got = humo_predict(run(start=0.5), fake, torch.zeros(16, 3, 2, 2), 500.0, 1, 0.3, 3.0, pos, lambda: neg,
                       combine, True)
    assert list(outputs) == [(2.0, 1.0, None), (2.0, -1.0, None)]
    torch.testing.assert_close(got, torch.full_like(got, 2.0 + 3.0 * (1.0 - 2.0)))
    # 1.7B (no y): the references replace the last frame in cond, zeros elsewhere; four calls
    refs = torch.full((16, 1, 2, 2), 7.0)
    seen = []

    def fake17(latents, yy, prompt, au):
        seen.append(float(latents[0, -1, 0, 0]))
        return fake(latents, yy, prompt, au)

    outputs.clear()
    got = humo_predict(run(image_cond=None, image_cond_neg=None, references=refs), fake17,
                       torch.full((16, 3, 2, 2), 5.0), 500.0, 1, 0.3, 3.0, pos, lambda: neg, combine, True)
    assert seen == [7.0, 0.0, 0.0, 0.0]
    assert list(outputs) == [(None, 1.0, 1.0), (None, 1.0, 0.0), (None, -1.0, 0.0)]  # au repeats the cond's key
    c, u, null, au = 1.0, 2.0, 3.0, 1.0
    torch.testing.assert_close(got, torch.full_like(got, 2.5 * (c - au) + 3.0 * (au - u) + 3.0 * (u - null) + null))


@pytest.fixture(scope="module")
def humo_model(ctx):
    from wfrun.models.tiny import TinySpec, write_file

    spec = TinySpec("diffusion_models", "humo_17B_tiny_fp32.safetensors", "wan_transformer", "humo-17b", "original",
                    "fp32")
    path = write_file(spec, ctx.models.roots[0])
    return node("WanVideoModelLoader")(ctx, model=path.name, base_precision="fp32", load_device="main_device")[0]


def test_the_sampler_runs_humo_embeds_through_the_humo_forward(ctx, whisper, vae, humo_model, monkeypatch):
    import wfrun.sampling.humo as humo_module
    from wfrun.sampling.conditioning import TextEmbeds

    calls = []
    real = humo_module.humo_forward

    def spy(transformer, x, t, context, inputs, call=None):
        calls.append((x.shape, None if inputs.audio is None else inputs.audio.abs().sum().item(), inputs.audio_scale))
        return real(transformer, x, t, context, inputs, call)

    monkeypatch.setattr(humo_module, "humo_forward", spy)
    (emb,) = node("HuMoEmbeds")(ctx, num_frames=5, width=32, height=32, audio_scale=1.5, audio_cfg_scale=2.0,
                                whisper_model=whisper, vae=vae, reference_images=torch.rand(1, 32, 32, 3),
                                audio=voice(0.4))
    emb = type(emb)(**{**emb.__dict__, "humo": type(emb.humo)(**{**emb.humo.__dict__,
                                                                 "audio": torch.randn(emb.humo.audio.shape[0], 5, 64)})})
    g = torch.Generator().manual_seed(4)
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32, generator=g),), negative_prompt_embeds=(torch.randn(4, 32, generator=g),))
    (latent, _) = node("WanVideoSampler")(ctx, model=humo_model, image_embeds=emb, text_embeds=text, steps=1, cfg=2.0,
                                          shift=5.0, seed=1, scheduler="unipc")
    assert latent["samples"].shape[2] == 3  # 2 video latent frames + 1 reference, all kept as the pack
    assert [c[0] for c in calls] == [(1, 36, 3, 4, 4)] * 3  # latents + the 20 image-conditioning channels
    assert calls[0][1] > 0 and calls[1][1] == 0 and calls[2][1] == 0 and {c[2] for c in calls} == {1.5}
    (plain,) = node("WanVideoEmptyEmbeds")(ctx, width=32, height=32, num_frames=5)
    with pytest.raises(NodeInputError, match="HuMoEmbeds") as err:
        node("WanVideoSampler")(ctx, model=humo_model, image_embeds=plain, text_embeds=text, steps=1, cfg=1.0,
                                shift=5.0, seed=1, scheduler="unipc")
    assert err.value.input_name == "image_embeds"
