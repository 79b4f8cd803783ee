"""RIFE 4.x (Practical-RIFE's IFNet) for frame interpolation, as ComfyUI-Frame-Interpolation
runs it (``RIFE VFI``), written from the paper (Huang et al., "Real-Time Intermediate Flow
Estimation for Video Frame Interpolation", ECCV 2022) and the pack's semantics.

IFNet estimates, coarse to fine, the flows from the wanted moment ``t`` back to both
frames and a blending mask: each ``IFBlock`` works at ``1/scale`` of the (64-padded)
frames, the first from the two frames (and their encoded features) and ``t``, each next one
from both frames warped by the flow so far, adding a correction. The middle frame is both
frames warped by the final flows, blended by ``sigmoid(mask)``.

Architectures (the key layout of the released ``.pth`` files): ``4.7`` (rife47, rife49),
``4.17`` (rife417) and ``4.26`` (rife426, five blocks and a carried feature map). The older
4.0-4.6 checkpoints (with a context net and U-Net refinement in 4.0-4.3) are not built.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.mapping import load_exactly

#: The pack's checkpoint names and their architecture (its CKPT_NAME_VER_DICT).
CHECKPOINT_ARCH = {"rife47.pth": "4.7", "rife49.pth": "4.7", "rife417.pth": "4.17", "rife426.pth": "4.26"}
#: Architectures of checkpoints the pack offers that wfrun does not build.
UNBUILT_ARCH = {"sudo_rife4_269.662_testV1_scale1.pth": "4.0", **{f"rife4{i}.pth": "4.0-4.6" for i in range(7)}}
#: Other packs' checkpoint names and the key layout of their release: GACLove/ComfyUI-VFI's
#: ``flownet.pkl`` is Practical-RIFE 4.25 (its Model says so), whose IFNet has the five-block,
#: feature-carrying layout built here as ``4.26``.
OTHER_CHECKPOINT_ARCH = {"flownet.pkl": "4.26"}


@dataclass(frozen=True)
class RifeArch:
    """What changes between the 4.x releases: features per frame from the encoder, block
    widths, and whether blocks carry a feature map (4.26)."""

    name: str
    feat: int           # channels of the per-frame encoder output
    widths: tuple[int, ...]
    carry: int = 0      # channels of the feature map a block passes to the next (4.26)


ARCHS = {"4.7": RifeArch("4.7", 4, (192, 128, 96, 64)),
         "4.17": RifeArch("4.17", 8, (192, 128, 96, 64)),
         "4.26": RifeArch("4.26", 4, (192, 128, 96, 64, 32), carry=8)}


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, True))


class ResConv(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    """Flow (4), mask (1) and, in 4.26, a carried feature map at the block's scale."""

    def __init__(self, cin: int, c: int, outputs: int):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * outputs, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return torch.cat((out[:, :4] * scale, out[:, 4:]), 1)


class Head(nn.Module):
    """Per-frame features at full resolution (4.17's is 32 wide, 4.26's 16)."""

    def __init__(self, width: int, out: int):
        super().__init__()
        self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
        self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(width, out, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: sample ``image`` at each pixel moved by ``flow`` (pixels), bilinear,
    border padding, corners aligned."""
    n, _, h, w = flow.shape
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    grid = torch.stack((xs + flow[:, 0] / ((image.shape[3] - 1.0) / 2.0),
                        ys + flow[:, 1] / ((image.shape[2] - 1.0) / 2.0)), dim=-1)
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=True)


#: Width of each architecture's per-frame encoder.
HEAD_WIDTH = {"4.7": 16, "4.17": 32, "4.26": 16}


class IFNet(nn.Module):
    """``widths`` and ``head`` default to the release's; tests and stand-ins use narrower
    ones in the same key layout."""

    def __init__(self, arch: str = "4.7", widths: tuple[int, ...] | None = None, head: int | None = None):
        super().__init__()
        a = ARCHS[arch]
        if widths is not None:
            a = RifeArch(a.name, a.feat, tuple(widths), a.carry)
        self.arch = a
        head = head or HEAD_WIDTH[arch]
        if arch == "4.7":
            self.encode = nn.Sequential(nn.Conv2d(3, head, 3, 2, 1), nn.ConvTranspose2d(head, 4, 4, 2, 1))
        else:
            self.encode = Head(head, a.feat)
        outputs = 5 + a.carry if a.carry else 6  # flow 4 + mask 1 (+ one unused channel before 4.26)
        first = 7 + 2 * a.feat
        later = 8 + 4 + 2 * a.feat + a.carry
        for i, c in enumerate(a.widths):
            setattr(self, f"block{i}", IFBlock(first if i == 0 else later, c, outputs))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor | float,
                scale_list: list[float], clamp: bool = True) -> torch.Tensor:
        """The frame at ``timestep`` (a number, or [N, 1, 1, 1]) between ``img0`` and ``img1``
        ([N, 3, H, W] in 0..1); ``scale_list`` gives each block's downscale. ``clamp``: clip
        the frames to 0..1 first (ComfyUI-Frame-Interpolation does; ComfyUI-VFI does not)."""
        if clamp:
            img0, img1 = img0.clamp(0, 1), img1.clamp(0, 1)
        n, _, h, w = img0.shape
        ph, pw = ((h - 1) // 64 + 1) * 64, ((w - 1) // 64 + 1) * 64
        img0 = F.pad(img0, (0, pw - w, 0, ph - h))
        img1 = F.pad(img1, (0, pw - w, 0, ph - h))
        if torch.is_tensor(timestep):
            t = timestep.to(img0).reshape(-1, 1, 1, 1).expand(n, 1, ph, pw)
        else:
            t = torch.full((n, 1, ph, pw), float(timestep), dtype=img0.dtype, device=img0.device)
        f0, f1 = self.encode(img0), self.encode(img1)
        carry = self.arch.carry
        flow = mask = feat = None
        warped0, warped1 = img0, img1
        for i in range(len(self.arch.widths)):
            block = getattr(self, f"block{i}")
            if flow is None:
                out = block(torch.cat((img0, img1, f0, f1, t), 1), None, scale_list[i])
                flow, mask = out[:, :4], out[:, 4:5]
            else:
                parts = [warped0, warped1, warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4]), t, mask]
                if carry:
                    parts.append(feat)
                out = block(torch.cat(parts, 1), flow, scale_list[i])
                flow, mask = flow + out[:, :4], out[:, 4:5]
            if carry:
                feat = out[:, 5:5 + carry]
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        mask = torch.sigmoid(mask)
        return (warped0 * mask + warped1 * (1 - mask))[:, :, :h, :w]


def scale_list(arch: str, scale_factor: float) -> list[float]:
    """Each block's downscale for the node's ``scale_factor`` (the pack's lists)."""
    base = (16, 8, 4, 2, 1) if arch == "4.26" else (8, 4, 2, 1)
    return [s / scale_factor for s in base]


def arch_of_state_dict(state: dict[str, torch.Tensor]) -> str | None:
    """The architecture whose key layout and shapes ``state`` has, else None."""
    if "block4.conv0.0.0.weight" in state and "encode.cnn0.weight" in state:
        return "4.26"
    if "encode.cnn0.weight" in state and "block3.conv0.0.0.weight" in state:
        return "4.17"
    if "encode.0.weight" in state and "encode.1.weight" in state and "encode.2.weight" not in state:
        return "4.7"
    return None


def load_ifnet(state: dict[str, torch.Tensor]) -> IFNet:
    """An IFNet holding exactly ``state``'s tensors (``module.`` prefixes of training saves
    removed), in eval mode without gradients; ValueError when it matches no architecture."""
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    arch = arch_of_state_dict(state)
    if arch is None:
        raise ValueError("not a RIFE 4.7, 4.17 or 4.26 IFNet (its tensors match none of their layouts)")
    try:
        widths = tuple(int(state[f"block{i}.conv0.1.0.weight"].shape[0]) for i in range(len(ARCHS[arch].widths)))
        head = int(state["encode.0.weight" if arch == "4.7" else "encode.cnn0.weight"].shape[0])
    except (KeyError, IndexError) as err:
        raise ValueError(f"looks like a RIFE {arch} IFNet but lacks {err}") from None
    if min(widths + (head,)) < 2 or max(widths + (head,)) > 1024:
        raise ValueError(f"looks like a RIFE {arch} IFNet but its widths {widths} are out of range")
    return load_exactly(IFNet(arch, widths, head), state, f"a RIFE {arch} IFNet")


def tiny_ifnet_state_dict(arch: str = "4.7", seed: int = 0, width: int | None = 8) -> dict[str, torch.Tensor]:
    """Random weights in ``arch``'s real key layout, every block ``width`` wide (None: the
    release's widths; rife49 is 21 MB), for tests and ``--tiny-models`` stand-ins."""
    widths = None if width is None else (width,) * len(ARCHS[arch].widths)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = IFNet(arch, widths, width)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
    return {k: v.contiguous() for k, v in net.state_dict().items()}
