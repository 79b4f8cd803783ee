"""ReCamMaster (packs/wanvideo/recammaster.py, wfrun.sampling.recammaster): the camera
maths worked out by hand, a block with the camera hooks against the ReCamMaster block
written out from its formulas, and WanVideoSampler with ReCamMaster embeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wfrun.models.load import load_transformer
from wfrun.models.tiny import TinySpec, write_file
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.recammaster import (preset_path, recammaster_camera_embed, recammaster_default_camera,
                                              recammaster_orbit_camera, recammaster_pose_visualizer, relative_poses)
from wfrun.sampling.conditioning import TextEmbeds
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.sampling.recammaster import camera_conditioning


def _translation(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def test_moving_along_the_data_x_axis_is_moving_forward_in_the_first_camera():
    """Re-axed (columns y, z, x; y negated; cm → m) and made relative to the first camera, a
    100 cm step along the data's x is the first camera's +z by 1, rotation unchanged."""
    poses = relative_poses([_translation(3390, 1380, 240), _translation(3490, 1380, 240)])
    assert poses.dtype == torch.float32 and poses.shape == (2, 12)
    assert poses[0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    torch.testing.assert_close(poses[1], torch.tensor([1., 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]))


def test_presets_start_at_the_scene_camera_and_take_every_fourth_frame():
    latents = {"samples": torch.zeros(1, 16, 3, 4, 4)}
    (path,) = recammaster_default_camera(ExecContext(), "pan_right", latents)
    assert path.shape == (3, 4, 4)
    np.testing.assert_array_equal(path[0], _translation(3390, 1380, 240))  # frame0 of every preset
    assert not np.allclose(path[2], path[0])  # frame 8 has turned
    np.testing.assert_array_equal(preset_path("1", 3), path)  # the first version's numbered types
    with pytest.raises(NodeInputError, match="stop at frame 80"):
        preset_path("zoom_in", 22)


def test_orbit_camera_faces_its_centre():
    (path,) = recammaster_orbit_camera(ExecContext(), num_frames=9, degrees=90)
    assert path.shape == (3, 4, 4)  # frames 0, 4, 8
    for m in path:
        to_centre = np.array([3390.0, 1380.0, 240.0]) - m[:3, 3]
        np.testing.assert_allclose(np.linalg.norm(to_centre), 1.0)
        np.testing.assert_allclose(m[:3, 0], to_centre, atol=1e-9)  # its x axis looks at the centre
    np.testing.assert_allclose(path[-1][:3, 3], [3390, 1379, 240], atol=1e-9)  # a quarter turn


def test_embeds_carry_poses_and_source_and_refuse_a_path_of_other_length():
    latents = {"samples": torch.randn(1, 16, 3, 4, 4)}
    (path,) = recammaster_default_camera(ExecContext(), "arc_left", latents)
    embeds, passed = recammaster_camera_embed(ExecContext(), latents, camera_poses=path)
    assert passed is path and embeds.target_shape == (16, 3, 4, 4) and embeds.num_frames == 9
    torch.testing.assert_close(embeds.recammaster.camera_embed, relative_poses(path))
    assert torch.equal(embeds.recammaster.source_latents, latents["samples"][0])
    old, _ = recammaster_camera_embed(ExecContext(), latents, camera_type="arc_left")  # before 2025-04-17
    assert torch.equal(old.recammaster.camera_embed, embeds.recammaster.camera_embed)
    with pytest.raises(NodeInputError, match="2 camera poses"):
        recammaster_camera_embed(ExecContext(), latents, camera_poses=path[:2])


def test_pose_visualizer_draws_an_image():
    (path,) = recammaster_orbit_camera(ExecContext(), num_frames=81, degrees=90)
    (image,) = recammaster_pose_visualizer(ExecContext(), path, base_xval=0.1, zval=0.2, scale=0.4, arrow_length=0.5)
    assert image.shape == (1, 700, 1800, 3) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert (image[0] != image[0, 0, 0]).any()  # something besides the background


@pytest.fixture(scope="module")
def recam_model(tmp_path_factory):
    spec = TinySpec("diffusion_models", "Wan2_1_kwai_recammaster_1_3B_tiny_fp32.safetensors", "wan_transformer",
                    "recammaster", "original", "fp32")
    return load_transformer(write_file(spec, tmp_path_factory.mktemp("recam")), dtype=torch.float32).eval()


def test_a_block_with_the_camera_hooks_is_the_recammaster_block(recam_model):
    """ReCamMaster's block: x + gate * projector(selfattn(modulated norm1(x) + cam_encoder(pose))),
    the pose tiled over the source frames and each frame's tokens; then cross-attention and FFN."""
    block = recam_model.blocks[0]
    frames, per_frame, dim = 2, 6, block.cam_encoder.out_features
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2 * frames * per_frame, dim, generator=g)
    context = torch.randn(1, 7, dim, generator=g)
    temb = torch.randn(1, 6, dim, generator=g)
    poses = torch.randn(frames, 12, generator=g)
    rope = recam_model.rope(torch.zeros(1, 16, 2 * frames, 2 * 2, 3 * 2))
    with torch.no_grad():
        with camera_conditioning(recam_model, poses):
            ours = block(x, context, temb, rope)
        shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + temb).chunk(6, dim=1)
        cam = block.cam_encoder(poses)  # [T, dim]
        cam = torch.cat([cam, cam]).repeat_interleave(per_frame, dim=0)  # target frames, then the source's
        attn_in = block.norm1(x) * (1 + scale) + shift + cam
        h = x + block.projector(block.attn1(attn_in, None, None, rope)) * gate
        h = h + block.attn2(block.norm2(h), context, None, None)
        ref = h + block.ffn(block.norm3(h) * (1 + c_scale) + c_shift) * c_gate
        plain = block(x, context, temb, rope)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(plain, ours)  # the hooks are gone after the block


def test_sampler_runs_the_source_frames_beside_the_video(recam_model):
    latents = {"samples": torch.randn(1, 16, 2, 4, 6, generator=torch.Generator().manual_seed(2))}
    (path,) = recammaster_default_camera(ExecContext(), "zoom_in", latents)
    embeds, _ = recammaster_camera_embed(ExecContext(), latents, camera_poses=path)
    text = TextEmbeds(prompt_embeds=(torch.randn(5, 32),), negative_prompt_embeds=(torch.randn(5, 32),))
    seen = []
    handle = recam_model.patch_embedding.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[2]))
    try:
        with torch.no_grad():
            out = sample(SamplingRequest(transformer=recam_model, image_embeds=embeds, text_embeds=text, steps=2,
                                         cfg=1.0, shift=5.0, seed=0, scheduler="euler"))
    finally:
        handle.remove()
    assert seen == [4, 4]  # two steps, each on the 2 frames to make and the 2 source frames
    assert out["samples"].shape == (1, 16, 2, 4, 6)
    wrong = type(embeds)(num_frames=9, target_shape=(16, 3, 4, 6), recammaster=embeds.recammaster)
    with pytest.raises(SamplingError, match="source latents"):
        sample(SamplingRequest(transformer=recam_model, image_embeds=wrong, text_embeds=text, steps=1, cfg=1.0,
                               shift=5.0, seed=0, scheduler="euler"))
