"""Tiny random SAM 2 / 2.1 checkpoints in Meta's key layout (what Kijai's ``sam2-safetensors``
hold), for tests and ``--smoke`` stand-ins: a 64-pixel model with an 8-wide Hiera of blocks
(1, 2, 1, 1), 128-wide heads (transformers fixes the memory at 64 wide and splits wider object pointers into 64-wide tokens; at 64 it fails) and one memory-attention layer, written under Meta's names so
that loading runs the real conversion (:mod:`wfrun.models.convert_sam2`).

The weights come from a seeded transformers ``Sam2VideoModel`` (:func:`tiny_reference`), so a
test can compare what the loader builds with the model the file was written from. Names are
mapped back by :func:`original_name`, written independently of the loader's rename; the
loader's strict plan (every file key known, every module tensor filled, shapes equal) is what
ties the two together, and the real checkpoints' key lists (tests) pin the forward rename.
What shapes cannot say (heads, global-attention blocks, image size) is stored in the file's
``wfrun.sam2`` metadata.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch

#: The facts the loader reads from ``wfrun.sam2`` (see ``convert_sam2._given``).
TINY_FACTS = {"heads": 1, "global": [2], "image_size": 64, "decoder_heads": 2, "memory_heads": 1}
TINY_WIDTH, TINY_STAGES, TINY_D = 8, [1, 2, 1, 1], 128


def tiny_config(version: str = "2.1") -> Any:
    """The ``Sam2VideoConfig`` of the tiny model (what the loader must derive from the file)."""
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    size, d = TINY_FACTS["image_size"], TINY_D
    dims = [TINY_WIDTH * 2 ** i for i in range(4)]
    hiera = Sam2HieraDetConfig(hidden_size=TINY_WIDTH, num_attention_heads=1, blocks_per_stage=TINY_STAGES,
                               embed_dim_per_stage=dims, num_attention_heads_per_stage=[1, 2, 4, 8],
                               window_size_per_stage=[8, 4, 14, 7], global_attention_blocks=TINY_FACTS["global"],
                               window_positional_embedding_background_size=[4, 4], image_size=[size, size])
    stride = size // 4
    vision = Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=dims[::-1], fpn_hidden_size=d,
                              backbone_feature_sizes=[[stride, stride], [stride // 2, stride // 2],
                                                      [stride // 4, stride // 4]])
    return Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config=dict(hidden_size=d, image_size=size, patch_size=16, mask_input_channels=16),
        mask_decoder_config=dict(hidden_size=d, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2,
                                 attention_downsample_rate=2, num_multimask_outputs=3, iou_head_depth=3,
                                 iou_head_hidden_dim=d),
        image_size=size, num_maskmem=7, memory_attention_hidden_size=d, memory_attention_num_layers=1,
        memory_attention_num_attention_heads=1, memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[size // 16, size // 16], memory_encoder_hidden_size=d,
        memory_encoder_output_channels=64, mask_downsampler_embed_dim=d, mask_downsampler_total_stride=16,
        memory_fuser_num_layers=1, memory_fuser_embed_dim=d, memory_fuser_intermediate_dim=64,
        memory_fuser_kernel_size=7, memory_fuser_padding=3,
        enable_temporal_pos_encoding_for_object_pointers=version == "2.1",
        enable_occlusion_spatial_embedding=version == "2.1")


def tiny_reference(version: str = "2.1", seed: int = 0) -> Any:
    """The seeded ``Sam2VideoModel`` a tiny file is written from (weights large enough that
    masks, scores and the memory path vary; norms near 1)."""
    from transformers import Sam2VideoModel

    generator = torch.Generator().manual_seed(seed)
    model = Sam2VideoModel(tiny_config(version)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "norm" in name and name.endswith("weight") and param.ndim == 1:
                param.copy_(1 + 0.1 * noise)
            elif param.ndim >= 2 and "embed" not in name and "token" not in name:
                param.copy_(noise / math.prod(param.shape[1:]) ** 0.5)  # unit-variance activations
            else:
                param.copy_(0.3 * noise)
        head = model.mask_decoder.pred_obj_score_head.proj_out
        head.weight.mul_(0.01)
        head.bias.fill_(4.0)  # an object is found on every frame: masks vary (a real model's do)
        table = model.prompt_encoder.shared_embedding.positional_embedding  # a buffer, drawn here too
        table.copy_(torch.randn(table.shape, generator=generator))
        model.shared_image_embedding.positional_embedding.copy_(table)
    return model


# --- transformers name → Meta's name ----------------------------------------------------------

_HEAD3 = [(r"\.layers\.0\.", ".layers.1."), (r"\.proj_in\.", ".layers.0."), (r"\.proj_out\.", ".layers.2.")]
_RULES: list[tuple[str, list[tuple[str, str]]]] = [
    (r"vision_encoder\.backbone\.", [(r"^vision_encoder\.backbone\.", "image_encoder.trunk."),
                                     (r"patch_embed\.projection\.", "patch_embed.proj."),
                                     (r"\.layer_norm(\d)\.", r".norm\1."), (r"\.mlp\.proj_in\.", ".mlp.layers.0."),
                                     (r"\.mlp\.proj_out\.", ".mlp.layers.1.")]),
    (r"vision_encoder\.neck\.", [(r"^vision_encoder\.neck\.convs\.(\d+)\.", r"image_encoder.neck.convs.\1.conv.")]),
    (r"prompt_encoder\.shared_embedding\.positional_embedding$",
     [(r"^.*$", "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")]),
    (r"prompt_encoder\.", [(r"^prompt_encoder\.", "sam_prompt_encoder."),
                           (r"mask_embed\.conv1\.", "mask_downscaling.0."),
                           (r"mask_embed\.layer_norm1\.", "mask_downscaling.1."),
                           (r"mask_embed\.conv2\.", "mask_downscaling.3."),
                           (r"mask_embed\.layer_norm2\.", "mask_downscaling.4."),
                           (r"mask_embed\.conv3\.", "mask_downscaling.6.")]),
    (r"mask_decoder\.(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.",
     [(r"^mask_decoder\.", "sam_mask_decoder.")] + _HEAD3),
    (r"mask_decoder\.", [(r"^mask_decoder\.", "sam_mask_decoder."), (r"upscale_conv1\.", "output_upscaling.0."),
                         (r"upscale_layer_norm\.", "output_upscaling.1."), (r"upscale_conv2\.", "output_upscaling.3."),
                         (r"layer_norm_final_attn\.", "norm_final_attn."), (r"\.o_proj\.", ".out_proj."),
                         (r"\.layer_norm(\d)\.", r".norm\1."), (r"\.mlp\.proj_in\.", ".mlp.layers.0."),
                         (r"\.mlp\.proj_out\.", ".mlp.layers.1.")]),
    (r"memory_attention\.", [(r"^memory_attention\.layer_norm\.", "memory_attention.norm."),
                             (r"\.layer_norm(\d)\.", r".norm\1."), (r"\.o_proj\.", ".out_proj.")]),
    (r"memory_encoder\.", [(r"\.feature_projection\.", ".pix_feat_proj."), (r"\.projection\.", ".out_proj."),
                           (r"\.memory_fuser\.", ".fuser."), (r"\.scale$", ".gamma"),
                           (r"\.depthwise_conv\.", ".dwconv."), (r"\.layer_norm\.", ".norm."),
                           (r"\.pointwise_conv(\d)\.", r".pwconv\1.")]),
    (r"object_pointer_proj\.", [(r"^object_pointer_proj\.", "obj_ptr_proj.")] + _HEAD3),
    (r"temporal_positional_encoding_projection_layer\.",
     [(r"^temporal_positional_encoding_projection_layer\.", "obj_ptr_tpos_proj.")]),
]
_TOP = {"memory_temporal_positional_encoding": "maskmem_tpos_enc", "no_memory_embedding": "no_mem_embed",
        "no_memory_positional_encoding": "no_mem_pos_enc", "no_object_pointer": "no_obj_ptr",
        "occlusion_spatial_embedding_parameter": "no_obj_embed_spatial",
        "mask_downsample.weight": "mask_downsample.weight", "mask_downsample.bias": "mask_downsample.bias"}


def original_name(name: str, downsampler_layers: int) -> str | None:
    """Meta's name of one ``Sam2VideoModel`` tensor (``None``: not stored, a copy of another)."""
    if name == "shared_image_embedding.positional_embedding":
        return None
    if name in _TOP:
        return _TOP[name]
    if m := re.fullmatch(r"memory_encoder\.mask_downsampler\.(?:layers\.(\d+)\.(conv|layer_norm)|final_conv)\.(\w+)",
                         name):
        index = 3 * downsampler_layers if m.group(1) is None else 3 * int(m.group(1)) + (m.group(2) == "layer_norm")
        return f"memory_encoder.mask_downsampler.encoder.{index}.{m.group(3)}"
    for prefix, subs in _RULES:
        if re.match(prefix, name):
            for pattern, repl in subs:
                name = re.sub(pattern, repl, name)
            return name
    raise KeyError(name)


def original_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """A ``Sam2VideoModel``'s weights under Meta's names (``point_embed`` split in rows)."""
    layers = len(model.memory_encoder.mask_downsampler.layers)
    out: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if name == "prompt_encoder.point_embed.weight":
            for i in range(tensor.shape[0]):
                out[f"sam_prompt_encoder.point_embeddings.{i}.weight"] = tensor[i:i + 1].clone()
            continue
        original = original_name(name, layers)
        if original is not None:
            out[original] = tensor.detach().clone().contiguous()
    return out


def write_tiny_sam2(path: str | Path, *, version: str = "2.1", seed: int = 0,
                    dtype: torch.dtype = torch.float32) -> Path:
    """A tiny random SAM ``version`` checkpoint at ``path`` (safetensors, Meta's layout)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(dtype) for k, v in original_state_dict(tiny_reference(version, seed)).items()}
    save_file(state, str(path), metadata={"wfrun.sam2": json.dumps(TINY_FACTS)})
    return path
