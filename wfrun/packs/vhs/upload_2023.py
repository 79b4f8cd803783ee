"""VideoHelperSuite as it was on 2023-10-20 (f032b04 … 72340a3, replaced the next day): the
upload nodes VHS_UploadVideo and VHS_LoadVideoUpload (that day's VHS_LoadVideo too), the
``desired_frame_rate`` loaders and VHS_OutVideoInfo.

- Uploaded videos lived in ``<input or temp>/VHS_upload/``; the ``video`` combo holds
  ``input/VHS_upload/x.mp4`` (the pack's ``get_full_path`` takes the folder type from the first
  of three parts, ignores the middle one, and otherwise joins ``upload_to_directory``'s
  ``VHS_upload`` folder with the whole text). VHS_UploadVideo returns that full path as text;
  VHS_LoadVideoUpload loads the file there as that day's Load Video did (the frame loop
  wfrun's VHS_LoadVideo runs, ``desired_frame_rate`` as ``force_rate``, the old
  ``force_size`` choices). wfrun reads only from its input folder's ``VHS_upload``: the
  ``temp`` choice, ``..`` and links leading out are refused by name.
- These loaders' outputs were ``IMAGE``, ``frame_count`` (the *source* file's frame count,
  not the frames loaded) and a ``VHS_VIDEO_INFO``: ``original_frame_count``, ``original_fps``,
  ``original_video_duration`` (count / fps), ``original_frame_time`` (1 / fps), and
  ``actual_fps`` (``desired_frame_rate`` when above 0.001, else the source's; every n-th
  selection is not counted in), ``actual_frame_count`` (frames loaded),
  ``actual_video_duration`` (loaded / actual fps), ``actual_frame_time`` (1 / actual fps).
  VHS_OutVideoInfo spreads those eight over its outputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wfrun.media.image import MediaPathError, existing_inside
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

UPLOAD_SUBDIRECTORY = "VHS_upload"
#: The keys of that day's VHS_VIDEO_INFO, in VHS_OutVideoInfo's output order.
INFO_KEYS = ("original_frame_count", "original_fps", "original_video_duration", "original_frame_time",
             "actual_frame_count", "actual_fps", "actual_video_duration", "actual_frame_time")


def upload_path(ctx: ExecContext, video: Any, upload_to_directory: Any) -> Path:
    """The pack's ``UploadVideo.get_full_path``, inside the input folder only."""
    if not isinstance(video, str) or not video.strip():
        raise NodeInputError("video", f"video: expected an uploaded file's name, found {video!r}")
    kind, name = upload_to_directory, video
    parts = re.split(r"[/\\]", video)
    if len(parts) == 3:
        kind, name = parts[0], parts[2]
    if kind != "input":
        raise NodeInputError("upload_to_directory", f"the video is in the {kind!r} upload folder; wfrun reads "
                             "uploads only from its input folder",
                             f"put the file in {Path(ctx.input_dir) / UPLOAD_SUBDIRECTORY} and choose 'input'")
    try:
        return existing_inside(Path(ctx.input_dir) / UPLOAD_SUBDIRECTORY, name.replace("\\", "/"), "video")
    except MediaPathError as err:
        raise NodeInputError("video", str(err), f"put the video in {Path(ctx.input_dir) / UPLOAD_SUBDIRECTORY}") \
            from None


def october_outputs(loaded: tuple, desired_frame_rate: float) -> tuple:
    """(IMAGE, frame_count, VHS_VIDEO_INFO) of that day's loaders, from wfrun's VHS_LoadVideo
    outputs (images, count, audio, video_info)."""
    images, _, _, info = loaded
    fps, count = float(info["source_fps"]), int(info["source_frame_count"])
    actual_fps = desired_frame_rate if desired_frame_rate > 0.001 else fps
    frames = len(images)
    video_info = dict(zip(INFO_KEYS, (count, fps, count / fps, 1 / fps,
                                      frames, actual_fps, frames / actual_fps, 1 / actual_fps)))
    return images, count, video_info


@executor("VHS_UploadVideo", volatile=True)  # volatile: the file may change between runs
def upload_video(ctx: ExecContext, video: Any, upload_to_directory: Any, **_: Any) -> tuple:
    return (str(upload_path(ctx, video, upload_to_directory)),)


@executor("VHS_OutVideoInfo")
def out_video_info(ctx: ExecContext, in_video_info: Any, **_: Any) -> tuple:
    if not isinstance(in_video_info, dict) or any(k not in in_video_info for k in INFO_KEYS):
        raise NodeInputError("in_video_info", "in_video_info: expected the video_info of a 2023 Load Video node",
                             "connect the video_info output of Load Video (Upload) or Load Video (Path)")
    return tuple(in_video_info[k] for k in INFO_KEYS)
