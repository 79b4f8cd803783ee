"""InSPyReNet's parts after the backbone: context modules, the pyramid decoder, the
scale-invariant context attention (SICA) and the Laplacian image pyramid.

Kim et al., "Revisiting Image Pyramid Structure for High Resolution Salient Object
Detection" (ACCV 2022). What matters for matching the released network number for number:

- every convolution is bias-free and "same"-padded (dilation included), followed by an
  eval-mode BatchNorm, except the decoder's last one (no norm); some add a ReLU;
- the axial self-attention (``SelfAttention``, modes 'h' and 'w') does *not* attend along
  an image axis: it reshapes the channel-first map in memory order into rows of H (or W)
  values and attends between those row positions; ``gamma`` scales the result added back;
- SICA pools features into a few context vectors with the soft fore/back/uncertain maps of
  the coarser saliency (and Laplacian) prediction, at the stage's size fixed by the model's
  base size (1024 or 384 pixels halved per stage); here too the features are reshaped in
  memory order ([b, c, h, w] read as [b, h*w, c]), which is what the weights were trained with;
- the pyramid's Gaussian is 7x7 with sigma 1 (OpenCV's kernel: sampled, normalised to 1);
  expanding puts each value at the top-left of a 2x2 cell, reflect-pads and convolves with
  four times the kernel; reconstructing adds the Laplacian, resized (bilinear, corners
  aligned) to the expanded size.

Module names follow the released key layout (``context3.branch2.Hattn.query_conv.bn.weight``,
``attention1.conv_query.0.conv.weight``, ``decoder.conv5.conv.weight``, …).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ConvBN(nn.Module):
    """Bias-free "same" convolution, BatchNorm (unless ``bn=False``), optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], dilation: int = 1,
                 bn: bool = True, relu: bool = False):
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
        self.conv = nn.Conv2d(cin, cout, (kh, kw), padding=pad, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class AxialAttention(nn.Module):
    """``SelfAttention`` of the release (see the module docstring for what 'axial' means)."""

    def __init__(self, channels: int, axis: str):
        super().__init__()
        self.axis = axis
        self.query_conv = ConvBN(channels, channels // 8, 1)
        self.key_conv = ConvBN(channels, channels // 8, 1)
        self.value_conv = ConvBN(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h if self.axis == "h" else w
        q = self.query_conv(x).reshape(b, -1, n)
        k = self.key_conv(x).reshape(b, -1, n)
        v = self.value_conv(x).reshape(b, -1, n)
        weights = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # [b, n, n]
        return self.gamma * (v @ weights.transpose(1, 2)).reshape(b, c, h, w) + x


class PyramidKernel(nn.Module):
    """``PAA_kernel``: 1x1, 1xr, rx1, the two axial attentions summed, a 3x3 dilated by r."""

    def __init__(self, cin: int, cout: int, r: int):
        super().__init__()
        self.conv0 = ConvBN(cin, cout, 1)
        self.conv1 = ConvBN(cout, cout, (1, r))
        self.conv2 = ConvBN(cout, cout, (r, 1))
        self.conv3 = ConvBN(cout, cout, 3, dilation=r)
        self.Hattn = AxialAttention(cout, "h")
        self.Wattn = AxialAttention(cout, "w")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(self.conv0(x)))
        return self.conv3(self.Hattn(x) + self.Wattn(x))


class ContextModule(nn.Module):
    """``PAA_e``: a 1x1 branch and three pyramid kernels (r = 3, 5, 7), fused by a 3x3,
    plus a 1x1 residual, then ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.branch0 = ConvBN(cin, cout, 1)
        self.branch1 = PyramidKernel(cin, cout, 3)
        self.branch2 = PyramidKernel(cin, cout, 5)
        self.branch3 = PyramidKernel(cin, cout, 7)
        self.conv_cat = ConvBN(4 * cout, cout, 3)
        self.conv_res = ConvBN(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        return F.relu(self.conv_cat(torch.cat(branches, dim=1)) + self.conv_res(x))


class PyramidDecoder(nn.Module):
    """``PAA_d``: the three deepest context maps brought to the finest of them (bilinear,
    corners aligned), concatenated deepest first; returns (features, saliency logits)."""

    def __init__(self, cin: int, depth: int):
        super().__init__()
        self.conv1 = ConvBN(cin, depth, 3)
        self.conv2 = ConvBN(depth, depth, 3)
        self.conv3 = ConvBN(depth, depth, 3)
        self.conv4 = ConvBN(depth, depth, 3)
        self.conv5 = ConvBN(depth, 1, 3, bn=False)
        self.Hattn = AxialAttention(depth, "h")
        self.Wattn = AxialAttention(depth, "w")

    def forward(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        size = maps[0].shape[-2:]
        resized = [maps[0]] + [F.interpolate(m, size=size, mode="bilinear", align_corners=True) for m in maps[1:]]
        x = self.conv1(torch.cat(resized[::-1], dim=1))
        x = self.conv4(self.conv3(self.conv2(self.Hattn(x) + self.Wattn(x))))
        return x, self.conv5(x)


class ContextAttention(nn.Module):
    """SICA: refines features with attention to context vectors pooled by the soft regions of
    the coarser prediction; returns (features, Laplacian logits of this level)."""

    def __init__(self, cin: int, depth: int, stage_size: tuple[int, int], with_laplacian: bool):
        super().__init__()
        self.depth = depth
        self.stage_size = stage_size
        self.with_laplacian = with_laplacian
        self.conv_query = nn.Sequential(ConvBN(cin, depth, 3, relu=True), ConvBN(depth, depth, 3, relu=True))
        self.conv_key = nn.Sequential(ConvBN(cin, depth, 1, relu=True), ConvBN(depth, depth, 1, relu=True))
        self.conv_value = nn.Sequential(ConvBN(cin, depth, 1, relu=True), ConvBN(depth, depth, 1, relu=True))
        self.conv_out1 = ConvBN(depth, depth, 3, relu=True)
        self.conv_out2 = ConvBN(cin + depth, depth, 3, relu=True)
        self.conv_out3 = ConvBN(depth, depth, 3, relu=True)
        self.conv_out4 = ConvBN(depth, 1, 1)
        self.threshold = nn.Parameter(torch.tensor([0.5]))
        if with_laplacian:
            self.lthreshold = nn.Parameter(torch.tensor([0.5]))

    @staticmethod
    def _regions(logits: torch.Tensor, size, threshold: torch.Tensor, uncertain: bool) -> list[torch.Tensor]:
        p = torch.sigmoid(F.interpolate(logits, size=size, mode="bilinear", align_corners=False)) - threshold
        regions = [p.clamp(0, 1), (-p).clamp(0, 1)]
        return regions + [threshold - p.abs()] if uncertain else regions

    def forward(self, x: torch.Tensor, saliency: torch.Tensor,
                laplacian: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = x.shape
        regions = self._regions(saliency, (h, w), self.threshold, True)
        if self.with_laplacian:
            regions += self._regions(laplacian, (h, w), self.lthreshold, False)
        prob = torch.cat(regions, dim=1)
        n = self.stage_size[0] * self.stage_size[1]
        feats = F.interpolate(x, size=self.stage_size, mode="bilinear", align_corners=False).reshape(b, n, -1)
        prob = F.interpolate(prob, size=self.stage_size, mode="bilinear", align_corners=False).reshape(b, len(regions), n)
        context = (prob @ feats).transpose(1, 2).unsqueeze(3)  # [b, c, regions, 1]
        query = self.conv_query(x).reshape(b, self.depth, -1).transpose(1, 2)
        key = self.conv_key(context).reshape(b, self.depth, -1)
        value = self.conv_value(context).reshape(b, self.depth, -1).transpose(1, 2)
        sim = torch.softmax((query @ key) * self.depth ** -0.5, dim=-1)
        refined = self.conv_out1((sim @ value).transpose(1, 2).reshape(b, -1, h, w))
        x = self.conv_out3(self.conv_out2(torch.cat([x, refined], dim=1)))
        return x, self.conv_out4(x)


def gaussian_kernel(size: int = 7, sigma: float = 1.0) -> torch.Tensor:
    """OpenCV's ``getGaussianKernel(size, sigma)`` (sampled, normalised in float64), as the
    outer product [1, 1, size, size] in float32."""
    half = (size - 1) / 2
    g = torch.tensor([math.exp(-((i - half) ** 2) / (2 * sigma * sigma)) for i in range(size)], dtype=torch.float64)
    g = g / g.sum()
    return torch.outer(g, g).float()[None, None]


def expand(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """One pyramid level up: [b, 1, h, w] → [b, 1, 2h, 2w]."""
    zero = torch.zeros_like(x)
    x = F.pixel_shuffle(torch.cat([x, zero, zero, zero], dim=1), 2)
    pad = kernel.shape[-1] // 2
    return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), kernel.to(x) * 4)


def reconstruct(coarse: torch.Tensor, laplacian: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    up = expand(coarse, kernel)
    return up + F.interpolate(laplacian, size=up.shape[-2:], mode="bilinear", align_corners=True)
