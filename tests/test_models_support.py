"""Shared helpers of the tests/test_models_*.py files (this module holds no tests).

The tiny checkpoints are written once per test session (``tiny_models``), into a temporary
folder laid out like ComfyUI's models folder. The reference modules here are built the
way a diffusers/transformers user would build them by hand: the library class from an
explicit config written out below, and ``load_state_dict`` of the file's tensors renamed
by diffusers' own single-file converters or by the independent tables in this file, never
by wfrun's converters. Where the compute dtype is not fp32, the reference goes through the
library's ``save_pretrained``/``from_pretrained``, so it carries the library's own rules for
which layers stay in fp32.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

_ROOT: Path | None = None


def tiny_models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny models folder of this test session (written on first use)."""
    global _ROOT
    if _ROOT is None:
        from wfrun.models.tiny import write_tiny_models

        _ROOT = write_tiny_models(tmp_path_factory.mktemp("tiny-models"))
    return _ROOT


# --- reading a file the plain way -------------------------------------------------------

SCALED_SUFFIX = ".scale_weight"


def plain_fp32_state_dict(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """All weights of a file in fp32, fp8 "scaled" weights multiplied by their scales,
    markers, scales and ``spiece_model`` dropped, ``prefix`` removed."""
    from safetensors.torch import load_file

    raw = load_file(str(path))
    scales = {k[: -len(SCALED_SUFFIX)] + ".weight": v.float() for k, v in raw.items() if k.endswith(SCALED_SUFFIX)}
    out = {}
    for key, value in raw.items():
        if key.endswith((SCALED_SUFFIX, "scaled_fp8")) or key == "spiece_model":
            continue
        value = value.float()
        if key in scales:
            value = value * scales[key]
        out[key.removeprefix(prefix)] = value
    return out


def through_pretrained(model, cls, dtype: torch.dtype, tmp: Path, **kwargs):
    """``model`` (fp32) as the library itself gives it at ``dtype`` (its fp32-kept layers kept)."""
    if dtype == torch.float32:
        return model.eval()
    model.save_pretrained(tmp)
    key = "torch_dtype" if "diffusers" in cls.__module__ else "dtype"
    return cls.from_pretrained(tmp, **{key: dtype}, **kwargs).eval()


# --- Wan transformer -------------------------------------------------------------------

# Written from the published configs (Wan-AI/*-Diffusers, DiffSynth-Studio's table), not from
# wfrun's family registry: input channels, output channels, and which tasks carry a CLIP projection.
IN_CHANNELS = {"t2v": 16, "i2v": 36, "flf2v": 36, "fun-inp": 36, "fun-control": 48, "t2v-a14b": 16, "i2v-a14b": 36,
               "fun-inp-a14b": 36, "ti2v-5b": 48, "fun-inp-5b": 100, "vace": 16}
OUT_CHANNELS = {"ti2v-5b": 48, "fun-inp-5b": 48}
IMAGE_TASKS = {"i2v", "flf2v", "fun-inp", "fun-control"}


def transformer_config(task: str) -> dict:
    """The tiny transformer's diffusers config, written out by hand (2 heads of 16)."""
    image = task in IMAGE_TASKS
    config = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=IN_CHANNELS[task],
                  out_channels=OUT_CHANNELS.get(task, 16), text_dim=32, freq_dim=16, ffn_dim=64, num_layers=2,
                  cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=32 if image else None,
                  added_kv_proj_dim=32 if image else None, rope_max_seq_len=1024,
                  pos_embed_seq_len=10 if task == "flf2v" else None)
    if task == "vace":  # two VACE blocks for the two blocks; 96 context channels
        config.update(vace_layers=[0, 1], vace_in_channels=96)
    return config


def reference_transformer(path: Path, task: str, dtype: torch.dtype, tmp: Path):
    from diffusers import WanTransformer3DModel, WanVACETransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    sd = plain_fp32_state_dict(path, "model.diffusion_model.")
    emb_pos = sd.pop("img_emb.emb_pos", None)  # diffusers 0.42.1's converter leaves it unmapped
    converted = convert_wan_transformer_to_diffusers(sd)
    if emb_pos is not None:
        converted["condition_embedder.image_embedder.pos_embed"] = emb_pos
    cls = WanVACETransformer3DModel if task == "vace" else WanTransformer3DModel
    model = cls(**transformer_config(task))
    model.load_state_dict(converted, strict=True)
    return through_pretrained(model, cls, dtype, tmp)


def transformer_inputs(task: str, dtype: torch.dtype, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    inputs = {
        "hidden_states": torch.randn(1, IN_CHANNELS[task], 2, 4, 6, generator=gen).to(dtype),
        "timestep": torch.tensor([637.0]),
        "encoder_hidden_states": torch.randn(1, 7, 32, generator=gen).to(dtype),
        "return_dict": False,
    }
    if task in IMAGE_TASKS:
        images = 2 if task == "flf2v" else 1  # first and last frame, stacked, for FLF2V
        inputs["encoder_hidden_states_image"] = torch.randn(images, 5, 32, generator=gen).to(dtype)
    if task == "vace":
        inputs["control_hidden_states"] = torch.randn(1, 96, 2, 4, 6, generator=gen).to(dtype)
    return inputs


# --- Wan VAE ----------------------------------------------------------------------------

VAE_CONFIG = dict(base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                  temperal_downsample=[False, True, True], dropout=0.0)
#: The tiny Wan 2.2 VAE, as Wan-AI/Wan2.2-TI2V-5B-Diffusers' config with the tiny widths.
VAE22_CONFIG = dict(base_dim=2, decoder_base_dim=4, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                    temperal_downsample=[False, True, True], dropout=0.0, is_residual=True, in_channels=12,
                    out_channels=12, patch_size=2, scale_factor_temporal=4, scale_factor_spatial=16)


def reference_vae(path: Path, dtype: torch.dtype, tmp: Path):
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    model = AutoencoderKLWan(**VAE_CONFIG)
    model.load_state_dict(convert_wan_vae_to_diffusers(plain_fp32_state_dict(path)), strict=True)
    return through_pretrained(model, AutoencoderKLWan, dtype, tmp)


def wan22_vae_to_diffusers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The Wan 2.2 VAE's original names → diffusers', by the rules of diffusers' own
    ``scripts/convert_wan_to_diffusers.py`` (``convert_vae_22``): the 2.1 renames of the
    middle, head and quant convs, then ``downsamples.S.downsamples.I`` → ``down_blocks.S.resnets.I``
    for residual blocks and ``down_blocks.S.downsampler`` for the resampler (``up`` alike).
    (diffusers 0.42.1's single-file converter knows the Wan 2.1 layout only.)"""
    fixed = {"conv1": "quant_conv", "conv2": "post_quant_conv", "encoder.conv1": "encoder.conv_in",
             "decoder.conv1": "decoder.conv_in", "encoder.head.0": "encoder.norm_out",
             "encoder.head.2": "encoder.conv_out", "decoder.head.0": "decoder.norm_out",
             "decoder.head.2": "decoder.conv_out"}
    residual = {".residual.0.": ".norm1.", ".residual.2.": ".conv1.", ".residual.3.": ".norm2.",
                ".residual.6.": ".conv2.", ".shortcut.": ".conv_shortcut."}
    out = {}
    for key, value in sd.items():
        module, _, leaf = key.rpartition(".")
        if module in fixed:
            out[f"{fixed[module]}.{leaf}"] = value
            continue
        new = key
        for part in ("encoder", "decoder"):
            for i, where in ((0, "resnets.0"), (1, "attentions.0"), (2, "resnets.1")):
                new = new.replace(f"{part}.middle.{i}.", f"{part}.mid_block.{where}.")
        new = new.replace("encoder.downsamples.", "encoder.down_blocks.").replace("decoder.upsamples.",
                                                                                  "decoder.up_blocks.")
        parts = new.split(".")
        if len(parts) > 4 and parts[3] in ("downsamples", "upsamples"):
            if parts[5] in ("resample", "time_conv"):
                parts = parts[:3] + [parts[3][:-len("samples")] + "sampler"] + parts[5:]
            else:
                parts[3] = "resnets"
        new = ".".join(parts)
        for old, repl in residual.items():
            new = new.replace(old, repl)
        out[new] = value
    return out


def reference_vae22(path: Path, dtype: torch.dtype, tmp: Path):
    from diffusers import AutoencoderKLWan

    model = AutoencoderKLWan(**VAE22_CONFIG)
    model.load_state_dict(wan22_vae_to_diffusers(plain_fp32_state_dict(path)), strict=True)
    return through_pretrained(model, AutoencoderKLWan, dtype, tmp)


# --- UMT5 -------------------------------------------------------------------------------

def wan_t5_name(name: str) -> str:
    """The tensor of Wan's ``T5Encoder`` (Kijai's files) that fills transformers' UMT5 ``name``.

    Written from the two model definitions, keyed by transformers' own parameter names (the
    tests list them from a fresh ``UMT5EncoderModel``), never from wfrun's table:

    - the token embedding is ``shared`` (and the encoder's tied ``embed_tokens``);
    - each Wan block is norm → attention (with its own relative position table) → norm →
      FFN, as each UMT5 block's ``layer.0`` (T5LayerSelfAttention) and ``layer.1`` (T5LayerFF);
    - Wan's FFN is ``fc2(fc1(x) * gelu(gate(x)))`` and transformers' gated-gelu
      ``wo(gelu(wi_0(x)) * wi_1(x))``: the gelu branch ``wi_0`` is ``gate.0``, the linear one
      ``wi_1`` is ``fc1`` (``test_t5_ffn_gate_is_the_gelu_branch`` checks it numerically).
    """
    if name in ("shared.weight", "encoder.embed_tokens.weight"):
        return "token_embedding.weight"
    if name == "encoder.final_layer_norm.weight":
        return "norm.weight"
    m = re.fullmatch(r"encoder\.block\.(\d+)\.layer\.([01])\.(.+)\.weight", name)
    if m is None:
        raise KeyError(name)
    block, sub, module = m.groups()
    if module == "layer_norm":
        wan = "norm1" if sub == "0" else "norm2"
    elif module == "SelfAttention.relative_attention_bias":
        wan = "pos_embedding.embedding"
    elif module.startswith("SelfAttention."):
        wan = "attn." + module.rsplit(".", 1)[1]  # q, k, v, o keep their letters
    else:
        wan = {"DenseReluDense.wi_0": "ffn.gate.0", "DenseReluDense.wi_1": "ffn.fc1",
               "DenseReluDense.wo": "ffn.fc2"}[module]
    return f"blocks.{block}.{wan}.weight"


def umt5_parameter_names() -> list[str]:
    """transformers' names for a UMT5 encoder of the tiny files' size."""
    from transformers import UMT5EncoderModel

    with torch.device("meta"):
        return list(UMT5EncoderModel(t5_config()).state_dict())


def t5_config():
    from transformers import UMT5Config

    return UMT5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                      relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
                      layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", is_encoder_decoder=True,
                      tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def reference_t5(path: Path, dtype: torch.dtype, tmp: Path):
    from transformers import UMT5EncoderModel

    sd = plain_fp32_state_dict(path)
    wan_layout = "token_embedding.weight" in sd
    converted = {}
    for name in umt5_parameter_names():
        source = wan_t5_name(name) if wan_layout else name
        if source not in sd and name == "encoder.embed_tokens.weight":
            source = "shared.weight"  # ComfyUI's files keep one copy of the tied embedding
        converted[name] = sd[source]
    model = UMT5EncoderModel(t5_config())
    model.load_state_dict(converted, strict=True)
    return through_pretrained(model, UMT5EncoderModel, dtype, tmp)


# --- CLIP vision ----------------------------------------------------------------------

def clip_config():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                            image_size=28, patch_size=14, projection_dim=16, hidden_act="gelu",
                            layer_norm_eps=1e-5, num_channels=3)


_WAN_CLIP_LAYER = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.proj": "self_attn.out_proj",
                   "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"}
_OPEN_CLIP_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
                    "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
_CLIP_LAYER = {**_WAN_CLIP_LAYER, **_OPEN_CLIP_LAYER}


def reference_clip(path: Path, dtype: torch.dtype, tmp: Path):
    """CLIPVisionModelWithProjection from Wan's, open_clip's or transformers' names."""
    from transformers import CLIPVisionModelWithProjection

    sd = plain_fp32_state_dict(path)
    out: dict[str, torch.Tensor] = {}
    emb, layers = "vision_model.embeddings.", "vision_model.encoder.layers."
    for key, value in sd.items():
        if key.startswith(("vision_model.", "visual_projection.")):
            out[key] = value
            continue
        m = (re.fullmatch(r"visual\.transformer\.(\d+)\.(.+)\.(weight|bias)", key)
             or re.fullmatch(r"visual\.transformer\.resblocks\.(\d+)\.(.+?)\.?(weight|bias)", key))
        if m:
            layer, module, leaf = m.groups()
            if module in ("attn.to_qkv", "attn.in_proj_", "attn.in_proj"):
                for name, part in zip("qkv", value.chunk(3)):
                    out[f"{layers}{layer}.self_attn.{name}_proj.{leaf}"] = part
            else:
                out[f"{layers}{layer}.{_CLIP_LAYER[module]}.{leaf}"] = value
            continue
        simple = {
            "visual.patch_embedding.weight": f"{emb}patch_embedding.weight",
            "visual.conv1.weight": f"{emb}patch_embedding.weight",
            "visual.pre_norm.weight": "vision_model.pre_layrnorm.weight",
            "visual.pre_norm.bias": "vision_model.pre_layrnorm.bias",
            "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
            "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
            "visual.post_norm.weight": "vision_model.post_layernorm.weight",
            "visual.post_norm.bias": "vision_model.post_layernorm.bias",
            "visual.ln_post.weight": "vision_model.post_layernorm.weight",
            "visual.ln_post.bias": "vision_model.post_layernorm.bias",
        }
        if key in simple:
            out[simple[key]] = value
        elif key in ("visual.cls_embedding", "visual.class_embedding"):
            out[f"{emb}class_embedding"] = value.reshape(-1)
        elif key in ("visual.pos_embedding", "visual.positional_embedding"):
            out[f"{emb}position_embedding.weight"] = value.reshape(-1, value.shape[-1])
        elif key in ("visual.head", "visual.proj"):
            out["visual_projection.weight"] = value.t()
        elif key in ("log_scale", "logit_scale"):
            continue
        else:
            raise AssertionError(f"unexpected key in a CLIP vision file: {key}")
    model = CLIPVisionModelWithProjection(clip_config())
    model.load_state_dict(out, strict=False)
    missing = {k for k in model.state_dict() if k not in out and not k.endswith("position_ids")}
    assert not missing, missing
    return through_pretrained(model, CLIPVisionModelWithProjection, dtype, tmp)
