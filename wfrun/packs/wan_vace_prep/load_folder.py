"""LoadVideosFromFolderSimple: every video of a folder, one after another, in one IMAGE batch,
and (since 2026-06-21) their sound joined into one AUDIO.

As the pack: files ending in webm, mp4, mkv, gif or mov (any case; sub-folders skipped), in
natural order (digit runs compared as numbers, the rest without case); frames decoded as
8-bit RGB over 255; every video must have the first one's size. The sound of each video is
its first audio stream at the first video's sample rate, cut or padded with silence to
``frames / fps`` seconds; a mono clip is doubled to match a stereo first clip and a stereo
one averaged to match a mono one. One video without sound and there is no AUDIO (None).

wfrun's differences: the folder is a name inside the run's input folder (no absolute paths,
``..`` or symlinks leading out: workflows come from the internet); at most
:data:`MAX_VIDEOS` videos and :data:`MAX_FRAMES` frames in all are loaded (a folder over
either is refused, naming the limit); ffmpeg decodes (the pack uses PyAV, the same
libraries); batched loading through a VideoHelperSuite Meta Batch Manager is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wfrun.media.image import MediaPathError, resolve_inside
from wfrun.media.video import AudioStreamInfo, VideoError, audio_streams, decode_audio, iter_frames, probe
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

VIDEO_SUFFIXES = ("webm", "mp4", "mkv", "gif", "mov")
#: Limits no real batch join reaches; they keep a shared workflow from filling the memory.
MAX_VIDEOS = 500
MAX_FRAMES = 20_000
MAX_ENTRIES = 100_000
AUDIO_SINCE = "2026-06-21"


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"([0-9]+)", name)]


def find_folder(ctx: ExecContext, folder_path: Any) -> Path:
    name = str(folder_path).strip().strip('"').strip("'")
    try:
        folder = resolve_inside(ctx.input_dir, name, "folder")
    except MediaPathError as err:
        raise NodeInputError("folder_path", str(err), f"name a folder inside the input folder {ctx.input_dir}") \
            from None
    if not folder.is_dir():
        raise NodeInputError("folder_path", f"folder does not exist: {name}",
                             f"name a folder inside the input folder {ctx.input_dir}")
    return folder


def list_videos(folder: Path) -> list[Path]:
    found = []
    with os.scandir(folder) as entries:
        for count, entry in enumerate(entries, 1):
            if count > MAX_ENTRIES:
                raise NodeInputError("folder_path", f"the folder holds more than {MAX_ENTRIES} entries")
            if os.path.splitext(entry.name)[1].lstrip(".").lower() in VIDEO_SUFFIXES and entry.is_file():
                found.append(Path(entry.path))
    if not found:
        raise NodeInputError("folder_path", f"no video files in {folder.name} (looked for "
                             f"{', '.join(VIDEO_SUFFIXES)})")
    if len(found) > MAX_VIDEOS:
        raise NodeInputError("folder_path", f"{len(found)} videos in the folder; wfrun loads at most {MAX_VIDEOS}",
                             "split the folder")
    return sorted(found, key=lambda p: natural_key(p.name))


def read_frames(path: Path, budget: int) -> torch.Tensor:
    frames = []
    try:
        for frame in iter_frames(path):
            if len(frames) >= budget:
                raise NodeInputError("folder_path", f"the videos hold more than {MAX_FRAMES} frames in all; "
                                     "wfrun loads at most that many", "split the folder")
            frames.append(torch.from_numpy(frame.astype(np.float32) / 255.0))
    except VideoError as err:
        raise NodeInputError("folder_path", str(err)) from None
    if not frames:
        raise NodeInputError("folder_path", f"no frames decoded from {path.name}")
    return torch.stack(frames)


def read_sound(path: Path, frame_count: int, rate: int | None) -> tuple[np.ndarray, int] | None:
    """The first audio stream at ``rate`` (its own when None), cut or padded to the video's
    length; None when the file has no sound."""
    streams = audio_streams(path)
    if not streams:
        return None
    stream = streams[0]
    out_rate = rate if rate is not None else stream.sample_rate
    try:
        samples = decode_audio(path, AudioStreamInfo(stream.index, out_rate, stream.channels))
        fps = probe(path, count_frames=False).fps
    except VideoError as err:
        raise NodeInputError("folder_path", str(err)) from None
    if samples.shape[1] == 0:
        return None
    wanted = round(frame_count / fps * out_rate) if fps > 0 else samples.shape[1]
    samples = samples[:, :wanted]
    if samples.shape[1] < wanted:
        samples = np.pad(samples, ((0, 0), (0, wanted - samples.shape[1])))
    return samples, out_rate


def match_channels(samples: np.ndarray, channels: int, name: str) -> np.ndarray:
    if samples.shape[0] == channels:
        return samples
    if channels == 2 and samples.shape[0] == 1:
        return np.concatenate([samples, samples])
    if channels == 1 and samples.shape[0] == 2:
        return samples.mean(axis=0, keepdims=True)
    raise NodeInputError("folder_path", f"{name} has {samples.shape[0]} audio channels, the first video "
                         f"{channels}")


@executor("LoadVideosFromFolderSimple", volatile=True)
def load_videos_from_folder_simple(ctx: ExecContext, folder_path: str, debug: bool, meta_batch: Any = None,
                                   **_: Any) -> tuple:
    if meta_batch is not None:
        raise NodeInputError("meta_batch", "batched loading (Meta Batch Manager) is not supported by wfrun",
                             "disconnect meta_batch")
    videos = list_videos(find_folder(ctx, folder_path))
    clips, sounds = [], []
    size = rate = channels = None
    with_audio = ctx.saved_date is None or ctx.saved_date >= AUDIO_SINCE
    total = 0
    for path in videos:
        ctx.check_interrupt()
        frames = read_frames(path, MAX_FRAMES - total)
        total += frames.shape[0]
        if size is None:
            size = frames.shape[1:3]
        elif frames.shape[1:3] != size:
            raise NodeInputError("folder_path", f"{path.name} is {frames.shape[2]}x{frames.shape[1]}, the first "
                                 f"video {size[1]}x{size[0]}", "give the folder videos of one size")
        clips.append(frames)
        if with_audio and sounds is not None:
            sound = read_sound(path, frames.shape[0], rate)
            if sound is None:
                sounds = None
                continue
            samples, rate = sound
            channels = samples.shape[0] if channels is None else channels
            sounds.append(match_channels(samples, channels, path.name))
    images = torch.cat(clips)
    if not with_audio:
        return (images,)
    audio = None if not sounds else {"waveform": torch.from_numpy(np.concatenate(sounds, axis=1)).unsqueeze(0),
                                     "sample_rate": rate}
    return images, audio
