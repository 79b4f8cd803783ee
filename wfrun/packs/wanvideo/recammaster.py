"""ReCamMaster nodes: camera paths (CAMERAPOSES) and the embeds that make WanVideoSampler
re-render a video along one (the pack's ``recammaster/nodes.py``, 2025-04-10 on).

CAMERAPOSES is what the pack passes: one camera-to-world matrix (4x4, numpy) per latent
frame, in the ReCamMaster data's convention (translation in centimetres).

- WanVideoReCamMasterDefaultCamera: the ten preset paths of ReCamMaster's test data
  (``data/recammaster_camera_extrinsics.json``, from KwaiVGI/ReCamMaster
  ``example_test_data/cameras/camera_extrinsics.json``, MIT licence; the pack ships the same
  file): the matrices of every fourth frame, one per latent frame of the source ``latents``,
  each transposed (the data stores them column-major).
- WanVideoReCamMasterGenerateOrbitCamera: ``num_frames`` cameras on a unit circle around
  ReCamMaster's scene centre, turning ``degrees`` in all and facing the centre; every
  fourth is kept.
- WanVideoReCamMasterCameraEmbed: each matrix re-axed as ReCamMaster's inference does
  (columns y, z, x, w; the new y axis negated; translation to metres), then expressed
  relative to the first camera (``inv(c2w_0) @ c2w_i``); its top three rows, 12 numbers,
  are the frame's pose. The embeds carry the poses and the source latents; the sampler
  does the rest (:mod:`wfrun.sampling.recammaster`). Before 2025-04-17 the node took the
  preset ``camera_type`` itself (in its first version as a number "1" to "10").
- ReCamMasterPoseVisualizer: the pack's camera pyramids (the paths normalised to the unit
  cube, a pyramid per camera coloured by frame on the rainbow map, an arrow along each
  camera's view) drawn by wfrun itself: the pack plots them with matplotlib, which wfrun
  does not depend on. The geometry is the pack's; the picture is a plain projection in
  matplotlib's default 3-D view (azimuth -60°, elevation 30°) on the pack's background,
  without axes, grid or colour bar.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wfrun.media.camera_plot import draw_cameras
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.conditioning import ImageEmbeds, ReCamMasterEmbeds

DATA = Path(__file__).resolve().parent / "data" / "recammaster_camera_extrinsics.json"
CAMERA_TYPES = ("pan_right", "pan_left", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "translate_up",
                "translate_down", "arc_left", "arc_right")
#: ReCamMaster's scene centre (its data's units), the orbit camera's centre.
ORBIT_CENTRE = np.array([3390.0, 1380.0, 240.0])


@lru_cache(maxsize=1)
def _extrinsics() -> dict:
    return json.loads(DATA.read_text())


def _matrix(text: str) -> np.ndarray:
    """``"[a b c d] [e f g h] …"`` → a 4x4 array, a row per bracket."""
    rows = [[float(x) for x in row.split()] for row in re.findall(r"\[([^\]]*)\]", text)]
    return np.array(rows)


def _latent_frames(latents: Any, name: str = "latents") -> torch.Tensor:
    samples = latents.get("samples") if isinstance(latents, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise NodeInputError(name, f"expected LATENT, got {type(latents).__name__}", "connect WanVideoEncode's samples")
    samples = samples[0] if samples.ndim == 5 else samples
    if samples.ndim != 4:
        raise NodeInputError(name, f"latents of shape {tuple(samples.shape)}", "expected video latents from WanVideoEncode")
    return samples


def preset_path(camera_type: str, latent_frames: int) -> np.ndarray:
    """One of ReCamMaster's ten preset paths for ``latent_frames`` latent frames: ``[T, 4, 4]``."""
    names = {name: i + 1 for i, name in enumerate(CAMERA_TYPES)} | {str(i + 1): i + 1 for i in range(10)}
    number = names.get(str(camera_type))
    if number is None:
        raise NodeInputError("camera_type", f"unknown camera type '{camera_type}'", "use one of " + ", ".join(CAMERA_TYPES))
    data = _extrinsics()
    frames = range(0, (latent_frames - 1) * 4 + 1, 4)
    missing = [f for f in frames if f"frame{f}" not in data]
    if missing:
        raise NodeInputError("latents", f"{latent_frames} latent frames need camera frames up to {frames[-1]}; "
                             f"ReCamMaster's presets stop at frame {len(data) - 1}",
                             "use at most 81 frames (21 latent frames) for the source video")
    return np.stack([_matrix(data[f"frame{f}"][f"cam{number:02d}"]).T for f in frames])


def relative_poses(camera_poses: Any) -> torch.Tensor:
    """The ``[T, 12]`` pose embedding of ReCamMaster's inference (see the module docs)."""
    mats = []
    for c2w in np.asarray(camera_poses, dtype=np.float64):
        m = c2w[:, [1, 2, 0, 3]].copy()
        m[:3, 1] *= -1.0
        m[:3, 3] /= 100.0
        mats.append(m)
    if not mats:
        raise NodeInputError("camera_poses", "no camera poses", "connect WanVideoReCamMasterDefaultCamera")
    first_inv = np.linalg.inv(mats[0])
    rel = [(first_inv @ m).astype(np.float32)[:3, :].reshape(12) for m in mats]
    return torch.from_numpy(np.stack(rel))


@executor("WanVideoReCamMasterDefaultCamera")
def recammaster_default_camera(ctx: ExecContext, camera_type: str, latents: Any, **_: Any) -> tuple:
    return (preset_path(camera_type, _latent_frames(latents).shape[1]),)


@executor("WanVideoReCamMasterGenerateOrbitCamera")
def recammaster_orbit_camera(ctx: ExecContext, num_frames: int, degrees: int, **_: Any) -> tuple:
    n = int(num_frames)
    if n < 2:
        raise NodeInputError("num_frames", f"{n} frame(s) make no orbit (the angle step divides by frames - 1)",
                             "use 2 frames or more")
    out = []
    for i in range(n):
        angle = math.radians(i * float(degrees) / (n - 1))
        position = ORBIT_CENTRE - np.array([math.cos(angle), math.sin(angle), 0.0])
        look = math.atan2(*(ORBIT_CENTRE - position)[[1, 0]])
        c, s = math.cos(look), math.sin(look)
        out.append(np.array([[c, -s, 0, position[0]], [s, c, 0, position[1]], [0, 0, 1, position[2]], [0, 0, 0, 1]]))
    return (np.stack(out[::4]),)


@executor("WanVideoReCamMasterCameraEmbed")
def recammaster_camera_embed(ctx: ExecContext, latents: Any, camera_poses: Any = None, camera_type: str | None = None,
                             **_: Any) -> tuple:
    samples = _latent_frames(latents).float()
    frames = samples.shape[1]
    if camera_poses is None:
        if camera_type is None:
            raise NodeInputError("camera_poses", "no camera poses", "connect WanVideoReCamMasterDefaultCamera")
        camera_poses = preset_path(camera_type, frames)
    poses = relative_poses(camera_poses)
    if poses.shape[0] != frames:
        raise NodeInputError("camera_poses", f"{poses.shape[0]} camera poses for a source video of {frames} latent "
                             "frames", "make the camera path for as many frames as the source video")
    num_frames = (frames - 1) * 4 + 1
    embeds = ImageEmbeds(num_frames=num_frames, target_shape=tuple(int(x) for x in samples.shape),
                         max_seq_len=math.ceil(samples.shape[2] * samples.shape[3] / 4 * frames),
                         recammaster=ReCamMasterEmbeds(camera_embed=poses, source_latents=samples))
    return (embeds, camera_poses)


# --- the pose visualizer -----------------------------------------------------------------

def visualizer_cameras(camera_poses: Any) -> list[np.ndarray]:
    """The pack's plotted camera-to-world matrices: re-axed, made relative to the first,
    turned z-up, and scaled so the farthest camera is 1 from the origin (unless all sit
    still: a pan or tilt)."""
    w2cs = []
    for cam in np.asarray(camera_poses, dtype=np.float64):
        if cam.shape[0] == 3:
            cam = np.vstack([cam, [0, 0, 0, 1]])
        m = cam[:, [1, 2, 0, 3]].copy()
        m[:3, 1] *= -1.0
        w2cs.append(np.linalg.inv(m))
    turn = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    c2ws = [turn @ np.eye(4)] + [turn @ (w2cs[0] @ np.linalg.inv(w)) for w in w2cs[1:]]
    scale = max(np.abs(c[:3, 3]).max() for c in c2ws)
    if scale > 1e-3:
        for c in c2ws:
            c[:3, 3] /= scale
    return c2ws


@executor("ReCamMasterPoseVisualizer")
def recammaster_pose_visualizer(ctx: ExecContext, camera_poses: Any, base_xval: float, zval: float, scale: float,
                                arrow_length: float, **_: Any) -> tuple:
    cameras = visualizer_cameras(camera_poses)
    image = draw_cameras(cameras, float(base_xval), [float(zval)] * len(cameras), float(scale),
                         arrow_length=float(arrow_length), fill_alpha=90)
    return (torch.from_numpy(image)[None],)
