"""Wan 2.2 Animate through Kijai's wrapper: WanVideoAnimateEmbeds' conditioning against the
pack's formulas written out (nodes.py, 2025-10), the pack's strengths in the shared forward
against the core path (strength 1 is the core path, 0 removes the input, s scales the
pose embedding), the sampler's cond/uncond inputs (blank -1 face crops for uncond) and the
context windows' slices, and the refusals by name."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.animate_fixtures import KIJAI, animate_context, tiny_vae
from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.vae import encode_video
from wfrun.sampling import loop as loop_module
from wfrun.sampling.conditioning import AnimateEmbeds, TextEmbeds
from wfrun.sampling.forward import ForwardOptions, add_pose, transformer_forward

W, H = 48, 32


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return animate_context(tiny_models)


@pytest.fixture(scope="module")
def vae(ctx):
    return tiny_vae(ctx)


@pytest.fixture(scope="module")
def model(ctx):
    return node("WanVideoModelLoader")(ctx, model=KIJAI.name, base_precision="fp32", load_device="main_device")[0]


def _images(frames: int, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _enc(ctx, vae, images: torch.Tensor) -> torch.Tensor:
    return encode_video(vae, images.permute(3, 0, 1, 2) * 2 - 1, ctx.device).float()


def test_embeds_are_the_packs_layout(ctx, vae):
    frames = 9
    ref, pose, bg = _images(1, seed=1), _images(frames, seed=2), _images(frames, seed=3)
    face = _images(frames, 40, 40, seed=4)
    mask = (torch.rand(frames, H, W, generator=torch.Generator().manual_seed(5)) > 0.5).float()
    (emb,) = node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W + 7, height=H, num_frames=frames + 2,
                                          frame_window_size=77, ref_images=ref, pose_images=pose,
                                          face_images=face, bg_images=bg, mask=mask, pose_strength=0.5,
                                          face_strength=2.0)
    lat_h, lat_w = H // 8, W // 8                                  # width floored to 16: 55 → 48
    latent_frames = (frames - 1) // 4 + 2                           # the reference's, then the video's
    assert emb.num_frames == frames + 4 and emb.target_shape == (16, latent_frames, lat_h, lat_w)
    y = emb.image_embeds
    assert y.shape == (20, latent_frames, lat_h, lat_w)
    torch.testing.assert_close(y[4:, :1], _enc(ctx, vae, ref))
    assert y[:4, 0].eq(1).all()
    torch.testing.assert_close(y[4:, 1:], _enc(ctx, vae, bg))
    # mask channels: 1 - mask over frames + 4 pixel frames (the last held), nearest to the latent
    # size; latent frame 1 is pixel frame 0 four times, latent frame t > 1 pixel frames 4t - 7 … 4t - 4
    small = F.interpolate(mask.unsqueeze(1), size=(lat_h, lat_w), mode="nearest").squeeze(1)
    held = torch.cat([small, small[-1:].repeat(4, 1, 1)])
    for t in range(1, latent_frames):
        for c in range(4):
            pixel = 0 if t == 1 else 4 * (t - 1) - 3 + c
            assert torch.equal(y[c, t], 1 - held[pixel]), (t, c)
    a = emb.animate
    torch.testing.assert_close(a.pose_latents, _enc(ctx, vae, pose))
    assert a.face_pixels.shape == (1, 3, frames, 512, 512) and (a.pose_strength, a.face_strength) == (0.5, 2.0)
    assert a.face_pixels.min() >= -1 and a.face_pixels.max() <= 1 and a.masked


def test_without_background_or_mask_the_background_is_black_and_unmasked(ctx, vae):
    (emb,) = node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, num_frames=5, ref_images=_images(1))
    y = emb.image_embeds
    assert y.shape[1] == 3 and y[:4, 1:].eq(0).all()
    torch.testing.assert_close(y[4:, 1:], _enc(ctx, vae, torch.full((8, H, W, 3), 0.5)))  # 0.5 → 0 in -1..1
    assert emb.animate.pose_latents is None and emb.animate.face_pixels is None and not emb.animate.masked


def test_the_long_video_loop_and_odd_references_are_refused_by_name(ctx, vae):
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, num_frames=81, frame_window_size=77,
                                      ref_images=_images(1))
    assert err.value.input_name == "frame_window_size" and "long-video" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, num_frames=5)
    assert err.value.input_name == "ref_images"
    with pytest.raises(NodeInputError) as err:
        node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, num_frames=5, ref_images=_images(1),
                                      bg_images=_images(13))
    assert err.value.input_name == "bg_images"


# --- the forward: the pack's strengths ---------------------------------------------------------


def _x(seed=0, frames=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, 36, frames, 4, 6, generator=g), torch.tensor([600.0]), torch.randn(1, 7, 32, generator=g),
            torch.randn(1, 16, frames - 1, 4, 6, generator=g), torch.rand(1, 3, 5, 512, 512, generator=g) * 2 - 1)


def test_strengths_one_is_the_core_path_and_zero_removes_the_input(model):
    tr = model.transformer
    x, t, ctx_, pose, face = _x()
    with torch.no_grad():
        run = lambda **kw: transformer_forward(tr, x, t, ctx_, None, ForwardOptions(**kw))[0]  # noqa: E731
        core = run(pose=pose, face=face)
        torch.testing.assert_close(run(pose=pose, face=face, pose_strength=1.0, face_strength=1.0), core)
        torch.testing.assert_close(run(pose=pose, face=face, pose_strength=0.0), run(face=face))
        torch.testing.assert_close(run(pose=pose, face=face, face_strength=0.0), run(pose=pose))
        assert not torch.allclose(run(pose=pose, face=face, face_strength=2.0), core)


def test_pose_strength_scales_the_pose_embedding(model):
    tr = model.transformer
    x, _, _, pose, _ = _x(1)
    with torch.no_grad():
        patched = tr.patch_embedding(x)
        conv = tr.pose_patch_embedding
        want = patched.clone()
        want[:, :, 1:] += 0.3 * F.conv3d(pose, conv.weight, conv.bias, stride=conv.stride)  # the pack's add_(alpha=)
        torch.testing.assert_close(add_pose(tr, patched, pose, 0.3), want)


# --- the sampler ---------------------------------------------------------------------------------


def _text():
    g = torch.Generator().manual_seed(9)
    return TextEmbeds(prompt_embeds=(torch.randn(5, 32, generator=g),), negative_prompt_embeds=(torch.randn(4, 32, generator=g),))


def _capture(monkeypatch):
    calls = []
    real = loop_module.transformer_forward

    def spy(transformer, z, t, context, clip, options):
        calls.append(options)
        return real(transformer, z, t, context, clip, options)

    monkeypatch.setattr(loop_module, "transformer_forward", spy)
    return calls


def test_sampler_gives_cond_the_face_and_uncond_blank_crops(ctx, vae, model, monkeypatch):
    (emb,) = node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, num_frames=5, ref_images=_images(1),
                                          pose_images=_images(5, seed=2), face_images=_images(5, 512, 512, seed=3),
                                          pose_strength=0.7, face_strength=1.5)
    calls = _capture(monkeypatch)
    (latent, _) = node("WanVideoSampler")(ctx, model=model, image_embeds=emb, text_embeds=_text(), steps=1, cfg=2.0,
                                          shift=5.0, seed=1, scheduler="unipc")
    assert latent["samples"].shape[2] == emb.target_shape[1]
    cond, uncond = calls
    assert not cond.is_uncond and uncond.is_uncond
    assert torch.equal(cond.face, emb.animate.face_pixels) and torch.equal(uncond.face, torch.full_like(cond.face, -1))
    for o in (cond, uncond):
        assert torch.equal(o.pose, emb.animate.pose_latents.unsqueeze(0))
        assert (o.pose_strength, o.face_strength) == (0.7, 1.5)


def test_a_mask_without_face_crops_gets_zero_crops(ctx, vae, model, monkeypatch):
    (emb,) = node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, num_frames=5, ref_images=_images(1),
                                          mask=torch.ones(5, H, W))
    calls = _capture(monkeypatch)
    node("WanVideoSampler")(ctx, model=model, image_embeds=emb, text_embeds=_text(), steps=1, cfg=1.0, shift=5.0,
                            seed=1, scheduler="unipc")
    (cond,) = calls
    assert cond.face.shape == (1, 3, emb.num_frames - 1, 512, 512) and cond.face.eq(0).all()  # the pack's zeros


def test_context_windows_get_the_packs_slices():
    pose = torch.arange(10.0).view(1, 10, 1, 1).expand(16, 10, 2, 2)
    face = torch.arange(40.0).view(1, 1, 40, 1, 1).expand(1, 3, 40, 2, 2)
    part = loop_module._animate_window(AnimateEmbeds(pose, face, 0.5, 2.0), [4, 5, 6, 7])
    assert part.pose_latents[0, :, 0, 0].tolist() == [4.0, 5.0, 6.0]              # latent frames 5… get poses 4…
    assert part.face_pixels[0, 0, :, 0, 0].tolist() == list(range(16, 28))        # pixel frames 4·4 … 4·7 - 1
    end = loop_module._animate_window(AnimateEmbeds(pose, face), [8, 9, 10, 11])
    assert end.pose_latents[0, :, 0, 0].tolist() == [8.0, 9.0, 9.0]               # clamped to the last, as the pack
    assert end.face_pixels[0, 0, -1, 0, 0] == 39.0
    assert (part.pose_strength, part.face_strength) == (0.5, 2.0)


def test_sampler_refuses_mismatched_model_and_embeds(ctx, vae, model):
    (plain,) = node("WanVideoEmptyEmbeds")(ctx, width=W, height=H, num_frames=5)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(ctx, model=model, image_embeds=plain, text_embeds=_text(), steps=1, cfg=1.0,
                                shift=5.0, seed=1, scheduler="unipc")
    assert err.value.input_name == "image_embeds" and "WanVideoAnimateEmbeds" in str(err.value)
