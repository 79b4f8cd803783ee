"""Video input for Qwen2-VL / Qwen2.5-VL / Qwen3-VL without torchvision: the steps of
transformers' ``Qwen2VLVideoProcessor`` and ``Qwen3VLVideoProcessor`` (and of their processors'
``<|video_pad|>`` expansion) for one video given as a list of PIL frames, in numpy and torch.

Why here: transformers' video processors import torchvision, whose wheels pin one torch
release each, so wfrun does not depend on it. These steps follow transformers 5.x (read
against 5.24); where a folder asks for something they do not cover, :class:`QwenVLError` says
so rather than differ.

The steps, as transformers takes them for a list of PIL frames with no video metadata:

1. Frames are stacked as uint8 ``[T, 3, H, W]``.
2. Sampling. Qwen2-VL's processor keeps every frame (``do_sample_frames`` is off). Qwen3-VL's
   samples at ``fps`` (2) frames per second of a video it takes to run at 24 frames per second
   (no metadata): ``n = int(T / 24 * fps)`` clamped to ``[min_frames, max_frames]`` and to
   ``T``, at indices ``round(linspace(0, T - 1, n))``.
3. One size for all frames from ``smart_resize`` (sides multiples of ``patch_size *
   merge_size``, pixel count between the ``size`` bounds; Qwen3-VL counts the frames too), then
   a bicubic antialiased resize of the uint8 frames, as torchvision does on the CPU
   (``interpolate(..., mode="bicubic", antialias=True)`` on uint8).
4. ``(x - 255 * mean) / (255 * std)`` in float32 (the fused rescale and normalise).
5. The last frame repeated up to a multiple of ``temporal_patch_size``; patches flattened to
   ``pixel_values_videos [grid_t * grid_h * grid_w, 3 * temporal * patch * patch]`` in the
   merge-window order the vision tower reads; ``video_grid_thw = [grid_t, grid_h, grid_w]``.
6. Text: Qwen2/2.5-VL put ``grid_t * grid_h * grid_w / merge_size**2`` ``<|video_pad|>`` in
   place of the template's one; Qwen3-VL puts, per temporal patch, ``<{t:.1f} seconds>``
   then ``<|vision_start|>``, ``grid_h * grid_w / merge_size**2`` pads, ``<|vision_end|>``,
   ``t`` being the mean time (index / 24) of the patch's first and last frame.
7. Qwen2.5-VL's ``second_per_grid_ts = temporal_patch_size / 24`` (the sampled fps of a video
   without metadata).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wfrun.models.config_json import read_json_object

#: The frame rate transformers assumes for frames given without video metadata.
ASSUMED_FPS = 24
#: Longest side of a frame accepted (a guard against absurd inputs, far above any real video).
MAX_SIDE = 16384


class VideoInputError(ValueError):
    """The frames or the folder's video settings cannot be processed as transformers would."""


@dataclass(frozen=True)
class VideoRules:
    """The video processor's settings: its class defaults, then the folder's config."""

    family: str  # "qwen2" (Qwen2VLVideoProcessor) or "qwen3" (Qwen3VLVideoProcessor)
    min_pixels: int
    max_pixels: int
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    rescale_factor: float = 1 / 255
    do_sample_frames: bool = False
    fps: float | None = None
    num_frames: int | None = None
    min_frames: int = 4
    max_frames: int = 768
    cap_pixels_per_frame: bool = False
    max_video_tokens: int = 128000


#: Class defaults of transformers' two Qwen video processors.
DEFAULTS: dict[str, dict[str, Any]] = {
    "qwen2": dict(min_pixels=128 * 28 * 28, max_pixels=28 * 28 * 768, patch_size=14, temporal_patch_size=2,
                  merge_size=2, image_mean=(0.48145466, 0.4578275, 0.40821073),
                  image_std=(0.26862954, 0.26130258, 0.27577711), do_sample_frames=False, fps=None,
                  max_video_tokens=128000),
    "qwen3": dict(min_pixels=128 * 32 * 32, max_pixels=32 * 32 * 768, patch_size=16, temporal_patch_size=2,
                  merge_size=2, image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), do_sample_frames=True, fps=2,
                  max_video_tokens=768),
}
#: ``config.json`` model types and the video processor transformers builds for them.
FAMILY_OF = {"qwen2_vl": "qwen2", "qwen2_5_vl": "qwen2", "qwen3_vl": "qwen3", "qwen3_vl_moe": "qwen3"}
PROCESSOR_CLASSES = {"Qwen2VLVideoProcessor": "qwen2", "Qwen3VLVideoProcessor": "qwen3"}
#: bicubic in PIL's numbering, the only resample these processors use.
BICUBIC = 3


def video_config(folder: Path) -> dict:
    """The video processor's dict as transformers finds it: ``processor_config.json``'s
    ``video_processor``, else ``video_preprocessor_config.json``, else ``preprocessor_config.json``."""
    nested = folder / "processor_config.json"
    if nested.is_file():
        data = read_json_object(nested, VideoInputError, "a processor config")
        if isinstance(data.get("video_processor"), dict):
            return data["video_processor"]
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            return read_json_object(folder / name, VideoInputError, "a video processor config")
    raise VideoInputError(f"{folder.name} has no video_preprocessor_config.json or preprocessor_config.json")


def _int(config: dict, key: str, default: Any) -> Any:
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise VideoInputError(f"video processor config: {key} is {value!r}, not a whole number")
    return int(value)


def read_video_rules(folder: Path, model_type: str) -> VideoRules:
    """The folder's video settings, with what transformers would read from them; settings
    its Qwen processors treat differently from these steps are refused."""
    config = video_config(folder)
    named = config.get("video_processor_type")
    if not named:  # AutoVideoProcessor's order: the video class, the image class renamed, the model type
        renamed = str(config.get("image_processor_type") or "").replace("ImageProcessor", "VideoProcessor")
        named = renamed if renamed in PROCESSOR_CLASSES else None
    family = PROCESSOR_CLASSES.get(named) if named else FAMILY_OF.get(model_type)
    if family is None:
        raise VideoInputError(f"{folder.name}: video processor {named or model_type!r} is not one of "
                              f"{', '.join(PROCESSOR_CLASSES)}")
    values = dict(DEFAULTS[family])
    size = config.get("size")
    if isinstance(size, dict):
        values["min_pixels"] = _int(size, "shortest_edge", values["min_pixels"])
        values["max_pixels"] = _int(size, "longest_edge", values["max_pixels"])
    if family == "qwen2":  # Qwen2VLVideoProcessor lets min_pixels / max_pixels override size
        values["min_pixels"] = _int(config, "min_pixels", values["min_pixels"])
        values["max_pixels"] = _int(config, "max_pixels", values["max_pixels"])
    for key in ("patch_size", "temporal_patch_size", "merge_size", "min_frames", "max_frames", "max_video_tokens"):
        values[key] = _int(config, key, values.get(key, VideoRules.__dataclass_fields__[key].default))
    values["num_frames"] = _int(config, "num_frames", None)
    for key in ("image_mean", "image_std"):
        got = config.get(key, values[key])
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            got = [got] * 3
        if not (isinstance(got, (list, tuple)) and len(got) == 3 and all(isinstance(v, (int, float)) for v in got)):
            raise VideoInputError(f"video processor config: {key} is {got!r}, not three numbers")
        values[key] = tuple(float(v) for v in got)
    if "fps" in config:
        fps = config["fps"]
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps < 1e4):
            raise VideoInputError(f"video processor config: fps is {fps!r}, not a positive number")
        values["fps"] = fps
    for key in ("do_sample_frames", "cap_pixels_per_frame"):
        if config.get(key) is not None:
            values[key] = bool(config[key])
    values["rescale_factor"] = float(config.get("rescale_factor", 1 / 255))
    for key, wanted in (("do_resize", True), ("do_rescale", True), ("do_normalize", True),
                        ("do_convert_rgb", True), ("resample", BICUBIC)):
        if key in config and config[key] is not None and config[key] != wanted:
            raise VideoInputError(f"{folder.name}: video processor config sets {key}={config[key]!r}; wfrun "
                                  f"processes video without torchvision only with {key}={wanted!r}")
    if values["min_pixels"] <= 0 or values["max_pixels"] <= 0 or not all(
            values[k] >= 1 for k in ("patch_size", "temporal_patch_size", "merge_size")):
        raise VideoInputError(f"{folder.name}: video processor config has a size or patch size of 0")
    if family == "qwen2" and values["do_sample_frames"]:
        raise VideoInputError(f"{folder.name}: video processor config turns do_sample_frames on, which "
                              "Qwen2VLVideoProcessor cannot do for frames without video metadata")
    if values["num_frames"] is not None and values["fps"] is not None and values["do_sample_frames"]:
        raise VideoInputError(f"{folder.name}: video processor config sets both num_frames and fps")
    return VideoRules(family=family, **values)


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int,
                 num_frames: int | None = None, temporal_factor: int = 2) -> tuple[int, int]:
    """Qwen's ``smart_resize``: sides rounded to multiples of ``factor``, scaled (keeping the
    aspect) so the pixel count lies in ``[min_pixels, max_pixels]``. With ``num_frames``
    (Qwen3-VL's video form), small sides are first scaled up to ``factor`` and the count is
    of all frames (frames rounded to ``temporal_factor``)."""
    frames = 1
    rounded_frames = 1
    if num_frames is not None:
        if num_frames < temporal_factor:
            raise VideoInputError(f"{num_frames} frame(s): Qwen3-VL's video processor needs at least "
                                  f"{temporal_factor}")
        if height < factor or width < factor:
            scale = max(factor / height, factor / width)
            height, width = int(height * scale), int(width * scale)
        frames = num_frames
        rounded_frames = round(num_frames / temporal_factor) * temporal_factor
    if max(height, width) / min(height, width) > 200:
        raise VideoInputError(f"frames of {width}x{height}: the aspect ratio must be under 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if rounded_frames * h_bar * w_bar > max_pixels:
        beta = math.sqrt(frames * height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif rounded_frames * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def sample_indices(rules: VideoRules, total: int) -> tuple[list[int], float | None]:
    """Which frames the processor keeps, and the frame rate it then takes the video to have
    (None: unknown; the processors then use 24)."""
    if not rules.do_sample_frames:
        return list(range(total)), None
    if rules.family == "qwen2":  # refused in read_video_rules; kept for clarity
        raise VideoInputError("Qwen2VLVideoProcessor cannot sample frames without video metadata")
    num = rules.num_frames
    fps = None
    if num is None and rules.fps is not None:
        fps = ASSUMED_FPS
        num = int(total / fps * float(rules.fps))
        num = min(max(num, rules.min_frames), rules.max_frames, total)
    if num is None:
        num = min(max(total, rules.min_frames), rules.max_frames)
    return [int(i) for i in np.linspace(0, total - 1, num).round().astype(int)], fps


def resize_uint8(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """torchvision's bicubic antialiased resize of uint8 ``[T, C, H, W]`` on the CPU (torch's
    native uint8 kernel; an unchanged size is returned as is)."""
    if tuple(frames.shape[-2:]) == (height, width):
        return frames
    return torch.nn.functional.interpolate(frames.cpu(), size=[height, width], mode="bicubic", align_corners=False,
                                           antialias=True)


@dataclass(frozen=True)
class VideoInputs:
    """One processed video: what the model's forward takes, and what its text needs."""

    pixel_values_videos: torch.Tensor  # [grid_t * grid_h * grid_w, 3 * temporal * patch * patch] float32
    video_grid_thw: torch.Tensor  # [1, 3] int64
    indices: list[int]  # the frames kept
    total: int  # the frames given
    fps: float | None  # the frame rate the processor took the input to have (None: not known)


def process_video(rules: VideoRules, frames: list) -> VideoInputs:
    """Steps 1-5 of the module doc for one video of PIL frames (or ``[H, W, 3]`` uint8 arrays)."""
    if not frames:
        raise VideoInputError("the video has no frames")
    arrays = [np.asarray(f.convert("RGB") if hasattr(f, "convert") else f) for f in frames]
    shape = arrays[0].shape
    if len(shape) != 3 or shape[2] != 3 or any(a.shape != shape or a.dtype != np.uint8 for a in arrays):
        raise VideoInputError("video frames must be RGB images of one size")
    if max(shape[:2]) > MAX_SIDE:
        raise VideoInputError(f"video frames of {shape[1]}x{shape[0]} are over {MAX_SIDE} pixels a side")
    indices, fps = sample_indices(rules, len(arrays))
    video = torch.from_numpy(np.stack([arrays[i] for i in indices])).permute(0, 3, 1, 2).contiguous()
    count, channels, height, width = video.shape
    factor = rules.patch_size * rules.merge_size
    max_pixels = rules.max_pixels
    if rules.family == "qwen2":
        if rules.cap_pixels_per_frame:
            budget = int(rules.max_video_tokens * factor * factor * 0.9)
            max_pixels = max(min(max_pixels, budget * rules.temporal_patch_size // count),
                             int(rules.min_pixels * 1.05))
        new_h, new_w = smart_resize(height, width, factor, rules.min_pixels, max_pixels)
    else:
        if rules.cap_pixels_per_frame:
            per_frame = max(min(rules.max_video_tokens * factor * factor, max_pixels // count),
                            int(rules.min_pixels * 1.05))
            max_pixels = per_frame * count
        new_h, new_w = smart_resize(height, width, factor, rules.min_pixels, max_pixels, num_frames=count,
                                    temporal_factor=rules.temporal_patch_size)
    video = resize_uint8(video, new_h, new_w)
    scale = 1.0 / rules.rescale_factor
    mean = (torch.tensor(rules.image_mean, dtype=torch.float32) * scale).view(-1, 1, 1)
    std = (torch.tensor(rules.image_std, dtype=torch.float32) * scale).view(-1, 1, 1)
    video = (video.to(torch.float32) - mean) / std
    temporal, patch, merge = rules.temporal_patch_size, rules.patch_size, rules.merge_size
    if pad := -count % temporal:
        video = torch.cat([video, video[-1:].expand(pad, -1, -1, -1)])
    grid_t, grid_h, grid_w = video.shape[0] // temporal, new_h // patch, new_w // patch
    patches = video.reshape(grid_t, temporal, channels, grid_h // merge, merge, patch, grid_w // merge, merge, patch)
    patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = patches.reshape(grid_t * grid_h * grid_w, channels * temporal * patch * patch)
    return VideoInputs(flat.contiguous(), torch.tensor([[grid_t, grid_h, grid_w]]), indices, len(arrays), fps)


def frame_times(indices: list[int], fps: float, temporal: int) -> list[float]:
    """Qwen3-VL's time of each temporal patch: the mean of its first and last frame's time
    (the last index repeated to fill the final patch)."""
    padded = list(indices) + [indices[-1]] * (-len(indices) % temporal)
    times = [i / fps for i in padded]
    return [(times[k] + times[k + temporal - 1]) / 2 for k in range(0, len(times), temporal)]


def video_text(rules: VideoRules, video: VideoInputs, pad: str, start: str, end: str) -> str:
    """What replaces the chat's one ``<|video_pad|>`` (step 6 of the module doc)."""
    grid_t, grid_h, grid_w = (int(v) for v in video.video_grid_thw[0])
    merged = rules.merge_size ** 2
    if rules.family == "qwen2":
        return pad * (grid_t * grid_h * grid_w // merged)
    per_frame = pad * (grid_h * grid_w // merged)
    times = frame_times(video.indices, video.fps or ASSUMED_FPS, rules.temporal_patch_size)
    return "".join(f"<{times[k]:.1f} seconds>{start}{per_frame}{end}" for k in range(grid_t))


def second_per_grid_ts(rules: VideoRules, video: VideoInputs) -> float:
    """Qwen2.5-VL's seconds per temporal patch: ``temporal_patch_size`` over the sampled fps
    (the kept share of the frames times the video's fps; 24 where that is not known)."""
    sampled_fps = ASSUMED_FPS if video.fps is None else len(video.indices) / video.total * video.fps
    return rules.temporal_patch_size / sampled_fps
