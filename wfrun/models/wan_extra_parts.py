"""The parts some Wan transformers carry that diffusers' ``WanTransformer3DModel`` has no
module for, built beside it so one loader fills every weight of the file.

- ``ref_conv`` (Wan 2.2 Fun Control, Wan 2.1 Fun 1.1): a 2-D patch embedding of the
  reference image's latent (``Conv2d(latent channels, dim, 2x2, stride 2x2)``); its tokens
  go in front of the video's (ComfyUI ``WanModel.ref_conv``, VideoX-Fun's
  ``WanTransformer3DModel``).
- ``control_adapter`` (Fun Camera): :class:`CameraAdapter`, ComfyUI's ``WanCamAdapter``
  layout — the Plücker rays of each latent frame pixel-unshuffled by the VAE stride, a
  patch convolution to the model width, then residual 3x3 blocks; its output is added to
  the patch embedding.
- ``fps_embedding`` + ``fps_projection`` (SkyReels-V2 DF 1.3B, ``inject_sample_info``): an
  ``Embedding(2, dim)`` ("16 fps" or not) and ``Linear → SiLU → Linear`` to six modulation
  vectors, added to the time projection by the diffusion-forcing sampler
  (:func:`wfrun.sampling.diffusion_forcing.sample_info`); SkyReels-V2's ``WanModel`` and
  diffusers' ``SkyReelsV2Transformer3DModel`` have the same layers.

- ``cam_encoder`` + ``projector`` in every block (ReCamMaster): ``Linear(12, dim)`` from a
  latent frame's relative camera pose (3x4) and ``Linear(dim, dim)`` after the
  self-attention; :mod:`wfrun.sampling.recammaster` puts them to work.

- Wan 2.2 S2V's audio, motion and reference parts: :mod:`wfrun.models.s2v_parts`
  (attached from here too).
- HuMo's audio projection and per-block audio attention: :mod:`wfrun.models.humo_parts`
  (attached from here too).
- ``no_text`` (MiniMax-Remover): not a part but parts taken out — the text embedding and
  every block's cross-attention (:mod:`wfrun.models.no_text`).

They are attached as ordinary submodules under the names the files use, so device moves,
dtype casts and hooks treat them like the rest of the model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from wfrun.models import humo_parts, no_text, s2v_parts

#: The Plücker embedding's numbers per pixel (ComfyUI ``in_dim_control_adapter``).
CAMERA_CHANNELS = 24


class _Residual(nn.Module):
    """conv → ReLU → conv, plus the input (``WanCamResidualBlock``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class CameraAdapter(nn.Module):
    """Fun Camera's adapter: ``[B, 24, F, H, W]`` rays (pixel resolution, one set per latent
    frame) → ``[B, dim, F, H / (s·p), W / (s·p)]`` (s: VAE stride, p: patch), the shape of
    the patch embedding it is added to."""

    def __init__(self, in_channels: int, dim: int, patch: tuple[int, int], downscale: int, residual_blocks: int):
        super().__init__()
        self.pixel_unshuffle = nn.PixelUnshuffle(downscale)
        self.conv = nn.Conv2d(in_channels * downscale * downscale, dim, kernel_size=patch, stride=patch)
        self.residual_blocks = nn.Sequential(*[_Residual(dim) for _ in range(residual_blocks)])

    def forward(self, rays: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = rays.shape
        x = rays.movedim(2, 1).reshape(b * f, c, h, w).to(self.conv.weight.dtype)
        x = self.residual_blocks(self.conv(self.pixel_unshuffle(x)))
        return x.reshape(b, f, *x.shape[1:]).movedim(1, 2)


def extra_parts(config: dict[str, Any]) -> dict[str, Any]:
    """What :func:`attach` needs from a detected transformer config (``models.detect``)."""
    out: dict[str, Any] = {}
    if config.get("ref_in_dim"):
        out["ref_in_dim"] = int(config["ref_in_dim"])
    if config.get("camera_in_dim"):
        folded = int(config["camera_in_dim"])
        downscale = math.isqrt(folded // CAMERA_CHANNELS)
        if downscale * downscale * CAMERA_CHANNELS != folded:
            raise ValueError(f"camera adapter with {folded} input channels is not {CAMERA_CHANNELS} rays "
                             "folded by a square stride")
        out["camera"] = {"downscale": downscale, "residual_blocks": int(config.get("camera_residual_blocks") or 0)}
    if config.get("fps_embedding"):
        out["fps"] = True
    if config.get("recam_in_dim"):
        out["recam_in_dim"] = int(config["recam_in_dim"])
    if config.get("no_text"):
        out["no_text"] = True
    out.update(s2v_parts.extra_parts(dict(config)))
    out.update(humo_parts.extra_parts(dict(config)))
    return out


def attach(model: nn.Module, parts: dict[str, Any]) -> nn.Module:
    """Add ``ref_conv`` / ``control_adapter`` to a diffusers Wan transformer (on whatever
    device the caller builds it, ``meta`` included)."""
    dim = int(model.config.num_attention_heads * model.config.attention_head_dim)
    patch = tuple(int(p) for p in model.config.patch_size[1:])
    if "ref_in_dim" in parts:
        model.ref_conv = nn.Conv2d(parts["ref_in_dim"], dim, kernel_size=patch, stride=patch)
    if "camera" in parts:
        cam = parts["camera"]
        model.control_adapter = CameraAdapter(CAMERA_CHANNELS, dim, patch, cam["downscale"], cam["residual_blocks"])
    if parts.get("recam_in_dim"):
        for block in model.blocks:
            block.cam_encoder = nn.Linear(parts["recam_in_dim"], dim)
            block.projector = nn.Linear(dim, dim)
    if parts.get("fps"):
        model.fps_embedding = nn.Embedding(2, dim)
        model.fps_projection = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 6 * dim))
    if parts.get("no_text"):
        no_text.strip_text(model)
    return humo_parts.attach(s2v_parts.attach(model, parts), parts)


#: Top-level names of these parts in original Wan files, kept as they are by the key renames.
PART_PREFIXES = (("ref_conv.", "control_adapter.", "fps_embedding.", "fps_projection.") + s2v_parts.PART_PREFIXES
                 + humo_parts.PART_PREFIXES)
