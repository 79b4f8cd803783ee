"""ComfyUI core's FrameInterpolationModelLoader / FrameInterpolate (0a92ed1). The reference is
core's algorithm written out here from its description, on the checkpoint's own tensors:
5 IFBlocks at 1/16..1/1 on frames padded to 64 by reflection, warps through float32 base
grids, the blend ``lerp(warped1, warped0, sigmoid(mask))``; then the node's frame loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from wfrun.engine.executors import load_packs
from wfrun.models.paths import ModelRoots
from wfrun.models.rife import tiny_ifnet_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError, registered
from wfrun.packs.comfy_core_models.frame_interpolation import InterpModel

load_packs()


def ref_warp(img, flow):
    b, _, h, w = img.shape
    gy, gx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    base = torch.stack((gx, gy))[None]
    norm = torch.cat([flow[:, 0:1] / ((w - 1) / 2), flow[:, 1:2] / ((h - 1) / 2)], 1)
    return F.grid_sample(img.float(), (base + norm).permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                         align_corners=True)


def ref_block(sd, i, x, flow, scale):
    p = f"block{i}."
    x = F.interpolate(x, scale_factor=1 / scale, mode="bilinear")
    if flow is not None:
        x = torch.cat((x, F.interpolate(flow, scale_factor=1 / scale, mode="bilinear") / scale), 1)
    x = F.leaky_relu(F.conv2d(x, sd[p + "conv0.0.0.weight"], sd[p + "conv0.0.0.bias"], 2, 1), 0.2)
    x = F.leaky_relu(F.conv2d(x, sd[p + "conv0.1.0.weight"], sd[p + "conv0.1.0.bias"], 2, 1), 0.2)
    for r in range(8):
        q = f"{p}convblock.{r}."
        x = F.leaky_relu(torch.addcmul(x, F.conv2d(x, sd[q + "conv.weight"], sd[q + "conv.bias"], 1, 1), sd[q + "beta"]),
                         0.2)
    x = F.pixel_shuffle(F.conv_transpose2d(x, sd[p + "lastconv.0.weight"], sd[p + "lastconv.0.bias"], 2, 1), 2)
    x = F.interpolate(x, scale_factor=scale, mode="bilinear")
    return x[:, :4] * scale, x[:, 4:5], x[:, 5:]


def ref_head(sd, x):
    for k in range(3):
        x = F.leaky_relu(F.conv2d(x, sd[f"encode.cnn{k}.weight"], sd[f"encode.cnn{k}.bias"], 2 if k == 0 else 1, 1), 0.2)
    return F.conv_transpose2d(x, sd["encode.cnn3.weight"], sd["encode.cnn3.bias"], 2, 1)


def ref_middle(sd, img0, img1, t):
    ts = torch.full((1, 1, *img0.shape[2:]), t)
    f0, f1 = ref_head(sd, img0), ref_head(sd, img1)
    flow = mask = feat = None
    w0, w1 = img0, img1
    for i, scale in enumerate((16, 8, 4, 2, 1)):
        if flow is None:
            flow, mask, feat = ref_block(sd, i, torch.cat((img0, img1, f0, f1, ts), 1), None, scale)
        else:
            d, mask, feat = ref_block(sd, i, torch.cat((w0, w1, ref_warp(f0, flow[:, :2]), ref_warp(f1, flow[:, 2:4]),
                                                        ts, mask, feat), 1), flow, scale)
            flow = flow + d
        w0, w1 = ref_warp(img0, flow[:, :2]), ref_warp(img1, flow[:, 2:4])
    return torch.lerp(w1, w0, torch.sigmoid(mask))


def ref_node(sd, images, m):
    n, h, w, _ = images.shape
    pad = lambda x: F.pad(x, (0, (-w) % 64, 0, (-h) % 64), mode="reflect")
    out = [images[0]]
    for i in range(n - 1):
        a, b = pad(images[i:i + 1].movedim(-1, 1)), pad(images[i + 1:i + 2].movedim(-1, 1))
        out += [ref_middle(sd, a, b, k / m)[0, :, :h, :w].movedim(0, -1) for k in range(1, m)]
        out.append(images[i + 1])
    return torch.stack(out).clamp(0, 1)


def checkpoint(tmp_path, state, name="rife_v4.26.safetensors"):
    folder = tmp_path / "frame_interpolation"
    folder.mkdir(exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / name))
    return ExecContext(models=ModelRoots.from_options(str(tmp_path)))


def frames(n=3, h=40, w=56, seed=1):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, h, w, 3, generator=g)
    return torch.cat([torch.roll(base, shifts=2 * i, dims=2) for i in range(n)]) * 1.1 - 0.05  # a little out of 0..1


@pytest.mark.parametrize("rename", ["raw", "comfy", "training"])
def test_interpolation_matches_cores_algorithm(tmp_path, rename):
    sd = tiny_ifnet_state_dict("4.26", seed=3, width=8)
    if rename == "comfy":  # ComfyUI-converted files name blocks blocks.<i>.
        saved = {(f"blocks.{k[5]}.{k[7:]}" if k.startswith("block") else k): v for k, v in sd.items()}
    elif rename == "training":  # raw training saves, with tensors ComfyUI drops
        saved = {f"module.flownet.{k}": v for k, v in sd.items()} | {"module.teacher.x": torch.zeros(2)}
    else:
        saved = sd
    ctx = checkpoint(tmp_path, saved)
    (model,) = registered("FrameInterpolationModelLoader")(ctx, model_name="rife_v4.26.safetensors")
    assert isinstance(model, InterpModel) and model.dtype == torch.float32
    images = frames()
    (got,) = registered("FrameInterpolate")(ctx, interp_model=model, images=images, multiplier=3)
    want = ref_node(sd, images, 3)
    assert got.shape == ((3 - 1) * 3 + 1, 40, 56, 3)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)
    assert torch.equal(got[3], images[1].clamp(0, 1))  # originals copied, clamped with the rest


def test_one_frame_comes_back_unchanged(tmp_path):
    ctx = checkpoint(tmp_path, tiny_ifnet_state_dict("4.26", width=8))
    (model,) = registered("FrameInterpolationModelLoader")(ctx, model_name="rife_v4.26.safetensors")
    images = frames(n=1)
    (got,) = registered("FrameInterpolate")(ctx, interp_model=model, images=images, multiplier=4)
    assert got is images


def test_four_block_rife_and_film_checkpoints_are_refused_on_model_name(tmp_path):
    ctx = checkpoint(tmp_path, tiny_ifnet_state_dict("4.7", width=8), "rife49.safetensors")
    with pytest.raises(NodeInputError) as err:
        registered("FrameInterpolationModelLoader")(ctx, model_name="rife49.safetensors")
    assert err.value.input_name == "model_name" and "Unrecognized frame interpolation model format" in str(err.value)
    checkpoint(tmp_path, {"extract.extract_sublevels.convs.0.0.conv.weight": torch.zeros(4, 3, 3, 3)}, "film.safetensors")
    with pytest.raises(NodeInputError) as err:
        registered("FrameInterpolationModelLoader")(ctx, model_name="film.safetensors")
    assert err.value.input_name == "model_name" and "FILM" in str(err.value)


def test_frames_too_small_to_reflect_pad_are_refused_on_images(tmp_path):
    ctx = checkpoint(tmp_path, tiny_ifnet_state_dict("4.26", width=8))
    (model,) = registered("FrameInterpolationModelLoader")(ctx, model_name="rife_v4.26.safetensors")
    with pytest.raises(NodeInputError) as err:
        registered("FrameInterpolate")(ctx, interp_model=model, images=frames(h=16, w=16), multiplier=2)
    assert err.value.input_name == "images"
