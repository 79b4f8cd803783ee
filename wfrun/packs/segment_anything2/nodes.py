"""``DownloadAndLoadSAM2Model``, ``Sam2Segmentation`` and ``Florence2toCoordinates``
(kijai/ComfyUI-segment-anything-2), on transformers' SAM 2 (:mod:`wfrun.models.sam2`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots, find_model
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.segment_anything2.prompts import parse_boxes, parse_points, point_prompts
from wfrun.packs.segment_anything2.types import Sam2ModelValue

log = logging.getLogger(__name__)

#: The models sub-folder the pack downloads into (``ComfyUI/models/sam2``).
FOLDER = "sam2"
SOURCE = "https://huggingface.co/Kijai/sam2-safetensors"
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
SEGMENTORS = ("single_image", "video", "automaskgenerator")


def _roots(ctx: ExecContext) -> ModelRoots:
    return ctx.models if isinstance(ctx.models, ModelRoots) else ModelRoots.from_options(ctx.models)


def file_names(model: str, precision: str) -> list[str]:
    """The names tried, in order: the pack loads ``<name>-fp16.safetensors`` for a SAM 2.1
    model in fp16 or bf16 (Kijai's repository has both); the widget's own name follows."""
    names = []
    if precision != "fp32" and "2.1" in model and "." in model:
        base, ext = model.rsplit(".", 1)
        if not base.endswith("-fp16"):
            names.append(f"{base}-fp16.{ext}")
    names.append(model)
    return names


@executor("DownloadAndLoadSAM2Model")
def load_sam2_model(ctx: ExecContext, model: str, segmentor: str, device: str, precision: str,
                    **unused: Any) -> tuple:
    """Load a SAM 2 / 2.1 file from ``<models>/sam2/`` for one segmentor.

    As in the pack: ``video`` builds the video predictor (transformers ``Sam2VideoModel``, with
    memory), ``single_image`` and ``automaskgenerator`` the image model (``Sam2Model``); a 2.1
    model in fp16/bf16 is read from ``<name>-fp16.safetensors``. Differences:

    - nothing is downloaded: a missing file is an error naming the folders searched and
      Kijai/sam2-safetensors; the widget's own name is tried after the ``-fp16`` one;
    - size (tiny, small, base+, large) and version (2.0/2.1) are read from the weights, not the
      name (the pack picks its config from the name);
    - the ``device`` widget is not followed: the run's device is (``--device``); on the CPU
      the model computes in fp32 (the pack refuses fp16/bf16 on the CPU).
    """
    if segmentor not in SEGMENTORS:
        raise NodeInputError("segmentor", f"unknown segmentor {segmentor!r}", f"use one of {', '.join(SEGMENTORS)}")
    if precision not in PRECISIONS:
        raise NodeInputError("precision", f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    roots = _roots(ctx)
    path, first_error = None, None
    for name in file_names(model, precision):
        try:
            path = find_model(roots, FOLDER, name)
            break
        except ModelPathError as err:
            first_error = first_error or err
    if path is None:
        searched = roots.folders(FOLDER)
        target = searched[0] if searched else Path("<models>") / FOLDER
        raise NodeInputError("model", str(first_error),
                             f"wfrun never downloads models: get {file_names(model, precision)[0]} from {SOURCE} "
                             f"and put it in {target} (or give the models folder with --models DIR)")
    dtype = PRECISIONS[precision]
    if torch.device(ctx.device).type == "cpu":
        dtype = torch.float32
    from wfrun.models.sam2 import load_sam2

    try:
        net, facts = load_sam2(path, video=segmentor == "video", dtype=dtype, device=ctx.offload_device)
    except CheckpointError as err:
        raise NodeInputError("model", str(err), f"this file is not a SAM 2 model; get {model} again from {SOURCE}") \
            from None
    named = "2.1" if "2.1" in model else "2.0"
    if facts.hiera != "custom" and named != facts.version:
        log.warning("%s: the name says SAM %s, the weights are SAM %s; using %s", path, named, facts.version,
                    facts.version)
    return (Sam2ModelValue(net, dtype, segmentor, facts.version, path, ctx.offload_device),)


def _image(image: Any) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (3, 4) or image.shape[0] == 0:
        found = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise NodeInputError("image", f"expected an IMAGE [frames, height, width, 3], got {found}")
    return image


@executor("Sam2Segmentation")
def sam2_segmentation(ctx: ExecContext, sam2_model: Sam2ModelValue, image: torch.Tensor, keep_model_loaded: bool,
                      individual_objects: bool, coordinates_positive: str | None = None,
                      coordinates_negative: str | None = None, bboxes: Any = None,
                      mask: torch.Tensor | None = None, **unused: Any) -> tuple:
    """MASK ``[frames, H, W]`` (0 or 1) of the prompted subject(s), as the pack makes it.

    Prompts are arranged as :mod:`.prompts` says (negative points count only with positive
    ones). ``single_image``: every frame segmented on its own with the same prompts, three
    masks and the best-scored one kept for one object (``individual_objects`` off); with it
    on, one mask per object (SAM 2's stability rule picks it), the objects' masks OR-ed;
    ``mask`` (0..1, resized to the decoder's 256x256 mask input and used as logits, as the pack
    does) refines each frame. ``video``: the prompts (and the first box) go on frame 0, one
    object (or one per positive point with ``individual_objects``), then SAM 2's memory tracks
    them through every frame; objects OR-ed per frame. Errors the pack raises stay errors:
    ``automaskgenerator`` models, boxes with a SAM 2.0 video model, boxes with
    ``individual_objects`` in video. A mask is 1 where the upsampled logit is above 0.
    """
    from wfrun.models import placement

    if not isinstance(sam2_model, Sam2ModelValue):
        raise NodeInputError("sam2_model", f"expected a SAM2MODEL, got {type(sam2_model).__name__}",
                             "connect DownloadAndLoadSAM2Model's output")
    image = _image(image)
    segmentor = sam2_model.segmentor
    if segmentor == "automaskgenerator":
        raise NodeInputError("sam2_model", "the model was loaded for the automaskgenerator segmentor",
                             "load it with segmentor single_image or video (the pack's Sam2AutoSegmentation "
                             "node uses automaskgenerator)")
    positive = parse_points(coordinates_positive, "coordinates_positive") if coordinates_positive is not None else None
    negative = None
    if positive is not None and coordinates_negative is not None:
        negative = parse_points(coordinates_negative, "coordinates_negative")
    boxes = parse_boxes(bboxes) if bboxes is not None else None
    points = point_prompts(positive, negative, bool(individual_objects)) if positive is not None else None
    frames, height, width = image.shape[0], image.shape[1], image.shape[2]
    model = sam2_model.model
    placement.onload(model, ctx.device)
    bar = ctx.progress.chunks(frames, "SAM 2 frames") if ctx.progress is not None else None
    try:
        if segmentor == "video":
            out = _video(model, sam2_model.version, image, points, boxes, bool(individual_objects), bar)
        else:
            out = _single(ctx, model, image, points, boxes, mask, bool(individual_objects), bar)
    finally:
        if bar is not None:
            bar.close()
        if not keep_model_loaded:
            placement.offload(model, sam2_model.offload_device)
    return ((out > 0).float().reshape(frames, height, width),)


def _single(ctx: ExecContext, model: Any, image: torch.Tensor, points, boxes, mask, individual: bool, bar) -> torch.Tensor:
    from wfrun.models.sam2 import segment_image

    frames, height, width = image.shape[0], image.shape[1], image.shape[2]
    box = None
    if boxes is not None:
        box = boxes if individual else boxes[-1:]
    if points is not None and box is not None and points[0].shape[0] != box.shape[0]:
        raise NodeInputError("bboxes", f"{box.shape[0]} boxes for {points[0].shape[0]} point objects",
                             "with individual_objects give one box per positive point")
    masks_in = None
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
            raise NodeInputError("mask", f"expected a MASK [frames, H, W], got {getattr(mask, 'shape', type(mask))}")
        mask = mask.reshape(-1, *mask.shape[-2:]).float()
        if mask.shape[0] < frames:
            raise NodeInputError("mask", f"{mask.shape[0]} mask frames for {frames} image frames",
                                 "give one mask per frame")
        side = model.config.prompt_encoder_config.image_size // 4
        masks_in = F.interpolate(mask[:, None], size=(side, side), mode="bilinear", align_corners=False)[:, 0]
    out = []
    for i in range(frames):
        ctx.check_interrupt()
        logits = segment_image(model, image[i], points=points[0] if points is not None else None,
                               labels=points[1] if points is not None else None, boxes=box,
                               mask_logits=masks_in[i:i + 1] if masks_in is not None else None,
                               multimask=not individual)
        out.append(logits.amax(dim=0))  # one object, or the objects OR-ed (max of logits > 0)
        if bar is not None:
            bar.update(1)
    return torch.stack(out)


def _video(model: Any, version: str, image: torch.Tensor, points, boxes, individual: bool, bar) -> torch.Tensor:
    from wfrun.models.sam2 import segment_video

    if boxes is not None and version != "2.1":
        raise NodeInputError("bboxes", "a SAM 2.0 model does not take boxes with the video segmentor (as in the pack)",
                             "use a sam2.1 model, or the single_image segmentor")
    if individual and boxes is not None:
        raise NodeInputError("bboxes", "boxes are not supported with individual_objects in the video segmentor",
                             "turn individual_objects off, or leave bboxes unconnected")
    if points is None and boxes is None:
        raise NodeInputError("coordinates_positive", "the video segmentor needs points or a box on the first frame",
                             "connect coordinates_positive (or bboxes)")
    prompts = []
    if individual:
        prompts = [{"points": c, "labels": lab} for c, lab in zip(points[0], points[1])]
    else:
        prompt: dict[str, torch.Tensor] = {}
        if points is not None:
            prompt.update(points=points[0][0], labels=points[1][0])
        if boxes is not None:
            prompt["box"] = boxes[0]
        prompts = [prompt]
    logits = segment_video(model, image, prompts, on_frame=(lambda: bar.update(1)) if bar is not None else None)
    return logits.amax(dim=1)  # [frames, H, W]: the objects OR-ed


@executor("Florence2toCoordinates")
def florence2_to_coordinates(ctx: ExecContext, data: Any, index: str, batch: bool, **unused: Any) -> tuple:
    """Centres (``{"x", "y"}``, whole pixels, JSON) and boxes of Florence-2's detections.

    ``data`` is Florence2Run's JSON: one list of ``[x1, y1, x2, y2]`` boxes per image, or per
    image a ``{"bboxes", "labels"}`` dict (phrase grounding), whose boxes are taken.
    ``index``: comma-separated detection indices (blank: all of the first image's). Without
    ``batch`` the first image's boxes at those indices (an index past its end is an error, as
    in the pack); with ``batch`` those indices of every image (out of range skipped). No
    detections at all give one point at (0, 0) and no boxes (the pack returns the point alone).
    """
    if isinstance(data, str):
        try:
            data = json.loads(data.replace("'", '"'))
        except ValueError:
            raise NodeInputError("data", "not JSON", "connect Florence2Run's data output") from None
    if not isinstance(data, (list, tuple)):
        raise NodeInputError("data", f"expected Florence-2's list of boxes per image, got {type(data).__name__}",
                             "connect Florence2Run's data output")
    if len(data) == 0:
        return (json.dumps([{"x": 0, "y": 0}]), [])
    # phrase grounding's data is one {"bboxes", "labels"} per image (ComfyUI-Florence2 from
    # 2025-02-12, as workflows feed it here): its boxes are taken
    data = [list(item.get("bboxes") or []) if isinstance(item, dict) else item for item in data]
    first = data[0]
    if not isinstance(first, (list, tuple)):
        raise NodeInputError("data", f"expected a list of boxes per image, got {first!r:.80}")
    text = str(index or "")
    try:
        indexes = [int(i) for i in text.split(",")] if text.strip() else list(range(len(first)))
    except ValueError:
        raise NodeInputError("index", f"{text!r} is not a comma-separated list of numbers", "e.g. 0 or 0,2") from None
    centres, boxes = [], []

    def take(box: Any) -> None:
        try:
            x1, y1, x2, y2 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise NodeInputError("data", f"{box!r:.80} is not a box [x1, y1, x2, y2]") from None
        centres.append({"x": int((x1 + x2) / 2), "y": int((y1 + y2) / 2)})
        boxes.append(box)

    for idx in indexes:
        if not 0 <= idx < len(first):
            if batch:
                continue
            raise NodeInputError("index", f"there is nothing at index {idx}: the first image has {len(first)} "
                                 "detections", f"use an index below {len(first)}")
        if batch:
            for number, image_boxes in enumerate(data):
                if not isinstance(image_boxes, (list, tuple)) or idx >= len(image_boxes):
                    raise NodeInputError("data", f"image {number} has no detection {idx}",
                                         "with batch on, every image needs the detections the index names")
                take(image_boxes[idx])
        else:
            take(first[idx])
    return (json.dumps(centres), boxes)
