"""Wan transformers: original key names (Kijai's files, ComfyUI's under a prefix) → diffusers.

Every Wan 2.1/2.2 family that diffusers has a module for (``models.families``:
``diffusers_class``) loads here: ``WanTransformer3DModel`` for T2V/I2V/FLF2V/Fun InP and
Control and Camera, the Wan 2.2 A14B experts and TI2V-5B (parts diffusers has no module for —
``ref_conv`` and the camera adapter — are attached by :mod:`wfrun.models.wan_extra_parts`);
``WanAnimateTransformer3DModel`` for Wan 2.2 Animate (its own parts: :func:`rename_animate`);
``WanVACETransformer3DModel`` for VACE, whose ``vace_blocks`` are full blocks plus
``before_proj`` (block 0) and ``after_proj`` — diffusers' ``proj_in``/``proj_out``. The VACE
blocks sit after every ``num_layers / len(vace_blocks)``-th block (ComfyUI's
``vace_layers_mapping``; Wan's ``vace_layers``), which is diffusers' ``vace_layers``.

The renames follow the structure of the two implementations: Wan's ``WanAttentionBlock``
applies ``norm1`` (self-attention), ``norm3`` (the affine cross-attention norm) and
``norm2`` (feed-forward), while diffusers' ``WanTransformerBlock`` numbers them in order of
use, so Wan's ``norm3`` is diffusers' ``norm2``. The image projection ``img_emb.proj`` is a
``Sequential(LayerNorm, Linear, GELU, Linear, LayerNorm)``; its FLF2V position table
``img_emb.emb_pos`` becomes ``image_embedder.pos_embed`` (diffusers' own single-file
converter, as of 0.42.1, leaves that one key unmapped).
"""

from __future__ import annotations

import re
from typing import Any

from wfrun.models.detect import ModelInfo
from wfrun.models.header import CheckpointError
from wfrun.models.families.wan_transformer import ANIMATE_FACE_EVERY, ANIMATE_MODULES
from wfrun.models.mapping import UNKNOWN, Take, bundled_config
from wfrun.models.humo_parts import BLOCK_PART as HUMO_BLOCK_PART
from wfrun.models.wan_extra_parts import PART_PREFIXES, attach

LABEL = "a diffusers WanTransformer3DModel"
VACE_LABEL = "a diffusers WanVACETransformer3DModel"
ANIMATE_LABEL = "a diffusers WanAnimateTransformer3DModel"

_TOP = {
    "patch_embedding": "patch_embedding",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "head.head": "proj_out",
    "img_emb.proj.0": "condition_embedder.image_embedder.norm1",
    "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
    "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
    "img_emb.proj.4": "condition_embedder.image_embedder.norm2",
}
_TOP_PARAMS = {"head.modulation": "scale_shift_table",
               "img_emb.emb_pos": "condition_embedder.image_embedder.pos_embed"}
_BLOCK = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0", "self_attn.norm_q": "attn1.norm_q", "self_attn.norm_k": "attn1.norm_k",
    "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k", "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0", "cross_attn.norm_q": "attn2.norm_q", "cross_attn.norm_k": "attn2.norm_k",
    "cross_attn.k_img": "attn2.add_k_proj", "cross_attn.v_img": "attn2.add_v_proj",
    "cross_attn.norm_k_img": "attn2.norm_added_k",
    "norm3": "norm2",
    "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
    "cam_encoder": "cam_encoder", "projector": "projector",  # ReCamMaster (models.wan_extra_parts)
}
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)\.(weight|bias)$")

#: Linear layers whose weights may stay in fp8: everything inside the transformer (and VACE) blocks.
FP8_MODULES = re.compile(r"^(vace_)?blocks\.\d+\.(attn1|attn2|ffn)\.")
_VACE_PROJ = {"before_proj": "proj_in", "after_proj": "proj_out"}


_NET_APP = re.compile(r"motion_encoder\.enc\.net_app\.convs\.(\d+)\.(.+)$")
_RES_PARTS = {"conv1.0.weight": "conv1.weight", "conv1.1.bias": "conv1.act_fn.bias",
              "conv2.1.weight": "conv2.weight", "conv2.2.bias": "conv2.act_fn.bias", "skip.1.weight": "conv_skip.weight"}
_FACE_BLOCK = {"linear1_q": "to_q", "linear2": "to_out", "q_norm": "norm_q", "k_norm": "norm_k"}
_FACE_ENCODER = {"conv1_local.conv": "conv1_local", "conv2.conv": "conv2", "conv3.conv": "conv3", "out_proj": "out_proj"}


def rename_animate(key: str) -> Any:
    """Wan 2.2 Animate's own parts (official names, as ComfyUI's ``AnimateWanModel`` keeps them)
    → diffusers' ``WanAnimateTransformer3DModel`` names, or ``UNKNOWN``.

    - motion encoder: ``enc.net_app.convs.0`` (1x1 conv + fused leaky-ReLU bias) is
      ``conv_in``; ``convs.1..N-1`` the residual blocks ``res_blocks.0..`` (conv1, blurred
      stride-2 conv2, blurred 1x1 ``skip`` → ``conv_skip``); the last ``convs.N.weight``
      ``conv_out``; ``enc.fc`` the ``motion_network``; ``dec.direction`` the
      ``motion_synthesis_weight``. The fused biases are stored ``[1, C, 1, 1]`` and taken
      flat; the blur kernels (``….0.kernel``, the fixed [1, 3, 3, 1] filter, when a file
      keeps them) are dropped: diffusers rebuilds the same filter;
    - face encoder: the causal convs' inner ``.conv`` is dropped from the name;
    - face adapter: ``fuser_blocks.N`` is ``face_adapter.N``; ``linear1_kv`` is split in half
      into ``to_k`` and ``to_v`` (keys first, as ComfyUI's rearrange reads it).
    (diffusers' own ``convert_wan_transformer_to_diffusers`` renames the same way.)"""
    if key.startswith("pose_patch_embedding."):
        return key
    if m := _NET_APP.match(key):
        index, rest = int(m.group(1)), m.group(2)
        if rest.endswith(".kernel"):
            return None
        if index == 0:
            return {"0.weight": "motion_encoder.conv_in.weight",
                    "1.bias": Take("motion_encoder.conv_in.act_fn.bias", "", "flatten")}.get(rest, UNKNOWN)
        if rest == "weight":
            return "motion_encoder.conv_out.weight"
        target = _RES_PARTS.get(rest)
        if target is None:
            return UNKNOWN
        name = f"motion_encoder.res_blocks.{index - 1}.{target}"
        return Take(name, "", "flatten") if name.endswith(".bias") else name
    if m := re.fullmatch(r"motion_encoder\.enc\.fc\.(\d+)\.(weight|bias)", key):
        return f"motion_encoder.motion_network.{m.group(1)}.{m.group(2)}"
    if key == "motion_encoder.dec.direction.weight":
        return "motion_encoder.motion_synthesis_weight"
    if key == "face_encoder.padding_tokens":
        return key
    if m := re.fullmatch(r"face_encoder\.(.+)\.(weight|bias)", key):
        target = _FACE_ENCODER.get(m.group(1))
        return f"face_encoder.{target}.{m.group(2)}" if target else UNKNOWN
    if m := re.fullmatch(r"face_adapter\.fuser_blocks\.(\d+)\.(\w+)\.(weight|bias)", key):
        block, module, leaf = m.groups()
        if module == "linear1_kv":
            return [Take(f"face_adapter.{block}.{target}.{leaf}", "", "chunk", index, 2)
                    for index, target in enumerate(("to_k", "to_v"))]
        target = _FACE_BLOCK.get(module)
        return f"face_adapter.{block}.{target}.{leaf}" if target else UNKNOWN
    return UNKNOWN


def rename(key: str) -> Any:
    """One original Wan key (prefix removed) → its diffusers name, or ``UNKNOWN``."""
    if key.startswith(ANIMATE_MODULES):
        return rename_animate(key)
    if key in _TOP_PARAMS:
        return _TOP_PARAMS[key]
    if key.startswith(("blocks.", "vace_blocks.")):
        group, _, rest = key.partition(".")
        if m := re.fullmatch(r"(\d+)\.modulation", rest):
            return f"{group}.{m.group(1)}.scale_shift_table"
        if m := _BLOCK_KEY.fullmatch("blocks." + rest):
            if group == "blocks" and m.group(2).startswith(HUMO_BLOCK_PART + "."):  # HuMo (models.humo_parts)
                return key
            target = _BLOCK.get(m.group(2)) or (_VACE_PROJ.get(m.group(2)) if group == "vace_blocks" else None)
            return f"{group}.{m.group(1)}.{target}.{m.group(3)}" if target else UNKNOWN
        return UNKNOWN
    if key in ("vace_patch_embedding.weight", "vace_patch_embedding.bias") or key.startswith(PART_PREFIXES):
        return key
    module, _, leaf = key.rpartition(".")
    if module in _TOP and leaf in ("weight", "bias"):
        return f"{_TOP[module]}.{leaf}"
    return UNKNOWN


def diffusers_config(info: ModelInfo, num_heads: int | None = None) -> dict[str, Any]:
    """The WanTransformer3DModel config for this file: the bundled one, with its dims."""
    c = info.config
    heads = num_heads or c.get("num_heads")
    if not heads:
        raise CheckpointError(
            f"{info.path}: cannot tell the number of attention heads (dim {c['dim']} is not a multiple "
            "of Wan's 128-wide heads); pass num_heads=")
    if c["dim"] % heads:
        raise CheckpointError(f"{info.path}: dim {c['dim']} does not split into {heads} attention heads")
    config = bundled_config("wan2.1_transformer.json")
    config.update(
        patch_size=list(c["patch_size"]), num_attention_heads=heads, attention_head_dim=c["dim"] // heads,
        in_channels=c["in_dim"], out_channels=c["out_dim"], freq_dim=c["freq_dim"],
        text_dim=c["text_dim"] or config["text_dim"],  # none: a model without text (wan_extra_parts strips it)
        ffn_dim=c["ffn_dim"], num_layers=c["num_layers"], cross_attn_norm=c["cross_attn_norm"],
        qk_norm="rms_norm_across_heads" if c["qk_norm"] else None,
        image_dim=c["image_dim"], added_kv_proj_dim=c["dim"] if c["image_dim"] else None,
        pos_embed_seq_len=c["pos_embed_seq_len"],
    )
    if c.get("motion_widths"):
        config.update(animate_config(c))
    if c.get("vace_layers"):
        blocks, layers = c["vace_layers"], c["num_layers"]
        if layers % blocks:
            raise CheckpointError(f"{info.path}: {blocks} VACE blocks do not divide {layers} transformer blocks")
        config.update(vace_layers=list(range(0, layers, layers // blocks)), vace_in_channels=c["vace_in_dim"])
    return config


def animate_config(c: Any) -> dict[str, Any]:
    """The ``WanAnimateTransformer3DModel`` arguments of an Animate file's detected dimensions
    (``models.detect``): the motion encoder's widths by crop size (512 → the first conv's,
    each halving → the next residual block's, down to 4), its style and motion widths, the
    face encoder's and a face adapter every five blocks."""
    widths = c["motion_widths"]
    size = c["motion_size"]
    channels = {str(size >> i): width for i, width in enumerate(widths)}
    return dict(latent_channels=c["out_dim"], motion_encoder_channel_sizes=channels, motion_encoder_size=size,
                motion_style_dim=c["motion_style_dim"], motion_dim=c["motion_dim"],
                motion_encoder_dim=c["motion_out_dim"], face_encoder_hidden_dim=c["face_hidden_dim"],
                face_encoder_num_heads=c["face_heads"], inject_face_latents_blocks=ANIMATE_FACE_EVERY)


def label_for(config: dict[str, Any]) -> str:
    if "motion_encoder_size" in config:
        return ANIMATE_LABEL
    return VACE_LABEL if "vace_layers" in config else LABEL


def build(config: dict[str, Any], parts: dict[str, Any] | None = None):
    """The diffusers module for ``config``: ``WanVACETransformer3DModel`` when it has VACE
    layers, ``WanAnimateTransformer3DModel`` when it has Animate's parts; with the file's
    ``ref_conv`` / camera adapter attached (``parts``, from
    :func:`wfrun.models.wan_extra_parts.extra_parts`)."""
    if "motion_encoder_size" in config:
        from diffusers import WanAnimateTransformer3DModel

        return WanAnimateTransformer3DModel(**config)
    if "vace_layers" in config:
        from diffusers import WanVACETransformer3DModel

        return attach(WanVACETransformer3DModel(**config), parts or {})
    from diffusers import WanTransformer3DModel

    return attach(WanTransformer3DModel(**config), parts or {})
