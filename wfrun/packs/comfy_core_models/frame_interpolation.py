"""ComfyUI's own frame interpolation (``comfy_extras/nodes_frame_interpolation.py``, added
2026-04-22, as of 0a92ed1, 2026-06-23): ``FrameInterpolationModelLoader`` and
``FrameInterpolate`` ("Run Frame Interpolation Model").

The loader reads a checkpoint of the models' ``frame_interpolation`` folder. ComfyUI builds
one of two networks from its tensors: FILM (its own ``FILMNet``, told by the key
``extract.extract_sublevels.convs.0.0.conv.weight``) or RIFE, after renaming raw training
keys (``module.`` and ``flownet.`` prefixes dropped, ``block<i>.`` as ``blocks.<i>.``,
``teacher.``/``caltime.`` tensors dropped) into its five-block IFNet with a feature head and
a carried feature map: the Practical-RIFE 4.25/4.26 layout, which is wfrun's ``4.26`` IFNet
(``models.rife``, the same network block for block). Any other checkpoint (the four-block
4.7 and 4.17 releases too) is "Unrecognized frame interpolation model format" in ComfyUI and
refused here on ``model_name``. FILM checkpoints are refused too: wfrun's FILM follows
ComfyUI-Frame-Interpolation's runner and has not been checked against core's FILMNet.
The network computes in fp16 where ComfyUI would (a CUDA device), else fp32.

FrameInterpolate, for ``n`` frames and ``multiplier`` m (``n < 2``: the frames unchanged):
every frame is padded to multiples of 64 by reflection (``pad_to_patch_size``), and for each
pair the m - 1 frames at ``t = k / m`` come from the IFNet at block scales 16, 8, 4, 2, 1
(the frames are not clamped first), cropped back; each original frame is copied as it is;
``(n - 1) * m + 1`` frames out, the whole batch clamped to 0..1 at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models.header import CheckpointError
from wfrun.models.rife import IFNet, load_ifnet, scale_list
from wfrun.models.upscale import read_release_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve
from wfrun.packs.comfy_core_models.upscale_nodes import image_input

FOLDER = "frame_interpolation"
#: The key ComfyUI tells a FILM checkpoint by.
FILM_KEY = "extract.extract_sublevels.convs.0.0.conv.weight"
#: Frames are padded to multiples of this (core IFNet's ``pad_align``).
ALIGN = 64
UNRECOGNIZED = "Unrecognized frame interpolation model format"


@dataclass
class InterpModel:
    """``INTERP_MODEL``: the network and the precision ComfyUI would run it in."""

    net: IFNet
    dtype: torch.dtype


def core_rife_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` renamed as ComfyUI renames a RIFE checkpoint, in wfrun's IFNet names
    (``block<i>.``): ``module.`` then ``flownet.`` prefixes dropped, ComfyUI's own
    ``blocks.<i>.`` accepted, ``teacher.``/``caltime.`` tensors left out."""
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "flownet."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if key.startswith(("teacher.", "caltime.")):
            continue
        if key.startswith("blocks.") and key[7:8].isdigit():
            index, rest = key[7:].split(".", 1)
            key = f"block{index}.{rest}"
        out[key] = value
    return out


def compute_dtype(device: Any) -> torch.dtype:
    """fp16 on a CUDA device (where ComfyUI's ``should_use_fp16`` says yes), else fp32."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32


@executor("FrameInterpolationModelLoader", pth_inputs=("model_name",))
def frame_interpolation_model_loader(ctx: ExecContext, model_name: str, **_: Any) -> tuple:
    path = resolve(ctx, FOLDER, model_name, "model_name")
    try:
        state = read_release_state_dict(path)
    except CheckpointError as err:
        raise NodeInputError("model_name", str(err).splitlines()[0]) from None
    if FILM_KEY in state:
        raise NodeInputError("model_name", f"{path.name} is a FILM checkpoint: wfrun runs FILM for "
                             "ComfyUI-Frame-Interpolation's FILM VFI, but has not checked that network against "
                             "ComfyUI core's FILMNet", "use a RIFE 4.25/4.26 checkpoint here, or FILM VFI")
    try:
        net = load_ifnet(core_rife_keys(state))
    except ValueError as err:
        raise NodeInputError("model_name", f"{path.name}: {UNRECOGNIZED} ({err})",
                             "ComfyUI builds RIFE 4.25/4.26 (five blocks) and FILM here") from None
    if net.arch.name != "4.26":
        raise NodeInputError("model_name", f"{path.name}: {UNRECOGNIZED} (a RIFE {net.arch.name} network: ComfyUI "
                             "builds only the five-block 4.25/4.26 IFNet)", "use rife 4.25 or 4.26")
    dtype = compute_dtype(ctx.device)
    net.eval().to(dtype)
    return (InterpModel(net, dtype),)


def pad_frames(frames: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] padded at the bottom and right to multiples of 64, by reflection."""
    h, w = frames.shape[-2:]
    ph, pw = (-h) % ALIGN, (-w) % ALIGN
    if ph >= h or pw >= w:
        raise NodeInputError("images", f"{w}x{h} frames are too small to pad to multiples of {ALIGN} by reflection "
                             f"(ComfyUI's padding fails on them too)", f"interpolate frames of at least {ALIGN // 2 + 1} px")
    return F.pad(frames, (0, pw, 0, ph), mode="reflect")


def interpolate(net: IFNet, images: torch.Tensor, multiplier: int, *, dtype: torch.dtype, device: Any,
                check_interrupt=None) -> torch.Tensor:
    """The node's loop (see the module notes); ``images`` [N, H, W, 3], result float32."""
    n, h, w = images.shape[0], images.shape[1], images.shape[2]
    if n < 2 or multiplier < 2:
        return images
    ts = torch.tensor([k / multiplier for k in range(1, multiplier)], device=device, dtype=dtype).view(-1, 1, 1, 1)
    scales = scale_list("4.26", 1.0)
    out = [images[0:1].movedim(-1, 1).float().cpu()]
    with torch.inference_mode():
        for i in range(n - 1):
            if check_interrupt is not None:
                check_interrupt()
            pair = pad_frames(images[i:i + 2, :, :, :3].movedim(-1, 1).to(device=device, dtype=dtype))
            b = ts.shape[0]
            mids = net(pair[0:1].expand(b, -1, -1, -1), pair[1:2].expand(b, -1, -1, -1), ts, scales, clamp=False)
            out.append(mids[:, :, :h, :w].float().cpu())
            out.append(images[i + 1:i + 2].movedim(-1, 1).float().cpu())
    return torch.cat(out).movedim(1, -1).clamp_(0.0, 1.0).contiguous()


@executor("FrameInterpolate", oom_hint="interpolate fewer or smaller frames")
def frame_interpolate(ctx: ExecContext, interp_model: Any, images: Any, multiplier: int, **_: Any) -> tuple:
    if not isinstance(interp_model, InterpModel):
        raise NodeInputError("interp_model", f"expected a frame interpolation model, got {type(interp_model).__name__}",
                             "connect Load Frame Interpolation Model")
    images = image_input(images, "images")
    device = torch.device(ctx.device)
    net = interp_model.net.to(device)
    try:
        result = interpolate(net, images, int(multiplier), dtype=interp_model.dtype, device=device,
                             check_interrupt=ctx.check_interrupt)
    finally:
        net.to("cpu")
    return (result,)
