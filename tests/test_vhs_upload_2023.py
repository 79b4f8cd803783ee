"""VideoHelperSuite of 2023-10-20: VHS_UploadVideo, VHS_LoadVideoUpload (and that day's
VHS_LoadVideo / VHS_LoadVideoPath with ``desired_frame_rate``) and VHS_OutVideoInfo, on a
20-frame 10 fps clip whose frame i is flat grey 10 + 12 i; the expected frames and video
info are worked out by hand from the pack's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.media import video as mv
from wfrun.nodes.executor import ExecContext, NodeInputError

OLD = dict(force_size="Disabled", frame_load_cap=0, skip_first_frames=0, select_every_nth=1)


@pytest.fixture
def ctx(tmp_path):
    for name in ("input", "output", "input/VHS_upload"):
        (tmp_path / name).mkdir()
    context = ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output")
    frames = (np.full((48, 64, 3), 10 + 12 * i, np.uint8).tobytes() for i in range(20))
    mv.encode(frames, context.input_dir / "VHS_upload" / "clip.mp4", width=64, height=48, frame_rate=10,
              output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "1"])
    return context


def levels(images):
    return [round(float(f.mean()) * 255) for f in images]


def close_to(got, want, tol=3):
    return len(got) == len(want) and all(abs(g - w) <= tol for g, w in zip(got, want))


def test_upload_load_at_a_desired_rate_gives_that_days_outputs(ctx):
    images, frame_count, info = node("VHS_LoadVideoUpload")(
        ctx, video="input/VHS_upload/clip.mp4", upload_to_directory="input", desired_frame_rate=5, **OLD)
    # 5 fps from 10: every other frame; frame_count is the source's
    assert close_to(levels(images), [10 + 12 * i for i in range(0, 20, 2)]) and frame_count == 20
    assert info == pytest.approx({"original_frame_count": 20, "original_fps": 10, "original_video_duration": 2.0,
                                  "original_frame_time": 0.1, "actual_frame_count": 10, "actual_fps": 5,
                                  "actual_video_duration": 2.0, "actual_frame_time": 0.2})
    outputs = node("VHS_OutVideoInfo")(ctx, in_video_info=info)
    assert outputs == pytest.approx((20, 10, 2.0, 0.1, 10, 5, 2.0, 0.2))
    # that day's VHS_LoadVideo was the same node
    same = node("VHS_LoadVideo")(ctx, video="input/VHS_upload/clip.mp4", upload_to_directory="input",
                                 desired_frame_rate=5, force_rate=0, custom_width=0, custom_height=0,
                                 format="AnimateDiff", **OLD)
    assert torch.equal(same[0], images) and same[1:] == (frame_count, info)


def test_every_nth_is_not_counted_in_the_actual_rate(ctx):
    images, _, info = node("VHS_LoadVideoUpload")(ctx, video="clip.mp4", upload_to_directory="input",
                                                  desired_frame_rate=0, **{**OLD, "select_every_nth": 3})
    assert close_to(levels(images), [10 + 12 * i for i in range(0, 20, 3)])
    assert (info["actual_frame_count"], info["actual_fps"]) == (7, 10)
    assert info["actual_video_duration"] == pytest.approx(0.7)


def test_upload_video_path_feeds_that_days_path_loader(ctx):
    (path,) = node("VHS_UploadVideo")(ctx, video="input/VHS_upload/clip.mp4", upload_to_directory="input")
    assert path == str((ctx.input_dir / "VHS_upload" / "clip.mp4").resolve())
    images, frame_count, info = node("VHS_LoadVideoPath")(
        ctx, video=path, desired_frame_rate=0, force_rate=0, custom_width=0, custom_height=0, format="None",
        **{**OLD, "frame_load_cap": 4, "skip_first_frames": 2})
    assert close_to(levels(images), [10 + 12 * i for i in (2, 3, 4, 5)]) and frame_count == 20
    assert node("VHS_OutVideoInfo")(ctx, in_video_info=info)[4:6] == (4, 10)


@pytest.mark.parametrize("video, folder, name", [("temp/VHS_upload/clip.mp4", "input", "upload_to_directory"),
                                                 ("clip.mp4", "temp", "upload_to_directory"),
                                                 ("../../../etc/passwd", "input", "video"),
                                                 ("input/x/missing.mp4", "input", "video")])
def test_only_the_input_folders_uploads_are_read(ctx, video, folder, name):
    for class_type in ("VHS_UploadVideo", "VHS_LoadVideoUpload"):
        extra = {} if class_type == "VHS_UploadVideo" else {"desired_frame_rate": 0, **OLD}
        with pytest.raises(NodeInputError) as err:
            node(class_type)(ctx, video=video, upload_to_directory=folder, **extra)
        assert err.value.input_name == name


def test_out_video_info_names_a_newer_video_info(ctx):
    with pytest.raises(NodeInputError) as err:
        node("VHS_OutVideoInfo")(ctx, in_video_info={"source_fps": 10})
    assert err.value.input_name == "in_video_info"
