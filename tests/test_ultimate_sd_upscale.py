"""UltimateSDUpscaleNoUpscale (ComfyUI_UltimateSDUpscale 1.7.1): the tile grid against the
script's mask-and-bounding-box rules computed here with PIL, and the redraw loop against
stub core executors (encode/sample/decode) put in the registry's place."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.ultimate_sd_upscale import grid, upscale


def reference_tile(xi, yi, w, h, tw, th, pad, uniform):
    """The script's documented steps, with a real PIL mask: draw the tile rectangle white, take
    the mask's bounding box, pad and clamp it, drop the extra far pixel unless at the edge, then
    grow it to the target size (half right/bottom first)."""
    mask = Image.new("L", (w, h), "black")
    ImageDraw.Draw(mask).rectangle((xi * tw, yi * th, xi * tw + tw, yi * th + th), fill="white")
    x1, y1, x2, y2 = mask.getbbox()
    x1, y1, x2, y2 = max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, w), min(y2 + pad, h)
    x2 -= x2 < w
    y2 -= y2 < h
    cw, ch = x2 - x1, y2 - y1
    if uniform:
        pw, ph = round((tw + pad) / 8) * 8, round((th + pad) / 8) * 8
        tgt = (cw, round(cw / (pw / ph))) if cw / ch > pw / ph else (round(ch * (pw / ph)), ch)
        size = (pw, ph)
    else:
        tgt = (math.ceil(cw / 8) * 8, math.ceil(ch / 8) * 8)
        size = tgt

    def grow(a, b, target, limit):
        b = min(b + (target - (b - a)) // 2, limit)
        a = max(a - (target - (b - a)), 0)
        return a, min(b + (target - (b - a)), limit)

    (x1, x2), (y1, y2) = grow(x1, x2, tgt[0], w), grow(y1, y2, tgt[1], h)
    return (x1, y1, x2, y2), size


@pytest.mark.parametrize("w,h,tw,th,pad", [(640, 640, 512, 512, 32), (896, 512, 512, 512, 32),
                                            (1000, 744, 256, 320, 16), (128, 96, 512, 512, 32), (520, 200, 64, 64, 0)])
@pytest.mark.parametrize("uniform", [True, False])
def test_grid_matches_the_scripts_mask_rules(w, h, tw, th, pad, uniform):
    rows, cols = grid.grid_shape(w, h, tw, th)
    assert (rows, cols) == (-(-h // th), -(-w // tw))
    for yi in range(rows):
        for xi in range(cols):
            tile = grid.tile_for(xi, yi, w, h, tw, th, pad, uniform)
            assert (tile.crop, tile.size) == reference_tile(xi, yi, w, h, tw, th, pad, uniform)


def test_chess_takes_the_top_left_colour_first_then_the_other():
    order = grid.tile_order(3, 3, "Chess")
    assert order[:5] == [(0, 0), (2, 0), (1, 1), (0, 2), (2, 2)]
    assert order[5:] == [(1, 0), (0, 1), (2, 1), (1, 2)]
    assert grid.tile_order(2, 3, "Linear") == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]


class Stubs:
    """Core executors stand-ins: encode keeps the pixels as the latent, the sampler hands them to
    ``redraw`` (identity by default), decode returns them; every encoded batch is recorded."""

    def __init__(self, redraw=lambda x: x):
        self.encoded, self.redraw = [], redraw

    def __call__(self, name):
        def encode(ctx, pixels, vae):
            self.encoded.append(pixels.clone())
            return ({"samples": pixels},)

        def ksampler(ctx, latent_image, **kw):
            assert kw["denoise"] == 0.2 and kw["seed"] == 7
            return ({"samples": self.redraw(latent_image["samples"])},)

        def decode(ctx, samples, vae, **_):
            return (samples["samples"],)
        return {"VAEEncode": encode, "KSampler": ksampler, "VAEDecode": decode, "VAEDecodeTiled": decode}[name]


def run(image, **over):
    args = dict(model=None, positive=[], negative=[], vae=None, seed=7, steps=2, cfg=1.0, sampler_name="euler",
                scheduler="simple", denoise=0.2, mode_type="Linear", tile_width=64, tile_height=64, mask_blur=8,
                tile_padding=16, seam_fix_mode="None", force_uniform_tiles=True, tiled_decode=False, batch_size=1)
    args.update(over)
    return upscale.ultimate_sd_upscale_no_upscale(ExecContext(), upscaled_image=image, **args)[0]


def bytes_image(frames, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, h, w, 3), generator=g).float() / 255.0


def reference_canvas(image):
    """The pack with no upscale model at ``upscale_by`` 1, computed here with PIL: the script's
    factor chain for a scale of 1 is empty (``while current < 1`` never runs), so every image is
    only resized (LANCZOS) to the canvas, the size rounded to multiples of 8."""
    pics = [Image.fromarray((image[i] * 255).byte().numpy()) for i in range(image.shape[0])]
    size = (round(pics[0].width / 8) * 8, round(pics[0].height / 8) * 8)
    return [p.resize(size, Image.Resampling.LANCZOS) for p in pics]


def reference_redraw(canvas, tiles, blur):
    """The redraw loop with an identity sampler, the script's way: each tile's padded crop of
    every image is resized to the sampling size and back, and pasted through the tile's
    rectangle (drawn with ImageDraw, blurred) limited to the crop (Image.composite)."""
    images = list(canvas)
    for tile in tiles:
        mask = Image.new("L", images[0].size, 0)
        ImageDraw.Draw(mask).rectangle(tile.rect, fill=255)
        if blur:
            mask = mask.filter(ImageFilter.GaussianBlur(blur))
        for i, im in enumerate(images):
            crop = im.crop(tile.crop)
            redrawn = crop if crop.size == tile.size else crop.resize(tile.size, Image.Resampling.LANCZOS)
            if redrawn.size != crop.size:
                redrawn = redrawn.resize(crop.size, Image.Resampling.LANCZOS)
            out = im.copy()
            out.paste(Image.composite(redrawn, crop, mask.crop(tile.crop)), tile.crop[:2])
            images[i] = out
    return images


@pytest.mark.parametrize("mode", ["Linear", "Chess"])
@pytest.mark.parametrize("uniform", [True, False])
def test_identity_sampler_matches_the_scripts_loop_and_sees_each_padded_crop(monkeypatch, mode, uniform):
    stubs = Stubs()
    monkeypatch.setattr(upscale, "_core", stubs)
    image = bytes_image(2, 96, 136)
    out = run(image, mode_type=mode, force_uniform_tiles=uniform)
    tiles = [grid.tile_for(xi, yi, 136, 96, 64, 64, 16, uniform) for xi, yi in grid.tile_order(2, 3, mode)]
    expected = reference_redraw(reference_canvas(image), tiles, blur=8)
    expected = torch.from_numpy(np.stack([np.asarray(c, dtype=np.float32) / 255.0 for c in expected]))
    torch.testing.assert_close(out, expected, atol=1 / 255 + 1e-6, rtol=0)  # PIL's two blends round differently
    assert len(stubs.encoded) == len(tiles) == 6
    assert all(pixels.shape[0] == 2 for pixels in stubs.encoded)  # one crop per image, encoded together
    # the first tile sees the canvas itself (nothing redrawn yet)
    for i, canvas in enumerate(reference_canvas(image)):
        crop = canvas.crop(tiles[0].crop)
        if crop.size != tiles[0].size:
            crop = crop.resize(tiles[0].size, Image.Resampling.LANCZOS)
        assert np.array_equal((stubs.encoded[0][i].numpy() * 255).round().astype(np.uint8), np.asarray(crop))


def test_without_resizing_an_identity_redraw_is_lossless(monkeypatch):
    """Non-uniform tiles whose padded crops are already multiples of 8 go through unresized, so
    an identity sampler returns the image itself."""
    monkeypatch.setattr(upscale, "_core", Stubs())
    image = bytes_image(2, 96, 136)
    out = run(image, force_uniform_tiles=False, tile_width=136, tile_height=96, tile_padding=0)
    expected = torch.from_numpy(np.stack([np.asarray(c, dtype=np.float32) / 255.0 for c in reference_canvas(image)]))
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    assert torch.equal(out, image)


def test_one_redrawn_tile_is_blended_through_the_blurred_mask_inside_its_crop(monkeypatch):
    monkeypatch.setattr(upscale, "_core", Stubs(redraw=torch.ones_like))
    image = bytes_image(1, 64, 64, seed=3)            # one tile: its crop is the whole image
    out = run(image, tile_width=128, tile_height=128, mask_blur=4, tile_padding=0)
    base = reference_canvas(image)[0]
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 128, 128), fill="white")
    mask = mask.filter(ImageFilter.GaussianBlur(4))
    expected = Image.composite(Image.new("RGB", (64, 64), "white"), base, mask)
    assert np.abs(out[0].numpy() * 255 - np.asarray(expected, dtype=np.float32)).max() <= 1.0


def test_decode_shorter_than_the_batch_leaves_later_images(monkeypatch):
    """A Wan VAE turns 2 frames into 1 latent and back into 1 picture: the second image stays."""
    monkeypatch.setattr(upscale, "_core", Stubs(redraw=lambda x: torch.ones_like(x[:1])))
    image = bytes_image(2, 32, 32)
    out = run(image, mask_blur=0)
    assert torch.equal(out[0], torch.ones_like(out[0])) and torch.equal(out[1], image[1])


def test_canvas_is_rounded_to_eight_with_lanczos_and_mode_none_stops_there():
    image = bytes_image(1, 60, 100)
    out = run(image, mode_type="None")
    expected = reference_canvas(image)[0]   # 96x64: round(12.5)=12 and round(7.5)=8 (to even)
    assert out.shape == (1, 64, 96, 3)
    assert np.array_equal((out[0].numpy() * 255).round().astype(np.uint8), np.asarray(expected))


@pytest.mark.parametrize("name,value", [("seam_fix_mode", "Half Tile"), ("seam_fix_mode", "Band Pass"),
                                        ("batch_size", 2), ("mode_type", "Spiral")])
def test_refuses_what_it_does_not_reproduce(monkeypatch, name, value):
    monkeypatch.setattr(upscale, "_core", Stubs())
    with pytest.raises(NodeInputError) as err:
        run(bytes_image(1, 32, 32), **{name: value})
    assert err.value.input_name == name if hasattr(err.value, "input_name") else True
