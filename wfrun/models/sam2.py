"""SAM 2 / 2.1 on transformers: a checkpoint in Meta's layout loaded offline into
``Sam2VideoModel`` (ComfyUI-segment-anything-2's ``video`` segmentor) or ``Sam2Model``
(``single_image``), and the two ways Sam2Segmentation runs it.

- :func:`segment_image`: one frame, SAM's prompt encoder and mask decoder on the frame's
  features, as the pack's ``SAM2ImagePredictor`` does: the frame resized to the model's square
  (bilinear, antialiased, as torchvision's ``Resize`` does on a tensor) and ImageNet-normalized;
  points and boxes scaled from the frame's pixels to the square; mask logits (no object-score
  masking: the predictor calls the decoder itself) upsampled to the frame (bilinear).
- :func:`segment_video`: prompts on frame 0, then transformers' video inference session
  propagates them through every frame with SAM 2's memory (memory attention over earlier
  frames' encoded masks and object pointers). As in the pack, the frames are resized to the
  square (bilinear, no antialias: ComfyUI's ``common_upscale``) and fed in 0..1 *without*
  ImageNet normalization (the pack's ``init_state`` skips the normalization Meta's video
  loader does); each object's low-resolution mask logits are upsampled to the frame size.

Measured against Meta's code as the pack ships it (its ``SAM2ImagePredictor`` and
``SAM2VideoPredictor``, the pack's ``load_model``), full-size Hiera tiny with random weights,
fp32, CPU, a 160x120 image: single-image logits within 2.4e-7 (points, point + box, box alone,
a mask input, one point with three masks, two individual objects) and video logits over 3
frames within 2.5e-7 (SAM 2.0 and 2.1 with a positive and a negative point; 2.1 with one point,
with a point and a box, with two objects tracked at once); every mask pixel the same.
Torchvision's transforms were replaced by their torch equivalents for that check (no
torchvision here); fp16/bf16 on a GPU, where the pack runs under autocast, was not compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- loading ----------------------------------------------------------------------------------


def build_model(config: Any, *, video: bool) -> nn.Module:
    """An empty-weight ``Sam2VideoModel`` (``video``) or ``Sam2Model`` for ``config``."""
    from transformers import Sam2Model, Sam2VideoModel

    from wfrun.models.convert_sam2 import image_config

    return Sam2VideoModel(config) if video else Sam2Model(image_config(config))


def load_sam2(path: str | Path, *, video: bool, dtype: torch.dtype = torch.float32, device: Any = "cpu",
              allow_pickle: bool | None = None) -> tuple[nn.Module, Any]:
    """``(model, facts)``: a SAM 2 file as a transformers model, every tensor accounted for
    (see :mod:`wfrun.models.convert_sam2`), names and shapes checked before a weight is read."""

    from wfrun.models import convert_sam2
    from wfrun.models.load import _finish, assign_plan
    from wfrun.models.mapping import build_plan, check_plan, expected_shapes_with_point_rows
    from wfrun.models.reader import open_checkpoint
    from wfrun.models.meta_init import empty_weights

    device = torch.device(device)
    label = convert_sam2.LABEL if video else convert_sam2.LABEL_IMAGE
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        facts = convert_sam2.read_facts(reader.path, reader.tensors, reader.metadata)
        rename = convert_sam2.make_rename(reader.tensors, video=video)
        plan = build_plan(reader.path, reader.tensors, "", rename, label=label)
        with empty_weights():
            model = build_model(facts.config, video=video)
        check_plan(reader.path, plan, reader.tensors, expected_shapes_with_point_rows(model), label=label)
        assign_plan(model, plan, reader, device, dtype)
    _finish(model, Path(path), device)
    for buffer_owner in model.modules():  # buffers built on the CPU in fp32: follow the weights
        for key, buffer in list(buffer_owner._buffers.items()):
            if buffer is not None and buffer.is_floating_point():
                buffer_owner._buffers[key] = buffer.to(dtype)
    return model, facts


# --- prompts ----------------------------------------------------------------------------------


def scale_xy(coords: torch.Tensor, height: int, width: int, size: int) -> torch.Tensor:
    """Pixel coordinates ``[..., 2]`` (x, y) of a ``width x height`` frame → the model's square."""
    scale = torch.tensor([size / width, size / height], dtype=torch.float32)
    return coords.float() * scale


def image_pixels(frame: torch.Tensor, size: int) -> torch.Tensor:
    """One IMAGE frame ``[H, W, 3]`` in 0..1 → ``[1, 3, S, S]`` as the pack's image predictor
    prepares it (quantized to 8 bits first, as the pack's ``(image * 255).byte()`` does)."""
    pixels = (frame[..., :3].float() * 255).to(torch.uint8).float() / 255
    pixels = pixels.permute(2, 0, 1)[None]
    pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def video_pixels(images: torch.Tensor, size: int) -> torch.Tensor:
    """IMAGE ``[T, H, W, 3]`` → ``[T, 3, S, S]`` in 0..1, as the pack's video path feeds it."""
    pixels = images[..., :3].float().permute(0, 3, 1, 2)
    return F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)


# --- single image -----------------------------------------------------------------------------


@torch.no_grad()
def segment_image(model: nn.Module, frame: torch.Tensor, *, points: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None, boxes: torch.Tensor | None = None,
                  mask_logits: torch.Tensor | None = None, multimask: bool = True) -> torch.Tensor:
    """Mask logits ``[objects, H, W]`` for one frame ``[H, W, 3]``.

    ``points`` ``[objects, N, 2]`` (x, y in the frame's pixels) with ``labels`` ``[objects, N]``
    (1 positive, 0 negative); ``boxes`` ``[objects, 4]`` xyxy pixels; ``mask_logits``
    ``[1, 256, 256]`` (a previous low-resolution mask). ``multimask``: three masks each, the
    one with the best predicted IoU kept, as the pack does for a single object."""
    size = model.config.vision_config.backbone_config.image_size[0]
    height, width = frame.shape[0], frame.shape[1]
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    kwargs: dict[str, Any] = {}
    if points is not None:
        kwargs["input_points"] = scale_xy(points, height, width, size)[None].to(device, dtype)
        kwargs["input_labels"] = labels.to(torch.int32)[None].to(device)
    if boxes is not None:
        corners = scale_xy(boxes.reshape(-1, 2, 2), height, width, size).reshape(-1, 4)
        kwargs["input_boxes"] = corners[None].to(device, dtype)
    if mask_logits is not None:
        kwargs["input_masks"] = mask_logits[None].to(device, dtype)
    out = model(pixel_values=image_pixels(frame, size).to(device, dtype), multimask_output=multimask, **kwargs)
    masks, scores = out.pred_masks[0].float(), out.iou_scores[0].float()   # [objects, k, h, w], [objects, k]
    best = scores.argmax(dim=-1)
    masks = masks[torch.arange(masks.shape[0], device=masks.device), best]  # [objects, h, w]
    return F.interpolate(masks[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0].cpu()


# --- video ------------------------------------------------------------------------------------


@torch.no_grad()
def segment_video(model: nn.Module, images: torch.Tensor, prompts: Sequence[dict[str, torch.Tensor]],
                  *, on_frame: Any = None) -> torch.Tensor:
    """Mask logits ``[frames, objects, H, W]``: each prompt (``points`` ``[N, 2]`` pixels and
    ``labels`` ``[N]``, and/or ``box`` ``[4]`` xyxy pixels) is one object on frame 0, tracked
    through the frames by transformers' video inference session."""
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    size = model.config.image_size
    frames, height, width = images.shape[0], images.shape[1], images.shape[2]
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    session = Sam2VideoInferenceSession(video=video_pixels(images, size), video_height=height, video_width=width,
                                        inference_device=device, inference_state_device=device,
                                        video_storage_device="cpu", dtype=dtype)
    obj_ids = []
    for index, prompt in enumerate(prompts):
        obj_id = index + 1
        coords, labels = [], []
        if prompt.get("box") is not None:  # a box goes first, as two corner points labelled 2 and 3
            coords.append(scale_xy(prompt["box"].reshape(2, 2), height, width, size))
            labels.append(torch.tensor([2, 3], dtype=torch.int32))
        if prompt.get("points") is not None:
            coords.append(scale_xy(prompt["points"], height, width, size))
            labels.append(prompt["labels"].to(torch.int32))
        obj_idx = session.obj_id_to_idx(obj_id)
        session.add_point_inputs(obj_idx, 0, {"point_coords": torch.cat(coords)[None, None].to(device, dtype),
                                              "point_labels": torch.cat(labels)[None, None].to(device)})
        obj_ids.append(obj_id)
    session.obj_with_new_inputs = list(obj_ids)
    out = []
    for output in model.propagate_in_video_iterator(session, start_frame_idx=0, max_frame_num_to_track=frames):
        logits = output.pred_masks.float()  # [objects, 1, h, w]
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)[:, 0]
        out.append(logits.cpu())
        if on_frame is not None:
            on_frame()
    return torch.stack(out)
