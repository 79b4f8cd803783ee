"""SAM 2 / SAM 2.1 checkpoints (Meta's key layout, which Kijai's ``sam2-safetensors`` keep)
→ transformers ``Sam2VideoModel`` (video segmentor) or ``Sam2Model`` (single image).

The files ComfyUI-segment-anything-2 loads are Meta's ``SAM2Base`` state dict saved as
safetensors: the Hiera trunk (``image_encoder.trunk.blocks.N`` with a fused ``attn.qkv``, which
transformers keeps fused), the FPN neck, ``sam_prompt_encoder``/``sam_mask_decoder`` (SAM's
heads, ``nn.Sequential`` indices for the mask down-scaling and the output up-scaling, Meta's
``MLP.layers.N``), and the video parts: ``memory_attention``, ``memory_encoder`` (its mask
down-sampler a flat ``Sequential``: conv, norm, GELU per stage, a final 1x1 conv),
``maskmem_tpos_enc``, the object-pointer MLP, ``no_mem_*``/``no_obj_*`` embeddings. SAM 2.1
adds ``no_obj_embed_spatial`` and ``obj_ptr_tpos_proj``; that, and nothing in the name, tells
the two apart.

Conversion is renaming, plus: the prompt encoder's one-row ``point_embeddings.N`` stacked into
``point_embed`` (targets ``…#N``, assembled by :func:`wfrun.models.sam2.load_sam2`), and the
random Fourier table ``pe_layer.positional_encoding_gaussian_matrix`` feeding both the prompt
encoder and the image-wide positional embedding. For the single-image model the video parts
are named and left unread. A key neither loaded nor named is an error.

Sizes come from the header (widths, blocks per stage, the window position table); what shapes
cannot say (heads per stage, global-attention blocks) from the Hiera size the trunk's width and
depth identify (tiny, small, base+, large), or from a tiny file's ``wfrun.sam2`` metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from wfrun.models.header import CheckpointError, TensorInfo
from wfrun.models.mapping import UNKNOWN, Take

LABEL = "SAM 2 (transformers Sam2VideoModel)"
LABEL_IMAGE = "SAM 2 (transformers Sam2Model)"

TRUNK = "image_encoder.trunk."
NECK = "image_encoder.neck."
PROMPT = "sam_prompt_encoder."
DECODER = "sam_mask_decoder."

#: Hiera sizes as Meta's configs give them: (width, blocks per stage) → heads of the first
#: stage and the blocks with global attention. The window sizes per stage are the Hiera
#: defaults (8, 4, 14, 7) for every size, large included: the pack builds its trunk from the
#: config's ``embed_dim, num_heads, stages, global_att_blocks, window_pos_embed_bkg_spatial_size``
#: only, so its large model never gets Meta's (8, 4, 16, 8).
HIERA = {
    (96, (1, 2, 7, 2)): {"name": "tiny", "heads": 1, "global": [5, 7, 9]},
    (96, (1, 2, 11, 2)): {"name": "small", "heads": 1, "global": [7, 10, 13]},
    (112, (2, 3, 16, 3)): {"name": "base_plus", "heads": 2, "global": [12, 16, 20]},
    (144, (2, 6, 36, 4)): {"name": "large", "heads": 2, "global": [23, 33, 43]},
}
DEFAULT_WINDOWS = [8, 4, 14, 7]
IMAGE_SIZE = 1024

#: What only the video segmentor uses (not loaded for ``single_image``).
VIDEO_ONLY = ("memory_attention.", "memory_encoder.", "maskmem_tpos_enc", "no_mem_pos_enc", "no_obj_ptr",
              "no_obj_embed_spatial", "mask_downsample.", "obj_ptr_proj.", "obj_ptr_tpos_proj.")

_LEAF = r"(weight|bias)"

# --- module renames, as data ------------------------------------------------------------------

_BLOCK = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.qkv": "attn.qkv", "attn.proj": "attn.proj",
          "mlp.layers.0": "mlp.proj_in", "mlp.layers.1": "mlp.proj_out", "proj": "proj"}
_PROMPT = {"not_a_point_embed": "not_a_point_embed", "no_mask_embed": "no_mask_embed",
           "mask_downscaling.0": "mask_embed.conv1", "mask_downscaling.1": "mask_embed.layer_norm1",
           "mask_downscaling.3": "mask_embed.conv2", "mask_downscaling.4": "mask_embed.layer_norm2",
           "mask_downscaling.6": "mask_embed.conv3"}
_DECODER_TOP = {"iou_token": "iou_token", "mask_tokens": "mask_tokens", "obj_score_token": "obj_score_token",
                "output_upscaling.0": "upscale_conv1", "output_upscaling.1": "upscale_layer_norm",
                "output_upscaling.3": "upscale_conv2", "conv_s0": "conv_s0", "conv_s1": "conv_s1",
                "transformer.norm_final_attn": "transformer.layer_norm_final_attn"}
_TWO_WAY_BLOCK = {"norm1": "layer_norm1", "norm2": "layer_norm2", "norm3": "layer_norm3", "norm4": "layer_norm4",
                  "mlp.layers.0": "mlp.proj_in", "mlp.layers.1": "mlp.proj_out"}
_ATTENTIONS = ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token", "cross_attn_image")
_MEMORY_LAYER = {"linear1": "linear1", "linear2": "linear2", "norm1": "layer_norm1", "norm2": "layer_norm2",
                 "norm3": "layer_norm3"}
_FUSER = {"gamma": "scale", "dwconv": "depthwise_conv", "norm": "layer_norm", "pwconv1": "pointwise_conv1",
          "pwconv2": "pointwise_conv2"}
#: Meta's three-layer ``MLP.layers.{0,1,2}`` → transformers' ``proj_in, layers.0, proj_out``.
_MLP3 = {"0": "proj_in", "1": "layers.0", "2": "proj_out"}
_TOP = {"maskmem_tpos_enc": "memory_temporal_positional_encoding", "no_mem_embed": "no_memory_embedding",
        "no_mem_pos_enc": "no_memory_positional_encoding", "no_obj_ptr": "no_object_pointer",
        "no_obj_embed_spatial": "occlusion_spatial_embedding_parameter",
        "mask_downsample.weight": "mask_downsample.weight", "mask_downsample.bias": "mask_downsample.bias",
        "obj_ptr_tpos_proj.weight": "temporal_positional_encoding_projection_layer.weight",
        "obj_ptr_tpos_proj.bias": "temporal_positional_encoding_projection_layer.bias"}


def _module(table: Mapping[str, str], target: str, rest: str) -> Any:
    """``<module>.<leaf>`` renamed through ``table`` (the longest matching module name wins)."""
    for name in sorted(table, key=len, reverse=True):
        if rest.startswith(name + "."):
            return f"{target}{table[name]}{rest[len(name):]}"
    return UNKNOWN


def _attention(owner: str, leaf: str) -> Any:
    if m := re.fullmatch(r"(q_proj|k_proj|v_proj|out_proj)\." + _LEAF, leaf):
        return f"{owner}.{'o_proj' if m.group(1) == 'out_proj' else m.group(1)}.{m.group(2)}"
    return UNKNOWN


def _mlp3(target: str, index: str, leaf: str) -> Any:
    layer = _MLP3.get(index)
    return f"{target}.{layer}.{leaf}" if layer else UNKNOWN


def _trunk(rest: str) -> Any:
    base = "vision_encoder.backbone."
    if rest in ("pos_embed", "pos_embed_window"):
        return base + rest
    if m := re.fullmatch(r"patch_embed\.proj\." + _LEAF, rest):
        return f"{base}patch_embed.projection.{m.group(1)}"
    if m := re.fullmatch(r"blocks\.(\d+)\.(.+)", rest):
        return _module(_BLOCK, f"{base}blocks.{m.group(1)}.", m.group(2))
    return UNKNOWN


def _neck(rest: str) -> Any:
    if m := re.fullmatch(r"convs\.(\d+)\.conv\." + _LEAF, rest):
        return f"vision_encoder.neck.convs.{m.group(1)}.{m.group(2)}"
    return UNKNOWN


def _prompt(rest: str) -> Any:
    base = "prompt_encoder."
    if rest == "pe_layer.positional_encoding_gaussian_matrix":
        # one random Fourier table serves the prompt points and the image-wide encoding
        return [Take(f"{base}shared_embedding.positional_embedding", ""),
                Take("shared_image_embedding.positional_embedding", "")]
    if m := re.fullmatch(r"point_embeddings\.(\d)\.weight", rest):
        return f"{base}point_embed.weight#{m.group(1)}"
    return _module(_PROMPT, base, rest)


def _decoder(rest: str) -> Any:
    base = "mask_decoder."
    if m := re.fullmatch(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.layers\.(\d)\."
                         + _LEAF, rest):
        return _mlp3(base + m.group(1), m.group(2), m.group(3))
    if m := re.fullmatch(r"transformer\.layers\.(\d+)\.(.+)", rest):
        block, inner = f"{base}transformer.layers.{m.group(1)}.", m.group(2)
        module, _, leaf = inner.partition(".")
        if module in _ATTENTIONS:
            return _attention(block + module, leaf)
        return _module(_TWO_WAY_BLOCK, block, inner)
    if rest.startswith("transformer.final_attn_token_to_image."):
        return _attention(f"{base}transformer.final_attn_token_to_image",
                          rest[len("transformer.final_attn_token_to_image."):])
    return _module(_DECODER_TOP, base, rest)


def _memory_attention(rest: str) -> Any:
    base = "memory_attention."
    if m := re.fullmatch(r"norm\." + _LEAF, rest):
        return f"{base}layer_norm.{m.group(1)}"
    if m := re.fullmatch(r"layers\.(\d+)\.(.+)", rest):
        layer, inner = f"{base}layers.{m.group(1)}.", m.group(2)
        module, _, leaf = inner.partition(".")
        if module in _ATTENTIONS:
            return _attention(layer + module, leaf)
        return _module(_MEMORY_LAYER, layer, inner)
    return UNKNOWN


def _memory_encoder(rest: str, last_downsampler: int) -> Any:
    base = "memory_encoder."
    if m := re.fullmatch(r"mask_downsampler\.encoder\.(\d+)\." + _LEAF, rest):
        index, leaf = int(m.group(1)), m.group(2)
        if index == last_downsampler:
            return f"{base}mask_downsampler.final_conv.{leaf}"
        kind = {0: "conv", 1: "layer_norm"}.get(index % 3)  # conv, norm, activation per stage
        return f"{base}mask_downsampler.layers.{index // 3}.{kind}.{leaf}" if kind else UNKNOWN
    if m := re.fullmatch(r"(pix_feat_proj|out_proj)\." + _LEAF, rest):
        return f"{base}{'feature_projection' if m.group(1) == 'pix_feat_proj' else 'projection'}.{m.group(2)}"
    if m := re.fullmatch(r"fuser\.layers\.(\d+)\.(.+)", rest):
        inner = m.group(2)
        if inner in _FUSER:  # the layer scale is a bare parameter
            return f"{base}memory_fuser.layers.{m.group(1)}.{_FUSER[inner]}"
        return _module(_FUSER, f"{base}memory_fuser.layers.{m.group(1)}.", inner)
    return UNKNOWN


def downsampler_last_index(tensors: Mapping[str, Any]) -> int:
    """Index of the memory encoder's final 1x1 conv in Meta's flat ``Sequential``."""
    found = [int(m.group(1)) for k in tensors
             if (m := re.fullmatch(r"memory_encoder\.mask_downsampler\.encoder\.(\d+)\.weight", k))]
    return max(found, default=-1)


def make_rename(tensors: Mapping[str, Any], *, video: bool) -> Callable[[str], Any]:
    """The rename of one file's keys into ``Sam2VideoModel`` (``video``) or ``Sam2Model``."""
    last = downsampler_last_index(tensors)

    def rename(key: str) -> Any:
        if key.startswith(TRUNK):
            return _trunk(key[len(TRUNK):])
        if key.startswith(NECK):
            return _neck(key[len(NECK):])
        if key.startswith(PROMPT):
            return _prompt(key[len(PROMPT):])
        if key.startswith(DECODER):
            return _decoder(key[len(DECODER):])
        if key == "no_mem_embed":
            return _TOP[key]
        if not key.startswith(VIDEO_ONLY) and key not in _TOP:
            return UNKNOWN
        if not video:
            return None  # memory, object pointers: what only the video segmentor uses
        if key.startswith("memory_attention."):
            return _memory_attention(key[len("memory_attention."):])
        if key.startswith("memory_encoder."):
            return _memory_encoder(key[len("memory_encoder."):], last)
        if m := re.fullmatch(r"obj_ptr_proj\.layers\.(\d)\." + _LEAF, key):
            return _mlp3("object_pointer_proj", m.group(1), m.group(2))
        return _TOP.get(key, UNKNOWN)

    return rename


# --- configs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sam2Facts:
    """What one checkpoint is, read from its header."""

    version: str            # "2.0" or "2.1"
    hiera: str              # tiny | small | base_plus | large | custom (a tiny test file)
    image_size: int
    config: Any             # Sam2VideoConfig


def _count(tensors: Mapping[str, Any], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in tensors if (m := regex.fullmatch(k))})


def _given(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """A tiny file's ``wfrun.sam2`` facts (untrusted: known keys, small ints, lists of them)."""
    raw = (metadata or {}).get("wfrun.sam2")
    if not raw or len(raw) > 4096:
        return {}
    try:
        given = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(given, dict):
        return {}

    def small(v: Any) -> bool:
        return type(v) is int and 0 <= v <= 4096

    out: dict[str, Any] = {}
    for key in ("heads", "image_size", "memory_heads", "decoder_heads"):
        if small(given.get(key)):
            out[key] = given[key]
    for key in ("global", "windows"):
        value = given.get(key)
        if isinstance(value, list) and len(value) <= 64 and all(small(v) for v in value):
            out[key] = value
    return out


def _shape(path, tensors: Mapping[str, TensorInfo], key: str) -> tuple[int, ...]:
    if key not in tensors:
        raise CheckpointError(f"{path}: is not a SAM 2 checkpoint: it lacks {key}")
    return tuple(tensors[key].shape)


def is_sam2(tensors: Mapping[str, Any]) -> bool:
    """Meta's SAM 2 layout: a Hiera trunk and SAM 2's mask decoder (with high-res convs)."""
    return f"{TRUNK}patch_embed.proj.weight" in tensors and f"{DECODER}conv_s0.weight" in tensors


def read_facts(path, tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str] | None = None) -> Sam2Facts:
    """The transformers config of the model a file holds, from its header."""
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    if not is_sam2(tensors):
        sample = ", ".join(sorted(tensors)[:4]) or "no tensors"
        raise CheckpointError(f"{path}: is not a SAM 2 checkpoint in Meta's layout (no {TRUNK}patch_embed.proj.weight "
                              f"and {DECODER}conv_s0.weight; its first keys: {sample})")
    given = _given(metadata)
    width = _shape(path, tensors, f"{TRUNK}patch_embed.proj.weight")[0]
    blocks = _count(tensors, re.escape(TRUNK) + r"blocks\.(\d+)\..+")
    # a block that changes the width (and pools) opens stages 2..4
    openers = sorted(int(m.group(1)) for k in tensors
                     if (m := re.fullmatch(re.escape(TRUNK) + r"blocks\.(\d+)\.proj\.weight", k)))
    if len(openers) != 3:
        raise CheckpointError(f"{path}: a Hiera trunk has 4 stages; this one has {len(openers) + 1}")
    bounds = [0, *openers, blocks]
    per_stage = tuple(b - a for a, b in zip(bounds, bounds[1:]))
    known = HIERA.get((width, per_stage))
    if known is None and "heads" not in given:
        raise CheckpointError(f"{path}: a Hiera trunk of width {width} and stages {list(per_stage)} is none of SAM 2's "
                              "tiny, small, base+ or large")
    heads = given.get("heads", known["heads"] if known else 1)
    global_blocks = given.get("global", known["global"] if known else [])
    windows = given.get("windows", DEFAULT_WINDOWS)
    image_size = given.get("image_size", IMAGE_SIZE)
    if image_size % 32:
        raise CheckpointError(f"{path}: image size {image_size} is not a multiple of 32")
    bkg = _shape(path, tensors, f"{TRUNK}pos_embed")[2:]
    window0 = _shape(path, tensors, f"{TRUNK}pos_embed_window")[2]
    if window0 != windows[0]:
        raise CheckpointError(f"{path}: its first-stage window table is {window0} wide; SAM 2's Hiera uses {windows[0]}")
    dims = [width * 2 ** i for i in range(4)]
    hiera = Sam2HieraDetConfig(hidden_size=width, num_attention_heads=heads, blocks_per_stage=list(per_stage),
                               embed_dim_per_stage=dims, num_attention_heads_per_stage=[heads * 2 ** i for i in range(4)],
                               window_size_per_stage=list(windows), global_attention_blocks=list(global_blocks),
                               window_positional_embedding_background_size=list(bkg),
                               image_size=[image_size, image_size])
    levels = _count(tensors, re.escape(NECK) + r"convs\.(\d+)\.conv\.weight")
    channels = [_shape(path, tensors, f"{NECK}convs.{i}.conv.weight")[1] for i in range(levels)]
    d = _shape(path, tensors, f"{NECK}convs.0.conv.weight")[0]
    stride = image_size // 4
    vision = Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=channels, fpn_hidden_size=d,
                              backbone_feature_sizes=[[stride, stride], [stride // 2, stride // 2],
                                                      [stride // 4, stride // 4]])
    dec = DECODER
    mask_decoder = dict(hidden_size=d, mlp_dim=_shape(path, tensors, f"{dec}transformer.layers.0.mlp.layers.0.weight")[0],
                        num_hidden_layers=_count(tensors, re.escape(dec) + r"transformer\.layers\.(\d+)\..+"),
                        num_attention_heads=given.get("decoder_heads", 8),
                        attention_downsample_rate=d // _shape(
                            path, tensors, f"{dec}transformer.layers.0.cross_attn_token_to_image.q_proj.weight")[0],
                        num_multimask_outputs=_shape(path, tensors, f"{dec}mask_tokens.weight")[0] - 1,
                        iou_head_depth=_count(tensors, re.escape(dec) + r"iou_prediction_head\.layers\.(\d+)\.weight"),
                        iou_head_hidden_dim=_shape(path, tensors, f"{dec}iou_prediction_head.layers.0.weight")[0])
    prompt = dict(hidden_size=d, image_size=image_size, patch_size=16,
                  mask_input_channels=_shape(path, tensors, f"{PROMPT}mask_downscaling.3.weight")[0])
    version = "2.1" if "no_obj_embed_spatial" in tensors or "obj_ptr_tpos_proj.weight" in tensors else "2.0"
    video: dict[str, Any] = {}
    if "memory_attention.layers.0.linear1.weight" in tensors:
        mem_dim = _shape(path, tensors, "memory_encoder.out_proj.weight")[0]
        if mem_dim != 64:  # transformers' memory attention takes 64-wide memories, as every SAM 2 has
            raise CheckpointError(f"{path}: its memories are {mem_dim} wide; transformers' SAM 2 needs 64")
        last = downsampler_last_index(tensors)
        down_layers = last // 3
        fuser_dim = _shape(path, tensors, "memory_encoder.fuser.layers.0.pwconv1.weight")
        video = dict(
            num_maskmem=_shape(path, tensors, "maskmem_tpos_enc")[0],
            memory_attention_hidden_size=d,
            memory_attention_num_layers=_count(tensors, r"memory_attention\.layers\.(\d+)\..+"),
            memory_attention_num_attention_heads=given.get("memory_heads", 1),
            memory_attention_feed_forward_hidden_size=_shape(path, tensors,
                                                             "memory_attention.layers.0.linear1.weight")[0],
            memory_attention_rope_feat_sizes=[image_size // 16, image_size // 16],
            memory_encoder_hidden_size=d, memory_encoder_output_channels=mem_dim,
            mask_downsampler_embed_dim=d, mask_downsampler_total_stride=2 ** down_layers,
            memory_fuser_num_layers=_count(tensors, r"memory_encoder\.fuser\.layers\.(\d+)\..+"),
            memory_fuser_embed_dim=d, memory_fuser_intermediate_dim=fuser_dim[0],
            memory_fuser_kernel_size=_shape(path, tensors, "memory_encoder.fuser.layers.0.dwconv.weight")[-1],
            memory_fuser_padding=_shape(path, tensors, "memory_encoder.fuser.layers.0.dwconv.weight")[-1] // 2,
        )
    config = Sam2VideoConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=mask_decoder,
                             image_size=image_size,
                             enable_temporal_pos_encoding_for_object_pointers=version == "2.1",
                             enable_occlusion_spatial_embedding=version == "2.1", **video)
    return Sam2Facts(version, known["name"] if known else "custom", image_size, config)


def image_config(video_config: Any) -> Any:
    """The ``Sam2Config`` of the single-image model with the same trunk and heads."""
    from transformers import Sam2Config

    return Sam2Config(vision_config=video_config.vision_config.to_dict(),
                      prompt_encoder_config=video_config.prompt_encoder_config.to_dict(),
                      mask_decoder_config=video_config.mask_decoder_config.to_dict())
