"""KJNodes' CameraPoseVisualizer (packs/kjnodes/camera_pose.py): the cameras it plots,
worked out by hand from the pack's ``get_c2w``, and where wfrun's PIL drawing puts them."""

from __future__ import annotations

import numpy as np
import pytest

from node_helpers import node
from wfrun.media.camera_plot import BACKGROUND, projector, rainbow
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.camera_pose import plotted_cameras


def w2c_pose(fx: float, t) -> list[float]:
    return [0.0, fx, 0.8, 0.5, 0.5, 1280.0, 720.0, 1, 0, 0, t[0], 0, 1, 0, t[1], 0, 0, 1, t[2]]


def test_cameras_relative_to_the_first_and_turned_z_up():
    """w2c = [I | t]: relative c2w_i = w2c_0 · inv(w2c_i) = [I | t_0 - t_i]; then (x, y, z) →
    (x, z, -y) of the plot."""
    w2cs = []
    for t in ([1.0, 2.0, 3.0], [1.5, 2.0, 1.0]):
        m = np.eye(4)
        m[:3, 3] = t
        w2cs.append(m)
    first, second = plotted_cameras(w2cs, relative=True)
    turn = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    np.testing.assert_allclose(first[:3, :3], turn) and np.testing.assert_allclose(first[:3, 3], 0)
    np.testing.assert_allclose(second[:3, 3], turn @ np.array([-0.5, 0.0, 2.0]))
    absolute = plotted_cameras(w2cs, relative=False)
    np.testing.assert_allclose(absolute[0][:3, 3], turn @ np.array([-1.0, -2.0, -3.0]))


def _pixel(image: np.ndarray, point) -> np.ndarray:
    x, y = point
    return image[int(round(y)), int(round(x))]


def test_one_camera_is_drawn_where_the_view_puts_it(tmp_path):
    """A single camera (rainbow colour at 0: magenta-blue) at the origin: its apex pixel is
    its outline colour, the picture's corner is the background."""
    (image,) = node("CameraPoseVisualizer")(ExecContext(input_dir=tmp_path), pose_file_path="",
                                            cameractrl_poses=[w2c_pose(0.5, [0, 0, 0])], base_xval=0.4, zval=0.6,
                                            scale=0.5)
    assert image.shape == (1, 700, 1800, 3)
    img = (image[0].numpy() * 255).round()
    np.testing.assert_allclose(img[0, 0], BACKGROUND)
    apex = projector(0.5)(np.zeros(3))
    np.testing.assert_allclose(_pixel(img, apex), rainbow(0.0), atol=1)
    # the base centre (0, 0, zval) in camera space is (0, zval, 0) in the plot, filled translucent
    centre = projector(0.5)(np.array([0.0, 0.6, 0.0]))
    inside = _pixel(img, centre)
    assert not np.allclose(inside, BACKGROUND) and not np.allclose(inside, rainbow(0.0), atol=1)


def test_exact_fx_sets_each_pyramid_depth_and_files_stay_in_the_input_folder(tmp_path):
    poses = [w2c_pose(1.2, [0, 0, 0])]
    ctx = ExecContext(input_dir=tmp_path)
    (exact,) = node("CameraPoseVisualizer")(ctx, pose_file_path="", cameractrl_poses=poses, use_exact_fx=True,
                                            zval=0.1, base_xval=0.2, scale=1.0)
    (plain,) = node("CameraPoseVisualizer")(ctx, pose_file_path="", cameractrl_poses=poses, use_exact_fx=False,
                                            zval=1.2, base_xval=0.2, scale=1.0)
    np.testing.assert_array_equal(exact.numpy(), plain.numpy())
    (tmp_path / "poses.txt").write_text("https://example/source\n" + " ".join(str(v) for v in poses[0]) + "\n")
    (from_file,) = node("CameraPoseVisualizer")(ctx, pose_file_path="poses.txt", use_exact_fx=True, zval=0.1,
                                                base_xval=0.2, scale=1.0)
    np.testing.assert_array_equal(from_file.numpy(), exact.numpy())
    with pytest.raises(NodeInputError, match="'..' are refused") as err:
        node("CameraPoseVisualizer")(ctx, pose_file_path="../poses.txt")
    assert err.value.input_name == "pose_file_path"
    with pytest.raises(NodeInputError, match="no camera poses"):
        node("CameraPoseVisualizer")(ctx, pose_file_path="")
