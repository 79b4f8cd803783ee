"""``PixelPerfectResolution``, ``DepthAnythingV2Preprocessor`` and ``LineArtPreprocessor`` of
comfyui_controlnet_aux, as the pack computes them (``hint_image_enchance.py``,
``node_wrappers/depth_anything_v2.py``, ``node_wrappers/lineart.py`` and the detectors under
``src/custom_controlnet_aux``), frame by frame on the pack's 8-bit levels (``image``)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models.depth_anything.convert import NotDepthAnythingError
from wfrun.models.depth_anything.load import model_from_original
from wfrun.models.lineart import NotLineartError, build_lineart
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.controlnet_aux.files import SOURCES, find_file, read_weights
from wfrun.packs.controlnet_aux.image import (
    detect_resolution, hwc3, resize_cubic, resize_levels, resize_with_pad, to_uint8_levels,
)

#: ``ResizeMode.OUTER_FIT``'s value: the one mode that fits the image inside the target.
OUTER_FIT = "Resize and Fill"
RESIZE_MODES = ("Just Resize", "Crop and Resize", OUTER_FIT)


def _image(images: Any, input_name: str = "image") -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError(input_name, f"expected an IMAGE [frames, height, width, 3], got {shape}",
                             "connect an IMAGE output")
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise NodeInputError(input_name, f"an empty IMAGE {tuple(images.shape)}")
    return images


@executor("PixelPerfectResolution")
def pixel_perfect_resolution(ctx: ExecContext, original_image: Any, image_gen_width: int, image_gen_height: int,
                             resize_mode: str, **unused: Any) -> tuple:
    """The detect resolution that maps the image's short side onto the generated size:
    ``round(k * min(H, W))`` with ``k`` the larger of ``gen_height / H`` and ``gen_width / W``
    (the smaller one for "Resize and Fill"), rounded half to even as ``np.round``."""
    image = _image(original_image, "original_image")
    raw_h, raw_w = int(image.shape[1]), int(image.shape[2])
    if resize_mode not in RESIZE_MODES:
        raise NodeInputError("resize_mode", f"unknown resize mode {resize_mode!r}",
                             f"use one of {', '.join(RESIZE_MODES)}")
    k0 = float(image_gen_height) / float(raw_h)
    k1 = float(image_gen_width) / float(raw_w)
    k = min(k0, k1) if resize_mode == OUTER_FIT else max(k0, k1)
    return (int(round(k * float(min(raw_h, raw_w)))),)


# --- Depth Anything V2 ------------------------------------------------------------------------

#: The detector's network input: short side at least 518, sides multiples of 14.
DEPTH_INPUT_SIZE, DEPTH_MULTIPLE = 518, 14
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def depth_input_size(height: int, width: int) -> tuple[int, int]:
    """The Depth Anything ``Resize`` (keep aspect ratio, lower bound 518, multiple of 14): the
    larger scale of the two sides, each side rounded (half to even) to a multiple of 14 and
    raised to the next multiple when that falls below 518."""
    scale = max(DEPTH_INPUT_SIZE / height, DEPTH_INPUT_SIZE / width)

    def side(x: float) -> int:
        y = int(round(x / DEPTH_MULTIPLE)) * DEPTH_MULTIPLE
        if y < DEPTH_INPUT_SIZE:
            y = int(math.ceil(x / DEPTH_MULTIPLE)) * DEPTH_MULTIPLE
        return y

    return side(scale * height), side(scale * width)


@executor("DepthAnythingV2Preprocessor", pth_inputs=("ckpt_name",),
          oom_hint="lower the resolution, or depth-map fewer frames at once")
def depth_anything_v2_preprocessor(ctx: ExecContext, image: Any, ckpt_name: str, resolution: int,
                                   **unused: Any) -> tuple:
    """Relative depth of each frame as a grey IMAGE, near bright, its short side ``resolution``.

    As in the pack: the file ``ckpt_name`` is loaded for each call (fp32); each frame is taken
    as 8-bit levels, resized bicubic to the network size (short side >= 518, multiples of 14),
    ImageNet-normalised, its depth resized back (bilinear, corners aligned) to the frame size,
    min-max scaled to 0..255 and truncated to 8 bits *per frame*, then resized to the detect
    resolution (bicubic up, area down) and divided by 255.

    Differences from the pack: the file is read from ``<models>/controlnet_aux/`` (``files``),
    never downloaded; which size it holds is read from its weights (the pack builds the size its
    name says and fails on a mismatch); a frame with constant depth gives black instead of the
    pack's NaN cast to 8 bits; the resizes are OpenCV's filters rewritten on torch (``image``).
    """
    frames = _image(image)
    path = find_file(ctx, ckpt_name, "ckpt_name")
    state = read_weights(path, "ckpt_name")
    try:
        model, _variant = model_from_original(state, str(path))
    except NotDepthAnythingError as err:
        raise NodeInputError("ckpt_name", str(err),
                             f"get {ckpt_name} again from https://huggingface.co/{SOURCES.get(ckpt_name, '')}") from None
    del state
    res = detect_resolution(resolution)
    device = torch.device(ctx.device)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    out = []
    model.to(device)
    try:
        with torch.no_grad():
            for frame in frames:
                ctx.check_interrupt()
                levels = hwc3(to_uint8_levels(frame))
                height, width = levels.shape[:2]
                pixels = (levels.double() / 255.0).permute(2, 0, 1).unsqueeze(0)
                pixels = resize_cubic(pixels, depth_input_size(height, width))
                pixels = ((pixels - mean) / std).float().to(device)
                depth = model(pixel_values=pixels).predicted_depth.float()
                depth = F.interpolate(depth[:, None], size=(height, width), mode="bilinear",
                                      align_corners=True)[0, 0].cpu()
                low, high = depth.min(), depth.max()
                scaled = (depth - low) / (high - low) * 255.0 if high > low else torch.zeros_like(depth)
                grey = torch.floor(scaled.clamp(0, 255)).unsqueeze(-1).expand(-1, -1, 3)
                out.append(resize_levels(grey, res) / 255.0)
    finally:
        model.to(ctx.offload_device)
    return (torch.stack(out).contiguous(),)


# --- Lineart -----------------------------------------------------------------------------------

LINEART_FILES = {"disable": "sk_model.pth", "enable": "sk_model2.pth"}


@executor("LineArtPreprocessor", oom_hint="lower the resolution")
def lineart_preprocessor(ctx: ExecContext, image: Any, coarse: str, resolution: int, **unused: Any) -> tuple:
    """Realistic lineart of each frame: white lines on black, its short side ``resolution``.

    As in the pack: each frame as 8-bit levels, resized (bicubic up, area down) so its short side
    is the detect resolution and padded (edges repeated) to multiples of 64; the informative-
    drawings generator (``sk_model.pth``, ``sk_model2.pth`` when ``coarse`` is enabled) runs on
    it in 0..1; its output scaled to 8 bits (clipped, truncated), inverted (``255 - x``),
    cropped back and divided by 255. Both files are read from ``<models>/controlnet_aux/``
    (the pack loads both on every call; wfrun reads the one it uses).
    """
    frames = _image(image)
    if coarse not in LINEART_FILES:
        raise NodeInputError("coarse", f"expected 'enable' or 'disable', got {coarse!r}")
    name = LINEART_FILES[coarse]
    path = find_file(ctx, name, "coarse")
    state = read_weights(path, "coarse")
    try:
        model = build_lineart(state, str(path))
    except NotLineartError as err:
        raise NodeInputError("coarse", str(err), f"get {name} again from https://huggingface.co/{SOURCES[name]}") from None
    res = detect_resolution(resolution)
    device = torch.device(ctx.device)
    out = []
    model.to(device)
    try:
        with torch.no_grad():
            for frame in frames:
                ctx.check_interrupt()
                padded, (height, width) = resize_with_pad(hwc3(to_uint8_levels(frame)), res)
                pixels = (padded / 255.0).permute(2, 0, 1).unsqueeze(0).float().to(device)
                line = model(pixels)[0, 0].float().cpu()
                line = torch.floor((line * 255.0).clamp(0, 255))
                drawn = (255.0 - line)[:height, :width]
                out.append((drawn / 255.0).unsqueeze(-1).expand(-1, -1, 3))
    finally:
        model.to(ctx.offload_device)
    return (torch.stack(out).contiguous(),)
