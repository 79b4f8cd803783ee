"""wfrun's own ESRGAN (RRDBNet) and Real-ESRGAN compact (SRVGGNetCompact) upscalers, used
by ``models.upscale`` only where ``spandrel`` is not installed.

Why: spandrel, ComfyUI's model zoo, needs torchvision, which cannot be installed beside a
CPU-only torch in every environment; without it every workflow with an upscaler would stop.
Nearly all Wan workflows upscale with one of these two convolutional architectures, so the
base install runs them natively. spandrel stays preferred whenever it imports
(``pip install 'wfrun[upscale]'``), and it alone covers the other architectures (SwinIR,
DAT, SPAN, HAT, OmniSR, …): anything else is refused here with a message saying so.

What is read from the state dict, as spandrel reads it:

* RRDBNet in the old ESRGAN layout (``model.0``, ``model.1.sub.N.RDBr.convc.0``, the trunk
  conv ``model.1.sub.NB``, up convs ``model.3``, ``model.6``, …, then the HR conv and the
  last conv), the BasicSR / Real-ESRGAN layout (``conv_first``, ``body.N.rdbr.convc``,
  ``conv_body``, ``conv_up1``…, ``conv_hr``, ``conv_last``) and BSRGAN's (``RRDB_trunk``,
  ``trunk_conv``, ``upconv1``…, ``HRconv``). Features, growth and block count come from the
  shapes, the scale is 2 per up conv, and a first conv that takes 4 or 16 times the output
  channels means a pixel-unshuffled input (Real-ESRGAN x2 and x1), which divides the scale.
* SRVGGNetCompact: ``body.0`` conv, then PReLU / conv pairs, the last conv giving
  ``out * scale²`` channels for the pixel shuffle; the nearest-upsampled input is added.

A model is called like spandrel's descriptor: the image padded to the architecture's size
requirements (reflect, then replicate), the output cropped back and clamped to 0..1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.header import CheckpointError

#: What a refusal here points at.
SPANDREL_HINT = "pip install 'wfrun[upscale]' (spandrel, with torchvision) covers every other architecture"


class UpscaleModelError(CheckpointError):
    """A file that is not an image upscale model wfrun can build (natively or, where it is
    installed, through spandrel); ``models.upscale`` re-exports it."""


@dataclass(frozen=True)
class Architecture:
    """The part of spandrel's ``Architecture`` callers look at."""

    id: str
    name: str


ESRGAN = Architecture("ESRGAN", "ESRGAN")
COMPACT = Architecture("Compact", "RealESRGAN Compact")


# --- networks ---------------------------------------------------------------------------

def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each fed every earlier feature map (LeakyReLU 0.2 after the
    first four), the fifth scaled by 0.2 and added to the input."""

    def __init__(self, features: int, growth: int):
        super().__init__()
        for i in range(1, 6):
            setattr(self, f"conv{i}", _conv(features + (i - 1) * growth, features if i == 5 else growth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [x]
        for i in range(1, 5):
            maps.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(maps, 1)), 0.2))
        return self.conv5(torch.cat(maps, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks in a row, their result scaled by 0.2 and added to the input."""

    def __init__(self, features: int, growth: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (DenseBlock(features, growth) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator in BasicSR's names (``up.K`` for ``conv_upK+1``)."""

    def __init__(self, *, in_channels: int, out_channels: int, features: int, growth: int, blocks: int,
                 upsamples: int, unshuffle: int):
        super().__init__()
        self.unshuffle = unshuffle
        self.conv_first = _conv(in_channels, features)
        self.body = nn.ModuleList(RRDB(features, growth) for _ in range(blocks))
        self.conv_body = _conv(features, features)
        self.up = nn.ModuleList(_conv(features, features) for _ in range(upsamples))
        self.conv_hr = _conv(features, features)
        self.conv_last = _conv(features, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)  # the caller padded to a multiple
        feat = self.conv_first(x)
        trunk = feat
        for block in self.body:
            trunk = block(trunk)
        feat = feat + self.conv_body(trunk)
        for conv in self.up:
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: conv + PReLU pairs at the input size, a last conv to
    ``out * scale²`` channels, a pixel shuffle, plus the nearest-upsampled input."""

    def __init__(self, *, in_channels: int, out_channels: int, features: int, convs: int, scale: int):
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [_conv(in_channels, features), nn.PReLU(features)]
        for _ in range(convs):
            layers += [_conv(features, features), nn.PReLU(features)]
        layers.append(_conv(features, out_channels * scale * scale))
        self.body = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


# --- the callable model -----------------------------------------------------------------

@dataclass
class NativeDescriptor:
    """What ``models.upscale.UpscaleModel`` needs of spandrel's ``ImageModelDescriptor``:
    the module, its architecture, scale and channels, a call, ``to`` and ``eval``."""

    model: nn.Module
    architecture: Architecture
    scale: int
    input_channels: int
    output_channels: int
    minimum: int = 0
    multiple_of: int = 1

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] in 0..1 → [B, C_out, H*scale, W*scale], clamped to 0..1."""
        if image.ndim != 4:
            raise ValueError(f"expected an image tensor [B, C, H, W], got {tuple(image.shape)}")
        height, width = image.shape[-2:]
        padded = pad_to_requirements(image, self.minimum, self.multiple_of)
        with torch.no_grad():
            out = self.model(padded).clamp_(0, 1)
        return out[..., :height * self.scale, :width * self.scale]

    def to(self, device: Any) -> "NativeDescriptor":
        self.model.to(device)
        return self

    def eval(self) -> "NativeDescriptor":
        self.model.eval()
        return self


def pad_to_requirements(image: torch.Tensor, minimum: int, multiple_of: int) -> torch.Tensor:
    """Bottom/right padding up to ``minimum`` and a multiple of ``multiple_of`` (spandrel's
    rule: reflect as far as reflect can go, then replicate)."""
    height, width = image.shape[-2:]

    def target(size: int) -> int:
        size = max(size, minimum)
        return -(-size // multiple_of) * multiple_of

    pad_h, pad_w = target(height) - height, target(width) - width
    if not (pad_h or pad_w):
        return image
    ref_h, ref_w = min(pad_h, height - 1), min(pad_w, width - 1)
    image = F.pad(image, (0, ref_w, 0, ref_h), mode="reflect")
    return F.pad(image, (0, pad_w - ref_w, 0, pad_h - ref_h), mode="replicate")


# --- detection and loading --------------------------------------------------------------

def is_rrdb(state: Mapping[str, Any]) -> bool:
    return (("model.0.weight" in state and "model.1.sub.0.RDB1.conv1.0.weight" in state)
            or {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight"} <= state.keys()
            or {"conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight", "conv_last.weight"}
            <= state.keys())


def is_compact(state: Mapping[str, Any]) -> bool:
    return ("body.0.weight" in state and "body.1.weight" in state
            and all(k.startswith("body.") for k in state))


def load_native(state: Mapping[str, torch.Tensor], path: str | Path) -> NativeDescriptor:
    """The native model for ``state`` (read from ``path``, named in errors), or
    :class:`UpscaleModelError` saying which architectures need spandrel."""
    if is_rrdb(state):
        if any(".conv1x1." in k for k in state):
            raise UpscaleModelError(f"{path}: an ESRGAN+ model (RRDB blocks with extra 1x1 convolutions), "
                                     f"which wfrun does not run without spandrel; {SPANDREL_HINT}")
        return _build(path, "an ESRGAN (RRDBNet)", lambda: _load_rrdb(dict(state)))
    if is_compact(state):
        return _build(path, "a Real-ESRGAN compact", lambda: _load_compact(dict(state)))
    first = next(iter(state), "none")
    raise UpscaleModelError(
        f"{path}: not an ESRGAN (RRDBNet) or Real-ESRGAN compact upscaler, the architectures wfrun runs "
        f"without spandrel ({len(state)} tensors, first {first!r}); {SPANDREL_HINT}")


def _build(path: str | Path, what: str, make: Callable[[], NativeDescriptor]) -> NativeDescriptor:
    try:
        return make().eval()
    except UpscaleModelError:
        raise
    except (KeyError, RuntimeError, ValueError, IndexError) as err:
        line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise UpscaleModelError(f"{path}: looks like {what} upscaler but cannot be built from it "
                                 f"({type(err).__name__}: {line})") from None


_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"model\.1\.sub\.(\d+)\.(weight|bias)$")
_OLD_TOP = re.compile(r"model\.(\d+)\.(weight|bias)$")
_NEW_RDB = re.compile(r"(?:body|RRDB_trunk)\.(\d+)\.(?:rdb|RDB)([123])\.conv([1-5])\.(weight|bias)$")
_NEW_UP = re.compile(r"(?:conv_up|upconv)(\d+)\.(weight|bias)$")
_NEW_NAMES = {"conv_first": "conv_first", "conv_body": "conv_body", "trunk_conv": "conv_body",
              "conv_hr": "conv_hr", "HRconv": "conv_hr", "conv_last": "conv_last"}


def rrdb_canonical(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """``state`` in :class:`RRDBNet`'s names from any of the three layouts, and the number of
    up convs. A key that fits none of them is an error (a variant this module would
    silently run wrong)."""
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    if "model.0.weight" in state:
        trunk = {int(m.group(1)) for k in state if (m := _OLD_TRUNK.match(k))}
        if len(trunk) != 1:
            raise ValueError(f"expected one trunk convolution model.1.sub.N, found {sorted(trunk)}")
        nb = trunk.pop()
        top = sorted({int(m.group(1)) for k in state if (m := _OLD_TOP.match(k))})
        if len(top) < 3 or top[0] != 0:
            raise ValueError(f"top-level layers model.{top} are not ESRGAN's")
        *ups, hr, last = top[1:]
        names = {0: "conv_first", hr: "conv_hr", last: "conv_last", **{i: f"up.{n}" for n, i in enumerate(ups)}}
        for key, value in state.items():
            if m := _OLD_RDB.match(key):
                out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
            elif (m := _OLD_TRUNK.match(key)) and int(m.group(1)) == nb:
                out[f"conv_body.{m.group(2)}"] = value
            elif m := _OLD_TOP.match(key):
                out[f"{names[int(m.group(1))]}.{m.group(2)}"] = value
            else:
                unknown.append(key)
        upsamples = len(ups)
    else:
        up_ids = sorted({int(m.group(1)) for k in state if (m := _NEW_UP.match(k))})
        if up_ids != list(range(1, len(up_ids) + 1)):
            raise ValueError(f"up convolutions numbered {up_ids}, expected 1..N")
        for key, value in state.items():
            module, _, kind = key.rpartition(".")
            if m := _NEW_RDB.match(key):
                out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
            elif m := _NEW_UP.match(key):
                out[f"up.{int(m.group(1)) - 1}.{m.group(2)}"] = value
            elif module in _NEW_NAMES and kind in ("weight", "bias"):
                out[f"{_NEW_NAMES[module]}.{kind}"] = value
            else:
                unknown.append(key)
        upsamples = len(up_ids)
    if unknown:
        raise ValueError(f"{len(unknown)} tensors of no RRDBNet layer, first {unknown[0]!r}")
    return out, upsamples


def _load_rrdb(state: dict[str, torch.Tensor]) -> NativeDescriptor:
    canon, upsamples = rrdb_canonical(state)
    in_ch = canon["conv_first.weight"].shape[1]
    features = canon["conv_first.weight"].shape[0]
    out_ch = canon["conv_last.weight"].shape[0]
    growth = canon["body.0.rdb1.conv1.weight"].shape[0]
    blocks = 1 + max(int(k.split(".")[1]) for k in canon if k.startswith("body."))
    # spandrel's rule: an input of 4 or 16 times the output channels is pixel-unshuffled
    unshuffle = int(math.isqrt(in_ch // out_ch)) if in_ch in (out_ch * 4, out_ch * 16) else 1
    if 2 ** upsamples < unshuffle:
        raise ValueError(f"{upsamples} up convolutions cannot undo a {unshuffle}x pixel unshuffle")
    model = RRDBNet(in_channels=in_ch, out_channels=out_ch, features=features, growth=growth, blocks=blocks,
                    upsamples=upsamples, unshuffle=unshuffle)
    model.load_state_dict(canon, strict=True)
    return NativeDescriptor(model, ESRGAN, scale=2 ** upsamples // unshuffle, input_channels=in_ch // unshuffle ** 2,
                            output_channels=out_ch, minimum=4 if unshuffle > 1 else 2,
                            multiple_of=4 if unshuffle > 1 else 1)


def compact_scale_and_channels(last_out: int, in_ch: int) -> tuple[int, int]:
    """(scale, output channels) with ``scale² * channels == last_out``, trying the input's
    channel count first, then 3, 4 and 1 (spandrel's guess: the file does not say)."""
    for channels in (in_ch, 3, 4, 1):
        if last_out % channels == 0 and math.isqrt(last_out // channels) ** 2 == last_out // channels:
            return math.isqrt(last_out // channels), channels
    raise ValueError(f"the last convolution's {last_out} outputs are not channels * scale²")


def _load_compact(state: dict[str, torch.Tensor]) -> NativeDescriptor:
    indices = sorted({int(k.split(".")[1]) for k in state})
    last = indices[-1]
    if indices != list(range(last + 1)) or last % 2:
        raise ValueError(f"body layers {indices[:3]}…{indices[-2:]} are not conv/PReLU pairs and a last conv")
    in_ch, features = state["body.0.weight"].shape[1], state["body.0.weight"].shape[0]
    scale, out_ch = compact_scale_and_channels(state[f"body.{last}.weight"].shape[0], in_ch)
    if out_ch != in_ch:
        raise ValueError(f"{out_ch} output channels for {in_ch} input channels: the upsampled input cannot be added")
    model = SRVGGNetCompact(in_channels=in_ch, out_channels=out_ch, features=features, convs=(last - 2) // 2,
                            scale=scale)
    model.load_state_dict(state, strict=True)
    return NativeDescriptor(model, COMPACT, scale=scale, input_channels=in_ch, output_channels=out_ch)
