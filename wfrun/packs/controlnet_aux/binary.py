"""comfyui_controlnet_aux's ``BinaryPreprocessor`` ("Binary Lines": ``node_wrappers/binary.py``
and the detector ``binary/__init__.py``; the same rule since 2023-09), without OpenCV.

Per frame, as the pack does it on 8-bit numpy data:

1. the frame as 8-bit levels (``image * 255`` truncated), three channels (``HWC3``);
2. resized so its short side is the detect resolution (``resolution``, 512 when below 64)
   and padded (edges repeated) to multiples of 64 (``resize_image_with_pad``, see
   :mod:`.image`);
3. OpenCV's ``COLOR_RGB2GRAY`` on 8 bits, in its fixed point:
   ``(4899 R + 9617 G + 1868 B + 8192) >> 14``;
4. ``THRESH_BINARY_INV`` at ``bin_threshold`` (a level above it becomes 0, the rest 255);
   ``bin_threshold`` 0 or 255 means Otsu's threshold instead, computed over the whole padded
   grey image with OpenCV's own loop (:func:`otsu_threshold`);
5. inverted again (``255 - x``), cropped back to the resized size, three channels, / 255.

So each output pixel is 1 where the grey level exceeds the threshold and 0 elsewhere.
OpenCV builds with Intel IPP compute Otsu's threshold through IPP, which may settle a tie
between equally good thresholds differently; wfrun follows OpenCV's portable code.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.controlnet_aux.image import detect_resolution, hwc3, resize_with_pad, to_uint8_levels

#: OpenCV's RGB to grey weights in 14-bit fixed point (``R2Y``, ``G2Y``, ``B2Y``).
R2Y, G2Y, B2Y, YUV_SHIFT = 4899, 9617, 1868, 14
#: The pack's marker values of ``bin_threshold`` that ask for Otsu's threshold.
OTSU_MARKERS = (0, 255)
FLT_EPSILON = 1.1920928955078125e-07


def rgb_to_grey(levels: torch.Tensor) -> torch.Tensor:
    """``cv2.cvtColor(x, COLOR_RGB2GRAY)`` of 8-bit levels ``[H, W, 3]`` (float holding ints)."""
    rgb = levels.to(torch.int64)
    grey = rgb[..., 0] * R2Y + rgb[..., 1] * G2Y + rgb[..., 2] * B2Y
    return (grey + (1 << (YUV_SHIFT - 1))) >> YUV_SHIFT


def otsu_threshold(grey: torch.Tensor) -> int:
    """OpenCV's ``getThreshVal_Otsu_8u`` (portable loop): the level maximising the
    between-class variance, the first one on ties, levels where either class is empty (to
    ``FLT_EPSILON``) skipped; 0 when none qualifies."""
    counts = torch.bincount(grey.flatten(), minlength=256).tolist()
    scale = 1.0 / grey.numel()
    mu = sum(i * float(h) for i, h in enumerate(counts)) * scale
    mu1 = q1 = 0.0
    max_sigma, max_val = 0.0, 0
    for i, h in enumerate(counts):
        p_i = h * scale
        mu1 *= q1
        q1 += p_i
        q2 = 1.0 - q1
        if min(q1, q2) < FLT_EPSILON or max(q1, q2) > 1.0 - FLT_EPSILON:
            continue
        mu1 = (mu1 + i * p_i) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > max_sigma:
            max_sigma, max_val = sigma, i
    return max_val


@executor("BinaryPreprocessor")
def binary_preprocessor(ctx: ExecContext, image: Any, bin_threshold: Any, **rest: Any) -> tuple:
    """Lines of each frame (module docs); ``resolution`` is absent in saves from before
    2023-09-16, which the pack then runs at 512."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (1, 3, 4) \
            or 0 in image.shape:
        found = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise NodeInputError("image", f"expected an IMAGE [frames, height, width, 3], found {found}",
                             "connect an IMAGE output")
    if isinstance(bin_threshold, bool) or not isinstance(bin_threshold, (int, float)):
        raise NodeInputError("bin_threshold", f"expected a whole number 0..255, found {bin_threshold!r}")
    res = detect_resolution(rest.get("resolution"))
    out = []
    for frame in image:
        ctx.check_interrupt()
        padded, (height, width) = resize_with_pad(hwc3(to_uint8_levels(frame)), res)
        grey = rgb_to_grey(padded)
        level = otsu_threshold(grey) if bin_threshold in OTSU_MARKERS else int(bin_threshold // 1)
        lines = (grey[:height, :width] > level).to(torch.float32)
        out.append(lines.unsqueeze(-1).expand(-1, -1, 3))
    return (torch.stack(out).contiguous(),)
