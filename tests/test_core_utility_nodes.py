"""Core utility nodes public Wan workflows use: MaskComposite, ImageScaleToTotalPixels,
ResizeImagesByLongerEdge, AdjustContrast, SetLatentNoiseMask (and the KSampler fitting its
mask to the latent) and VAEEncodeTiled.

References are written here from ComfyUI's semantics (revision 0a92ed16 of the comfy-core
specs): numpy for the mask arithmetic, Pillow for the LANCZOS resize, the ComfyUI sizing
formulas with hand-worked numbers, and for the tiled encode the tile grid and blending
weights spelled out for each case and filled with plain encodes of the tiles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.vae_codec import encode_raw
from wfrun.nodes.executor import ExecContext, NodeInputError


def run(class_type, ctx=None, **inputs):
    return node(class_type)(ctx or ExecContext(), **inputs)


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def refused(class_type, name, ctx=None, **inputs):
    with pytest.raises(NodeInputError) as err:
        run(class_type, ctx, **inputs)
    assert err.value.input_name == name, err.value
    return err.value


# ---------------------------------------------------------------------------- MaskComposite

def composite_reference(destination: np.ndarray, source: np.ndarray, x: int, y: int, operation: str) -> np.ndarray:
    """ComfyUI's MaskComposite restated: the source's top-left at (x, y), the operation on
    the overlap only (logic ops on masks rounded to 0/1), then all clamped to 0..1."""
    out = destination.astype(np.float32).copy()
    height, width = out.shape[-2:]
    h = max(0, min(source.shape[-2], height - y))
    w = max(0, min(source.shape[-1], width - x))
    d = out[:, y:y + h, x:x + w]
    s = source[:, :h, :w]
    if operation == "multiply":
        r = d * s
    elif operation == "add":
        r = d + s
    elif operation == "subtract":
        r = d - s
    else:
        a, b = np.rint(d) > 0, np.rint(s) > 0
        r = {"and": a & b, "or": a | b, "xor": a ^ b}[operation].astype(np.float32)
    out[:, y:y + h, x:x + w] = r
    return np.clip(out, 0.0, 1.0)


@pytest.mark.parametrize("operation", ["multiply", "add", "subtract", "and", "or", "xor"])
@pytest.mark.parametrize("x,y", [(0, 0), (3, 2), (6, 5), (40, 0)])
def test_mask_composite_every_operation_at_offsets(operation, x, y):
    destination = rand(2, 8, 10, seed=1)
    source = rand(2, 5, 6, seed=2)
    source[0, 0, 0] = 0.5  # rounds to 0, as torch and numpy round halves to even
    (out,) = run("MaskComposite", destination=destination, source=source, x=x, y=y, operation=operation)
    expected = composite_reference(destination.numpy(), source.numpy(), x, y, operation)
    assert out.shape == (2, 8, 10)
    assert np.allclose(out.numpy(), expected, atol=1e-7)
    assert torch.equal(destination, rand(2, 8, 10, seed=1))  # the input is left alone
    if x >= 10:
        assert torch.equal(out, destination)


def test_mask_composite_add_and_subtract_clamp_and_a_single_source_frame_meets_every_frame():
    destination = torch.full((3, 4, 4), 0.75)
    source = torch.full((1, 4, 4), 0.5)
    (added,) = run("MaskComposite", destination=destination, source=source, x=0, y=0, operation="add")
    assert torch.all(added == 1.0)
    (taken,) = run("MaskComposite", destination=destination, source=source * 2, x=1, y=1, operation="subtract")
    assert torch.all(taken[:, 1:, 1:] == 0.0) and torch.all(taken[:, 0, :] == 0.75)
    (flat,) = run("MaskComposite", destination=destination[0], source=source[0], x=0, y=0, operation="multiply")
    assert flat.shape == (1, 4, 4) and torch.allclose(flat, torch.full((1, 4, 4), 0.375))


@pytest.mark.parametrize("inputs,name", [
    ({"operation": "divide"}, "operation"),
    ({"x": -1}, "x"),
    ({"y": 2.5}, "y"),
    ({"destination": "mask"}, "destination"),
    ({"source": torch.zeros(3, 4, 4)}, "source"),  # three source frames on two destination frames
])
def test_mask_composite_refuses_bad_inputs(inputs, name):
    base = {"destination": torch.zeros(2, 4, 4), "source": torch.ones(1, 2, 2), "x": 0, "y": 0,
            "operation": "add"}
    refused("MaskComposite", name, **{**base, **inputs})


# ---------------------------------------------------------------------------- ImageScaleToTotalPixels

def total_pixels_size(width: int, height: int, megapixels: float, steps: int) -> tuple[int, int]:
    scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    return round(width * scale / steps) * steps, round(height * scale / steps) * steps


def test_scale_to_total_pixels_size_and_resolution_steps():
    image = rand(2, 60, 100, 3)
    # 0.01 MP = 10485.76 px; factor sqrt(10485.76 / 6000) = 1.32199…: 132.2 x 79.3
    assert total_pixels_size(100, 60, 0.01, 1) == (132, 79)
    assert total_pixels_size(100, 60, 0.01, 16) == (128, 80)
    (out,) = run("ImageScaleToTotalPixels", image=image, upscale_method="bilinear", megapixels=0.01)
    assert out.shape == (2, 79, 132, 3)  # resolution_steps from the spec: 1
    expected = F.interpolate(image.movedim(-1, 1), size=(79, 132), mode="bilinear").movedim(1, -1)
    assert torch.allclose(out, expected)
    (stepped,) = run("ImageScaleToTotalPixels", image=image, upscale_method="nearest-exact", megapixels=0.01,
                     resolution_steps=16)
    assert stepped.shape == (2, 80, 128, 3)


def test_scale_to_total_pixels_lanczos_is_pillows():
    image = rand(1, 20, 30, 3, seed=4)
    (out,) = run("ImageScaleToTotalPixels", image=image, upscale_method="lanczos", megapixels=0.01)
    width, height = total_pixels_size(30, 20, 0.01, 1)
    pil = Image.fromarray(np.clip(255.0 * image[0].numpy(), 0, 255).astype(np.uint8))
    expected = np.asarray(pil.resize((width, height), Image.Resampling.LANCZOS)).astype(np.float32) / 255.0
    assert out.shape == (1, height, width, 3) and np.allclose(out[0].numpy(), expected)


@pytest.mark.parametrize("inputs,name", [
    ({"megapixels": 0.0}, "megapixels"),
    ({"megapixels": 100.0}, "megapixels"),
    ({"resolution_steps": 0}, "resolution_steps"),
    ({"resolution_steps": 256, "megapixels": 0.01}, "resolution_steps"),  # 132x79 rounds to 256 x 0
    ({"upscale_method": "sinc"}, "upscale_method"),
    ({"image": torch.zeros(60, 100)}, "image"),
])
def test_scale_to_total_pixels_refuses_bad_inputs(inputs, name):
    base = {"image": rand(1, 60, 100, 3), "upscale_method": "bilinear", "megapixels": 0.01}
    refused("ImageScaleToTotalPixels", name, **{**base, **inputs})


# ---------------------------------------------------------------------------- ResizeImagesByLongerEdge

def pil_resize(frame: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    pil = Image.fromarray(np.clip(frame.numpy() * 255, 0, 255).astype(np.uint8))
    return np.asarray(pil.resize(size, Image.Resampling.LANCZOS)).astype(np.float32) / 255.0


@pytest.mark.parametrize("height,width,longer,size", [
    (20, 30, 16, (16, 10)),   # landscape: 20·16/30 = 10.67, truncated
    (30, 20, 16, (10, 16)),   # portrait
    (12, 12, 7, (7, 7)),      # square: the height takes the edge
    (20, 30, 45, (45, 30)),   # enlarging
])
def test_resize_by_longer_edge_is_pillow_lanczos_per_frame(height, width, longer, size):
    images = rand(3, height, width, 3, seed=5)
    (out,) = run("ResizeImagesByLongerEdge", images=images, longer_edge=longer)
    assert out.shape == (3, size[1], size[0], 3)
    for frame, got in zip(images, out):
        assert np.array_equal(got.numpy(), pil_resize(frame, size))


def test_resize_by_longer_edge_keeps_alpha():
    images = rand(1, 10, 20, 4, seed=6)
    (out,) = run("ResizeImagesByLongerEdge", images=images, longer_edge=8)
    assert out.shape == (1, 4, 8, 4) and np.array_equal(out[0].numpy(), pil_resize(images[0], (8, 4)))


@pytest.mark.parametrize("inputs,name", [
    ({"longer_edge": 0}, "longer_edge"),
    ({"longer_edge": 9000}, "longer_edge"),
    ({"images": rand(1, 1, 100, 3), "longer_edge": 10}, "longer_edge"),  # 100x1 → 10x0
    ({"images": rand(1, 10, 10, 1)}, "images"),
    ({"images": None}, "images"),
])
def test_resize_by_longer_edge_refuses_bad_inputs(inputs, name):
    refused("ResizeImagesByLongerEdge", name, **{**{"images": rand(1, 10, 10, 3), "longer_edge": 8}, **inputs})


# ---------------------------------------------------------------------------- AdjustContrast

@pytest.mark.parametrize("factor", [0.0, 0.5, 1.0, 1.7, 2.0])
def test_adjust_contrast_about_mid_grey(factor):
    images = rand(2, 5, 6, 3, seed=7)
    (out,) = run("AdjustContrast", images=images, factor=factor)
    expected = np.clip((images.numpy() - 0.5) * factor + 0.5, 0.0, 1.0)
    assert np.allclose(out.numpy(), expected, atol=1e-7)
    if factor == 0.0:
        assert torch.all(out == 0.5)


@pytest.mark.parametrize("inputs,name", [({"factor": 2.5}, "factor"), ({"factor": -0.1}, "factor"),
                                         ({"factor": "high"}, "factor"), ({"images": torch.zeros(3, 3)}, "images")])
def test_adjust_contrast_refuses_bad_inputs(inputs, name):
    refused("AdjustContrast", name, **{**{"images": rand(1, 4, 4, 3), "factor": 1.0}, **inputs})


# ---------------------------------------------------------------------------- SetLatentNoiseMask

def test_set_latent_noise_mask_stores_frames_by_one_channel():
    latent = {"samples": torch.zeros(1, 16, 3, 4, 4), "batch_index": [0]}
    mask = rand(9, 32, 32)
    (out,) = run("SetLatentNoiseMask", samples=latent, mask=mask)
    assert out["noise_mask"].shape == (9, 1, 32, 32) and torch.equal(out["noise_mask"][:, 0], mask)
    assert out["samples"] is latent["samples"] and out["batch_index"] == [0]
    assert "noise_mask" not in latent  # a new LATENT, the input untouched
    (single,) = run("SetLatentNoiseMask", samples=latent, mask=mask[0])
    assert single["noise_mask"].shape == (1, 1, 32, 32)


@pytest.mark.parametrize("inputs,name", [({"samples": torch.zeros(1, 16, 1, 4, 4)}, "samples"),
                                         ({"mask": torch.zeros(4)}, "mask"), ({"mask": "all"}, "mask")])
def test_set_latent_noise_mask_refuses_bad_inputs(inputs, name):
    base = {"samples": {"samples": torch.zeros(1, 16, 1, 4, 4)}, "mask": torch.ones(1, 8, 8)}
    refused("SetLatentNoiseMask", name, **{**base, **inputs})


def test_noise_mask_is_fitted_to_the_video_latent_as_comfyui():
    from wfrun.packs.comfy_core_models.latent_nodes import reshape_mask

    # 9 pixel frames over 3 latent frames, trilinear without aligned corners: frame i of
    # the latent samples mask frame (i + 0.5)·9/3 - 0.5 = 3i + 1, a whole frame each
    mask = torch.stack([torch.full((4, 4), float(k)) for k in range(9)])
    fitted = reshape_mask(mask.reshape(-1, 1, 4, 4), (2, 16, 3, 4, 4))
    assert fitted.shape == (2, 16, 3, 4, 4)
    assert torch.allclose(fitted[:, :, :, 0, 0], torch.tensor([1.0, 4.0, 7.0]).expand(2, 16, 3))
    # one frame at pixel size: every latent frame gets its bilinear reduction
    image_mask = rand(1, 1, 32, 48, seed=8)
    fitted = reshape_mask(image_mask, (1, 16, 5, 4, 6))
    expected = F.interpolate(image_mask, size=(4, 6), mode="bilinear")[0, 0]
    assert torch.allclose(fitted, expected.expand(1, 16, 5, 4, 6), atol=1e-6)
    # already the latent's size (Wan22ImageToVideoLatent's [B, 1, T, h, w]): values unchanged
    exact = (rand(2, 1, 3, 4, 4, seed=9) > 0.5).float()
    assert torch.equal(reshape_mask(exact, (2, 48, 3, 4, 4)), exact.expand(2, 48, 3, 4, 4))


# ---------------------------------------------------------------------------- on the tiny Wan models

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    return node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")[0]


def test_ksampler_keeps_the_latent_frames_a_pixel_frame_mask_keeps(ctx):
    model, = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    clip, = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    cond, = node("CLIPTextEncode")(ctx, text="a fox in the snow", clip=clip)
    samples = rand(1, 16, 3, 4, 4, seed=10) * 2 - 1
    mask = torch.ones(9, 32, 32)
    mask[:3] = 0.0  # pixel frames 0-2: latent frame 0 samples pixel frame 1, kept
    latent, = node("SetLatentNoiseMask")(ctx, samples={"samples": samples}, mask=mask)
    out, = node("KSampler")(ctx, model=model, seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple",
                            positive=cond, negative=cond, latent_image=latent, denoise=1.0)
    assert torch.allclose(out["samples"][:, :, 0], samples[:, :, 0], atol=1e-4)
    assert not torch.allclose(out["samples"][:, :, 1:], samples[:, :, 1:], atol=1e-2)
    assert torch.equal(out["noise_mask"], latent["noise_mask"])


def smooth_video(frames: int, height: int, width: int, seed: int) -> torch.Tensor:
    coarse = rand(frames, 3, 4, 6, seed=seed)
    return F.interpolate(coarse, size=(height, width), mode="bicubic").clamp(0, 1).movedim(1, -1)


def plain_encode(vae, video: torch.Tensor) -> torch.Tensor:
    """A [T, H, W, 3] piece through the VAE in one plain run: raw latents [1, 16, t, h, w]."""
    return encode_raw(vae.vae, vae.dtype, video.movedim(-1, 0).unsqueeze(0) * 2 - 1, "cpu")


def test_encode_tiled_in_one_tile_is_the_plain_encode(ctx, vae):
    video = smooth_video(5, 32, 48, seed=11)
    tiled, = node("VAEEncodeTiled")(ctx, pixels=video, vae=vae)  # 512-pixel, 64-frame tiles
    plain, = node("VAEEncode")(ctx, pixels=video, vae=vae)
    assert torch.equal(tiled["samples"], plain["samples"])


def test_encode_tiled_blends_two_spatial_tiles_as_comfyui(ctx, vae):
    # 64 x 192, tiles of 128 with overlap 64: starts 0 and 64 along the width (range(0,
    # 192 - 64, 64)), one tile in height; latent width 24, tiles of 16 at 0 and 8; each
    # tile weighted by a ramp k/8 (k = 1..8) over 8 latent columns at both of its sides
    video = smooth_video(1, 64, 192, seed=12)
    left, right = plain_encode(vae, video[:, :, :128]), plain_encode(vae, video[:, :, 64:])
    ramp = torch.ones(16)
    ramp[:8] = torch.arange(1, 9) / 8
    ramp[8:] = torch.arange(8, 0, -1) / 8
    total = torch.zeros(1, 16, 1, 8, 24)
    weight = torch.zeros(24)
    total[..., :16] += left * ramp
    total[..., 8:] += right * ramp
    weight[:16] += ramp
    weight[8:] += ramp
    expected = total / weight
    tiled, = node("VAEEncodeTiled")(ctx, pixels=video, vae=vae, tile_size=128, overlap=64)
    assert torch.allclose(tiled["samples"], expected, atol=1e-5)
    # and it stays close to encoding the whole image at once
    plain, = node("VAEEncode")(ctx, pixels=video, vae=vae)
    assert (tiled["samples"] - plain["samples"]).norm() < 0.15 * plain["samples"].norm()


def test_encode_tiled_splits_time_as_comfyui(ctx, vae):
    # 10 frames are cut to 9 (whole latent frames); temporal_size 8 → 2 latent frames → 5
    # frames a tile; temporal_overlap 4 → 1 latent frame → 1 frame: starts range(0, 8, 4) = 0,
    # 4; each tile a causal run of its own; latent frame 1 is the mean of the first tile's
    # second latent frame and the second tile's first (a 1-wide ramp weighs 1)
    video = smooth_video(10, 16, 16, seed=13)
    first, second = plain_encode(vae, video[0:5]), plain_encode(vae, video[4:9])
    expected = torch.cat([first[:, :, :1], (first[:, :, 1:2] + second[:, :, :1]) / 2, second[:, :, 1:]], dim=2)
    tiled, = node("VAEEncodeTiled")(ctx, pixels=video, vae=vae, temporal_size=8, temporal_overlap=4)
    assert tiled["samples"].shape == (1, 16, 3, 2, 2)
    assert torch.allclose(tiled["samples"], expected, atol=1e-5)


@pytest.mark.parametrize("inputs,name", [
    ({"overlap": 512}, "overlap"),
    ({"tile_size": 100}, "tile_size"),
    ({"overlap": 12}, "overlap"),
    ({"tile_size": 32}, "tile_size"),
    ({"temporal_size": 2}, "temporal_size"),
    ({"temporal_overlap": 1.5}, "temporal_overlap"),
    ({"pixels": torch.zeros(4, 4, 3)}, "pixels"),
    ({"pixels": torch.zeros(1, 4, 4, 3)}, "pixels"),  # below the 8-pixel grid
    ({"vae": "wan_2.1_vae.safetensors"}, "vae"),
])
def test_encode_tiled_refuses_bad_inputs(ctx, vae, inputs, name):
    base = {"pixels": torch.zeros(1, 16, 16, 3), "vae": vae}
    refused("VAEEncodeTiled", name, ctx, **{**base, **inputs})
