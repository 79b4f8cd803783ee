"""Wan VAEs: original key names (Kijai's and ComfyUI's files alike) → diffusers AutoencoderKLWan.

Wan's encoder keeps its residual blocks and resamplers in one flat ``downsamples`` list, and
diffusers keeps the same flat order in ``down_blocks``, so only the inner names change.
The decoder's flat ``upsamples`` list is grouped by diffusers into stages of
``num_res_blocks + 1`` residual blocks followed by one upsampler (none after the last
stage). A residual block is ``Sequential(RMS_norm, SiLU, conv, RMS_norm, SiLU, Dropout,
conv)``, hence indices 0, 2, 3 and 6.

The Wan 2.2 VAE nests instead: ``encoder.downsamples.<stage>.downsamples.<i>`` are a
stage's residual blocks and then its resampler, which diffusers (``is_residual=True``) keeps
as ``down_blocks.<stage>.resnets.<i>`` and ``down_blocks.<stage>.downsampler``; the decoder's
``upsamples.<stage>.upsamples.<i>`` likewise become ``up_blocks.<stage>.resnets.<i>`` and
``.upsampler``. Its averaging shortcuts have no parameters. The latent statistics of both
come from their family's latent format (``models.families.latent_formats``).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from wfrun.models.detect import ModelInfo
from wfrun.models.families import vae_family
from wfrun.models.header import CheckpointError
from wfrun.models.mapping import UNKNOWN, bundled_config

LABEL = "a diffusers AutoencoderKLWan"

_RESIDUAL = {"residual.0": "norm1", "residual.2": "conv1", "residual.3": "norm2", "residual.6": "conv2",
             "shortcut": "conv_shortcut"}
_SIMPLE = {
    "encoder.conv1": "encoder.conv_in", "decoder.conv1": "decoder.conv_in",
    "conv1": "quant_conv", "conv2": "post_quant_conv",
    "encoder.head.0": "encoder.norm_out", "encoder.head.2": "encoder.conv_out",
    "decoder.head.0": "decoder.norm_out", "decoder.head.2": "decoder.conv_out",
}
_LEAF = re.compile(r"(.+)\.(weight|bias|gamma)$")


def _inner(rest: str) -> str | None:
    """Names inside one residual block, attention block or resampler."""
    for old, new in _RESIDUAL.items():
        if rest == old or rest.startswith(old + "."):
            return new + rest[len(old):]
    if rest.split(".")[0] in ("resample", "time_conv", "norm", "to_qkv", "proj"):
        return rest
    return None


def _rename_shared(module: str, leaf: str) -> Any:
    """The names both Wan VAE layouts share: the top-level convs and the middle block
    (resnet, attention, resnet); None for a key of the stages, which differ."""
    if module in _SIMPLE:
        return f"{_SIMPLE[module]}.{leaf}"
    if m := re.fullmatch(r"(encoder|decoder)\.middle\.(\d)\.(.+)", module):
        part, index, rest = m.group(1), int(m.group(2)), m.group(3)
        where = "attentions.0" if index == 1 else f"resnets.{index // 2}"
        inner = _inner(rest)
        return f"{part}.mid_block.{where}.{inner}.{leaf}" if inner else UNKNOWN
    return None


def _rename_residual(key: str) -> Any:
    """One Wan 2.2 VAE key → its diffusers name (``is_residual=True``)."""
    m = _LEAF.fullmatch(key)
    if not m:
        return UNKNOWN
    module, leaf = m.groups()
    shared = _rename_shared(module, leaf)
    if shared is not None:
        return shared
    if m2 := re.fullmatch(r"(encoder|decoder)\.(down|up)samples\.(\d+)\.(?:down|up)samples\.(\d+)\.(.+)", module):
        part, way, stage, index, rest = m2.groups()
        inner = _inner(rest)
        if not inner:
            return UNKNOWN
        if rest.split(".")[0] in ("resample", "time_conv"):
            return f"{part}.{way}_blocks.{stage}.{way}sampler.{inner}.{leaf}"
        return f"{part}.{way}_blocks.{stage}.resnets.{index}.{inner}.{leaf}"
    return UNKNOWN


def rename_for(info: ModelInfo, keys=()) -> Callable[[str], Any]:
    family = vae_family(info.variant)
    if family is not None and family.residual:
        return _rename_residual
    per_stage = info.config["num_res_blocks"] + 2  # residual blocks + 1, then one upsampler

    def rename(key: str) -> Any:
        m = _LEAF.fullmatch(key)
        if not m:
            return UNKNOWN
        module, leaf = m.groups()
        shared = _rename_shared(module, leaf)
        if shared is not None:
            return shared
        if m2 := re.fullmatch(r"encoder\.downsamples\.(\d+)\.(.+)", module):
            inner = _inner(m2.group(2))
            return f"encoder.down_blocks.{m2.group(1)}.{inner}.{leaf}" if inner else UNKNOWN
        if m2 := re.fullmatch(r"decoder\.upsamples\.(\d+)\.(.+)", module):
            stage, slot = divmod(int(m2.group(1)), per_stage)
            inner = _inner(m2.group(2))
            if not inner:
                return UNKNOWN
            where = "upsamplers.0" if slot == per_stage - 1 else f"resnets.{slot}"
            return f"decoder.up_blocks.{stage}.{where}.{inner}.{leaf}"
        return UNKNOWN

    return rename


def diffusers_config(info: ModelInfo) -> dict[str, Any]:
    """The AutoencoderKLWan config for this file: its family's bundled structure and latent
    statistics, with the dimensions read from the file."""
    c = info.config
    family = vae_family(info.variant)
    if family is None:
        raise CheckpointError(f"{info.path}: is no Wan VAE wfrun knows ({info.variant})")
    if c["z_dim"] != family.latent_channels:
        raise CheckpointError(
            f"{info.path}: has {c['z_dim']} latent channels; the {family.label} has {family.latent_channels}")
    config = bundled_config(family.config_file)
    config.update(base_dim=c["dim"], z_dim=c["z_dim"], dim_mult=list(c["dim_mult"]),
                  num_res_blocks=c["num_res_blocks"], temperal_downsample=list(c["temperal_downsample"]),
                  latents_mean=list(family.latent_format.mean), latents_std=list(family.latent_format.std))
    if family.residual:
        config.update(decoder_base_dim=c["decoder_dim"], is_residual=True, in_channels=family.coded_channels,
                      out_channels=family.coded_channels, patch_size=family.patch_size,
                      scale_factor_temporal=family.stride[0], scale_factor_spatial=family.stride[1])
        if (c["in_channels"], c["out_channels"]) != (family.coded_channels, family.coded_channels):
            raise CheckpointError(f"{info.path}: codes {c['in_channels']} channels; the {family.label} codes "
                                  f"{family.coded_channels} (RGB in {family.patch_size}x{family.patch_size} blocks)")
    return config


def build(config: dict[str, Any]):
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(**config)
