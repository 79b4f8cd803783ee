"""ComfyUI's WanCameraEmbedding: camera poses, intrinsics, Plücker rays and the grouping of
frames into latent frames, each checked against its definition written out here in numpy
(float64, pixel by pixel), independently of wfrun's torch code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.camera_embedding import (
    POSES,
    camera_poses,
    intrinsics,
    latent_groups,
    plucker_embedding,
    relative_to_first,
)

CTX = ExecContext()


def embed(**inputs):
    return node("WanCameraEmbedding")(CTX, **inputs)


# --- the definitions, written out independently ---------------------------------------

def rot_z(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_x(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def reference_plucker(rotation: np.ndarray, centre: np.ndarray, k: np.ndarray, height: int, width: int) -> np.ndarray:
    """[6, H, W]: for each pixel centre p = (u + 0.5, v + 0.5, 1), the ray direction
    d = normalise(R K^-1 p), the origin o = the camera centre, Plücker = (o x d, d)."""
    out = np.zeros((6, height, width))
    k_inv = np.linalg.inv(k)
    for v in range(height):
        for u in range(width):
            d = rotation @ k_inv @ np.array([u + 0.5, v + 0.5, 1.0])
            d = d / np.linalg.norm(d)
            out[:3, v, u] = np.cross(centre, d)
            out[3:, v, u] = d
    return out


def k_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def reference_fold(per_frame: list[np.ndarray]) -> np.ndarray:
    """[1, 24, T', H, W] the way the Wan VAE groups frames: latent frame 0 is frame 0 (four
    times), latent frame t >= 1 is frames 4t-3 .. 4t; channel 4c + k = component c of the
    group's k-th frame."""
    n = len(per_frame)
    groups = (n - 1) // 4 + 1
    _, h, w = per_frame[0].shape
    out = np.zeros((1, 24, groups, h, w))
    for t in range(groups):
        frames = [0, 0, 0, 0] if t == 0 else [4 * t - 3 + k for k in range(4)]
        for k, f in enumerate(frames):
            for c in range(6):
                out[0, 4 * c + k, t] = per_frame[f][c]
    return out


# --- the Plücker embedding of known poses ---------------------------------------------

def test_plucker_of_a_rotated_and_moved_camera_matches_the_definition():
    rotation = rot_z(0.3) @ rot_x(-0.2)
    centre = np.array([0.4, -1.1, 2.5])
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, :3] = torch.from_numpy(rotation)
    c2w[:3, 3] = torch.from_numpy(centre)
    camera = (7.0, 5.0, 3.2, 2.1)
    got = plucker_embedding(c2w[None], camera, 5, 6)
    expected = reference_plucker(rotation, centre, k_matrix(*camera), 5, 6)
    assert got.shape == (1, 6, 5, 6) and got.dtype == torch.float32
    np.testing.assert_allclose(got[0].numpy(), expected, atol=2e-6)


def test_identity_pose_has_no_moment_and_the_centre_ray_looks_down_z():
    c2w = torch.eye(4)[None]
    got = plucker_embedding(c2w, (10.0, 10.0, 2.0, 2.0), 4, 4)[0]
    assert torch.count_nonzero(got[:3]) == 0  # o = 0
    # pixel centres (1.5, 1.5) and (2.5, 2.5) sit 0.5 px either side of (cx, cy) = (2, 2)
    lean = 0.5 / 10.0
    norm = math.sqrt(2 * lean * lean + 1)
    np.testing.assert_allclose(got[3:, 2, 2].numpy(), [lean / norm, lean / norm, 1 / norm], rtol=1e-6)
    np.testing.assert_allclose(got[3:, 1, 1].numpy(), [-lean / norm, -lean / norm, 1 / norm], rtol=1e-6)


# --- intrinsics: the presets' 16:9 frame covering the output --------------------------

@pytest.mark.parametrize("width,height,expected", [
    # narrower than 16:9: the horizontal focal length is that of a 16:9 frame height px tall
    (512, 512, (0.5 * 512 * 16 / 9, 0.5 * 512, 256.0, 256.0)),
    (832, 480, (0.5 * 480 * 16 / 9, 0.5 * 480, 416.0, 240.0)),
    # wider than 16:9: the vertical focal length is that of a 16:9 frame width px wide
    (1280, 480, (0.5 * 1280, 0.5 * 1280 * 9 / 16, 640.0, 240.0)),
    # exactly 16:9: both are the output's own
    (1024, 576, (512.0, 288.0, 512.0, 288.0)),
])
def test_intrinsics_follow_the_16_9_frame(width, height, expected):
    np.testing.assert_allclose(intrinsics(width, height, 0.5, 0.5, 0.5, 0.5), expected, rtol=1e-6)


def test_intrinsics_scale_with_the_normalised_inputs():
    fx, fy, cx, cy = intrinsics(1280, 720, 0.8, 0.25, 0.4, 0.6)
    np.testing.assert_allclose([fx, fy, cx, cy], [0.8 * 1280, 0.25 * 720, 0.4 * 1280, 0.6 * 720], rtol=1e-6)


# --- each preset moves the camera the way its name says -------------------------------

LENGTH = 9


def centres(pose: str, speed: float = 1.0) -> np.ndarray:
    return relative_to_first(camera_poses(pose, LENGTH, speed))[:, :3, 3].double().numpy()


def rotations(pose: str, speed: float = 1.0) -> np.ndarray:
    return relative_to_first(camera_poses(pose, LENGTH, speed))[:, :3, :3].double().numpy()


@pytest.mark.parametrize("pose,axis,sign,size", [
    ("Pan Left", 0, -1, 1.0),   # camera x points right: left is -x
    ("Pan Right", 0, +1, 1.0),
    ("Pan Up", 1, -1, 1.0),     # camera y points down: up is -y
    ("Pan Down", 1, +1, 1.0),
    ("Zoom In", 2, +1, 2.0),    # camera z points forward: in is +z, twice as far as a pan
    ("Zoom Out", 2, -1, 2.0),
])
def test_translations_move_the_camera_along_their_axis(pose, axis, sign, size):
    c = centres(pose)
    for i in range(LENGTH):
        expected = np.zeros(3)
        expected[axis] = sign * size * 1.5 * i / LENGTH  # frame i has gone i/length of the way
        np.testing.assert_allclose(c[i], expected, atol=1e-6)
    np.testing.assert_allclose(rotations(pose), np.broadcast_to(np.eye(3), (LENGTH, 3, 3)), atol=1e-7)


def test_speed_scales_the_motion():
    np.testing.assert_allclose(centres("Pan Right", 2.5), 2.5 * centres("Pan Right", 1.0), atol=1e-6)
    np.testing.assert_allclose(centres("Pan Right", 0.0), np.zeros((LENGTH, 3)))


@pytest.mark.parametrize("pose,sign", [("ClockWise (CW)", +1), ("Anti Clockwise (ACW)", -1)])
def test_rolls_turn_the_camera_about_its_optical_axis(pose, sign):
    r = rotations(pose)
    for i in range(LENGTH):
        np.testing.assert_allclose(r[i], rot_z(sign * math.pi / 3 * i / LENGTH), atol=1e-6)
    np.testing.assert_allclose(centres(pose), np.zeros((LENGTH, 3)), atol=1e-7)
    # clockwise as seen through the camera (x right, y down): its right axis tips downwards
    right = r[-1][:, 0]
    assert sign * right[1] > 0.5 and abs(right[2]) < 1e-7


def test_static_stays_put():
    poses = relative_to_first(camera_poses("Static", LENGTH, 3.0)).numpy()
    np.testing.assert_allclose(poses, np.broadcast_to(np.eye(4), (LENGTH, 4, 4)), atol=1e-7)


# --- the node: output layout, grouping, pass-through ----------------------------------

@pytest.mark.parametrize("pose,width,height,length,speed,f", [
    ("Pan Left", 32, 16, 9, 1.0, (0.5, 0.5, 0.5, 0.5)),
    ("ClockWise (CW)", 16, 32, 5, 2.0, (0.4, 0.6, 0.45, 0.55)),
    ("Zoom In", 16, 16, 13, 0.7, (0.5, 0.5, 0.5, 0.5)),
])
def test_node_output_is_the_reference_rays_grouped_into_latent_frames(pose, width, height, length, speed, f):
    fx, fy, cx, cy = f
    out = embed(camera_pose=pose, width=width, height=height, length=length, speed=speed, fx=fx, fy=fy, cx=cx, cy=cy)
    emb = out[0]
    # the intrinsics written out: which side of 16:9 the size falls on
    if width / height < 16 / 9:
        k = k_matrix(fx * height * 16 / 9, fy * height, cx * width, cy * height)
    else:
        k = k_matrix(fx * width, fy * width * 9 / 16, cx * width, cy * height)
    per_frame = []
    for i in range(length):
        share = i / length * speed
        if pose == "Pan Left":
            rotation, centre = np.eye(3), np.array([-1.5 * share, 0.0, 0.0])
        elif pose == "Zoom In":
            rotation, centre = np.eye(3), np.array([0.0, 0.0, 3.0 * share])
        else:
            rotation, centre = rot_z(math.pi / 3 * share), np.zeros(3)
        per_frame.append(reference_plucker(rotation, centre, k, height, width))
    expected = reference_fold(per_frame)
    assert emb.shape == (1, 24, (length - 1) // 4 + 1, height, width)
    assert emb.dtype == torch.float32 and emb.device.type == "cpu"
    np.testing.assert_allclose(emb.numpy(), expected, atol=5e-6)


@pytest.mark.parametrize("length,groups", [(1, 1), (5, 2), (9, 3), (81, 21)])
def test_latent_frame_count_matches_the_latent_of_the_same_length(length, groups):
    emb, width, height, out_length = embed(camera_pose="Pan Up", width=16, height=32, length=length)
    assert emb.shape == (1, 24, groups, 32, 16)
    (latent,) = node("EmptyHunyuanLatentVideo")(CTX, width=16, height=32, length=length, batch_size=1)
    assert latent["samples"].shape[2] == emb.shape[2]
    assert (width, height, out_length) == (16, 32, length)
    assert latent_groups(length)[0] == [0, 0, 0, 0] and latent_groups(length)[-1][-1] == length - 1


def test_the_first_latent_frame_repeats_frame_zero_and_later_ones_differ():
    emb = embed(camera_pose="Pan Right", width=16, height=16, length=9)[0]
    first = emb[0, :, 0].view(6, 4, 16, 16)  # channel 4c + k
    for k in range(1, 4):
        assert torch.equal(first[:, k], first[:, 0])
    later = emb[0, :, 2].view(6, 4, 16, 16)
    assert not torch.equal(later[:, 0], later[:, 3])  # frames 5 and 8 sit at different places
    # a pure translation keeps every ray's direction: channels 3-5 of every frame are frame 0's
    for t in range(3):
        for k in range(4):
            assert torch.allclose(emb[0, [12 + k, 16 + k, 20 + k], t], first[3:, 0], atol=1e-7)


def test_every_preset_gives_finite_rays_and_passes_the_sizes_on():
    for pose in POSES:
        emb, w, h, n = embed(camera_pose=pose, width=32, height=16, length=5)
        assert emb.shape == (1, 24, 2, 16, 32) and torch.isfinite(emb).all(), pose
        assert (w, h, n) == (32, 16, 5)


# --- bad inputs name the input --------------------------------------------------------

@pytest.mark.parametrize("inputs,name", [
    ({"camera_pose": "Dolly Zoom"}, "camera_pose"),
    ({"width": 40}, "width"),
    ({"height": 8}, "height"),
    ({"length": 8}, "length"),
    ({"length": 0}, "length"),
    ({"fx": 0.0}, "fx"),
    ({"fy": 0.0}, "fy"),
])
def test_bad_inputs_raise_a_node_input_error_naming_the_input(inputs, name):
    with pytest.raises(NodeInputError) as err:
        embed(**{"width": 32, "height": 16, "length": 5, **inputs})
    assert err.value.input_name == name
    assert err.value.hint
