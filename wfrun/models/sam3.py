"""SAM 3.1 on transformers: one module holding the detector and the SAM heads, loaded offline
from ComfyUI's checkpoint, and the three calls ComfyUI's SAM3 nodes make of it.

- :meth:`Sam3Segmenter.encode_text`: the CLIP text encoder's last hidden states (after its
  final norm), as ComfyUI's ``SAM3ClipModel`` (``layer="last"``) gives them.
- :meth:`Sam3Segmenter.detect`: open-vocabulary detection, ComfyUI's ``SAM3Detector.forward``.
  The text states go through the ``resizer``; the geometry encoder always adds its CLS token
  (with boxes, after their tokens), as Meta's SAM 3 and ComfyUI do for a text-only prompt;
  transformers' ``Sam3Model.forward`` skips the geometry encoder when no box is given, so
  the prompt is built here and handed to it as ``text_embeds``. Returns normalized xyxy
  boxes, score logits, low-resolution mask logits and the presence logit.
- :meth:`Sam3Segmenter.segment`: the interactive SAM heads on one image (points, a box, or
  a mask to refine), ComfyUI's ``SAM3Model.forward_segment``: features from the
  ``interactive_convs`` neck, ``interactivity_no_mem_embed`` added to the coarsest level,
  transformers' ``Sam3TrackerModel`` prompt encoder and mask decoder (without its
  stability-based mask switch, which ComfyUI does not do), masks whose object score is not
  positive set to -1024, then upsampled to the model's input size.

Differences from ComfyUI, on purpose: box prompts *with* a text prompt are encoded as Meta's
SAM 3 and transformers do (boxes and the CLS token together, cross-attending to the image
with its positions, projected before the layers); ComfyUI's own ``GeometryEncoder`` encodes
boxes apart from the CLS token, without positions, and projects them after its layers.
Every LayerNorm is built with ComfyUI's eps (PyTorch's default 1e-5, where transformers'
SAM 3 configs say 1e-6), and the text encoder uses ComfyUI's ``quick_gelu`` (Meta's and
transformers' SAM 3 use exact GELU). The ViT is fed the frame in 0..1, as ComfyUI feeds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.meta_init import empty_weights
from wfrun.models.header import CheckpointError

#: What ComfyUI's SAM heads write where the object score says "no object".
NO_OBJECT_LOGIT = -1024.0


class Sam3Segmenter(nn.Module):
    """``detector`` (transformers ``Sam3Model``, its text encoder a plain ``CLIPTextModel``),
    ``interactive_neck`` (``Sam3VisionNeck``) and ``tracker`` (``Sam3TrackerModel``'s prompt
    encoder and mask decoder; its own vision encoder removed: the detector's ViT serves both)."""

    def __init__(self, configs):
        super().__init__()
        from transformers import CLIPTextModel, Sam3Model, Sam3TrackerModel
        from transformers.models.sam3.modeling_sam3 import Sam3VisionNeck

        self.configs = configs
        self.detector = Sam3Model(configs.detector)
        self.detector.text_encoder = CLIPTextModel(configs.detector.text_config)
        self.interactive_neck = Sam3VisionNeck(configs.interactive)
        tracker = Sam3TrackerModel(configs.tracker)
        del tracker.vision_encoder
        self.tracker = tracker
        self.image_size = configs.image_size

    # --- the shared trunk -------------------------------------------------------------------

    def trunk(self, pixels: torch.Tensor) -> torch.Tensor:
        """ViT features ``[B, D, g, g]`` of frames ``[B, 3, S, S]`` (S = the model's image size)."""
        backbone = self.detector.vision_encoder.backbone
        hidden = backbone(pixels.to(self.dtype)).last_hidden_state
        grid = pixels.shape[-1] // backbone.config.patch_size
        return hidden.view(hidden.shape[0], grid, grid, -1).permute(0, 3, 1, 2)

    @property
    def dtype(self) -> torch.dtype:
        return self.detector.text_projection.weight.dtype

    # --- text ---------------------------------------------------------------------------------

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states ``[B, T, text width]`` (causal and padding masks applied)."""
        encoder = self.detector.text_encoder
        return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # --- detection ------------------------------------------------------------------------------

    def detector_features(self, trunk: torch.Tensor) -> tuple[tuple, tuple]:
        fpn, positions = self.detector.vision_encoder.neck(trunk)
        if self.configs.drop_last_level:
            fpn, positions = fpn[:-1], positions[:-1]
        return fpn, positions

    def prompt(self, fpn: tuple, positions: tuple, text: torch.Tensor, text_mask: torch.Tensor,
               boxes: torch.Tensor | None = None, geometry_cls: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The detector's prompt and its mask: resized text states, then the geometry encoder's
        tokens: the boxes (normalized cxcywh ``[B, N, 4]``), if any, and its CLS token.

        ``geometry_cls=False`` (with no boxes) leaves the geometry encoder out, as
        transformers' ``Sam3Model.forward`` does for a text-only prompt; ComfyUI never does."""
        batch = fpn[0].shape[0]
        text = self.detector.text_projection(text.to(self.dtype))
        text_mask = text_mask.bool()
        if text.shape[0] != batch:
            text, text_mask = text.expand(batch, -1, -1), text_mask.expand(batch, -1)
        geometry = self.detector.geometry_encoder
        if boxes is not None and boxes.shape[1] > 0:
            try:
                import torchvision  # noqa: F401  (transformers pools box features with torchvision's roi_align)
            except ImportError:
                raise RuntimeError("box prompts for SAM 3's detector need torchvision (its roi_align); "
                                   "install torchvision") from None
            n = boxes.shape[1]
            out = geometry(box_embeddings=boxes.to(self.dtype),
                           box_mask=torch.ones(batch, n, dtype=torch.bool, device=text.device),
                           box_labels=torch.ones(batch, n, dtype=torch.long, device=text.device),
                           img_feats=fpn, img_pos_embeds=positions)
            tokens, mask = out.last_hidden_state, out.attention_mask.bool()
        elif geometry_cls:
            tokens = self._geometry_cls(fpn, positions, batch)
            mask = torch.ones(batch, 1, dtype=torch.bool, device=text.device)
        else:
            return text, text_mask
        return torch.cat([text, tokens], dim=1), torch.cat([text_mask, mask], dim=1)

    def _geometry_cls(self, fpn: tuple, positions: tuple, batch: int) -> torch.Tensor:
        """The geometry encoder run on its CLS token alone (what it returns for no boxes:
        projected, normed, through its layers attending to the image, normed)."""
        geometry = self.detector.geometry_encoder
        cls = geometry.cls_embed.weight.view(1, 1, -1).expand(batch, -1, -1)
        tokens = geometry.prompt_layer_norm(geometry.final_proj(cls))
        vision = fpn[-1].flatten(2).transpose(1, 2)
        vision_pos = positions[-1].flatten(2).transpose(1, 2)
        for layer in geometry.layers:
            tokens = layer(prompt_feats=tokens, vision_feats=vision, vision_pos_encoding=vision_pos, prompt_mask=None)
        return geometry.output_layer_norm(tokens)

    def detect(self, trunk: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
               boxes: torch.Tensor | None = None, geometry_cls: bool = True) -> dict[str, torch.Tensor]:
        """Boxes (normalized xyxy ``[B, Q, 4]``), score logits ``[B, Q]``, mask logits
        ``[B, Q, 4g, 4g]`` and presence logits ``[B, 1]`` for one text prompt."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling
        from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

        fpn, positions = self.detector_features(trunk)
        prompt, mask = self.prompt(fpn, positions, text, text_mask, boxes, geometry_cls)
        # Sam3Model.forward drops the last level it is given (SAM 3's half-size one): give it one more
        vision = Sam3VisionEncoderOutput(fpn_hidden_states=tuple(fpn) + (fpn[-1],),
                                         fpn_position_encoding=tuple(positions) + (positions[-1],))
        out = self.detector(vision_embeds=vision, text_embeds=BaseModelOutputWithPooling(pooler_output=prompt),
                            attention_mask=mask)
        return {"boxes": out.pred_boxes, "logits": out.pred_logits, "masks": out.pred_masks,
                "presence": out.presence_logits}

    # --- the interactive SAM heads ------------------------------------------------------------

    def interactive_features(self, trunk: torch.Tensor) -> list[torch.Tensor]:
        """``[4x level after conv_s0, 2x level after conv_s1, 1x level + no-memory embedding]``."""
        fpn, _ = self.interactive_neck(trunk)
        decoder = self.tracker.mask_decoder
        last = fpn[2] + self.tracker.no_memory_embedding.reshape(1, -1, 1, 1)
        return [decoder.conv_s0(fpn[0]), decoder.conv_s1(fpn[1]), last]

    def segment(self, features: list[torch.Tensor], *, points: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, box: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, multimask: bool = False) -> torch.Tensor:
        """High-resolution mask logits ``[B, 1, S, S]`` from the SAM heads.

        ``points`` ``[B, N, 2]`` and ``box`` ``[B, 4]`` (xyxy) are in the model's input pixels;
        ``labels`` 1 positive, 0 negative; ``mask`` ``[B, 1, h, w]`` logits to refine;
        ``multimask``: decode three masks and keep the one with the best predicted IoU."""
        kwargs: dict[str, Any] = {}
        if points is not None:
            kwargs.update(input_points=points.to(self.dtype)[:, None], input_labels=labels.to(torch.int32)[:, None])
        if box is not None:
            kwargs["input_boxes"] = box.to(self.dtype)[:, None]
        if mask is not None:
            kwargs["input_masks"] = mask.to(self.dtype)
        out = self.tracker(image_embeddings=features, multimask_output=multimask, **kwargs)
        masks = out.pred_masks[:, 0]          # [B, k, 4g, 4g]
        if multimask:
            best = out.iou_scores[:, 0].argmax(dim=-1)
            masks = masks[torch.arange(masks.shape[0], device=masks.device), best][:, None]
        scores = out.object_score_logits[:, 0]  # [B, 1]
        masks = torch.where(scores[:, :, None, None] > 0, masks, torch.full_like(masks, NO_OBJECT_LOGIT))
        return F.interpolate(masks.float(), size=(self.image_size, self.image_size), mode="bilinear",
                             align_corners=False)


# --- loading ----------------------------------------------------------------------------------


def load_sam3(path: str | Path, *, dtype: torch.dtype = torch.float32, device: Any = "cpu",
              allow_pickle: bool | None = None) -> Sam3Segmenter:
    """ComfyUI's SAM 3.1 checkpoint as a :class:`Sam3Segmenter`, every tensor accounted for
    (see :mod:`wfrun.models.convert_sam3`), names and shapes checked before any weight is read."""

    from wfrun.models import convert_sam3
    from wfrun.models.detect import identify, require_kind
    from wfrun.models.load import _finish, assign_plan
    from wfrun.models.mapping import build_plan, check_plan, expected_shapes_with_point_rows
    from wfrun.models.reader import open_checkpoint

    device = torch.device(device)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        info = identify(reader.path, reader.tensors, reader.metadata)
        require_kind(info, "sam3")
        configs = convert_sam3.transformers_configs(info, reader.tensors, reader.metadata)
        plan = build_plan(reader.path, reader.tensors, "", convert_sam3.rename, label=convert_sam3.LABEL)
        with empty_weights():
            model = Sam3Segmenter(configs)
        expected = expected_shapes_with_point_rows(model)
        check_plan(reader.path, plan, reader.tensors, expected, label=convert_sam3.LABEL)
        assign_plan(model, plan, reader, device, dtype)
    _finish(model, Path(path), device)
    for module in model.modules():  # ComfyUI builds every norm with PyTorch's default eps
        if isinstance(module, nn.LayerNorm):
            module.eps = configs.detector.vision_config.layer_norm_eps
    return model


