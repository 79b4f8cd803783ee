"""VideoHelperSuite's VideoInfo, VideoInfoSource and VideoInfoLoaded (``nodes.py``): the
``video_info`` a Load Video node gives, spread over outputs — fps, frame count, duration,
width and height of the source file, then (VideoInfo) the same of the frames loaded."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

KEYS = ("fps", "frame_count", "duration", "width", "height")


def _info(video_info: Any, prefix: str) -> tuple:
    if not isinstance(video_info, dict):
        raise NodeInputError("video_info", f"expected the video_info of a Load Video node, got {type(video_info).__name__}")
    missing = [f"{prefix}_{k}" for k in KEYS if f"{prefix}_{k}" not in video_info]
    if missing:
        raise NodeInputError("video_info", f"video_info lacks {', '.join(missing)}")
    return tuple(video_info[f"{prefix}_{k}"] for k in KEYS)


@executor("VHS_VideoInfo")
def video_info(ctx: ExecContext, video_info: Any, **_: Any) -> tuple:
    return _info(video_info, "source") + _info(video_info, "loaded")


@executor("VHS_VideoInfoSource")
def video_info_source(ctx: ExecContext, video_info: Any, **_: Any) -> tuple:
    return _info(video_info, "source")


@executor("VHS_VideoInfoLoaded")
def video_info_loaded(ctx: ExecContext, video_info: Any, **_: Any) -> tuple:
    return _info(video_info, "loaded")
