"""SAM3_Detect, and CLIPTextEncode with a SAM 3.1 checkpoint's CLIP, as ComfyUI runs them
(``comfy_extras/nodes_sam3.py``, ``comfy/text_encoders/sam3_clip.py``) on transformers' SAM 3
(:mod:`wfrun.models.sam3`).

Text: the prompt is split on commas into categories (parentheses dropped); ``dog:3`` asks for
up to three dogs. A single category without a count is encoded as written. Each is tokenized
as ComfyUI's ``SDTokenizer`` does (CLIP BPE word by word, chunks of 32 tokens: start, up to
30 tokens, end, padding with id 0; a word of 8 tokens or more may be split across chunks)
and encoded to the text encoder's last hidden states; the attention mask covers each chunk
up to its end token. The CONDITIONING is ComfyUI's: ``[[states, {"attention_mask": mask}]]``,
with ``sam3_multi_cond`` (one entry per category: ``cond``, ``attention_mask``,
``max_detections``) when the prompt had several categories or a count.

SAM3_Detect, per frame (the frame resized to the model's square, 1008 px, in 0..1):

- points (``positive_coords``/``negative_coords``: JSON ``[{"x":…, "y":…}]`` in the image's
  pixels): the SAM heads, best of three masks for a single point, then
  ``refine_iterations - 1`` passes feeding the mask back; one mask;
- boxes without text (``bboxes``: one ``{"x","y","width","height"}``, a list of them for every
  frame, or a list per frame): one SAM-head mask per box, refined the same way;
- each text category: the detector (with the frame's boxes as box prompts, if any), scores
  ``sigmoid(logit) > threshold`` (the presence score is not applied, as in ComfyUI), the
  ``max_detections`` best (one for a plain prompt), each mask refined on a crop of its box
  padded by 10% (the crop resized to the model's square, the coarse mask fed to the SAM heads
  ``refine_iterations`` times, the result OR-ed with the coarse mask; 0 iterations keeps the
  coarse mask), and a BOUNDING_BOX dict ``{x, y, width, height, score}`` per detection.

``masks``: with ``individual_masks`` off, one MASK per frame, the union of its objects
(``[frames, H, W]``, 0 or 1); on, the objects of every frame one after another
(``[objects, H, W]``). ``bboxes``: one list of dicts per frame. Differences from ComfyUI
are listed in :mod:`wfrun.models.sam3`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models import placement
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.types import Sam3Clip, Sam3Model

#: ComfyUI's SDTokenizer: a word this long (in tokens) may be split across chunks.
MAX_WORD_TOKENS = 8
#: ComfyUI's _refine_mask: the crop around a detection is its box grown by this much a side.
CROP_PAD = 0.1


# --- text ----------------------------------------------------------------------------------


def parse_prompts(text: str) -> list[tuple[str, int]]:
    """ComfyUI's ``_parse_prompts``: categories split on commas, ``name:N`` for N detections."""
    text = text.replace("(", "").replace(")", "")
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = re.match(r"^(.+?)\s*:\s*([\d.]+)\s*$", part)
        out.append((m.group(1).strip(), max(1, round(float(m.group(2))))) if m else (part, 1))
    return out


def tokenize(tokenizer: Any, text: str, max_length: int = 32) -> list[list[int]]:
    """Chunks of ``max_length`` ids: start token, the words' tokens, end token, padding 0."""
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    words = [w for w in text.replace("\n", " ").split(" ") if w]
    groups = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in words]
    chunks, chunk = [], [start]
    for group in groups:
        large = len(group) >= MAX_WORD_TOKENS
        while group:
            if len(group) + len(chunk) > max_length - 1:
                room = max_length - len(chunk) - 1
                if large:
                    chunk += group[:room] + [end]
                    group = group[room:]
                else:
                    chunk += [end] + [0] * room
                chunks.append(chunk)
                chunk = [start]
            else:
                chunk += group
                group = []
    chunk.append(end)
    chunks.append(chunk + [0] * (max_length - len(chunk)))
    return chunks


@torch.no_grad()
def encode_text(ctx: ExecContext, clip: Sam3Clip, text: str) -> list:
    """CLIPTextEncode's CONDITIONING for a SAM 3.1 CLIP (see the module docstring)."""
    if clip.tokenizer is None:
        raise NodeInputError("clip", clip.tokenizer_error or "the SAM 3 CLIP has no tokenizer")
    segmenter = clip.segmenter
    placement.onload(segmenter.detector.text_encoder, ctx.device)
    try:
        def encode(piece: str) -> tuple[torch.Tensor, torch.Tensor]:
            ids = torch.tensor(tokenize(clip.tokenizer, piece, clip.max_length), device=ctx.device)
            end = clip.tokenizer.eos_token_id
            first_end = (ids == end).int().argmax(dim=1, keepdim=True)
            mask = (torch.arange(ids.shape[1], device=ctx.device)[None] <= first_end).long()
            states = segmenter.encode_text(ids, mask).float()
            # chunks follow one another along the tokens, as ComfyUI's encode_token_weights joins them
            return states.reshape(1, -1, states.shape[-1]).cpu(), mask.reshape(1, -1).cpu()

        parsed = parse_prompts(text)
        if len(parsed) <= 1 and (not parsed or parsed[0][1] == 1):
            cond, mask = encode(text)
            return [[cond, {"pooled_output": None, "attention_mask": mask}]]
        multi = []
        for piece, count in parsed:
            cond, mask = encode(piece)
            multi.append({"cond": cond, "attention_mask": mask, "max_detections": count})
        return [[multi[0]["cond"], {"pooled_output": None, "attention_mask": multi[0]["attention_mask"],
                                    "sam3_multi_cond": multi}]]
    finally:
        placement.offload(segmenter.detector.text_encoder, clip.offload_device)


def text_prompts(conditioning: Any, width: int) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """ComfyUI's ``_extract_text_prompts``: (states, mask, max detections) per category."""
    if conditioning is None or len(conditioning) == 0:
        return []
    try:
        cond, meta = conditioning[0][0], conditioning[0][1]
    except (TypeError, IndexError, KeyError):
        raise NodeInputError("conditioning", f"not a CONDITIONING ({type(conditioning).__name__})",
                             "connect CLIPTextEncode") from None
    entries = meta.get("sam3_multi_cond") or [{"cond": cond, "attention_mask": meta.get("attention_mask"),
                                              "max_detections": 1}]
    out = []
    for entry in entries:
        states = entry["cond"]
        if not isinstance(states, torch.Tensor) or states.ndim != 3 or states.shape[-1] != width:
            found = list(states.shape) if isinstance(states, torch.Tensor) else type(states).__name__
            raise NodeInputError("conditioning", f"text states of shape {found}; this SAM 3 model reads "
                                 f"[1, tokens, {width}]", "encode the text with CLIPTextEncode fed by the CLIP "
                                 "output of the same SAM 3 checkpoint's CheckpointLoaderSimple")
        mask = entry.get("attention_mask")
        if mask is None:
            mask = torch.ones(states.shape[:2], dtype=torch.long)
        out.append((states, mask, int(entry.get("max_detections", 1))))
    return out


# --- prompts given as boxes and points ------------------------------------------------------


def _box_list(boxes: Any, height: int, width: int) -> torch.Tensor:
    """BOUNDING_BOX dicts → normalized cxcywh ``[1, N, 4]``."""
    rows = []
    for box in boxes:
        try:
            x, y, w, h = (float(box[k]) for k in ("x", "y", "width", "height"))
        except (TypeError, KeyError, ValueError):
            raise NodeInputError("bboxes", f"a box {box!r} is not a dict with x, y, width and height") from None
        rows.append([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height])
    return torch.tensor([rows], dtype=torch.float32)


def frame_boxes(bboxes: Any, frames: int, height: int, width: int) -> list[torch.Tensor | None] | None:
    """ComfyUI's three BOUNDING_BOX shapes: one dict (every frame), a list of dicts (every
    frame), a list of lists (per frame; the last repeats for the frames it lacks)."""
    if bboxes is None:
        return None
    if isinstance(bboxes, dict):
        return [_box_list([bboxes], height, width)] * frames
    if not isinstance(bboxes, (list, tuple)):
        raise NodeInputError("bboxes", f"expected BOUNDING_BOX dicts, got {type(bboxes).__name__}")
    if not bboxes:
        return None
    if isinstance(bboxes[0], (list, tuple)):
        per = [_box_list(f, height, width) if f else None for f in bboxes]
        while len(per) < frames:
            per.append(per[-1])
        return per
    return [_box_list(bboxes, height, width)] * frames


def points(value: Any, input_name: str) -> list[tuple[float, float]]:
    """KJNodes' PointsEditor JSON: ``[{"x": 10, "y": 20}, …]`` in the image's pixels."""
    if not value:
        return []
    try:
        data = json.loads(value) if isinstance(value, str) else value
        return [(float(p["x"]), float(p["y"])) for p in data]
    except (ValueError, TypeError, KeyError):
        raise NodeInputError(input_name, f"not a JSON list of {{\"x\": …, \"y\": …}} points: {str(value)[:60]!r}",
                             'give e.g. [{"x": 120, "y": 80}]') from None


# --- the node ---------------------------------------------------------------------------------


def _check_inputs(model: Any, image: Any, threshold: Any, refine_iterations: Any) -> None:
    if not isinstance(model, Sam3Model):
        raise NodeInputError("model", f"expected the MODEL of a SAM 3.1 checkpoint, got {type(model).__name__}",
                             "connect the MODEL output of CheckpointLoaderSimple loading sam3.1_multiplex")
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] < 3 or 0 in image.shape[:3]:
        found = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise NodeInputError("image", f"expected an IMAGE [frames, height, width, 3], got {found}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise NodeInputError("threshold", f"{threshold!r} is not a score between 0 and 1")
    if isinstance(refine_iterations, bool) or not isinstance(refine_iterations, int) or refine_iterations < 0:
        raise NodeInputError("refine_iterations", f"{refine_iterations!r} is not a whole number of passes >= 0")


def _resize(images_chw: torch.Tensor, size: int) -> torch.Tensor:
    """ComfyUI's ``common_upscale(..., "bilinear", crop="disabled")`` to a square."""
    return F.interpolate(images_chw, size=(size, size), mode="bilinear", align_corners=False)


def _to_size(logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(logits.float(), size=(height, width), mode="bilinear", align_corners=False)


def refine(segmenter: Any, image_hwc: torch.Tensor, coarse: torch.Tensor, box: torch.Tensor, iterations: int,
           device: Any) -> torch.Tensor:
    """ComfyUI's ``_refine_mask``: ``coarse`` (logits ``[H, W]``), ``box`` xyxy in pixels → ``[1, H, W]``."""
    height, width = coarse.shape[-2:]
    coarse_full = _to_size(coarse[None, None], height, width)[0]
    fallback = (coarse_full > 0).float().cpu()
    if iterations <= 0:
        return fallback
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    cx1, cy1 = max(0, int(x1 - bw * CROP_PAD)), max(0, int(y1 - bh * CROP_PAD))
    cx2, cy2 = min(width, int(x2 + bw * CROP_PAD)), min(height, int(y2 + bh * CROP_PAD))
    if cx2 <= cx1 or cy2 <= cy1:
        return fallback
    size = segmenter.image_size
    crop = image_hwc[cy1:cy2, cx1:cx2, :3].movedim(-1, 0)[None].to(device=device, dtype=torch.float32)
    features = segmenter.interactive_features(segmenter.trunk(_resize(crop, size)))
    # the crop in the coarse mask's own grid (the same as the image's here), computed as ComfyUI does
    mask_h, mask_w = coarse.shape[-2:]
    mx1, my1, mx2, my2 = int(cx1 / width * mask_w), int(cy1 / height * mask_h), int(cx2 / width * mask_w), \
        int(cy2 / height * mask_h)
    if mx2 <= mx1 or my2 <= my1:
        return fallback
    logits = coarse[my1:my2, mx1:mx2][None, None].to(device=device, dtype=torch.float32)
    for _ in range(iterations):  # the crop's features do not change between passes: computed once
        logits = segmenter.segment(features, mask=_resize(logits, size))
    full = torch.zeros(1, 1, height, width, device=device)
    full[:, :, cy1:cy2, cx1:cx2] = _to_size(logits, cy2 - cy1, cx2 - cx1)
    return ((full[0] > 0) | (coarse_full.to(device) > 0)).float().cpu()


@executor("SAM3_Detect")
@torch.no_grad()
def sam3_detect(ctx: ExecContext, model: Sam3Model, image: torch.Tensor, threshold: float, refine_iterations: int,
                individual_masks: bool, conditioning: Any = None, bboxes: Any = None, positive_coords: Any = None,
                negative_coords: Any = None, **_: Any) -> tuple:
    _check_inputs(model, image, threshold, refine_iterations)
    segmenter = model.segmenter
    frames, height, width = image.shape[:3]
    prompts = text_prompts(conditioning, segmenter.configs.detector.text_config.hidden_size)
    boxes = frame_boxes(bboxes, frames, height, width)
    positive, negative = points(positive_coords, "positive_coords"), points(negative_coords, "negative_coords")
    if not prompts and boxes is None and not positive and not negative:
        raise NodeInputError("conditioning", "no prompt: SAM3_Detect needs a text conditioning, bboxes or points",
                             "connect CLIPTextEncode (the SAM 3 checkpoint's CLIP), bboxes or point coordinates")
    device, size = ctx.device, segmenter.image_size
    pixels = _resize(image[..., :3].movedim(-1, 1).float(), size)
    point_xy = [(x / width * size, y / height * size) for x, y in positive + negative]
    point_labels = [1] * len(positive) + [0] * len(negative)
    placement.onload(segmenter, device)
    bar = ctx.progress.chunks(frames, "SAM3_Detect") if ctx.progress is not None else None
    all_masks, all_boxes = [], []
    try:
        for b in range(frames):
            ctx.check_interrupt()
            trunk = segmenter.trunk(pixels[b:b + 1].to(device))
            features = segmenter.interactive_features(trunk) if point_xy or (boxes and not prompts) else None
            frame_masks, frame_boxes_out = [], []
            if point_xy:
                logits = segmenter.segment(features, points=torch.tensor([point_xy], device=device),
                                           labels=torch.tensor([point_labels], device=device),
                                           multimask=len(point_xy) == 1)
                for _ in range(max(0, refine_iterations - 1)):
                    logits = segmenter.segment(features, mask=logits)
                frame_masks.append((_to_size(logits, height, width)[0] > 0).float().cpu())
            frame_box = boxes[b] if boxes is not None else None
            if frame_box is not None and not prompts:
                for cx, cy, bw, bh in frame_box[0].tolist():
                    corners = torch.tensor([[(cx - bw / 2) * size, (cy - bh / 2) * size,
                                             (cx + bw / 2) * size, (cy + bh / 2) * size]], device=device)
                    logits = segmenter.segment(features, box=corners)
                    for _ in range(max(0, refine_iterations - 1)):
                        logits = segmenter.segment(features, mask=logits)
                    frame_masks.append((_to_size(logits, height, width)[0] > 0).float().cpu())
            for states, mask, max_detections in prompts:
                try:
                    found = segmenter.detect(trunk, states.to(device), mask.to(device),
                                             frame_box.to(device) if frame_box is not None else None)
                except RuntimeError as err:
                    if "torchvision" in str(err):
                        raise NodeInputError("bboxes", str(err)) from None
                    raise
                scale = torch.tensor([width, height, width, height], device=device, dtype=torch.float32)
                pred_boxes = found["boxes"][0].float() * scale
                probs = found["logits"][0].float().sigmoid()
                keep = probs > threshold
                kept_boxes, kept_probs = pred_boxes[keep].cpu(), probs[keep].cpu()
                kept_masks = (_to_size(found["masks"][:, keep], height, width)[0] if bool(keep.any())
                              else torch.zeros(0, height, width, device=device))
                order = kept_probs.argsort(descending=True)[:max_detections]
                for box, prob, coarse in zip(kept_boxes[order], kept_probs[order], kept_masks[order]):
                    frame_boxes_out.append({"x": float(box[0]), "y": float(box[1]), "width": float(box[2] - box[0]),
                                            "height": float(box[3] - box[1]), "score": float(prob)})
                    frame_masks.append(refine(segmenter, image[b], coarse, box, refine_iterations, device))
            all_boxes.append(frame_boxes_out)
            if frame_masks:
                combined = torch.cat(frame_masks, dim=0)
                all_masks.append(combined if individual_masks else (combined > 0).any(dim=0).float())
            else:
                all_masks.append(torch.zeros(0, height, width) if individual_masks else torch.zeros(height, width))
            if bar is not None:
                bar.update(1)
    finally:
        placement.offload(segmenter, model.offload_device)
    masks = torch.cat(all_masks, dim=0) if individual_masks else torch.stack(all_masks)
    return (masks, all_boxes)
