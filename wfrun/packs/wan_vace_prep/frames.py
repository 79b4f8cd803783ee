"""WanVACEInpaint, WanVACEFirstMiddleLast and Duration as the pack computes them.

- Inpaint: pixels whose mask is over 0.5 turn grey (0.5) in the control video; the mask goes
  out as given (a single mask frame, or a 2-D mask, repeated over the video). The optional
  ``reference_image`` (versions of 2026-04-18 and 2026-08-10; the 2026-06-01 one lacked it)
  puts its first frame, resized bilinearly to the video's size, in front with mask 0.
- First/middle/last: a grey clip of ``length`` frames (snapped down to 4n+1) at the size
  snapped down to multiples of 16, mask 1; ``first`` frames are pasted at the start, ``last``
  frames at the end (as many as still fit), ``middle`` frames centred on
  ``round(middle_position * (length - 1))`` and pushed inside the frames left free; each
  pasted frame has mask 0. Images of another size are resized bilinearly.
- Duration: seconds to a MiniMax H3 frame count, at least 5 frames at 24 fps, rounded up to
  17k + 5; and the seconds that count lasts.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _image(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]", f"connect {name}")
    return value


def resize_bilinear(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Frames at ``width`` x ``height`` (bilinear, half-pixel centres, as the pack resizes)."""
    if frames.shape[1] == height and frames.shape[2] == width:
        return frames
    x = F.interpolate(frames.movedim(-1, 1).float(), size=(height, width), mode="bilinear", align_corners=False)
    return x.movedim(1, -1).to(frames.dtype)


def _inpaint_mask(mask: Any, frames: int) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise NodeInputError("mask", "expected a MASK [frames, height, width] or [height, width]", "connect a mask")
    if mask.ndim == 2:
        return mask.unsqueeze(0).expand(frames, -1, -1).contiguous()
    if mask.ndim == 3:
        if mask.shape[0] == 1 and frames > 1:
            return mask.expand(frames, -1, -1).contiguous()
        if mask.shape[0] != frames:
            raise NodeInputError("mask", f"the mask has {mask.shape[0]} frames, the video {frames}",
                                 "give one mask frame or one per video frame")
        return mask
    raise NodeInputError("mask", f"unexpected mask shape {list(mask.shape)}; expected [H, W] or [N, H, W]")


@executor("WanVACEInpaint")
def wan_vace_inpaint(ctx: ExecContext, video: Any, mask: Any, reference_image: Any = None, **_: Any) -> tuple:
    video = _image("video", video)
    frames, height, width = video.shape[0], video.shape[1], video.shape[2]
    if width % 16 or height % 16:
        raise NodeInputError("video", f"video dimensions ({width}x{height}) must both be divisible by 16",
                             "resize the video first")
    mask = _inpaint_mask(mask, frames)
    if mask.shape[1:] != (height, width):
        raise NodeInputError("mask", f"the mask is {mask.shape[2]}x{mask.shape[1]}, the video {width}x{height}",
                             "give a mask of the video's size")
    control = video.clone()
    control[mask > 0.5] = 0.5
    if reference_image is None:
        return control, mask, width, height, frames
    reference = resize_bilinear(_image("reference_image", reference_image)[0:1], width, height)
    control = torch.cat([reference, control], dim=0)
    mask = torch.cat([torch.zeros(1, height, width, dtype=mask.dtype, device=mask.device), mask], dim=0)
    return control, mask, width, height, frames + 1


@executor("WanVACEFirstMiddleLast")
def wan_vace_first_middle_last(ctx: ExecContext, width: int, height: int, length: int, middle_position: float,
                               first: Any = None, middle: Any = None, last: Any = None, **_: Any) -> tuple:
    width, height = int(width) // 16 * 16, int(height) // 16 * 16
    length = (int(length) - 1) // 4 * 4 + 1
    if width <= 0 or height <= 0 or length <= 0:
        raise NodeInputError("width", f"{width}x{height}, {length} frames after snapping to the 16 px grid and "
                             "4n+1 frames: nothing to make", "use at least 16x16 and 1 frame")
    control = torch.full((length, height, width, 3), 0.5, dtype=torch.float32)
    mask = torch.ones((length, height, width), dtype=torch.float32)
    n_first = n_last = 0
    if first is not None:
        first = resize_bilinear(_image("first", first), width, height)
        n_first = min(first.shape[0], length)
        control[:n_first] = first[:n_first, :, :, :3]
        mask[:n_first] = 0.0
    if last is not None:
        last = resize_bilinear(_image("last", last), width, height)
        n_last = min(last.shape[0], length - n_first)
        if n_last > 0:
            control[length - n_last:] = last[-n_last:, :, :, :3]
            mask[length - n_last:] = 0.0
    if middle is not None:
        middle = resize_bilinear(_image("middle", middle), width, height)
        zone_start, zone_end = n_first, length - n_last
        if zone_end > zone_start:
            count = min(middle.shape[0], zone_end - zone_start)
            start = round(float(middle_position) * (length - 1)) - count // 2
            start = min(max(start, zone_start), zone_end - count)
            control[start:start + count] = middle[:count, :, :, :3]
            mask[start:start + count] = 0.0
    return control, mask, width, height, length


@executor("Duration")
def duration(ctx: ExecContext, seconds: float, **_: Any) -> tuple:
    raw = max(5, round(float(seconds) * 24))
    frames = raw + (5 - raw % 17) % 17
    return frames, frames / 24.0
