"""SAM 3.1 checkpoints (Meta's key layout, as ComfyUI's ``sam3.1_multiplex`` release keeps it)
→ transformers ``Sam3Model`` + the interactive heads of ``Sam3TrackerModel``.

The file holds two halves. ``detector.`` is what open-vocabulary detection runs: the ViTDet
trunk (``backbone.vision_backbone.trunk``, fused ``attn.qkv``, a position table that still
has its class-token row, and precomputed ``attn.freqs_cis`` that transformers recomputes),
the FPN necks (``convs`` for the detector; ``interactive_convs`` for the SAM heads;
``propagation_convs`` for video tracking), the CLIP text encoder in open_clip names
(``language_backbone.encoder``) and its ``resizer`` to the model width, the DETR encoder and
decoder (``nn.MultiheadAttention`` names: fused ``in_proj_weight``), the segmentation head,
the geometry (box) encoder and the dot-product scorer. ``tracker.model.`` is the video
tracker; of it SAM3_Detect's mask refinement uses only the interactive SAM prompt encoder and
mask decoder (SAM 2 names) and ``interactivity_no_mem_embed``. Everything else in the file —
the memory attention, memory encoder, multiplex decoder, object pointers, the propagation
neck, the geometry encoder's point projections (ComfyUI's detector never receives points) —
serves SAM3_VideoTrack or nothing here, and is named below and left unread; a key that is
neither loaded nor named is an error, so a new layout cannot load half-silently.

Conversion is renaming, plus: fused q/k/v split in three (``chunk``), the class-token row of
the position table dropped (``skip``), and the prompt encoder's four one-row
``point_embeddings.N`` stacked into transformers' ``point_embed`` (targets ``…#N``, assembled
by :func:`wfrun.models.sam3.load_sam3`). Sizes come from the header; what shapes cannot say
(head counts, window size, global-attention blocks, image size) from ``configs/sam3.json``,
overridden by a tiny file's ``wfrun.sam3`` metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from wfrun.models.detect import ModelInfo
from wfrun.models.header import CheckpointError, TensorInfo
from wfrun.models.mapping import UNKNOWN, Take, bundled_config

LABEL = "SAM 3.1 (transformers Sam3Model with the Sam3Tracker heads)"

TRUNK = "detector.backbone.vision_backbone.trunk."
NECKS = "detector.backbone.vision_backbone."
TEXT = "detector.backbone.language_backbone.encoder."
TRACKER = "tracker.model."

#: Parts of the tracker that only video tracking (SAM3_VideoTrack) uses: not loaded.
TRACKING_ONLY = ("transformer.", "sam_mask_decoder.", "maskmem_backbone.", "maskmem_tpos_enc", "no_obj_embed_spatial",
                 "obj_ptr_proj.", "obj_ptr_tpos_proj.", "no_obj_ptr_linear.", "interactive_obj_ptr_proj.",
                 "interactive_mask_downsample.", "output_valid_embed", "output_invalid_embed", "image_pe_layer.")

# --- module renames, as data ------------------------------------------------------------------

#: A DETR/geometry encoder layer (pre-norm): Meta's module → transformers' module.
_ENCODER_LAYER = {"self_attn": "self_attn", "cross_attn_image": "cross_attn", "linear1": "mlp.fc1",
                  "linear2": "mlp.fc2", "norm1": "layer_norm1", "norm2": "layer_norm2", "norm3": "layer_norm3"}
#: A DETR decoder layer (post-norm: norm2 follows self-attention, catext_norm the text
#: cross-attention, norm1 the image cross-attention, norm3 the MLP).
_DECODER_LAYER = {"self_attn": "self_attn", "norm2": "self_attn_layer_norm", "ca_text": "text_cross_attn",
                  "catext_norm": "text_cross_attn_layer_norm", "cross_attn": "vision_cross_attn",
                  "norm1": "vision_cross_attn_layer_norm", "linear1": "mlp.fc1", "linear2": "mlp.fc2",
                  "norm3": "mlp_layer_norm"}
_DECODER_TOP = {"norm": "output_layer_norm", "query_embed": "query_embed", "reference_points": "reference_points",
                "presence_token": "presence_token", "presence_token_out_norm": "presence_layer_norm"}
#: Meta's ``MLP.layers.N`` → transformers' ``layerN+1`` (decoder MLPs).
_DECODER_MLPS = {"ref_point_head": "ref_point_head", "bbox_embed": "box_head", "boxRPB_embed_x": "box_rpb_embed_x",
                 "boxRPB_embed_y": "box_rpb_embed_y", "presence_token_head": "presence_head"}
_SEGMENTATION = {"cross_attn_norm": "prompt_cross_attn_norm", "instance_seg_head": "instance_projection",
                 "semantic_seg_head": "semantic_projection"}
_GEOMETRY = {"label_embed": "label_embed", "cls_embed": "cls_embed", "boxes_direct_project": "boxes_direct_project",
             "boxes_pool_project": "boxes_pool_project", "boxes_pos_enc_project": "boxes_pos_enc_project",
             "img_pre_norm": "vision_layer_norm", "final_proj": "final_proj", "norm": "prompt_layer_norm",
             "encode_norm": "output_layer_norm"}
_GEOMETRY_UNUSED = ("points_direct_project", "points_pool_project", "points_pos_enc_project")
_SCORING = {"hs_proj": "query_proj", "prompt_proj": "text_proj", "prompt_mlp.layers.0": "text_mlp.layer1",
            "prompt_mlp.layers.1": "text_mlp.layer2", "prompt_mlp.out_norm": "text_mlp_out_norm"}
#: An FPN level: Meta's ``FPNScaleConv`` → transformers' ``Sam3FPNLayer``.
_FPN = {"dconv_2x2_0": "scale_layers.0", "dconv_2x2_1": "scale_layers.2", "dconv_2x2": "scale_layers.0",
        "conv_1x1": "proj1", "conv_3x3": "proj2"}
_TEXT_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
               "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
#: SAM 2 mask decoder (tracker) → ``Sam3TrackerMaskDecoder``.
_SAM_DECODER_TOP = {"iou_token": "iou_token", "mask_tokens": "mask_tokens", "obj_score_token": "obj_score_token",
                    "output_upscaling.0": "upscale_conv1", "output_upscaling.1": "upscale_layer_norm",
                    "output_upscaling.3": "upscale_conv2", "conv_s0": "conv_s0", "conv_s1": "conv_s1",
                    "transformer.norm_final_attn": "transformer.layer_norm_final_attn"}
_SAM_BLOCK = {"norm1": "layer_norm1", "norm2": "layer_norm2", "norm3": "layer_norm3", "norm4": "layer_norm4",
              "mlp.lin1": "mlp.proj_in", "mlp.lin2": "mlp.proj_out"}
_SAM_ATTENTIONS = ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token")
_SAM_PROMPT = {"not_a_point_embed": "not_a_point_embed", "no_mask_embed": "no_mask_embed",
               "mask_downscaling.0": "mask_embed.conv1", "mask_downscaling.1": "mask_embed.layer_norm1",
               "mask_downscaling.3": "mask_embed.conv2", "mask_downscaling.4": "mask_embed.layer_norm2",
               "mask_downscaling.6": "mask_embed.conv3"}

_LEAF = r"(weight|bias)"


def _qkv(target: str, leaf: str, names=("q_proj", "k_proj", "v_proj")) -> list[Take]:
    """A fused ``in_proj_weight``/``qkv.weight`` split into three projections, in q, k, v order."""
    return [Take(f"{target}.{name}.{leaf}", "", "chunk", i, 3) for i, name in enumerate(names)]


def _attention(target: str, rest: str, out: str = "o_proj") -> Any:
    """``nn.MultiheadAttention`` leaves under one module."""
    if m := re.fullmatch(r"in_proj_" + _LEAF, rest):
        return _qkv(target, m.group(1))
    if m := re.fullmatch(r"out_proj\." + _LEAF, rest):
        return f"{target}.{out}.{m.group(1)}"
    return UNKNOWN


def _module(table: Mapping[str, str], target: str, rest: str) -> Any:
    """``<module>.<leaf>`` renamed through ``table`` (the longest matching module name wins)."""
    for name in sorted(table, key=len, reverse=True):
        if rest.startswith(name + "."):
            return f"{target}{table[name]}{rest[len(name):]}"
    return UNKNOWN


def _layer(table: Mapping[str, str], target: str) -> Callable[[str], Any]:
    """``<index>.<module>.<leaf>`` of an encoder or decoder layer stack."""

    def rename(rest: str) -> Any:
        m = re.fullmatch(r"(\d+)\.(.+)", rest)
        if not m:
            return UNKNOWN
        index, inner = m.groups()
        module, _, leaf = inner.partition(".")
        if module in table and table[module] in ("self_attn", "cross_attn", "text_cross_attn", "vision_cross_attn"):
            return _attention(f"{target}{index}.{table[module]}", leaf)
        return _module(table, f"{target}{index}.", inner)

    return rename


def _trunk(rest: str) -> Any:
    base = "detector.vision_encoder.backbone."
    if rest == "patch_embed.proj.weight":
        return f"{base}embeddings.patch_embeddings.projection.weight"
    if rest == "pos_embed":  # [1, 1 + N, D]: the class-token row has no use at this resolution
        return Take(f"{base}embeddings.position_embeddings", "", "skip", 1)
    if m := re.fullmatch(r"ln_pre\." + _LEAF, rest):
        return f"{base}layer_norm.{m.group(1)}"
    if not (m := re.fullmatch(r"blocks\.(\d+)\.(.+)", rest)):
        return UNKNOWN
    block, inner = f"{base}layers.{m.group(1)}.", m.group(2)
    if inner == "attn.freqs_cis":
        return None  # transformers computes the rotary table itself
    if q := re.fullmatch(r"attn\.qkv\." + _LEAF, inner):
        return _qkv(f"{block}attention", q.group(1))
    return _module({"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.proj": "attention.o_proj",
                    "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}, block, inner)


def _necks(rest: str) -> Any:
    m = re.fullmatch(r"(convs|interactive_convs|sam2_convs|propagation_convs)\.(\d+)\.(.+)", rest)
    if not m:
        return UNKNOWN
    neck, level, inner = m.groups()
    if neck == "propagation_convs":
        return None  # video tracking
    target = "detector.vision_encoder.neck" if neck == "convs" else "interactive_neck"
    return _module(_FPN, f"{target}.fpn_layers.{level}.", inner)


def _text(rest: str) -> Any:
    base = "detector.text_encoder."
    fixed = {"token_embedding.weight": f"{base}embeddings.token_embedding.weight",
             "positional_embedding": f"{base}embeddings.position_embedding.weight"}
    if rest in fixed:
        return fixed[rest]
    if rest in ("text_projection", "attn_mask"):
        return None  # the projection to CLIP's joint space: SAM 3 uses the token states
    if m := re.fullmatch(r"ln_final\." + _LEAF, rest):
        return f"{base}final_layer_norm.{m.group(1)}"
    if not (m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.(.+)", rest)):
        return UNKNOWN
    layer, inner = f"{base}encoder.layers.{m.group(1)}.", m.group(2)
    if q := re.fullmatch(r"attn\.in_proj_" + _LEAF, inner):
        return _qkv(f"{layer}self_attn", q.group(1))
    return _module(_TEXT_LAYER, layer, inner)


def _decoder_top(rest: str) -> Any:
    base = "detector.detr_decoder."
    if m := re.fullmatch(r"(\w+)\.layers\.(\d+)\." + _LEAF, rest):
        mlp, index, leaf = m.groups()
        if mlp in _DECODER_MLPS:
            return f"{base}{_DECODER_MLPS[mlp]}.layer{int(index) + 1}.{leaf}"
    return _module(_DECODER_TOP, base, rest)


def _segmentation(rest: str) -> Any:
    base = "detector.mask_decoder."
    if rest.startswith("cross_attend_prompt."):
        return _attention(f"{base}prompt_cross_attn", rest[len("cross_attend_prompt."):])
    if m := re.fullmatch(r"pixel_decoder\.(conv_layers|norms)\.(\d+)\." + _LEAF, rest):
        return f"{base}pixel_decoder.{m.group(1)}.{m.group(2)}.{m.group(3)}"
    if m := re.fullmatch(r"mask_predictor\.mask_embed\.layers\.(\d+)\." + _LEAF, rest):
        return f"{base}mask_embedder.layers.{m.group(1)}.{m.group(2)}"
    return _module(_SEGMENTATION, base, rest)


def _geometry(rest: str) -> Any:
    if rest.startswith("encode."):
        return _layer(_ENCODER_LAYER, "detector.geometry_encoder.layers.")(rest[len("encode."):])
    if rest.split(".")[0] in _GEOMETRY_UNUSED:
        return None  # point prompts: ComfyUI's detector never receives them (SAM3_Detect routes points to the SAM heads)
    return _module(_GEOMETRY, "detector.geometry_encoder.", rest)


def _sam_attention(owner: str, leaf: str) -> Any:
    if m := re.fullmatch(r"(q_proj|k_proj|v_proj|out_proj)\." + _LEAF, leaf):
        return f"{owner}.{'o_proj' if m.group(1) == 'out_proj' else m.group(1)}.{m.group(2)}"
    return UNKNOWN


def _sam_decoder(rest: str) -> Any:
    base = "tracker.mask_decoder."
    if m := re.fullmatch(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.layers\.(\d)\."
                         + _LEAF, rest):
        head, index, leaf = m.groups()
        # Meta's 3-layer MLP.layers.{0,1,2} → Sam3TrackerFeedForward's proj_in, layers.0, proj_out
        layer = {"0": "proj_in", "1": "layers.0", "2": "proj_out"}.get(index)
        return f"{base}{head}.{layer}.{leaf}" if layer else UNKNOWN
    if m := re.fullmatch(r"transformer\.layers\.(\d+)\.(.+)", rest):
        block, inner = f"{base}transformer.layers.{m.group(1)}.", m.group(2)
        module, _, leaf = inner.partition(".")
        if module in _SAM_ATTENTIONS:
            return _sam_attention(block + module, leaf)
        return _module(_SAM_BLOCK, block, inner)
    if rest.startswith("transformer.final_attn_token_to_image."):
        return _sam_attention(f"{base}transformer.final_attn_token_to_image",
                              rest[len("transformer.final_attn_token_to_image."):])
    return _module(_SAM_DECODER_TOP, base, rest)


def _sam_prompt(rest: str) -> Any:
    base = "tracker.prompt_encoder."
    if rest == "pe_layer.positional_encoding_gaussian_matrix":
        # one random Fourier table serves the prompt points and the image-wide encoding
        return [Take(f"{base}shared_embedding.positional_embedding", ""),
                Take("tracker.shared_image_embedding.positional_embedding", "")]
    if m := re.fullmatch(r"point_embeddings\.(\d)\.weight", rest):
        return f"{base}point_embed.weight#{m.group(1)}"
    return _module(_SAM_PROMPT, base, rest)


def _tracker(rest: str) -> Any:
    if rest.startswith("interactive_sam_mask_decoder."):
        return _sam_decoder(rest[len("interactive_sam_mask_decoder."):])
    if rest.startswith("interactive_sam_prompt_encoder."):
        return _sam_prompt(rest[len("interactive_sam_prompt_encoder."):])
    if rest == "interactivity_no_mem_embed":
        return "tracker.no_memory_embedding"
    if rest.startswith(TRACKING_ONLY):
        return None
    return UNKNOWN


#: File prefix → rename of the rest, tried in order (the first matching prefix decides).
_PARTS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    (TRUNK, _trunk),
    (NECKS, _necks),
    (TEXT, _text),
    ("detector.backbone.language_backbone.resizer.",  # the text width → the model width
     lambda rest: f"detector.text_projection.{rest}" if re.fullmatch(_LEAF, rest) else UNKNOWN),
    ("detector.transformer.encoder.layers.", _layer(_ENCODER_LAYER, "detector.detr_encoder.layers.")),
    ("detector.transformer.decoder.layers.", _layer(_DECODER_LAYER, "detector.detr_decoder.layers.")),
    ("detector.transformer.decoder.", _decoder_top),
    ("detector.segmentation_head.", _segmentation),
    ("detector.geometry_encoder.", _geometry),
    ("detector.dot_prod_scoring.", lambda rest: _module(_SCORING, "detector.dot_product_scoring.", rest)),
    (TRACKER, _tracker),
)


def rename(key: str) -> Any:
    """One file key → its target(s) in :class:`wfrun.models.sam3.Sam3Segmenter`, ``None`` for a
    part not loaded, or ``UNKNOWN``."""
    for prefix, part in _PARTS:
        if key.startswith(prefix):
            return part(key[len(prefix):])
    return UNKNOWN


# --- configs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sam3Configs:
    """The transformers configs of one checkpoint, and what the node code needs to know."""

    detector: Any       # Sam3Config (its text encoder built as a plain CLIPTextModel)
    interactive: Any    # Sam3VisionConfig of the interactive neck
    tracker: Any        # Sam3TrackerConfig of the SAM heads
    image_size: int
    drop_last_level: bool  # SAM 3's necks have a half-size level that neither head uses


def fixed_facts(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """``configs/sam3.json``, with a tiny file's ``wfrun.sam3`` metadata over it."""
    facts = bundled_config("sam3.json")
    raw = (metadata or {}).get("wfrun.sam3")
    if raw and len(raw) < 4096:
        try:
            given = json.loads(raw)
        except ValueError:
            given = None
        # a file is untrusted: only the known facts, of their own type, and small numbers
        for key, value in (given.items() if isinstance(given, dict) else ()):
            if key in facts and type(value) is type(facts[key]) and (
                    not isinstance(value, (int, float)) or 0 <= value <= 4096):
                facts[key] = value
    return facts


def _scales(tensors: Mapping[str, TensorInfo], neck: str, levels: int) -> list[float]:
    out = []
    for level in range(levels):
        base = f"{NECKS}{neck}.{level}."
        if f"{base}dconv_2x2_0.weight" in tensors:
            out.append(4.0)
        elif f"{base}dconv_2x2.weight" in tensors:
            out.append(2.0)
        else:
            out.append(1.0 if 1.0 not in out else 0.5)  # a max-pool level has no weights
    return out


def _count(tensors: Mapping[str, TensorInfo], pattern: str) -> int:
    regex = re.compile(re.escape(pattern).replace(r"\{\}", r"(\d+)"))
    return len({m.group(1) for k in tensors if (m := regex.match(k))})


def transformers_configs(info: ModelInfo, tensors: Mapping[str, TensorInfo],
                         metadata: Mapping[str, str] | None = None) -> Sam3Configs:
    """The configs of the modules ``info``'s file fills, from its header."""
    from transformers import Sam3Config, Sam3TrackerConfig, Sam3ViTConfig, Sam3VisionConfig

    if info.variant != "sam3.1":
        raise CheckpointError(f"{info.path}: is a SAM 3 checkpoint; wfrun runs SAM 3.1 (ComfyUI's sam3.1_multiplex "
                              "release) only: SAM 3's tracker keeps another layout")
    c, facts = info.config, fixed_facts(metadata)
    if not c.get("text_dim"):
        raise CheckpointError(f"{info.path}: has no text encoder (detector.backbone.language_backbone.encoder)")

    def shape(key: str) -> tuple[int, ...]:
        if key not in tensors:
            raise CheckpointError(f"{info.path}: lacks {key}")
        return tensors[key].shape

    d, image, patch = c["d_model"], facts["image_size"], c["patch_size"]
    grid = image // patch
    eps = facts["layer_norm_eps"]
    pretrain = round((c["vit_positions"] - 1) ** 0.5) * patch
    vit = Sam3ViTConfig(hidden_size=c["vit_dim"], intermediate_size=c["vit_mlp"], num_hidden_layers=c["vit_layers"],
                        num_attention_heads=c["vit_dim"] // facts["vit_head_dim"], image_size=image, patch_size=patch,
                        window_size=facts["window_size"], global_attn_indexes=list(facts["global_attn_indexes"]),
                        pretrain_image_size=pretrain, layer_norm_eps=eps)
    sizes = [[grid * 4, grid * 4], [grid * 2, grid * 2], [grid, grid]]
    necks = c["necks"]
    detector_scales = _scales(tensors, "convs", necks["convs"])
    interactive_name = "interactive_convs"
    interactive_scales = _scales(tensors, interactive_name, necks[interactive_name])
    if detector_scales[:3] != [4.0, 2.0, 1.0] or interactive_scales[:3] != [4.0, 2.0, 1.0]:
        raise CheckpointError(f"{info.path}: FPN levels {detector_scales} / {interactive_scales} are not SAM 3.1's "
                              "4x, 2x, 1x")
    vision = Sam3VisionConfig(backbone_config=vit, fpn_hidden_size=d, scale_factors=detector_scales,
                              backbone_feature_sizes=sizes, layer_norm_eps=eps)
    interactive = Sam3VisionConfig(backbone_config=vit, fpn_hidden_size=d, scale_factors=interactive_scales,
                                   backbone_feature_sizes=sizes, layer_norm_eps=eps)
    heads = facts["detr_heads"]
    decoder_ffn = shape("detector.transformer.decoder.layers.0.linear1.weight")[0]
    scoring_ffn = shape("detector.dot_prod_scoring.prompt_mlp.layers.0.weight")[0]
    if scoring_ffn != decoder_ffn:
        raise CheckpointError(f"{info.path}: the scorer's MLP ({scoring_ffn}) and the decoder's ({decoder_ffn}) "
                              "differ in width, which transformers' Sam3 cannot hold")
    vocab = c["text_vocab"]
    text = dict(vocab_size=vocab, hidden_size=c["text_dim"],
                intermediate_size=shape(f"{TEXT}transformer.resblocks.0.mlp.c_fc.weight")[0],
                num_hidden_layers=c["text_layers"], num_attention_heads=c["text_dim"] // facts["text_head_dim"],
                max_position_embeddings=c["text_positions"], hidden_act=facts["text_hidden_act"],
                layer_norm_eps=eps, projection_dim=c["text_dim"], pad_token_id=0,
                bos_token_id=vocab - 2, eos_token_id=vocab - 1)
    detector = Sam3Config(
        vision_config=vision, text_config=text,
        geometry_encoder_config=dict(hidden_size=d, num_layers=c["geometry_layers"], num_attention_heads=heads,
                                     intermediate_size=shape("detector.geometry_encoder.encode.0.linear1.weight")[0],
                                     roi_size=shape("detector.geometry_encoder.boxes_pool_project.weight")[2],
                                     layer_norm_eps=eps),
        detr_encoder_config=dict(hidden_size=d, num_layers=c["encoder_layers"], num_attention_heads=heads,
                                 intermediate_size=c["detr_ffn"], layer_norm_eps=eps),
        detr_decoder_config=dict(hidden_size=d, num_layers=c["decoder_layers"], num_queries=c["num_queries"],
                                 num_attention_heads=heads, intermediate_size=decoder_ffn, layer_norm_eps=eps),
        mask_decoder_config=dict(hidden_size=d, num_attention_heads=heads, layer_norm_eps=eps,
                                 num_upsampling_stages=_count(tensors,
                                                              "detector.segmentation_head.pixel_decoder.conv_layers.{}.")))
    sam = f"{TRACKER}interactive_sam_mask_decoder."
    prompt = f"{TRACKER}interactive_sam_prompt_encoder."
    tracker = Sam3TrackerConfig(
        vision_config=interactive,
        prompt_encoder_config=dict(hidden_size=d, image_size=image, patch_size=patch,
                                   mask_input_channels=shape(f"{prompt}mask_downscaling.3.weight")[0],
                                   layer_norm_eps=eps),
        mask_decoder_config=dict(hidden_size=d, mlp_dim=shape(f"{sam}transformer.layers.0.mlp.lin1.weight")[0],
                                 num_hidden_layers=_count(tensors, f"{sam}transformer.layers.{{}}."),
                                 num_attention_heads=facts["tracker_heads"],
                                 attention_downsample_rate=d // shape(
                                     f"{sam}transformer.layers.0.cross_attn_token_to_image.q_proj.weight")[0],
                                 num_multimask_outputs=shape(f"{sam}mask_tokens.weight")[0] - 1,
                                 iou_head_depth=_count(tensors, f"{sam}iou_prediction_head.layers.{{}}."),
                                 iou_head_hidden_dim=shape(f"{sam}iou_prediction_head.layers.0.weight")[0],
                                 dynamic_multimask_via_stability=False))
    return Sam3Configs(detector, interactive, tracker, image, drop_last_level=len(detector_scales) > 3)
