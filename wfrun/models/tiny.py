"""Tiny random checkpoints in the real key layouts, so the real loading code runs offline.

No weights can be downloaded where the tests and demos run, so wfrun writes its own: the
same tensor names, nesting and dtypes as the files users have (Kijai's original Wan names,
ComfyUI's prefixed and transformers names, bf16/fp16/fp32, fp8 and fp8 "scaled"), with
dimensions small enough that the whole set is a few MB and a forward pass takes
milliseconds. Files are named like the real ones with ``_tiny`` added, in a folder laid
out like ComfyUI's ``models`` folder. Everything is seeded: the same version of this module
writes byte-identical files.

The key structures are written out here from the original model definitions (Wan's
``WanModel``, ``WanVAE``, ``T5Encoder`` and ``XLMRobertaCLIP``), not derived from the
converters, so the tests compare two independent descriptions of each layout.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from wfrun.models.families import CLIP_VISION_H, transformer_family, vae_family
from wfrun.models.families import UMT5_XXL as _UMT5
from wfrun.models.families.wan_transformer import CAMERA_CHANNELS, CAUSAL_AR_CONFIG, VACE_CONTEXT_CHANNELS
from wfrun.models.tiny_comfy_quant import PRECISIONS as COMFY_QUANT
from wfrun.models.tiny_comfy_quant import quantize_state

#: Bump when the files change, so cached copies are rebuilt.
TINY_VERSION = "11"

# Transformer: dim 32 = 2 heads x 16; the text width equals the tiny UMT5's d_model and the
# image width the tiny CLIP's hidden size, as 4096 and 1280 do for the real models.
# The output width (``out``) and the input channels come from the file's family.
TRANSFORMER = dict(dim=32, heads=2, ffn=64, layers=2, freq=16, text_dim=32, image_dim=32, image_tokens=5, out=16,
                   vace_blocks=2)
#: Wan 2.2 Animate's parts, tiny: ten blocks (a face adapter after blocks 0 and 5), a motion
#: encoder of the real depth (the 512-pixel face crop halved seven times) at a few channels,
#: and narrow face encoder and motion vectors. The real widths are ``ANIMATE_14B``'s.
ANIMATE = dict(layers=10, motion_widths=(2, 3, 4, 4, 4, 4, 4, 4), style=8, motion_blocks=5, motion_dim=4,
               motion_out=8, face_hidden=8, face_heads=2)
ANIMATE_14B = dict(layers=40, motion_widths=(32, 64, 128, 256, 512, 512, 512, 512), style=512, motion_blocks=5,
                   motion_dim=20, motion_out=512, face_hidden=1024, face_heads=4)
#: Wan 2.2 S2V's parts, tiny: five blocks (audio injected after blocks 0 and 4; all twelve
#: injectors written, as ComfyUI builds them), the audio width and hidden-state count of the
#: tiny wav2vec2 (32 wide, 2 layers + the embedding output), four audio tokens. ``S2V_14B``:
#: the real sizes (wav2vec2-large: 1024 wide, 25 hidden states).
S2V = dict(layers=5, audio_dim=32, audio_layers=3, tokens=4, injectors=12, cond_dim=16)
S2V_14B = dict(layers=40, audio_dim=1024, audio_layers=25, tokens=4, injectors=12, cond_dim=16)
#: HuMo's audio parts, tiny: the width of the tiny Whisper (64), a narrow projection to four
#: 24-wide audio tokens per latent frame. ``HUMO_17B``: the real sizes (Whisper large-v3's
#: 1280, 16 tokens of 1536).
HUMO = dict(audio_dim=64, hidden=16, tokens=4, width=24)
HUMO_17B = dict(audio_dim=1280, hidden=512, tokens=16, width=1536)
T5 = dict(vocab=128, dim=32, heads=4, dim_attn=32, ffn=64, layers=2, buckets=32)
CLIP = dict(dim=32, heads=2, layers=2, mlp=128, patch=14, image=28, proj=16)
VAE = dict(dim=4, z=16, dim_mult=(1, 2, 4, 4), num_res=2, temporal=(False, True, True))
#: The Wan 2.2 VAE, tiny: a decoder wider than the encoder, as the real one (160 / 256).
VAE22 = dict(dim=2, dec_dim=4, z=48, dim_mult=(1, 2, 4, 4), num_res=2, temporal=(False, True, True))

#: The real sizes, for shape-only (meta) state dicts: detection tests and the GPU benchmark.
TRANSFORMER_14B = dict(dim=5120, heads=40, ffn=13824, layers=40, freq=256, text_dim=_UMT5.dim,
                       image_dim=CLIP_VISION_H.dim, image_tokens=CLIP_VISION_H.tokens, out=16, vace_blocks=8,
                       animate=ANIMATE_14B, s2v=S2V_14B, humo=HUMO_17B)
TRANSFORMER_1_3B = dict(TRANSFORMER_14B, dim=1536, heads=12, ffn=8960, layers=30, vace_blocks=15)
TRANSFORMER_5B = dict(TRANSFORMER_14B, dim=3072, heads=24, ffn=14336, layers=30, out=48)
UMT5_XXL = dict(vocab=_UMT5.vocab, dim=_UMT5.dim, heads=_UMT5.heads, dim_attn=_UMT5.dim_attn, ffn=_UMT5.ffn,
                layers=_UMT5.layers, buckets=_UMT5.buckets)
CLIP_VIT_H = dict(dim=CLIP_VISION_H.dim, heads=CLIP_VISION_H.heads, layers=CLIP_VISION_H.layers,
                  mlp=CLIP_VISION_H.mlp, patch=CLIP_VISION_H.patch, image=CLIP_VISION_H.image,
                  proj=CLIP_VISION_H.projection)
VAE_WAN21 = dict(VAE, dim=96)
VAE_WAN22 = dict(VAE22, dim=160, dec_dim=256)

FP8 = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
FLOATS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class TinySpec:
    """One tiny file: where it goes, what it is, and how it is stored."""

    folder: str
    name: str
    kind: str       # wan_transformer | wan_vace_module | wan_vae | umt5 | clip_vision | lora | control_lora | wan_checkpoint
    task: str       # transformer (or all-in-one) task, VAE family (``wan2.2``; "" is Wan 2.1); "" for the others
    layout: str     # original | comfyui | transformers | open_clip
    precision: str  # bf16 | fp16 | fp32 | fp8_e4m3fn | fp8_e5m2 | fp8_e4m3fn_scaled | ComfyUI's fp8mixed, nvfp4, mxfp8
    rest: str = "bf16"  # dtype of what is not fp8 in an fp8 file

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())

    @property
    def relpath(self) -> str:
        return f"{self.folder}/{self.name}"


SPECS: tuple[TinySpec, ...] = (
    TinySpec("diffusion_models", "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "wan_transformer", "t2v", "original", "bf16"),
    TinySpec("diffusion_models", "Wan2_1-T2V-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", "wan_transformer", "t2v",
             "original", "fp8_e4m3fn_scaled"),
    TinySpec("diffusion_models", "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "wan_transformer", "i2v",
             "original", "fp8_e4m3fn"),
    TinySpec("diffusion_models", "Wan2_1-I2V-14B-720P_tiny_fp8_e5m2.safetensors", "wan_transformer", "i2v",
             "original", "fp8_e5m2"),
    TinySpec("diffusion_models", "Wan2_1-FLF2V-14B-720P_tiny_fp16.safetensors", "wan_transformer", "flf2v",
             "original", "fp16"),
    TinySpec("diffusion_models", "Wan2.1-Fun-1.3B-Control_tiny_bf16.safetensors", "wan_transformer", "fun-control",
             "original", "bf16"),
    TinySpec("diffusion_models", "wan2.1_t2v_1.3B_tiny_bf16.safetensors", "wan_transformer", "t2v", "comfyui", "bf16"),
    TinySpec("diffusion_models", "wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors", "wan_transformer", "i2v",
             "comfyui", "fp8_e4m3fn_scaled", rest="fp16"),
    TinySpec("diffusion_models", "wan2.1_flf2v_720p_14B_tiny_fp16.safetensors", "wan_transformer", "flf2v",
             "comfyui", "fp16"),
    TinySpec("diffusion_models", "wan2.1_fun_control_1.3B_tiny_bf16.safetensors", "wan_transformer", "fun-control",
             "comfyui", "bf16"),
    TinySpec("diffusion_models", "wan2.1_fun_inp_1.3B_tiny_bf16.safetensors", "wan_transformer", "fun-inp",
             "comfyui", "bf16"),
    TinySpec("diffusion_models", "wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors", "wan_transformer",
             "t2v-a14b", "comfyui", "fp8_e4m3fn_scaled", rest="fp16"),
    TinySpec("diffusion_models", "wan2.2_i2v_high_noise_14B_tiny_fp8_scaled.safetensors", "wan_transformer",
             "i2v-a14b", "comfyui", "fp8_e4m3fn_scaled", rest="fp16"),
    TinySpec("diffusion_models", "wan2.2_ti2v_5B_tiny_fp16.safetensors", "wan_transformer", "ti2v-5b", "comfyui",
             "fp16"),
    TinySpec("diffusion_models", "Wan2_2-TI2V-5B_tiny_bf16.safetensors", "wan_transformer", "ti2v-5b", "original",
             "bf16"),
    TinySpec("diffusion_models", "wan2.1_vace_1.3B_tiny_fp16.safetensors", "wan_transformer", "vace", "comfyui",
             "fp16"),
    TinySpec("vae", "Wan2_1_VAE_tiny_bf16.safetensors", "wan_vae", "", "original", "bf16"),
    TinySpec("vae", "Wan2_1_VAE_tiny_fp32.safetensors", "wan_vae", "", "original", "fp32"),
    TinySpec("vae", "wan_2.1_vae_tiny.safetensors", "wan_vae", "", "original", "fp16"),
    TinySpec("vae", "wan2.2_vae_tiny.safetensors", "wan_vae", "wan2.2", "original", "fp32"),
    TinySpec("vae", "Wan2_2_VAE_tiny_bf16.safetensors", "wan_vae", "wan2.2", "original", "bf16"),
    TinySpec("text_encoders", "umt5-xxl-enc-tiny-bf16.safetensors", "umt5", "", "original", "bf16"),
    TinySpec("text_encoders", "umt5-xxl-enc-tiny-fp8_e4m3fn.safetensors", "umt5", "", "original", "fp8_e4m3fn"),
    TinySpec("text_encoders", "umt5_xxl_tiny_fp16.safetensors", "umt5", "", "transformers", "fp16"),
    TinySpec("text_encoders", "umt5_xxl_tiny_fp8_e4m3fn_scaled.safetensors", "umt5", "", "transformers",
             "fp8_e4m3fn_scaled", rest="fp16"),
    TinySpec("clip_vision", "open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors", "clip_vision", "",
             "original", "fp16"),
    TinySpec("clip_vision", "clip_vision_h_tiny.safetensors", "clip_vision", "", "transformers", "fp16"),
    TinySpec("clip_vision", "open_clip_vit_h_14_tiny_fp32.safetensors", "clip_vision", "", "open_clip", "fp32"),
)

#: Where the tiny UMT5 tokenizer goes, for the files that do not carry one themselves.
TOKENIZER_DIR = "text_encoders/umt5-xxl"


# --- random tensors -------------------------------------------------------------------


class _Random:
    """Seeded tensors with sensible scales: linear weights ~ 1/sqrt(fan_in), norms near 1."""

    def __init__(self, seed: int, meta: bool = False):
        self.gen = torch.Generator().manual_seed(seed)
        self.meta = meta  # shapes only: tensors on the meta device, no memory

    def normal(self, *shape: int, std: float = 1.0) -> torch.Tensor:
        if self.meta:
            return torch.empty(*shape, device="meta")
        return torch.randn(*shape, generator=self.gen) * std

    def linear(self, out: int, fan_in: int, *kernel: int) -> torch.Tensor:
        fan = fan_in
        for k in kernel:
            fan *= k
        return self.normal(out, fan_in, *kernel, std=fan ** -0.5)

    def norm(self, *shape: int) -> torch.Tensor:
        return 1.0 + self.normal(*shape, std=0.1)

    def bias(self, n: int) -> torch.Tensor:
        return self.normal(n, std=0.02)


def _linear(sd: dict, r: _Random, name: str, out: int, fan_in: int, bias: bool = True) -> None:
    sd[f"{name}.weight"] = r.linear(out, fan_in)
    if bias:
        sd[f"{name}.bias"] = r.bias(out)


# --- master weights in the original layouts (float32) ----------------------------------


def _block(sd: dict, r: _Random, b: str, dim: int, ffn: int, image: bool, cross: bool = True) -> None:
    """One ``WanAttentionBlock`` (self-attention, cross-attention, its norm, feed-forward,
    modulation); without ``cross`` (MiniMax-Remover) no cross-attention and no ``norm3``."""
    for attn in ("self_attn", "cross_attn") if cross else ("self_attn",):
        for proj in "qkvo":
            _linear(sd, r, f"{b}.{attn}.{proj}", dim, dim)
        sd[f"{b}.{attn}.norm_q.weight"] = r.norm(dim)
        sd[f"{b}.{attn}.norm_k.weight"] = r.norm(dim)
    if image:
        _linear(sd, r, f"{b}.cross_attn.k_img", dim, dim)
        _linear(sd, r, f"{b}.cross_attn.v_img", dim, dim)
        sd[f"{b}.cross_attn.norm_k_img.weight"] = r.norm(dim)
    if cross:
        sd[f"{b}.norm3.weight"] = r.norm(dim)
        sd[f"{b}.norm3.bias"] = r.bias(dim)
    _linear(sd, r, f"{b}.ffn.0", ffn, dim)
    _linear(sd, r, f"{b}.ffn.2", dim, ffn)
    sd[f"{b}.modulation"] = r.normal(1, 6, dim, std=dim ** -0.5)


def transformer_parts(task: str) -> frozenset[str]:
    """The optional parts a tiny transformer of ``task`` carries: those its family always has,
    and Wan 2.2 Fun Control's ``ref_conv`` (every release of it has one)."""
    family = transformer_family(task)
    extra = {"ref_conv"} if family.generation == "2.2" and "ref_conv" in family.optional_parts else set()
    return family.parts | extra


def transformer_weights(task: str, seed: int, dims: dict | None = None, meta: bool = False) -> dict[str, torch.Tensor]:
    """A Wan ``WanModel`` state dict of family ``task`` in its original key names (tiny unless
    ``dims`` say otherwise): the backbone, then the family's parts (CLIP projection, VACE
    blocks, camera adapter, reference embedding) as ComfyUI's and VideoX-Fun's models name them."""
    c = dims or TRANSFORMER
    family = transformer_family(task)
    dim, ffn, image_dim = c["dim"], c["ffn"], c["image_dim"]
    r, sd = _Random(seed, meta), {}
    image = bool(family.clip_projection)
    parts = transformer_parts(task)
    animate = c.get("animate", ANIMATE) if "animate" in parts else None
    s2v = c.get("s2v", S2V) if "s2v" in parts else None
    layers = animate["layers"] if animate else s2v["layers"] if s2v else c["layers"]
    sd["patch_embedding.weight"] = r.linear(dim, family.in_channels, 1, 2, 2)
    sd["patch_embedding.bias"] = r.bias(dim)
    text = "no_text" not in parts  # MiniMax-Remover: no text embedding, no cross-attention
    if text:
        _linear(sd, r, "text_embedding.0", dim, c["text_dim"])
        _linear(sd, r, "text_embedding.2", dim, dim)
    _linear(sd, r, "time_embedding.0", dim, c["freq"])
    _linear(sd, r, "time_embedding.2", dim, dim)
    _linear(sd, r, "time_projection.1", dim * 6, dim)
    for i in range(layers):
        _block(sd, r, f"blocks.{i}", dim, ffn, image, cross=text)
    _linear(sd, r, "head.head", family.latent_channels * 4, dim)
    sd["head.modulation"] = r.normal(1, 2, dim, std=dim ** -0.5)
    if image:
        sd["img_emb.proj.0.weight"], sd["img_emb.proj.0.bias"] = r.norm(image_dim), r.bias(image_dim)
        _linear(sd, r, "img_emb.proj.1", image_dim, image_dim)
        _linear(sd, r, "img_emb.proj.3", dim, image_dim)
        sd["img_emb.proj.4.weight"], sd["img_emb.proj.4.bias"] = r.norm(dim), r.bias(dim)
        if "emb_pos" in parts:
            sd["img_emb.emb_pos"] = r.normal(1, 2 * c["image_tokens"], image_dim, std=0.02)
    if "vace" in parts:  # ComfyUI's VaceWanModel: the patch embedding, then the VACE blocks
        sd["vace_patch_embedding.weight"] = r.linear(dim, VACE_CONTEXT_CHANNELS, 1, 2, 2)
        sd["vace_patch_embedding.bias"] = r.bias(dim)
        for i in range(c["vace_blocks"]):
            _block(sd, r, f"vace_blocks.{i}", dim, ffn, False)
            if i == 0:
                _linear(sd, r, f"vace_blocks.{i}.before_proj", dim, dim)
            _linear(sd, r, f"vace_blocks.{i}.after_proj", dim, dim)
    if "control_adapter" in parts:  # WanCamAdapter: pixel-unshuffled rays → 2x2 patches, one residual block
        folded = CAMERA_CHANNELS * family.camera_downscale ** 2
        sd["control_adapter.conv.weight"] = r.linear(dim, folded, 2, 2)
        sd["control_adapter.conv.bias"] = r.bias(dim)
        for conv in ("conv1", "conv2"):
            sd[f"control_adapter.residual_blocks.0.{conv}.weight"] = r.linear(dim, dim, 3, 3)
            sd[f"control_adapter.residual_blocks.0.{conv}.bias"] = r.bias(dim)
    if "ref_conv" in parts:  # the reference image's latents, patched 2x2
        sd["ref_conv.weight"] = r.linear(dim, family.latent_channels, 2, 2)
        sd["ref_conv.bias"] = r.bias(dim)
    if "recam" in parts:  # ReCamMaster: a camera encoder and a projector in every block
        for i in range(c["layers"]):
            _linear(sd, r, f"blocks.{i}.cam_encoder", dim, 12)
            _linear(sd, r, f"blocks.{i}.projector", dim, dim)
    if "fps" in parts:  # SkyReels-V2's sample info: two vectors and their projection to six
        sd["fps_embedding.weight"] = r.normal(2, dim)
        _linear(sd, r, "fps_projection.0", dim, dim)
        _linear(sd, r, "fps_projection.2", dim * 6, dim)
    if animate:
        _animate_parts(sd, r, animate, dim, dim // c["heads"], family.latent_channels)
    if s2v:
        _s2v_parts(sd, r, s2v, dim, family.latent_channels)
    if "humo" in parts:
        _humo_parts(sd, r, c.get("humo", HUMO), dim, layers)
    return sd


def _humo_parts(sd: dict, r: "_Random", h: dict, dim: int, layers: int) -> None:
    """HuMo's parts in the official names (ComfyUI's ``HumoWanModel`` keeps them): the audio
    projection (three linears and a LayerNorm, each wrapped as ``.layer``; its input is 8
    frames x 5 layer groups x the Whisper width) and, in every block, the audio attention
    (q, o at the model width, k and v from the audio token width, RMS norms of q and k) and
    its affine LayerNorm."""
    proj = "audio_proj.audio_proj_glob_"
    _linear(sd, r, f"{proj}1.layer", h["hidden"], 8 * 5 * h["audio_dim"])
    _linear(sd, r, f"{proj}2.layer", h["hidden"], h["hidden"])
    _linear(sd, r, f"{proj}3.layer", h["tokens"] * h["width"], h["hidden"])
    sd[f"{proj}norm.layer.weight"], sd[f"{proj}norm.layer.bias"] = r.norm(h["width"]), r.bias(h["width"])
    for i in range(layers):
        b = f"blocks.{i}.audio_cross_attn_wrapper"
        for name, cin in (("q", dim), ("k", h["width"]), ("v", h["width"]), ("o", dim)):
            _linear(sd, r, f"{b}.audio_cross_attn.{name}", dim, cin)
        sd[f"{b}.audio_cross_attn.norm_q.weight"] = r.norm(dim)
        sd[f"{b}.audio_cross_attn.norm_k.weight"] = r.norm(dim)
        sd[f"{b}.norm1_audio.weight"], sd[f"{b}.norm1_audio.bias"] = r.norm(dim), r.bias(dim)


def _s2v_parts(sd: dict, r: "_Random", a: dict, dim: int, latent_channels: int) -> None:
    """Wan 2.2 S2V's parts in the official names (``wan/modules/s2v/model_s2v.py``; ComfyUI's
    ``WanModel_S2V`` keeps them): the learned token-kind vectors; the causal audio encoder
    (per-layer mixing weights, causal convs wrapped as ``.conv``: the local one ``dim / 4``
    channels per audio token, the global one ``dim / 4``, two shared stride-2 ones, the
    global path's final linear, the padding token); the pose/control patch embedding; the
    injectors (q, k, v, o with RMS norms of q and k, and each one's AdaIN linear); the frame
    packer's three patch convolutions."""
    quarter, half = dim // 4, dim // 2
    sd["trainable_cond_mask.weight"] = r.normal(3, dim, std=0.1)
    enc = "casual_audio_encoder"
    sd[f"{enc}.weights"] = r.normal(1, a["audio_layers"], 1, 1)
    for name, out, cin in (("conv1_local", quarter * a["tokens"], a["audio_dim"]), ("conv1_global", quarter, a["audio_dim"]),
                           ("conv2", half, quarter), ("conv3", dim, half)):
        sd[f"{enc}.encoder.{name}.conv.weight"] = r.linear(out, cin, 3)
        sd[f"{enc}.encoder.{name}.conv.bias"] = r.bias(out)
    _linear(sd, r, f"{enc}.encoder.final_linear", dim, dim)
    sd[f"{enc}.encoder.padding_tokens"] = r.normal(1, 1, 1, dim, std=0.1)
    if a["cond_dim"]:
        sd["cond_encoder.weight"] = r.linear(dim, a["cond_dim"], 1, 2, 2)
        sd["cond_encoder.bias"] = r.bias(dim)
    for i in range(a["injectors"]):
        b = f"audio_injector.injector.{i}"
        for proj in "qkvo":
            _linear(sd, r, f"{b}.{proj}", dim, dim)
        sd[f"{b}.norm_q.weight"] = r.norm(dim)
        sd[f"{b}.norm_k.weight"] = r.norm(dim)
        _linear(sd, r, f"audio_injector.injector_adain_layers.{i}.linear", 2 * dim, dim)
    for name, kernel in (("proj", (1, 2, 2)), ("proj_2x", (2, 4, 4)), ("proj_4x", (4, 8, 8))):
        sd[f"frame_packer.{name}.weight"] = r.linear(dim, latent_channels, *kernel)
        sd[f"frame_packer.{name}.bias"] = r.bias(dim)


def _animate_parts(sd: dict, r: "_Random", a: dict, dim: int, head_dim: int, latent_channels: int) -> None:
    """Wan 2.2 Animate's parts in the official names (``wan/modules/animate``; ComfyUI's
    ``AnimateWanModel`` keeps them): the pose patch embedding; the motion encoder
    (``enc.net_app.convs``: a 1x1 conv with a fused leaky-ReLU bias ``[1, C, 1, 1]``, residual
    blocks of a 3x3 conv, a blurred stride-2 3x3 conv and a blurred 1x1 skip, a 4x4 conv to the
    style vector; ``enc.fc`` linears; ``dec.direction``); the face encoder (causal 1-D convs
    wrapped as ``.conv``, an output projection, the padding token); the face adapters."""
    sd["pose_patch_embedding.weight"] = r.linear(dim, latent_channels, 1, 2, 2)
    sd["pose_patch_embedding.bias"] = r.bias(dim)
    net = "motion_encoder.enc.net_app.convs"
    widths = a["motion_widths"]
    sd[f"{net}.0.0.weight"] = r.normal(widths[0], 3, 1, 1)  # equalized-lr layers scale by 1/sqrt(fan_in) on use
    sd[f"{net}.0.1.bias"] = r.normal(1, widths[0], 1, 1, std=0.1)
    for i, (cin, out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        sd[f"{net}.{i}.conv1.0.weight"] = r.normal(cin, cin, 3, 3)
        sd[f"{net}.{i}.conv1.1.bias"] = r.normal(1, cin, 1, 1, std=0.1)
        sd[f"{net}.{i}.conv2.1.weight"] = r.normal(out, cin, 3, 3)
        sd[f"{net}.{i}.conv2.2.bias"] = r.normal(1, out, 1, 1, std=0.1)
        sd[f"{net}.{i}.skip.1.weight"] = r.normal(out, cin, 1, 1)
    sd[f"{net}.{len(widths)}.weight"] = r.normal(a["style"], widths[-1], 4, 4)
    for i in range(a["motion_blocks"]):
        out = a["motion_dim"] if i == a["motion_blocks"] - 1 else a["style"]
        sd[f"motion_encoder.enc.fc.{i}.weight"] = r.normal(out, a["style"])
        sd[f"motion_encoder.enc.fc.{i}.bias"] = r.bias(out)
    sd["motion_encoder.dec.direction.weight"] = r.normal(a["motion_out"], a["motion_dim"])
    hidden, heads = a["face_hidden"], a["face_heads"]
    sd["face_encoder.conv1_local.conv.weight"] = r.linear(hidden * heads, a["motion_out"], 3)
    sd["face_encoder.conv1_local.conv.bias"] = r.bias(hidden * heads)
    for conv in ("conv2", "conv3"):
        sd[f"face_encoder.{conv}.conv.weight"] = r.linear(hidden, hidden, 3)
        sd[f"face_encoder.{conv}.conv.bias"] = r.bias(hidden)
    _linear(sd, r, "face_encoder.out_proj", dim, hidden)
    sd["face_encoder.padding_tokens"] = r.normal(1, 1, 1, dim, std=0.02)
    for j in range(a["layers"] // 5):
        b = f"face_adapter.fuser_blocks.{j}"
        _linear(sd, r, f"{b}.linear1_kv", dim * 2, dim)
        _linear(sd, r, f"{b}.linear1_q", dim, dim)
        _linear(sd, r, f"{b}.linear2", dim, dim)
        sd[f"{b}.q_norm.weight"] = r.norm(head_dim)
        sd[f"{b}.k_norm.weight"] = r.norm(head_dim)


def vace_module_weights(seed: int, dims: dict | None = None, meta: bool = False) -> dict[str, torch.Tensor]:
    """A separate VACE module (Kijai's ``Wan2_1-VACE_module_*``): the VACE keys of a VACE
    model of the same seed and nothing else. Its backbone is the T2V model of that seed
    (the VACE parts are drawn last), so the two files together are that VACE model."""
    sd = transformer_weights("vace", seed, dims, meta)
    return {k: v for k, v in sd.items() if k.startswith(("vace_blocks.", "vace_patch_embedding."))}


def _vae_parts(r: "_Random", sd: dict[str, torch.Tensor]):
    """The writers of the parts both Wan VAEs are built of, in their original key names:
    a 3-D conv, a residual block (RMS-norm gammas, two convs, a 1x1x1 shortcut when the
    width changes) and the middle's single-head attention."""

    def conv3d(name, out, cin, k=3, t=None):
        sd[f"{name}.weight"] = r.linear(out, cin, t or k, k, k)
        sd[f"{name}.bias"] = r.bias(out)

    def residual(name, cin, out):
        sd[f"{name}.residual.0.gamma"] = r.norm(cin, 1, 1, 1)
        conv3d(f"{name}.residual.2", out, cin)
        sd[f"{name}.residual.3.gamma"] = r.norm(out, 1, 1, 1)
        conv3d(f"{name}.residual.6", out, out)
        if cin != out:
            conv3d(f"{name}.shortcut", out, cin, k=1)

    def attention(name, ch):
        sd[f"{name}.norm.gamma"] = r.norm(ch, 1, 1)
        sd[f"{name}.to_qkv.weight"], sd[f"{name}.to_qkv.bias"] = r.linear(ch * 3, ch, 1, 1), r.bias(ch * 3)
        sd[f"{name}.proj.weight"], sd[f"{name}.proj.bias"] = r.linear(ch, ch, 1, 1), r.bias(ch)

    return conv3d, residual, attention


def vae_weights(seed: int, dims: dict | None = None, meta: bool = False) -> dict[str, torch.Tensor]:
    """A Wan 2.1 ``WanVAE`` state dict in its original key names."""
    c = dims or VAE
    r, sd = _Random(seed, meta), {}
    base, z, mult, nrb = c["dim"], c["z"], c["dim_mult"], c["num_res"]

    conv3d, residual, attention = _vae_parts(r, sd)

    def resample(name, ch, out, temporal_in, temporal_out):
        sd[f"{name}.resample.1.weight"], sd[f"{name}.resample.1.bias"] = r.linear(out, ch, 3, 3), r.bias(out)
        if temporal_in or temporal_out:
            t_out = ch * 2 if temporal_out else ch
            sd[f"{name}.time_conv.weight"] = r.linear(t_out, ch, 3, 1, 1)
            sd[f"{name}.time_conv.bias"] = r.bias(t_out)

    dims = [base * m for m in (1, *mult)]
    conv3d("encoder.conv1", dims[0], 3)
    index = 0
    for stage, (cin, out) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(nrb):
            residual(f"encoder.downsamples.{index}", cin, out)
            cin, index = out, index + 1
        if stage != len(mult) - 1:
            resample(f"encoder.downsamples.{index}", out, out, c["temporal"][stage], False)
            index += 1
    top = dims[-1]
    residual("encoder.middle.0", top, top)
    attention("encoder.middle.1", top)
    residual("encoder.middle.2", top, top)
    sd["encoder.head.0.gamma"] = r.norm(top, 1, 1, 1)
    conv3d("encoder.head.2", z * 2, top)
    conv3d("conv1", z * 2, z * 2, k=1)
    conv3d("conv2", z, z, k=1)

    dims = [base * m for m in (mult[-1], *reversed(mult))]
    temporal_up = tuple(reversed(c["temporal"]))
    conv3d("decoder.conv1", dims[0], z)
    residual("decoder.middle.0", dims[0], dims[0])
    attention("decoder.middle.1", dims[0])
    residual("decoder.middle.2", dims[0], dims[0])
    index = 0
    for stage, (cin, out) in enumerate(zip(dims[:-1], dims[1:])):
        if stage > 0:
            cin //= 2  # the previous upsampler halved the channels
        for _ in range(nrb + 1):
            residual(f"decoder.upsamples.{index}", cin, out)
            cin, index = out, index + 1
        if stage != len(mult) - 1:
            resample(f"decoder.upsamples.{index}", out, out // 2, False, temporal_up[stage])
            index += 1
    sd["decoder.head.0.gamma"] = r.norm(dims[-1], 1, 1, 1)
    conv3d("decoder.head.2", 3, dims[-1])
    return sd


def vae22_weights(seed: int, dims: dict | None = None, meta: bool = False) -> dict[str, torch.Tensor]:
    """A Wan 2.2 ``WanVAE_`` state dict in its original key names (Wan-Video/Wan2.2
    ``wan/modules/vae2_2.py``): 12 coded channels in and out (RGB in 2x2 blocks), residual
    down/up stages ``encoder.downsamples.<stage>.downsamples.<i>`` /
    ``decoder.upsamples.<stage>.upsamples.<i>``, a resampler last in each stage but the
    deepest, and a decoder of its own width."""
    c = dims or VAE22
    r, sd = _Random(seed, meta), {}
    base, dec, z, mult, nrb = c["dim"], c["dec_dim"], c["z"], c["dim_mult"], c["num_res"]
    coded = vae_family("wan2.2").coded_channels

    conv3d, residual, attention = _vae_parts(r, sd)

    def resample(name, ch, time_out):
        sd[f"{name}.resample.1.weight"], sd[f"{name}.resample.1.bias"] = r.linear(ch, ch, 3, 3), r.bias(ch)
        if time_out:
            sd[f"{name}.time_conv.weight"] = r.linear(time_out, ch, 3, 1, 1)
            sd[f"{name}.time_conv.bias"] = r.bias(time_out)

    last = len(mult) - 1
    dims = [base * m for m in (1, *mult)]
    conv3d("encoder.conv1", dims[0], coded)
    for stage, (cin, out) in enumerate(zip(dims[:-1], dims[1:])):
        for i in range(nrb):
            residual(f"encoder.downsamples.{stage}.downsamples.{i}", cin, out)
            cin = out
        if stage != last:  # downsample3d keeps the width in time; downsample2d has no time_conv
            resample(f"encoder.downsamples.{stage}.downsamples.{nrb}", out, out if c["temporal"][stage] else 0)
    top = dims[-1]
    residual("encoder.middle.0", top, top)
    attention("encoder.middle.1", top)
    residual("encoder.middle.2", top, top)
    sd["encoder.head.0.gamma"] = r.norm(top, 1, 1, 1)
    conv3d("encoder.head.2", z * 2, top)
    conv3d("conv1", z * 2, z * 2, k=1)
    conv3d("conv2", z, z, k=1)

    dims = [dec * m for m in (mult[-1], *reversed(mult))]
    temporal_up = tuple(reversed(c["temporal"]))
    conv3d("decoder.conv1", dims[0], z)
    residual("decoder.middle.0", dims[0], dims[0])
    attention("decoder.middle.1", dims[0])
    residual("decoder.middle.2", dims[0], dims[0])
    for stage, (cin, out) in enumerate(zip(dims[:-1], dims[1:])):
        for i in range(nrb + 1):
            residual(f"decoder.upsamples.{stage}.upsamples.{i}", cin, out)
            cin = out
        if stage != last:  # upsample3d doubles the frames through a time_conv of twice the width
            resample(f"decoder.upsamples.{stage}.upsamples.{nrb + 1}", out, out * 2 if temporal_up[stage] else 0)
    sd["decoder.head.0.gamma"] = r.norm(dims[-1], 1, 1, 1)
    conv3d("decoder.head.2", coded, dims[-1])
    return sd


def t5_weights(seed: int, dims: dict | None = None, meta: bool = False) -> dict[str, torch.Tensor]:
    """A UMT5 encoder in Wan's own ``T5Encoder`` names (each block has its position table)."""
    r, sd, c = _Random(seed, meta), {}, dims or T5
    sd["token_embedding.weight"] = r.normal(c["vocab"], c["dim"])
    for i in range(c["layers"]):
        b = f"blocks.{i}"
        sd[f"{b}.norm1.weight"] = r.norm(c["dim"])
        for proj in "qkv":
            sd[f"{b}.attn.{proj}.weight"] = r.linear(c["dim_attn"], c["dim"])
        sd[f"{b}.attn.o.weight"] = r.linear(c["dim"], c["dim_attn"])
        sd[f"{b}.norm2.weight"] = r.norm(c["dim"])
        sd[f"{b}.ffn.gate.0.weight"] = r.linear(c["ffn"], c["dim"])
        sd[f"{b}.ffn.fc1.weight"] = r.linear(c["ffn"], c["dim"])
        sd[f"{b}.ffn.fc2.weight"] = r.linear(c["dim"], c["ffn"])
        sd[f"{b}.pos_embedding.embedding.weight"] = r.normal(c["buckets"], c["heads"], std=0.5)
    sd["norm.weight"] = r.norm(c["dim"])
    return sd


def t5_to_transformers_names(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same weights under the names ComfyUI's ``umt5_xxl_*`` files use (transformers')."""
    block = {"norm1": "layer.0.layer_norm", "attn.q": "layer.0.SelfAttention.q", "attn.k": "layer.0.SelfAttention.k",
             "attn.v": "layer.0.SelfAttention.v", "attn.o": "layer.0.SelfAttention.o",
             "pos_embedding.embedding": "layer.0.SelfAttention.relative_attention_bias",
             "norm2": "layer.1.layer_norm", "ffn.gate.0": "layer.1.DenseReluDense.wi_0",
             "ffn.fc1": "layer.1.DenseReluDense.wi_1", "ffn.fc2": "layer.1.DenseReluDense.wo"}
    out = {}
    for key, value in sd.items():
        if key == "token_embedding.weight":
            out["shared.weight"] = value
        elif key == "norm.weight":
            out["encoder.final_layer_norm.weight"] = value
        else:
            m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.weight", key)
            out[f"encoder.block.{m.group(1)}.{block[m.group(2)]}.weight"] = value
    return out


def clip_weights(seed: int, dims: dict | None = None, meta: bool = False) -> dict[str, torch.Tensor]:
    """A vision tower in the Wan repo's ``XLMRobertaCLIP`` names (``visual.*``, ``log_scale``)."""
    r, sd, c = _Random(seed, meta), {}, dims or CLIP
    d = c["dim"]
    tokens = (c["image"] // c["patch"]) ** 2 + 1
    sd["visual.patch_embedding.weight"] = r.linear(d, 3, c["patch"], c["patch"])
    sd["visual.cls_embedding"] = r.normal(1, 1, d, std=d ** -0.5)
    sd["visual.pos_embedding"] = r.normal(1, tokens, d, std=d ** -0.5)
    sd["visual.pre_norm.weight"], sd["visual.pre_norm.bias"] = r.norm(d), r.bias(d)
    for i in range(c["layers"]):
        b = f"visual.transformer.{i}"
        sd[f"{b}.norm1.weight"], sd[f"{b}.norm1.bias"] = r.norm(d), r.bias(d)
        _linear(sd, r, f"{b}.attn.to_qkv", 3 * d, d)
        _linear(sd, r, f"{b}.attn.proj", d, d)
        sd[f"{b}.norm2.weight"], sd[f"{b}.norm2.bias"] = r.norm(d), r.bias(d)
        _linear(sd, r, f"{b}.mlp.0", c["mlp"], d)
        _linear(sd, r, f"{b}.mlp.2", d, c["mlp"])
    sd["visual.post_norm.weight"], sd["visual.post_norm.bias"] = r.norm(d), r.bias(d)
    sd["visual.head"] = r.normal(d, c["proj"], std=d ** -0.5)
    sd["log_scale"] = torch.empty((), device="meta") if meta else torch.tensor(4.6052)
    return sd


def clip_to_layout(sd: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """The Wan-named vision tower under open_clip's or transformers' names."""
    if layout == "original":
        return dict(sd)
    d, out = sd["visual.patch_embedding.weight"].shape[0], {}
    tokens = sd["visual.pos_embedding"].shape[1]
    if layout == "open_clip":
        names = {"norm1": "ln_1", "norm2": "ln_2", "attn.proj": "attn.out_proj", "mlp.0": "mlp.c_fc",
                 "mlp.2": "mlp.c_proj"}
        for key, value in sd.items():
            if m := re.fullmatch(r"visual\.transformer\.(\d+)\.(.+)\.(weight|bias)", key):
                layer, module, leaf = m.groups()
                if module == "attn.to_qkv":
                    out[f"visual.transformer.resblocks.{layer}.attn.in_proj_{leaf}"] = value
                else:
                    out[f"visual.transformer.resblocks.{layer}.{names[module]}.{leaf}"] = value
        out["visual.conv1.weight"] = sd["visual.patch_embedding.weight"]
        out["visual.class_embedding"] = sd["visual.cls_embedding"].reshape(d)
        out["visual.positional_embedding"] = sd["visual.pos_embedding"].reshape(tokens, d)
        for wan, oc in (("pre_norm", "ln_pre"), ("post_norm", "ln_post")):
            out[f"visual.{oc}.weight"], out[f"visual.{oc}.bias"] = sd[f"visual.{wan}.weight"], sd[f"visual.{wan}.bias"]
        out["visual.proj"] = sd["visual.head"]
        out["logit_scale"] = sd["log_scale"]
        return out
    e, L = "vision_model.embeddings.", "vision_model.encoder.layers."
    names = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.proj": "self_attn.out_proj", "mlp.0": "mlp.fc1",
             "mlp.2": "mlp.fc2"}
    for key, value in sd.items():
        if m := re.fullmatch(r"visual\.transformer\.(\d+)\.(.+)\.(weight|bias)", key):
            layer, module, leaf = m.groups()
            if module == "attn.to_qkv":
                for part, chunk in zip("qkv", value.chunk(3)):
                    out[f"{L}{layer}.self_attn.{part}_proj.{leaf}"] = chunk.clone()
            else:
                out[f"{L}{layer}.{names[module]}.{leaf}"] = value
    out[f"{e}patch_embedding.weight"] = sd["visual.patch_embedding.weight"]
    out[f"{e}class_embedding"] = sd["visual.cls_embedding"].reshape(d)
    out[f"{e}position_embedding.weight"] = sd["visual.pos_embedding"].reshape(tokens, d)
    for wan, hf in (("pre_norm", "vision_model.pre_layrnorm"), ("post_norm", "vision_model.post_layernorm")):
        out[f"{hf}.weight"], out[f"{hf}.bias"] = sd[f"visual.{wan}.weight"], sd[f"visual.{wan}.bias"]
    out["visual_projection.weight"] = sd["visual.head"].t().contiguous()
    return out


#: Rank of the tiny LoRAs (real ones are 16 to 512; the tiny model is only 32 wide).
LORA_RANK = 4


def lora_weights(seed: int, dims: dict | None = None, rank: int = LORA_RANK) -> dict[str, torch.Tensor]:
    """A LoRA for the tiny transformer in the layout of Kijai's and lightx2v's files:
    ``diffusion_model.<module>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha`` on every
    block's self- and cross-attention q/k/v/o and feed-forward linears (the modules every
    Wan 2.1 task has, so one LoRA fits T2V and I2V models alike)."""
    c = dims or TRANSFORMER
    dim, ffn = c["dim"], c["ffn"]
    r, sd = _Random(seed), {}

    def pair(module: str, out: int, fan_in: int) -> None:
        sd[f"diffusion_model.{module}.lora_down.weight"] = r.linear(rank, fan_in)
        sd[f"diffusion_model.{module}.lora_up.weight"] = r.normal(out, rank, std=0.02)
        sd[f"diffusion_model.{module}.alpha"] = torch.tensor(float(rank))

    for i in range(c["layers"]):
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                pair(f"blocks.{i}.{attn}.{proj}", dim, dim)
        pair(f"blocks.{i}.ffn.0", ffn, dim)
        pair(f"blocks.{i}.ffn.2", dim, ffn)
    return sd


def control_lora_weights(seed: int, dims: dict | None = None, rank: int = LORA_RANK) -> dict[str, torch.Tensor]:
    """A control LoRA in the layout of spacepxl's released file (PEFT ``lora_A``/``lora_B``
    under ``diffusion_model.``): the patch embedding widened to twice the T2V input channels
    (noisy latents, then control latents) and every block's self-attention query."""
    c = dims or TRANSFORMER
    dim, channels = c["dim"], 2 * transformer_family("t2v").in_channels
    r, sd = _Random(seed), {}
    sd["diffusion_model.patch_embedding.lora_A.weight"] = r.linear(rank, channels, 1, 2, 2)
    sd["diffusion_model.patch_embedding.lora_B.weight"] = r.normal(dim, rank, 1, 1, 1, std=0.02)
    for i in range(c["layers"]):
        sd[f"diffusion_model.blocks.{i}.self_attn.q.lora_A.weight"] = r.linear(rank, dim)
        sd[f"diffusion_model.blocks.{i}.self_attn.q.lora_B.weight"] = r.normal(dim, rank, std=0.02)
    return sd


def master_weights(spec: TinySpec) -> dict[str, torch.Tensor]:
    """The float32 weights of a tiny file, in the file's own names, before its dtype is applied."""
    if spec.kind == "wan_transformer":
        return transformer_weights(spec.task, spec.seed)
    if spec.kind == "wan_vace_module":
        return vace_module_weights(spec.seed)
    if spec.kind == "wan_vae":
        return vae22_weights(spec.seed) if vae_family(spec.task).residual else vae_weights(spec.seed)
    if spec.kind == "umt5":
        sd = t5_weights(spec.seed)
        return sd if spec.layout == "original" else t5_to_transformers_names(sd)
    if spec.kind == "lora":
        return lora_weights(spec.seed)
    if spec.kind == "control_lora":
        return control_lora_weights(spec.seed)
    return clip_to_layout(clip_weights(spec.seed), spec.layout)


# --- precision and layout -------------------------------------------------------------

_FP8_ELIGIBLE = re.compile(
    r"blocks\.\d+\.(self_attn|cross_attn)\.(q|k|v|o|k_img|v_img)\.weight|blocks\.\d+\.ffn\.[02]\.weight"  # Wan
    r"|blocks\.\d+\.(attn\.[qkvo]|ffn\.(gate\.0|fc1|fc2))\.weight"  # Wan's T5
    r"|encoder\.block\.\d+\.layer\.\d\.(SelfAttention\.[qkvo]|DenseReluDense\.(wi_0|wi_1|wo))\.weight")  # transformers


def apply_precision(sd: dict[str, torch.Tensor], precision: str, rest: str = "bf16") -> dict[str, torch.Tensor]:
    """Cast as the real files are: fp8 files quantize the block linears only, and "scaled"
    ones store ``weight / scale`` with a per-tensor ``scale_weight`` and a ``scaled_fp8`` marker."""
    if precision in FLOATS:
        return {k: v.to(FLOATS[precision]) for k, v in sd.items()}
    if precision in COMFY_QUANT:
        return quantize_state(sd, COMFY_QUANT[precision], _FP8_ELIGIBLE, FLOATS[rest], keep=_MIXED_KEEP.search)[0]
    fp8_name = precision.removesuffix("_scaled")
    fp8, scaled = FP8[fp8_name], precision.endswith("_scaled")
    limit = torch.finfo(fp8).max
    out = {}
    for key, value in sd.items():
        if _FP8_ELIGIBLE.fullmatch(key):
            if scaled:
                scale = value.abs().max().float() / limit
                out[key] = (value / scale).clamp(-limit, limit).to(fp8)
                out[key.removesuffix("weight") + "scale_weight"] = scale.reshape(())
            else:
                out[key] = value.clamp(-limit, limit).to(fp8)
        else:
            out[key] = value.to(FLOATS[rest])
    if scaled:
        out["scaled_fp8"] = torch.empty(0, dtype=fp8)
    return out


#: ComfyUI's "mixed" files leave some block linears unquantized: the tiny ones keep block 1's.
_MIXED_KEEP = re.compile(r"(^|\.)blocks?\.1\.")


def file_tensors(spec: TinySpec) -> dict[str, torch.Tensor]:
    """Exactly what the tiny file holds: master weights, precision, prefix, extras."""
    sd = apply_precision(master_weights(spec), spec.precision, spec.rest)
    if spec.kind == "wan_transformer" and spec.layout == "comfyui":
        sd = {f"model.diffusion_model.{k}": v for k, v in sd.items()}
    if spec.kind == "umt5" and spec.layout == "transformers":
        sd["spiece_model"] = torch.frombuffer(bytearray(tiny_spiece_model()), dtype=torch.uint8)
    return sd


def file_metadata(spec: TinySpec) -> dict[str, str]:
    """Real files need no metadata but a family mark (Causal Forcing's ``config``); tiny ones
    also record what their shapes cannot say (head counts)."""
    meta = {"format": "pt", "wfrun.tiny": TINY_VERSION}
    if spec.kind == "wan_transformer":
        meta["wfrun.num_heads"] = str(TRANSFORMER["heads"])
        if "causal_ar" in transformer_family(spec.task).parts:  # the real repack's mark, as it writes it
            meta["config"] = json.dumps(CAUSAL_AR_CONFIG)
    if spec.kind == "clip_vision":
        meta["wfrun.num_heads"] = str(CLIP["heads"])
    if spec.precision in COMFY_QUANT:  # the layer list ComfyUI's releases repeat in the header
        layers = {k.removesuffix(".comfy_quant"): {"format": COMFY_QUANT[spec.precision]}
                  for k in file_tensors(spec) if k.endswith(".comfy_quant")}
        meta["_quantization_metadata"] = json.dumps({"layers": layers})
    return meta


def write_state(path: str | Path, state: dict[str, torch.Tensor], dtype: torch.dtype | None = None,
                metadata: dict[str, str] | None = None) -> Path:
    """A small state dict as a safetensors file (each tensor cast to ``dtype`` when given),
    written atomically into a folder made as needed: the common end of the tiny writers of
    the smaller model parts (FantasyTalking, MultiTalk, Uni3C, wav2vec 2.0, Mel-Band
    RoFormer)."""
    from safetensors.torch import save_file

    from wfrun.atomic import writing

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v if dtype is None else v.to(dtype)).contiguous() for k, v in state.items()}
    with writing(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def write_safetensors_streaming(path: str | Path, entries, metadata: dict[str, str] | None = None) -> Path:
    """Write a safetensors file one tensor at a time, so a file larger than RAM can be made.

    ``entries`` are ``(name, dtype, shape, make)`` with ``make()`` returning that tensor; only
    one of them exists in memory at a time (``safetensors.save_file`` needs them all).
    """
    import struct

    from wfrun.models.reader import DTYPE_NAMES

    entries = list(entries)
    header: dict = {}
    offset = 0
    for name, dtype, shape, _ in entries:
        nbytes = torch.empty((), dtype=dtype).element_size()
        for n in shape:
            nbytes *= n
        dtype_name = DTYPE_NAMES.get(dtype) or {torch.complex64: "C64"}[dtype]  # C64: SAM 3's rotary tables
        header[name] = {"dtype": dtype_name, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        for name, dtype, shape, make in entries:
            tensor = make()
            if tensor.dtype != dtype or tuple(tensor.shape) != tuple(shape):
                raise ValueError(f"{name}: made {tensor.dtype} {list(tensor.shape)}, declared {dtype} {list(shape)}")
            handle.write(memoryview(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return path


def write_file(spec: TinySpec, root: Path) -> Path:
    """One tiny file. Written by ``write_safetensors_streaming`` rather than safetensors'
    ``save_file``, whose metadata order varies from run to run: the bytes stay reproducible."""
    path = Path(root) / spec.folder / spec.name
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [(name, t.dtype, tuple(t.shape), lambda t=t: t) for name, t in file_tensors(spec).items()]
    return write_safetensors_streaming(path, entries, metadata=file_metadata(spec))


def write_wan_all_in_one(path: str | Path, task: str = "t2v") -> Path:
    """A tiny Wan all-in-one checkpoint as ComfyUI's CheckpointLoaderSimple reads one: the
    transformer under ``model.diffusion_model.``, the VAE under ``vae.``, UMT5 under
    ``text_encoders.umt5xxl.transformer.``, its tokenizer in a ``umt5-xxl`` folder beside the
    file (where the tokenizer search looks next to a text encoder). The VAE is the one of the
    transformer's latents (Wan 2.2's for the 48-channel 5B families)."""
    from wfrun.models.families import transformer_family

    family = transformer_family(task)
    vae = "wan2.2" if family is not None and family.vae == "wan2.2" else ""
    parts = {"model.diffusion_model.": TinySpec("x", "a", "wan_transformer", task, "original", "bf16"),
             "vae.": TinySpec("x", "b", "wan_vae", vae, "original", "bf16"),
             "text_encoders.umt5xxl.transformer.": TinySpec("x", "c", "umt5", "", "transformers", "bf16")}
    entries = [(prefix + name, t.dtype, tuple(t.shape), lambda t=t: t) for prefix, spec in parts.items()
               for name, t in file_tensors(spec).items() if name != "spiece_model"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors_streaming(path, entries, {"wfrun.num_heads": "2"})
    write_tokenizer(path.parent / "umt5-xxl")
    return path


# --- tokenizer ------------------------------------------------------------------------

_WORDS = ("a the red blue green small large fox dog cat bird river mountain city street camera slowly pans "
          "zooms across over under near at dawn dusk night light rain snow wind walks runs jumps flies "
          "sits video frame cinematic shot close wide of in on with and").split()


def tiny_spiece_model() -> bytes:
    """A sentencepiece model laid out like UMT5's (pad 0, eos 1, bos 2, unk 3), trained on the fly."""
    import random

    import sentencepiece as spm

    rng = random.Random(7)
    lines = [" ".join(rng.choice(_WORDS) for _ in range(10)) for _ in range(300)]
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buffer, vocab_size=96, model_type="unigram",
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, num_threads=1, character_coverage=1.0, hard_vocab_limit=False,
        minloglevel=2)
    return buffer.getvalue()


def write_tokenizer(folder: Path, *, tokenizer_json: bool = True) -> Path:
    """``spiece.model`` (and a ``tokenizer.json`` built from it) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_spiece_model()
    (folder / "spiece.model").write_bytes(model)
    if tokenizer_json:
        _spiece_to_tokenizer_json(model).save(str(folder / "tokenizer.json"))
    return folder


def _spiece_to_tokenizer_json(model: bytes):
    """A ``tokenizers`` Unigram tokenizer with the pieces and scores of a sentencepiece model."""
    import sentencepiece as spm
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    sp = spm.SentencePieceProcessor(model_proto=model)
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    tok = Tokenizer(Unigram(vocab, unk_id=sp.unk_id(), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    eos = sp.id_to_piece(sp.eos_id())
    tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", pair=f"$A {eos} $B {eos}",
                                                       special_tokens=[(eos, sp.eos_id())])
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(sp.id_to_piece(i), special=True) for i in (0, 1, 2, 3)])
    return tok


# --- the whole folder -----------------------------------------------------------------


def write_tiny_models(root: str | Path) -> Path:
    """Write every tiny file, the tokenizer and a ``manifest.json`` into ``root``."""
    root = Path(root)
    for spec in SPECS:
        write_file(spec, root)
    write_tokenizer(root / TOKENIZER_DIR)
    files = [{"path": s.relpath, "kind": s.kind, "task": s.task, "layout": s.layout, "precision": s.precision}
             for s in SPECS]
    files += _write_depth_models(root)
    files += _write_lineart_models(root)
    files += _write_pose_models(root)
    files += _write_inspyrenet_models(root)
    files += _write_hdemucs(root)
    manifest = {"version": TINY_VERSION, "files": files}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return root


#: Depth Anything V2 files of the Fun-control example, in both precisions it is saved with.
#: Unlike the other tiny files these keep the real names: the node offers a fixed list of
#: them (the pack downloads by name), so a ``_tiny`` name would not be a valid choice.
DEPTH_FILES = {"depth_anything_v2_vitl_fp32.safetensors": torch.float32,
               "depth_anything_v2_vitl_fp16.safetensors": torch.float16}


def _write_depth_models(root: Path) -> list[dict]:
    """The pack's depth estimator, which control workflows run before the video model; its
    model code lives in ``models/depth_anything`` and is only called here."""
    from wfrun.models.tiny_depth_anything import write_tiny_depth_anything

    out = []
    for name, dtype in DEPTH_FILES.items():
        path = write_tiny_depth_anything(root, name, dtype=dtype)
        out.append({"path": path.relative_to(root).as_posix(), "kind": "depth_anything_v2", "task": "",
                    "layout": "original", "precision": next(k for k, v in FLOATS.items() if v == dtype)})
    return out


#: comfyui_controlnet_aux's LineArtPreprocessor names no file: it always reads these two
#: (``models.lineart``), from ``<models>/controlnet_aux/``.
LINEART_FILES = ("controlnet_aux/sk_model.pth", "controlnet_aux/sk_model2.pth")


def _write_lineart_models(root: Path) -> list[dict]:
    from wfrun.models.lineart import write_tiny_lineart

    for seed, rel in enumerate(LINEART_FILES):
        write_tiny_lineart(root / rel, seed=seed)
    return [{"path": rel, "kind": "lineart", "task": "", "layout": "original", "precision": "fp32"}
            for rel in LINEART_FILES]


#: comfyui_controlnet_aux's DWPreprocessor offers a fixed list of ONNX models, read from
#: ``<models>/controlnet_aux/`` (``models.pose``); each name's tiny stand-in, with its input
#: size. TorchScript choices run their ONNX twins, so they need no file of their own.
POSE_FILES = {"controlnet_aux/yolox_l.onnx": None, "controlnet_aux/dw-ll_ucoco_384.onnx": (288, 384),
              "controlnet_aux/dw-ll_ucoco.onnx": (192, 256)}


def _write_pose_models(root: Path) -> list[dict]:
    from wfrun.models.pose.tiny import write_tiny_rtmpose, write_tiny_yolox

    out = []
    for seed, (rel, size) in enumerate(POSE_FILES.items()):
        if size is None:
            write_tiny_yolox(root / rel, seed=seed)
        else:
            write_tiny_rtmpose(root / rel, input_size=size, seed=seed)
        out.append({"path": rel, "kind": "yolox" if size is None else "rtmpose", "task": "", "layout": "onnx",
                    "precision": "fp32"})
    return out


def _write_inspyrenet_models(root: Path) -> list[dict]:
    """ComfyUI_essentials' TransparentBGSession+ names no file: each mode reads its fixed
    checkpoint from ``<models>/transparent-background/`` (``models.inspyrenet.files``)."""
    from wfrun.models.inspyrenet import MODES
    from wfrun.models.inspyrenet.files import FOLDER
    from wfrun.models.inspyrenet.tiny import write_tiny_inspyrenet

    out = []
    for seed, (name, _) in enumerate(MODES.values()):
        write_tiny_inspyrenet(root / FOLDER / name, seed=seed)
        out.append({"path": f"{FOLDER}/{name}", "kind": "inspyrenet", "task": "", "layout": "original",
                    "precision": "fp32"})
    return out


#: christian-byrne's AudioSeparation names no file: it runs torchaudio's Hybrid Demucs bundle,
#: which wfrun also reads from ``<models>/hdemucs/`` (``models.hdemucs``).
HDEMUCS_FILE = "hdemucs/hdemucs_high_trained.safetensors"


def _write_hdemucs(root: Path) -> list[dict]:
    from wfrun.models.hdemucs import write_tiny

    write_tiny(root / HDEMUCS_FILE)
    return [{"path": HDEMUCS_FILE, "kind": "hdemucs", "task": "", "layout": "original", "precision": "fp16"}]


def default_cache_root() -> Path:
    cache = os.environ.get("WFRUN_CACHE")
    return Path(cache) / "tiny-models" if cache else Path.home() / ".cache" / "wfrun" / "tiny-models"


def ensure_tiny_models(root: str | Path | None = None) -> Path:
    """The tiny models folder ``<root>/v<TINY_VERSION>``, written once and reused.

    A new set is written into a fresh temporary folder under ``root`` and renamed into its
    versioned place in one step, so a half-written set never has that name. wfrun deletes
    nothing it did not make: other versions and any files of the user's under ``root`` stay
    as they are, and a foreign folder holding the versioned name is refused, not replaced.
    """
    base = Path(root) if root is not None else default_cache_root()
    final = base / f"v{TINY_VERSION}"

    def complete() -> bool:
        try:
            return json.loads((final / "manifest.json").read_text(encoding="utf-8")).get("version") == TINY_VERSION
        except (OSError, ValueError, AttributeError):
            return False

    if complete():
        return final
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".v{TINY_VERSION}-", suffix=".partial", dir=base))
    try:
        write_tiny_models(staging)
        os.chmod(staging, 0o755)  # mkdtemp's folder is private; the set is not
        try:
            os.rename(staging, final)  # replaces an empty folder, never one holding files
        except OSError as err:
            if not complete():  # nor did another process just finish the same set
                raise OSError(err.errno, f"{err.strerror}: it is not a complete set of wfrun's tiny models "
                              f"v{TINY_VERSION}, and wfrun never deletes what it did not make; move it away",
                              str(final)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # our own temporary folder, if still there
    return final
