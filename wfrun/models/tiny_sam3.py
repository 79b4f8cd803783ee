"""A tiny random SAM 3.1 checkpoint in ComfyUI's ``sam3.1_multiplex`` key layout, and a tiny
CLIP BPE tokenizer for it.

The names and shapes are written out here from the module structure of the original code
(Meta's SAM 3.1: ``detector.*`` as ComfyUI's ``comfy/ldm/sam3`` modules name them, with
``nn.MultiheadAttention``'s fused ``in_proj_weight``; ``tracker.model.*`` with SAM 2's
``mlp.lin1``/``norm_final_attn``), independently of :mod:`wfrun.models.convert_sam3`, so a
test that loads this file checks the converter against the layout rather than against
itself. Tracker parts that only video tracking uses are written too (a few tensors each,
under their real names), so the converter's list of what it leaves unread is exercised.

What the shapes cannot say (head counts, window size, global blocks, image size) is recorded
in the ``wfrun.sam3`` metadata; the real file needs none (``configs/sam3.json``).
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import torch

#: The tiny model, in the original code's terms (the real one: ViT 1024 x 32 blocks of 16
#: heads, 1008 px, window 24; d_model 256 with 8 heads; 200 queries; text 1024 x 24).
TINY = dict(vit_dim=32, vit_heads=2, vit_layers=2, patch=14, image=112, pretrain=56, window=4, global_blocks=[1],
            d=16, heads=2, queries=6, encoder_layers=1, decoder_layers=2, ffn=32, geometry_layers=1, roi=7,
            text_dim=24, text_heads=2, text_layers=2, text_positions=32, sam_mlp=32, sam_layers=2, mask_in=8,
            multimask=3, multiplex=4)
TINY["vit_mlp"] = int(TINY["vit_dim"] * 4.625)

DEFAULT_NAME = "sam3.1_multiplex_fp16.safetensors"
TOKENIZER_DIR = "sam3_tokenizer"

#: Words the tiny tokenizer knows whole (everything else falls back to single bytes).
WORDS = ("cat", "dog", "person", "car", "tree", "man", "woman", "boy", "girl", "bird", "red", "blue", "the", "a",
         "hand", "face", "sky", "road", "ball", "shirt")


# --- the tokenizer -------------------------------------------------------------------------


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values, in CLIP's vocabulary order."""
    first = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    codes, extra = first[:], 0
    values = first[:]
    for b in range(256):
        if b not in first:
            values.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def tiny_tokenizer_files() -> tuple[dict[str, int], list[str]]:
    """``vocab.json`` and ``merges.txt`` contents laid out like CLIP's: the 256 byte symbols,
    the same with the end-of-word mark, the merges' results, then ``<|startoftext|>`` and
    ``<|endoftext|>`` as the last two ids (49406 and 49407 in the real vocabulary)."""
    symbols = _byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols]
    merges: list[str] = []
    for word in WORDS:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            merged = parts[0] + parts[1]
            if f"{parts[0]} {parts[1]}" not in merges:
                merges.append(f"{parts[0]} {parts[1]}")
                if merged not in vocab:
                    vocab.append(merged)
            parts = [merged] + parts[2:]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}, merges


def write_tiny_tokenizer(folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_tokenizer_files()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return folder


# --- the checkpoint ------------------------------------------------------------------------


def original_layout(t: dict = TINY, vocab: int | None = None) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a SAM 3.1 multiplex checkpoint with dimensions ``t``."""
    vocab = vocab if vocab is not None else len(tiny_tokenizer_files()[0])
    shapes: dict[str, tuple[int, ...]] = {}
    D, d, ffn = t["vit_dim"], t["d"], t["ffn"]

    def linear(name: str, out: int, fan_in: int, bias: bool = True) -> None:
        shapes[f"{name}.weight"] = (out, fan_in)
        if bias:
            shapes[f"{name}.bias"] = (out,)

    def norm(name: str, n: int) -> None:
        shapes[f"{name}.weight"] = (n,)
        shapes[f"{name}.bias"] = (n,)

    def conv(name: str, out: int, cin: int, k: int, transposed: bool = False) -> None:
        shapes[f"{name}.weight"] = (cin, out, k, k) if transposed else (out, cin, k, k)
        shapes[f"{name}.bias"] = (out,)

    def mha(name: str, width: int) -> None:  # nn.MultiheadAttention
        shapes[f"{name}.in_proj_weight"] = (3 * width, width)
        shapes[f"{name}.in_proj_bias"] = (3 * width,)
        linear(f"{name}.out_proj", width, width)

    def mlp(name: str, dims: list[int]) -> None:  # Meta's MLP: layers.N
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            linear(f"{name}.layers.{i}", b, a)

    def encoder_layer(name: str, dim_ff: int) -> None:
        mha(f"{name}.self_attn", d)
        mha(f"{name}.cross_attn_image", d)
        linear(f"{name}.linear1", dim_ff, d)
        linear(f"{name}.linear2", d, dim_ff)
        for n in ("norm1", "norm2", "norm3"):
            norm(f"{name}.{n}", d)

    # ViTDet trunk
    trunk = "detector.backbone.vision_backbone.trunk"
    shapes[f"{trunk}.patch_embed.proj.weight"] = (D, 3, t["patch"], t["patch"])
    shapes[f"{trunk}.pos_embed"] = (1, (t["pretrain"] // t["patch"]) ** 2 + 1, D)
    norm(f"{trunk}.ln_pre", D)
    head_dim = D // t["vit_heads"]
    for i in range(t["vit_layers"]):
        b = f"{trunk}.blocks.{i}"
        norm(f"{b}.norm1", D)
        linear(f"{b}.attn.qkv", 3 * D, D)
        linear(f"{b}.attn.proj", D, D)
        norm(f"{b}.norm2", D)
        linear(f"{b}.mlp.fc1", t["vit_mlp"], D)
        linear(f"{b}.mlp.fc2", D, t["vit_mlp"])
        tokens = (t["image"] // t["patch"]) ** 2 if i in t["global_blocks"] else t["window"] ** 2
        shapes[f"{b}.attn.freqs_cis"] = (tokens, head_dim // 2)  # complex64, as Meta's file keeps it
    # FPN necks: SAM 3.1 has three of three levels each (4x, 2x, 1x)
    for neck in ("convs", "interactive_convs", "propagation_convs"):
        for level, scale in enumerate((4.0, 2.0, 1.0)):
            n = f"detector.backbone.vision_backbone.{neck}.{level}"
            if scale == 4.0:
                conv(f"{n}.dconv_2x2_0", D // 2, D, 2, transposed=True)
                conv(f"{n}.dconv_2x2_1", D // 4, D // 2, 2, transposed=True)
                cin = D // 4
            elif scale == 2.0:
                conv(f"{n}.dconv_2x2", D // 2, D, 2, transposed=True)
                cin = D // 2
            else:
                cin = D
            conv(f"{n}.conv_1x1", d, cin, 1)
            conv(f"{n}.conv_3x3", d, d, 3)
    # CLIP text encoder (open_clip names) and its resizer
    text, W = "detector.backbone.language_backbone.encoder", t["text_dim"]
    shapes[f"{text}.token_embedding.weight"] = (vocab, W)
    shapes[f"{text}.positional_embedding"] = (t["text_positions"], W)
    for i in range(t["text_layers"]):
        b = f"{text}.transformer.resblocks.{i}"
        norm(f"{b}.ln_1", W)
        mha(f"{b}.attn", W)
        norm(f"{b}.ln_2", W)
        linear(f"{b}.mlp.c_fc", 4 * W, W)
        linear(f"{b}.mlp.c_proj", W, 4 * W)
    norm(f"{text}.ln_final", W)
    linear("detector.backbone.language_backbone.resizer", d, W)
    # DETR encoder and decoder
    for i in range(t["encoder_layers"]):
        encoder_layer(f"detector.transformer.encoder.layers.{i}", ffn)
    dec = "detector.transformer.decoder"
    for i in range(t["decoder_layers"]):
        b = f"{dec}.layers.{i}"
        for attn in ("self_attn", "cross_attn", "ca_text"):
            mha(f"{b}.{attn}", d)
        for n in ("norm1", "norm2", "norm3", "catext_norm"):
            norm(f"{b}.{n}", d)
        linear(f"{b}.linear1", ffn, d)
        linear(f"{b}.linear2", d, ffn)
    norm(f"{dec}.norm", d)
    shapes[f"{dec}.query_embed.weight"] = (t["queries"], d)
    shapes[f"{dec}.reference_points.weight"] = (t["queries"], 4)
    mlp(f"{dec}.ref_point_head", [2 * d, d, d])
    mlp(f"{dec}.bbox_embed", [d, d, d, 4])
    mlp(f"{dec}.boxRPB_embed_x", [2, d, t["heads"]])
    mlp(f"{dec}.boxRPB_embed_y", [2, d, t["heads"]])
    shapes[f"{dec}.presence_token.weight"] = (1, d)
    mlp(f"{dec}.presence_token_head", [d, d, d, 1])
    norm(f"{dec}.presence_token_out_norm", d)
    # segmentation head
    seg = "detector.segmentation_head"
    for i in range(3):
        conv(f"{seg}.pixel_decoder.conv_layers.{i}", d, d, 3)
        norm(f"{seg}.pixel_decoder.norms.{i}", d)
    mlp(f"{seg}.mask_predictor.mask_embed", [d, d, d, d])
    mha(f"{seg}.cross_attend_prompt", d)
    norm(f"{seg}.cross_attn_norm", d)
    conv(f"{seg}.instance_seg_head", d, d, 1)
    conv(f"{seg}.semantic_seg_head", 1, d, 1)
    # geometry encoder
    geo = "detector.geometry_encoder"
    linear(f"{geo}.points_direct_project", d, 2)
    linear(f"{geo}.points_pool_project", d, d)
    linear(f"{geo}.points_pos_enc_project", d, d)
    linear(f"{geo}.boxes_direct_project", d, 4)
    conv(f"{geo}.boxes_pool_project", d, d, t["roi"])
    linear(f"{geo}.boxes_pos_enc_project", d, d + 2)
    shapes[f"{geo}.label_embed.weight"] = (2, d)
    shapes[f"{geo}.cls_embed.weight"] = (1, d)
    for n in ("norm", "img_pre_norm", "encode_norm"):
        norm(f"{geo}.{n}", d)
    for i in range(t["geometry_layers"]):
        encoder_layer(f"{geo}.encode.{i}", ffn)
    linear(f"{geo}.final_proj", d, d)
    # dot-product scoring
    sc = "detector.dot_prod_scoring"
    linear(f"{sc}.hs_proj", d, d)
    linear(f"{sc}.prompt_proj", d, d)
    linear(f"{sc}.prompt_mlp.layers.0", ffn, d)
    linear(f"{sc}.prompt_mlp.layers.1", d, ffn)
    norm(f"{sc}.prompt_mlp.out_norm", d)
    # tracker: the interactive SAM heads (SAM 2 names)
    tr = "tracker.model"
    md, tokens = f"{tr}.interactive_sam_mask_decoder", t["multimask"] + 1
    inner = d // 2  # attention_downsample_rate 2 for the cross-attentions

    def sam_attention(name: str, internal: int) -> None:
        for p in ("q_proj", "k_proj", "v_proj"):
            linear(f"{name}.{p}", internal, d)
        linear(f"{name}.out_proj", d, internal)

    for i in range(t["sam_layers"]):
        b = f"{md}.transformer.layers.{i}"
        sam_attention(f"{b}.self_attn", d)
        sam_attention(f"{b}.cross_attn_token_to_image", inner)
        sam_attention(f"{b}.cross_attn_image_to_token", inner)
        linear(f"{b}.mlp.lin1", t["sam_mlp"], d)
        linear(f"{b}.mlp.lin2", d, t["sam_mlp"])
        for n in ("norm1", "norm2", "norm3", "norm4"):
            norm(f"{b}.{n}", d)
    sam_attention(f"{md}.transformer.final_attn_token_to_image", inner)
    norm(f"{md}.transformer.norm_final_attn", d)
    shapes[f"{md}.iou_token.weight"] = (1, d)
    shapes[f"{md}.mask_tokens.weight"] = (tokens, d)
    shapes[f"{md}.obj_score_token.weight"] = (1, d)
    conv(f"{md}.output_upscaling.0", d // 4, d, 2, transposed=True)
    norm(f"{md}.output_upscaling.1", d // 4)
    conv(f"{md}.output_upscaling.3", d // 8, d // 4, 2, transposed=True)
    conv(f"{md}.conv_s0", d // 8, d, 1)
    conv(f"{md}.conv_s1", d // 4, d, 1)
    for i in range(tokens):
        mlp(f"{md}.output_hypernetworks_mlps.{i}", [d, d, d, d // 8])
    mlp(f"{md}.iou_prediction_head", [d, d, d, tokens])
    mlp(f"{md}.pred_obj_score_head", [d, d, d, 1])
    pe = f"{tr}.interactive_sam_prompt_encoder"
    shapes[f"{pe}.pe_layer.positional_encoding_gaussian_matrix"] = (2, d // 2)
    for i in range(4):
        shapes[f"{pe}.point_embeddings.{i}.weight"] = (1, d)
    shapes[f"{pe}.not_a_point_embed.weight"] = (1, d)
    shapes[f"{pe}.no_mask_embed.weight"] = (1, d)
    conv(f"{pe}.mask_downscaling.0", t["mask_in"] // 4, 1, 2)
    norm(f"{pe}.mask_downscaling.1", t["mask_in"] // 4)
    conv(f"{pe}.mask_downscaling.3", t["mask_in"], t["mask_in"] // 4, 2)
    norm(f"{pe}.mask_downscaling.4", t["mask_in"])
    conv(f"{pe}.mask_downscaling.6", d, t["mask_in"], 1)
    shapes[f"{tr}.interactivity_no_mem_embed"] = (1, 1, d)
    # tracker parts only video tracking uses (a sample of each, under the real names)
    m = t["multiplex"]
    linear(f"{tr}.transformer.encoder.layers.0.self_attn_q_proj", d, d)
    linear(f"{tr}.transformer.encoder.layers.0.image_cross_attn_k_proj", d, d)
    norm(f"{tr}.transformer.encoder.norm", d)
    shapes[f"{tr}.sam_mask_decoder.mask_tokens.weight"] = (m * tokens, d)
    linear(f"{tr}.sam_mask_decoder.transformer.layers.0.mlp.lin1", t["sam_mlp"], d)
    conv(f"{tr}.maskmem_backbone.mask_downsampler.encoder.0", 4, 2 * m, 3)
    shapes[f"{tr}.maskmem_tpos_enc"] = (7, 1, 1, d)
    shapes[f"{tr}.no_obj_embed_spatial"] = (m, d)
    mlp(f"{tr}.obj_ptr_proj", [d, d, d, d])
    linear(f"{tr}.obj_ptr_tpos_proj", d, d)
    linear(f"{tr}.no_obj_ptr_linear", d, d)
    mlp(f"{tr}.interactive_obj_ptr_proj", [d, d, d, d])
    conv(f"{tr}.interactive_mask_downsample", 1, 1, 4)
    shapes[f"{tr}.output_valid_embed"] = (m, d)
    shapes[f"{tr}.output_invalid_embed"] = (m, d)
    shapes[f"{tr}.image_pe_layer.positional_encoding_gaussian_matrix"] = (2, d // 2)
    return shapes


def tiny_sam3_state_dict(seed: int = 0, t: dict = TINY) -> dict[str, torch.Tensor]:
    """Random float32 tensors in the file's names, scaled so a forward stays in range."""
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for name, shape in original_layout(t).items():
        leaf = name.rsplit(".", 1)[-1]
        noise = torch.randn(*shape, generator=gen)
        if leaf == "bias" or name.endswith(("embed", "embed.weight", "_token.weight", "tokens.weight")) \
                or "embedding" in name or leaf in ("pos_embed", "freqs_cis", "maskmem_tpos_enc"):
            value = noise * (0.02 if leaf == "bias" else 0.5)
        elif ("norm" in name or name.endswith("output_upscaling.1.weight") or "mask_downscaling.1" in name
              or "mask_downscaling.4" in name) and len(shape) == 1:
            value = 1.0 + 0.1 * noise
        elif name.endswith("positional_encoding_gaussian_matrix"):
            value = noise
        elif name.endswith("reference_points.weight"):
            value = noise
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
            if ".dconv_" in name or "output_upscaling" in name:  # ConvTranspose2d: (in, out, k, k)
                fan_in = shape[0]
            value = noise / math.sqrt(fan_in)
        sd[name] = value
    return sd


def write_tiny_sam3(path: str | Path, *, seed: int | None = None, dtype: torch.dtype = torch.float16,
                    tokenizer: bool = True) -> Path:
    """Write the tiny checkpoint at ``path`` (about 1 MB), and, with ``tokenizer``, its CLIP
    tokenizer in ``sam3_tokenizer/`` beside it (where wfrun looks first)."""
    from wfrun.models.tiny import write_safetensors_streaming

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = zlib.crc32(path.name.encode()) if seed is None else seed
    tensors = {k: (torch.polar(torch.ones_like(v), v) if k.endswith(".attn.freqs_cis") else v.to(dtype)).contiguous()
               for k, v in tiny_sam3_state_dict(seed).items()}
    entries = [(name, v.dtype, tuple(v.shape), lambda v=v: v) for name, v in tensors.items()]
    facts = {"image_size": TINY["image"], "window_size": TINY["window"], "global_attn_indexes": TINY["global_blocks"],
             "vit_head_dim": TINY["vit_dim"] // TINY["vit_heads"], "detr_heads": TINY["heads"],
             "tracker_heads": TINY["heads"], "text_head_dim": TINY["text_dim"] // TINY["text_heads"]}
    write_safetensors_streaming(path, entries, {"format": "pt", "wfrun.sam3": json.dumps(facts)})
    if tokenizer:
        write_tiny_tokenizer(path.parent / TOKENIZER_DIR)
    return path
