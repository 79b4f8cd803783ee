"""VisualFrameSelector (the pack's interactive video trimmer, retired 2026-04) as it computes
its outputs in the versions saved since 2026-02-28.

The ``video`` widget names a file of the input folder. The range is inclusive:
``start_frame`` clamped to the frames, ``end_frame`` 0 meaning the last frame, clamped, and
moved to ``start + 1`` (at most the last frame) when not after the start. Outputs: the
selected frames, every frame (only with ``output_all_frames``, added 2026-03-21; before it
always; otherwise a 1x1 black placeholder), the counts, the resolved range, the frame rate
(30 when the file gives none) and the first audio stream at its own rate, scaled down when
it peaks over 1 (silent stereo 44.1 kHz, one sample, when there is none). The widget's
``current_frame`` only moves its preview.

wfrun decodes every frame in order (the pack seeks near the start and counts frames by time
stamp; the two agree on constant-rate files) and loads at most the pack's folder loader's
frame limit. The first two versions (2026-02-27, other outputs) are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.media.video import VideoError, audio_streams, decode_audio, iter_frames, probe
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file
from wfrun.packs.wan_vace_prep.load_folder import MAX_FRAMES

FIRST_SUPPORTED = "2026-02-28"
ALL_FRAMES_SWITCH_SINCE = "2026-03-21"
DEFAULT_FPS = 30.0


def resolve_range(start: int, end: int, total: int) -> tuple[int, int]:
    first = max(0, min(int(start), total - 1))
    last = min(int(end) if int(end) > 0 else total - 1, total - 1)
    if last <= first:
        last = min(first + 1, total - 1)
    return first, last


def read_audio(path: Any) -> dict:
    streams = audio_streams(path)
    samples = decode_audio(path, streams[0]) if streams else np.zeros((0, 0), np.float32)
    if samples.size == 0:
        return {"waveform": torch.zeros(1, 2, 1), "sample_rate": 44100}
    peak = float(np.abs(samples).max())
    if peak > 1.0:
        samples = samples / peak
    return {"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": streams[0].sample_rate}


def _video_file(inputs: dict) -> dict:
    return {"video": (inputs.get("video"), "video")}


@executor("VisualFrameSelector", volatile=True, input_files=_video_file)
def visual_frame_selector(ctx: ExecContext, video: str, start_frame: int, end_frame: int, current_frame: int,
                          output_all_frames: bool, **_: Any) -> tuple:
    if ctx.saved_date is not None and ctx.saved_date < FIRST_SUPPORTED:
        raise NodeInputError("video", f"this node was saved by a preview version ({ctx.saved_date}) whose "
                             "outputs wfrun does not reproduce", "replace it with a VHS Load Video node")
    path = input_file(ctx, video, "video", "video")
    try:
        fps = probe(path, count_frames=False).fps or DEFAULT_FPS
        frames = []
        for frame in iter_frames(path):
            if len(frames) >= MAX_FRAMES:
                raise NodeInputError("video", f"the video has more than {MAX_FRAMES} frames; wfrun loads at most "
                                     "that many")
            frames.append(frame)
        audio = read_audio(path)
    except VideoError as err:
        raise NodeInputError("video", str(err)) from None
    if not frames:
        raise NodeInputError("video", f"no frames decoded from {video}")
    total = len(frames)
    first, last = resolve_range(start_frame, end_frame, total)
    selected = torch.from_numpy(np.stack(frames[first:last + 1]).astype(np.float32) / 255.0)
    every = output_all_frames or (ctx.saved_date is not None and ctx.saved_date < ALL_FRAMES_SWITCH_SINCE)
    all_frames = (torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0) if every
                  else torch.zeros((1, 1, 1, 3), dtype=torch.float32))
    return selected, all_frames, int(selected.shape[0]), total, first, last, float(fps), audio
