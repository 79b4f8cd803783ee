"""Wan 2.1 Fun-Camera through the wrapper: WanVideoFunCameraEmbeds' Plücker rays against the
definitions written out here in numpy (float64, pixel by pixel), the camera adapter against
VideoX-Fun's ``SimpleAdapter`` formulas on the tiny model's weights, and WanVideoSampler
feeding the rays to the adapter inside their window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.models.load import load_transformer
from wfrun.models.tiny import TinySpec, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.fun_camera import check_camera
from wfrun.sampling.conditioning import ContextOptions, ImageEmbeds, SamplerOptions, TextEmbeds
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample

CTX = ExecContext()


def rot(axis: int, a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    i, j = [k for k in range(3) if k != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def pose(fx, fy, cx, cy, r, t):
    return [0.0, fx, fy, cx, cy, 1280.0, 720.0] + list(np.hstack([r, np.reshape(t, (3, 1))]).reshape(-1))


def some_poses(n: int = 5) -> list[list[float]]:
    out = []
    for i in range(n):
        r = rot(0, 0.05 * i) @ rot(1, -0.03 * i)
        out.append(pose(0.5 + 0.01 * i, 0.8, 0.5, 0.45, r, [0.1 * i, -0.05 * i, 0.2 * i + 0.3]))
    return out


def reference_rays(poses, width, height) -> np.ndarray:
    """The pack's steps, one pixel at a time: intrinsics fitted from a 1280x720 pose aspect,
    cameras relative to the first, rays through pixel centres, Plücker (o x d, d), then the
    VAE's grouping of frames (first frame four times) into 24 channels per latent frame."""
    per_frame = []
    w2c0 = np.vstack([np.reshape(poses[0][7:], (3, 4)), [0, 0, 0, 1]])
    for n, p in enumerate(poses):
        fx, fy, cx, cy = p[1:5]
        if 1280 / 720 > width / height:
            fx = fx * height * (1280 / 720) / width
        else:
            fy = fy * width / (1280 / 720) / height
        fx, fy, cx, cy = fx * width, fy * height, cx * width, cy * height
        w2c = np.vstack([np.reshape(p[7:], (3, 4)), [0, 0, 0, 1]])
        c2w = np.eye(4) if n == 0 else w2c0 @ np.linalg.inv(w2c)
        rays = np.zeros((6, height, width))
        for v in range(height):
            for u in range(width):
                d = np.array([(u + 0.5 - cx) / fx, (v + 0.5 - cy) / fy, 1.0])
                d = c2w[:3, :3] @ (d / np.linalg.norm(d))
                o = c2w[:3, 3]
                rays[:3, v, u], rays[3:, v, u] = np.cross(o, d), d
        per_frame.append(rays)
    groups = (len(poses) - 1) // 4 + 1
    out = np.zeros((1, 24, groups, height, width))
    for g in range(groups):
        frames = [0] * 4 if g == 0 else [4 * g - 3 + k for k in range(4)]
        for k, f in enumerate(frames):
            for c in range(6):
                out[0, 4 * c + k, g] = per_frame[f][c]
    return out


@pytest.mark.parametrize("width,height", [(32, 16), (16, 32)])  # wider than 16:9 (fy fitted), taller (fx)
def test_rays_match_the_definition(width, height):
    poses = some_poses()
    (embeds,) = node("WanVideoFunCameraEmbeds")(CTX, poses=poses, width=width, height=height, strength=0.5,
                                                start_percent=0.1, end_percent=0.9)
    control = embeds.control_embeds
    assert control.control_images is None
    assert (control.camera_start_percent, control.camera_end_percent) == (0.1, 0.9)
    assert embeds.target_shape == (16, 2, height // 8, width // 8) and embeds.num_frames == 5
    assert control.camera.dtype == torch.float32
    np.testing.assert_allclose(control.camera.numpy(), 0.5 * reference_rays(poses, width, height), rtol=1e-5,
                               atol=2e-6)


def test_first_camera_rays_start_at_the_origin_and_point_through_the_pixels():
    """Frame 0 is the identity camera: o = 0, so o x d = 0, and d of the centre pixel is
    along +z when the principal point sits at a pixel centre."""
    p = pose(0.5, 0.5 * 16 / 9, 8.5 / 16, 8.5 / 16, np.eye(3), [3.0, 1.0, 2.0])
    (embeds,) = node("WanVideoFunCameraEmbeds")(CTX, poses=[p] * 5, width=16, height=16)
    rays = embeds.control_embeds.camera[0]
    assert torch.count_nonzero(rays[:12]) == 0  # o x d, every frame: all cameras are the first one
    torch.testing.assert_close(rays[[12, 16, 20], 0, 8, 8], torch.tensor([0.0, 0.0, 1.0]))


def test_pose_count_and_size_are_checked():
    with pytest.raises(NodeInputError, match="4n \\+ 1"):
        node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(6), width=32, height=16)
    with pytest.raises(NodeInputError, match="multiple of 16"):
        node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(5), width=40, height=16)
    with pytest.raises(NodeInputError, match="19"):
        node("WanVideoFunCameraEmbeds")(CTX, poses=[[0.0] * 7] * 5, width=32, height=16)


@pytest.fixture(scope="module")
def camera_model(tmp_path_factory):
    spec = TinySpec("diffusion_models", "Wan2.1-Fun-V1.1-1.3B-Control-Camera_tiny_fp32.safetensors",
                    "wan_transformer", "fun-camera", "original", "fp32")
    return load_transformer(write_file(spec, tmp_path_factory.mktemp("funcam")), dtype=torch.float32).eval()


def test_adapter_is_the_simple_adapter(camera_model):
    """VideoX-Fun's SimpleAdapter per frame: pixel-unshuffle by 8 (channel c·64 + 8i + j is
    pixel (8h + i, 8w + j) of channel c), a 2x2 stride-2 convolution, then residual blocks
    x + conv2(relu(conv1(x)))."""
    adapter = camera_model.control_adapter
    sd = {k: v.double().numpy() for k, v in adapter.state_dict().items()}
    rays = torch.randn(1, 24, 2, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = adapter(rays)
    x = rays.double().numpy()[0]
    ref = []
    for f in range(x.shape[1]):
        frame = x[:, f]                                                   # [24, 32, 48]
        h, w = frame.shape[1] // 8, frame.shape[2] // 8
        un = np.zeros((24 * 64, h, w))
        for c in range(24):
            for i in range(8):
                for j in range(8):
                    un[c * 64 + 8 * i + j] = frame[c, i::8, j::8]
        patches = un.reshape(24 * 64, h // 2, 2, w // 2, 2)               # 2x2 stride-2 convolution
        y = np.einsum("ocij,cyixj->oyx", sd["conv.weight"], patches) + sd["conv.bias"][:, None, None]
        n = 0
        while f"residual_blocks.{n}.conv1.weight" in sd:
            t = torch.from_numpy(y)[None]
            a = F.conv2d(t, torch.from_numpy(sd[f"residual_blocks.{n}.conv1.weight"]),
                         torch.from_numpy(sd[f"residual_blocks.{n}.conv1.bias"]), padding=1).relu()
            b = F.conv2d(a, torch.from_numpy(sd[f"residual_blocks.{n}.conv2.weight"]),
                         torch.from_numpy(sd[f"residual_blocks.{n}.conv2.bias"]), padding=1)
            y = (t + b)[0].numpy()
            n += 1
        assert n == 1  # the released models have one residual block
        ref.append(y)
    ref = np.stack(ref, axis=1)[None]
    assert ours.shape == (1, camera_model.config.num_attention_heads * camera_model.config.attention_head_dim, 2,
                          2, 3)
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=1e-4, atol=1e-5)


def _text():
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=(torch.randn(5, 32, generator=g),),
                      negative_prompt_embeds=(torch.randn(5, 32, generator=g),))


def _spy(model):
    """Records each patch embedding's input and each adapter input."""
    seen = {"x": [], "rays": []}
    hooks = [model.patch_embedding.register_forward_pre_hook(lambda m, a: seen["x"].append(a[0].clone())),
             model.control_adapter.register_forward_pre_hook(lambda m, a: seen["rays"].append(a[0].clone()))]
    return seen, hooks


def test_sampler_feeds_the_rays_inside_their_window(camera_model):
    """Text-to-video from the camera embeds alone: 16 zero image channels after the latents,
    the rays to the adapter at steps 0 and 1 of 4 (window 0 .. 0.3), cond and uncond alike."""
    (embeds,) = node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(5), width=48, height=32, strength=2.0,
                                                start_percent=0.0, end_percent=0.3)
    seen, hooks = _spy(camera_model)
    try:
        with torch.no_grad():
            out = sample(SamplingRequest(transformer=camera_model, image_embeds=embeds, text_embeds=_text(), steps=4,
                                         cfg=3.0, shift=5.0, seed=0, scheduler="euler"))
    finally:
        for h in hooks:
            h.remove()
    assert out["samples"].shape == (1, 16, 2, 4, 6)
    assert len(seen["x"]) == 8 and len(seen["rays"]) == 4  # cond + uncond at steps 0 and 1
    for x in seen["x"]:
        assert x.shape[1] == 32 and torch.count_nonzero(x[:, 16:]) == 0
    for rays in seen["rays"]:
        torch.testing.assert_close(rays, embeds.control_embeds.camera)


def test_sampler_i2v_and_context_windows(camera_model):
    """Image embeds of 16 latent channels (WanVideoImageToVideoEncode with control_embeds)
    go after the noise; each context window's calls get its own frames' rays."""
    (cam,) = node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(9), width=48, height=32)
    y = torch.randn(16, 3, 4, 6, generator=torch.Generator().manual_seed(4))
    embeds = ImageEmbeds(num_frames=9, image_embeds=y, lat_h=4, lat_w=6, control_embeds=cam.control_embeds)
    windows = ContextOptions(context_schedule="uniform_standard", context_frames=5, context_stride=4,
                             context_overlap=4, freenoise=False)
    seen, hooks = _spy(camera_model)
    try:
        with torch.no_grad():
            sample(SamplingRequest(transformer=camera_model, image_embeds=embeds, text_embeds=_text(), steps=1,
                                   cfg=1.0, shift=5.0, seed=0, scheduler="euler",
                                   options=SamplerOptions(context=windows)))
    finally:
        for h in hooks:
            h.remove()
    assert len(seen["rays"]) == 2  # windows [0, 1] and [1, 2]
    rays = cam.control_embeds.camera
    frames = [r.shape[2] for r in seen["rays"]]
    assert frames == [2, 2]
    torch.testing.assert_close(seen["rays"][0], rays[:, :, [0, 1]])
    torch.testing.assert_close(seen["rays"][1], rays[:, :, [1, 2]])
    for x in seen["x"]:
        assert x.shape[1] == 32


def test_mismatches_are_refused(camera_model):
    (cam,) = node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(5), width=48, height=32)
    bad = ImageEmbeds(num_frames=9, target_shape=(16, 3, 4, 6), control_embeds=cam.control_embeds)
    with pytest.raises(SamplingError, match="camera rays"):
        sample(SamplingRequest(transformer=camera_model, image_embeds=bad, text_embeds=_text(), steps=1, cfg=1.0,
                               shift=5.0, seed=0, scheduler="euler"))

    class Plain:  # a model without the camera adapter
        control_adapter = None

    with pytest.raises(NodeInputError, match="Control-Camera model"):
        check_camera("t2v.safetensors", Plain(), cam)
    with pytest.raises(NodeInputError, match="needs camera embeds"):
        check_camera("cam.safetensors", camera_model, ImageEmbeds(num_frames=5, target_shape=(16, 2, 4, 6)))
    assert check_camera("cam.safetensors", camera_model, cam) is True


@pytest.fixture(scope="module")
def camera_a14b(tmp_path_factory):
    spec = TinySpec("diffusion_models", "wan2.2_fun_camera_low_noise_14B_tiny_fp32.safetensors", "wan_transformer",
                    "fun-camera-a14b", "original", "fp32")
    return load_transformer(write_file(spec, tmp_path_factory.mktemp("funcam22")), dtype=torch.float32).eval()


def test_wan22_fun_camera_takes_the_mask_and_the_unzeroed_latents(camera_a14b):
    """Wan 2.2 Fun Camera A14B (36 input channels): the wrapper's sampler from 2025-08 gives a
    model that is not 32 or 48 wide the encode's mask and its latents as they were encoded
    (the encode keeps them apart and zeroes nothing): here the 20 channels kept beside the
    zeroed 16 that a 32-wide Wan 2.1 Fun Camera takes."""
    (cam,) = node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(9), width=48, height=32)
    g = torch.Generator().manual_seed(5)
    full = torch.randn(20, 3, 4, 6, generator=g)
    zeroed = full[4:].clone()
    zeroed[:, 1:] = 0
    embeds = ImageEmbeds(num_frames=9, image_embeds=zeroed, lat_h=4, lat_w=6, control_embeds=cam.control_embeds,
                         masked_image_embeds=full)
    seen, hooks = _spy(camera_a14b)
    try:
        with torch.no_grad():
            sample(SamplingRequest(transformer=camera_a14b, image_embeds=embeds, text_embeds=_text(), steps=1,
                                   cfg=1.0, shift=5.0, seed=0, scheduler="euler"))
    finally:
        for h in hooks:
            h.remove()
    assert seen["x"] and len(seen["rays"]) == 1
    for x in seen["x"]:
        assert x.shape[1] == 36
        torch.testing.assert_close(x[0, 16:], full)
    without = ImageEmbeds(num_frames=9, image_embeds=zeroed, lat_h=4, lat_w=6, control_embeds=cam.control_embeds)
    with pytest.raises(SamplingError, match="16 channels, the model expects 20"):
        sample(SamplingRequest(transformer=camera_a14b, image_embeds=without, text_embeds=_text(), steps=1, cfg=1.0,
                               shift=5.0, seed=0, scheduler="euler"))


def test_the_encode_keeps_mask_and_latents_beside_the_control_zeroed_ones(tiny_models):
    from wfrun.models.paths import ModelRoots

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (vae,) = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")
    start = torch.rand(1, 32, 48, 3, generator=torch.Generator().manual_seed(6))
    (cam,) = node("WanVideoFunCameraEmbeds")(CTX, poses=some_poses(9), width=48, height=32)
    common = dict(vae=vae, width=48, height=32, num_frames=9, start_image=start, force_offload=False,
                  noise_aug_strength=0.0)
    (plain,) = node("WanVideoImageToVideoEncode")(ctx, **common)
    (with_cam,) = node("WanVideoImageToVideoEncode")(ctx, control_embeds=cam, **common)
    assert plain.masked_image_embeds is None and plain.image_embeds.shape[0] == 20
    torch.testing.assert_close(with_cam.masked_image_embeds, plain.image_embeds)
    zeroed = plain.image_embeds[4:].clone()
    zeroed[:, 1:] = 0
    torch.testing.assert_close(with_cam.image_embeds, zeroed)
