"""FILM (Reda et al., "FILM: Frame Interpolation for Large Motion", ECCV 2022), the
``film_net`` "Style" network, as ComfyUI-Frame-Interpolation runs it (``FILM VFI``),
written from the paper and the description of Google's TF model and dajes' PyTorch port
(frame-interpolation-pytorch), whose released ``film_net_fp32.pt`` the pack loads.

The network, for two frames of any size (at least ``2 ** (pyramid_levels - 1)`` pixels):

1. an image pyramid of ``pyramid_levels`` (7) levels, each a 2x2 average pool of the one
   above (sizes floor, so no padding is needed);
2. cascaded features: at every pyramid level a shared sub-tree extractor (``sub_levels``
   pairs of 3x3 convolutions, doubling width, pooling between) runs; level ``i``'s feature
   is the concatenation of sub-tree ``i - j``'s output at depth ``j`` for ``j <= i`` (so
   levels from ``sub_levels - 1`` on have the same width and meaning);
3. residual flow, coarse to fine, in both directions: at the coarsest level, and at every
   level from ``len(flow_convs) - 1`` on, one shared estimator; the finer levels have their
   own. Each upsamples the coarser flow (bilinear, times 2), warps the second frame's features
   by it and adds a predicted correction;
4. the flows are summed into full flow pyramids, kept at the ``sub_levels + 1`` finest
   levels, scaled by ``t`` (towards frame 0) and ``1 - t`` (towards frame 1); images and
   features of both frames are backward-warped (bilinear, border) to the moment ``t``;
5. fusion: a U-Net decoder over ``[warped 0, warped 1, flow to 0, flow to 1]`` per level,
   coarse to fine (nearest 2x upsampling, a 2x2 convolution, two 3x3 ones), then a 1x1
   convolution to RGB (not clamped).

Google's ``film_net`` fixes ``t`` to 0.5 (it was trained on midpoints; more frames come by
recursion), and so does the port's v1.0.0 export, the file the pack downloads: the time
argument only gives the batch size. A port export of 2023-11 and later honours ``t`` and
wraps every convolution in its own ``Sequential`` (``….0.weight``): :func:`load_film` reads
both layouts, and :attr:`FilmNet.honours_time` follows the layout.

Parameter names are the port's (``extract.extract_sublevels.convs.…``,
``predict_flow._predictor._convs.…``, ``predict_flow._predictors.…``, ``fuse.convs.…``,
``fuse.output_conv``), so the released weights load strictly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.header import sniff
from wfrun.models.mapping import load_exactly
from wfrun.models.torchscript_weights import is_torchscript_archive, read_torchscript_state_dict
from wfrun.models.upscale import read_release_state_dict

@dataclass(frozen=True)
class FilmConfig:
    """Widths and depths; the release's are the defaults. ``fusion_widths[i]`` is the width
    of fusion level ``i`` (finest first)."""

    filters: int = 64
    sub_levels: int = 4
    flow_convs: tuple[int, ...] = (3, 3, 3, 3)
    flow_filters: tuple[int, ...] = (32, 64, 128, 256)
    fusion_widths: tuple[int, ...] = (64, 128, 256, 512)
    pyramid_levels: int = 7

    def features(self, level: int) -> int:
        """Channels of one frame's cascaded feature at pyramid ``level``."""
        return sum(self.filters << j for j in range(min(level, self.sub_levels - 1) + 1))

    def fused(self, level: int) -> int:
        """Channels fusion gets at ``level``: both warped images and features, both flows."""
        return 2 * (3 + self.features(level)) + 4

    @property
    def fusion_levels(self) -> int:
        return len(self.fusion_widths) + 1

    @property
    def min_size(self) -> int:
        return 2 ** (self.pyramid_levels - 1)


TINY_CONFIG = FilmConfig(filters=4, flow_filters=(4, 4, 8, 8), fusion_widths=(4, 8, 16, 32))


def _conv(cin: int, cout: int, size: int, act: bool = True) -> nn.Module:
    conv = nn.Conv2d(cin, cout, size, padding="same" if size % 2 else 0)
    return nn.Sequential(conv, nn.LeakyReLU(0.2)) if act else conv


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: output pixel (x, y) is ``image`` sampled bilinearly at
    ``(x + flow[0], y + flow[1])`` (pixels), edges repeated beyond the border."""
    n, _, h, w = flow.shape
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    gx = (xs + 0.5 + flow[:, 0]) * (2.0 / w) - 1.0  # pixel centres, align_corners=False
    gy = (ys + 0.5 + flow[:, 1]) * (2.0 / h) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def image_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``image`` and ``levels - 1`` successive 2x2 average pools of it, finest first."""
    out = [image]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2, 2))
    return out


class SubTree(nn.Module):
    def __init__(self, cfg: FilmConfig):
        super().__init__()
        convs, cin = [], 3
        for i in range(cfg.sub_levels):
            width = cfg.filters << i
            convs.append(nn.Sequential(_conv(cin, width, 3), _conv(width, width, 3)))
            cin = width
        self.convs = nn.ModuleList(convs)

    def forward(self, image: torch.Tensor, depth: int) -> list[torch.Tensor]:
        """Outputs at depths ``0 .. depth - 1`` (pooling between)."""
        out = []
        head = image
        for i in range(depth):
            if i:
                head = F.avg_pool2d(head, 2, 2)
            head = self.convs[i](head)
            out.append(head)
        return out


class FeatureExtractor(nn.Module):
    def __init__(self, cfg: FilmConfig):
        super().__init__()
        self.extract_sublevels = SubTree(cfg)
        self.sub_levels = cfg.sub_levels

    def forward(self, pyramid: list[torch.Tensor]) -> list[torch.Tensor]:
        levels = len(pyramid)
        trees = [self.extract_sublevels(pyramid[i], min(levels - i, self.sub_levels)) for i in range(levels)]
        return [torch.cat([trees[i - j][j] for j in range(min(i, self.sub_levels - 1) + 1)], dim=1)
                for i in range(levels)]


class FlowEstimator(nn.Module):
    """Flow from features A to features B (already warped towards A)."""

    def __init__(self, cin: int, convs: int, width: int):
        super().__init__()
        layers = []
        for _ in range(convs):
            layers.append(_conv(cin, width, 3))
            cin = width
        layers += [_conv(cin, width // 2, 1), _conv(width // 2, 2, 1, act=False)]
        self._convs = nn.ModuleList(layers)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        net = torch.cat([a, b], dim=1)
        for layer in self._convs:
            net = layer(net)
        return net


class PyramidFlow(nn.Module):
    """Residual flows, finest first; the coarsest entry is a flow of its own."""

    def __init__(self, cfg: FilmConfig):
        super().__init__()
        own = [FlowEstimator(2 * cfg.features(i), cfg.flow_convs[i], cfg.flow_filters[i])
               for i in range(len(cfg.flow_convs))]
        self._predictor = own[-1]                        # every level from len(flow_convs) - 1 on
        self._predictors = nn.ModuleList(own[:-1][::-1])  # the finer levels, coarsest first

    def estimator(self, level: int) -> nn.Module:
        specialised = len(self._predictors)
        return self._predictors[specialised - 1 - level] if level < specialised else self._predictor

    def forward(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> list[torch.Tensor]:
        levels = len(a)
        flow = self.estimator(levels - 1)(a[-1], b[-1])
        residuals = [flow]
        for i in range(levels - 2, -1, -1):
            flow = F.interpolate(2 * flow, size=a[i].shape[2:4], mode="bilinear", align_corners=False)
            residual = self.estimator(i)(a[i], warp(b[i], flow))
            residuals.insert(0, residual)
            flow = flow + residual
        return residuals


def flow_pyramid(residuals: list[torch.Tensor]) -> list[torch.Tensor]:
    """Residual flows summed coarse to fine (each coarser sum upsampled, times 2)."""
    flow = residuals[-1]
    out = [flow]
    for residual in residuals[-2::-1]:
        flow = residual + F.interpolate(2 * flow, size=residual.shape[2:4], mode="bilinear", align_corners=False)
        out.insert(0, flow)
    return out


class Fusion(nn.Module):
    def __init__(self, cfg: FilmConfig):
        super().__init__()
        groups = []
        cin = cfg.fused(len(cfg.fusion_widths))
        for i in reversed(range(len(cfg.fusion_widths))):  # coarse to fine
            width = cfg.fusion_widths[i]
            groups.append(nn.ModuleList([_conv(cin, width, 2, act=False), _conv(cfg.fused(i) + width, width, 3),
                                         _conv(width, width, 3)]))
            cin = width
        self.convs = nn.ModuleList(groups)
        self.output_conv = nn.Conv2d(cfg.fusion_widths[0], 3, 1)

    def forward(self, pyramid: list[torch.Tensor]) -> torch.Tensor:
        net = pyramid[-1]
        for k, (up, conv1, conv2) in enumerate(self.convs):
            level = pyramid[len(self.convs) - 1 - k]
            net = F.interpolate(net, size=level.shape[2:4], mode="nearest")
            net = up(F.pad(net, (0, 1, 0, 1)))  # a 2x2 "same" convolution: the extra row/column after
            net = conv2(conv1(torch.cat([level, net], dim=1)))
        return self.output_conv(net)


class FilmNet(nn.Module):
    """``forward(x0, x1, dt)``: the frame between ``x0`` and ``x1`` ([N, 3, H, W]) at time
    ``dt`` ([N, 1]) when :attr:`honours_time`, else at 0.5 whatever ``dt`` says (the
    release); not clamped."""

    def __init__(self, cfg: FilmConfig = FilmConfig(), honours_time: bool = False):
        super().__init__()
        self.cfg = cfg
        self.honours_time = honours_time
        self.extract = FeatureExtractor(cfg)
        self.predict_flow = PyramidFlow(cfg)
        self.fuse = Fusion(cfg)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        images = [image_pyramid(x0, cfg.pyramid_levels), image_pyramid(x1, cfg.pyramid_levels)]
        feats = [self.extract(images[0]), self.extract(images[1])]
        keep = cfg.fusion_levels
        to0 = flow_pyramid(self.predict_flow(feats[1], feats[0]))[:keep]  # read frame 0 with these
        to1 = flow_pyramid(self.predict_flow(feats[0], feats[1]))[:keep]  # read frame 1 with these
        t = dt.reshape(-1, 1, 1, 1).to(x0.dtype) if self.honours_time else torch.full_like(x0[:, :1, :1, :1], 0.5)
        to0 = [f * t for f in to0]
        to1 = [f * (1 - t) for f in to1]
        aligned = [torch.cat([warp(torch.cat([images[0][i], feats[0][i]], 1), to0[i]),
                              warp(torch.cat([images[1][i], feats[1][i]], 1), to1[i]), to0[i], to1[i]], 1)
                   for i in range(keep)]
        return self.fuse(aligned)


# --- reading checkpoints ------------------------------------------------------------------

_FEATURE_KEY = "extract.extract_sublevels.convs.0.0.0.weight"
_SHARED_KEY = "predict_flow._predictor._convs.0.0.weight"
_OUTPUT_KEY = "fuse.output_conv.weight"


def is_film_state_dict(state: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` has FILM's key layout (either export's)."""
    return _FEATURE_KEY in state and _SHARED_KEY in state and _OUTPUT_KEY in state


def normalise_layout(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], bool]:
    """``state`` in the v1.0.0 layout, and whether it came from the later export (which
    wraps the convolutions without activation in a ``Sequential`` too, and honours ``t``)."""
    later = any(re.fullmatch(r"fuse\.convs\.\d+\.0\.0\.(weight|bias)", k) for k in state)
    if not later:
        return state, False
    last: dict[str, int] = {}
    for key in state:
        m = re.match(r"(predict_flow\.(?:_predictor|_predictors\.\d+)\._convs)\.(\d+)\.", key)
        if m:
            last[m.group(1)] = max(last.get(m.group(1), -1), int(m.group(2)))
    out = {}
    for key, value in state.items():
        key = re.sub(r"^(fuse\.convs\.\d+\.0)\.0\.", r"\1.", key)
        m = re.match(r"(predict_flow\.(?:_predictor|_predictors\.\d+)\._convs)\.(\d+)\.0\.(weight|bias)$", key)
        if m and int(m.group(2)) == last[m.group(1)]:
            key = f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
        out[key] = value
    return out, True


def film_config(state: dict[str, torch.Tensor]) -> FilmConfig:
    """The widths and depths ``state`` (v1.0.0 layout) was made with; ValueError when it is
    not FILM or is malformed."""
    if not is_film_state_dict(state):
        raise ValueError("not a FILM film_net checkpoint (no extract.extract_sublevels, predict_flow._predictor "
                         "and fuse.output_conv tensors)")

    def count(pattern: str) -> int:
        return len({m.group(1) for k in state if (m := re.match(pattern, k))})

    try:
        filters = int(state[_FEATURE_KEY].shape[0])
        sub_levels = count(r"extract\.extract_sublevels\.convs\.(\d+)\.")
        own = count(r"predict_flow\._predictors\.(\d+)\.")
        names = [f"predict_flow._predictors.{own - 1 - i}" for i in range(own)] + ["predict_flow._predictor"]
        flow_convs = tuple(count(re.escape(n) + r"\._convs\.(\d+)\.") - 2 for n in names)
        flow_filters = tuple(int(state[f"{n}._convs.0.0.weight"].shape[0]) for n in names)
        groups = count(r"fuse\.convs\.(\d+)\.")
        fusion_widths = tuple(int(state[f"fuse.convs.{groups - 1 - i}.0.weight"].shape[0]) for i in range(groups))
    except (KeyError, IndexError) as err:
        raise ValueError(f"looks like FILM but lacks {err}") from None
    if not (1 <= sub_levels <= 8 and len(flow_convs) == sub_levels and groups == sub_levels
            and min(flow_convs) >= 1 and max(flow_convs) <= 16):
        raise ValueError(f"looks like FILM but its depths do not fit ({sub_levels} feature levels, "
                         f"{len(flow_convs)} flow estimators, {groups} fusion levels)")
    widths = (filters, *flow_filters, *fusion_widths)
    if min(widths) < 2 or max(widths) > 4096:
        raise ValueError(f"looks like FILM but its widths {widths} are out of range")
    return FilmConfig(filters, sub_levels, flow_convs, flow_filters, fusion_widths)


def load_film(state: dict[str, torch.Tensor]) -> FilmNet:
    """A FilmNet holding exactly ``state``'s tensors (either export's layout), in eval mode
    without gradients; ValueError when ``state`` is not FILM or does not fit."""
    state, later = normalise_layout(state)
    cfg = film_config(state)
    return load_exactly(FilmNet(cfg, honours_time=later), state, "FILM")


def read_film_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """FILM's tensors from a TorchScript archive (read as data, never run: see
    ``torchscript_weights``), a ``.safetensors`` copy, or a plain ``.pth`` state dict
    (``torch.load(weights_only=True)``). Raises ``CheckpointError``."""
    path = Path(path)
    if sniff(path) == "zip" and is_torchscript_archive(path):
        return read_torchscript_state_dict(path)
    return read_release_state_dict(path)
