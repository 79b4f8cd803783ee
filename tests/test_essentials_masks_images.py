"""ComfyUI_essentials' mask and image nodes against independent references: kornia's and
scipy's Gaussian filters for torchvision's blur, PIL for greyscale, cropping, flipping and
pasting, numpy for boxes and blends, and hand-computed cases for the batch rules."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
from PIL import Image

import kornia
from node_helpers import node
from wfrun.media.blur import default_sigma, gaussian_blur
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def rand_image(frames=2, h=12, w=16, seed=0):
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


def rand_mask(frames=2, h=12, w=16, seed=1):
    return torch.rand(frames, h, w, generator=torch.Generator().manual_seed(seed))


# --- the blur ------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [3, 5, 7, 11])
def test_blur_is_torchvisions_gaussian_by_kornia_and_scipy(size):
    masks = rand_mask(2, 14, 18)
    ours = gaussian_blur(masks, size)
    sigma = default_sigma(size)
    by_kornia = kornia.filters.gaussian_blur2d(masks.unsqueeze(1), (size, size), (sigma, sigma),
                                               border_type="reflect").squeeze(1)
    torch.testing.assert_close(ours, by_kornia, rtol=1e-5, atol=1e-6)
    by_scipy = np.stack([scipy.ndimage.gaussian_filter(m, sigma, mode="mirror", radius=size // 2)
                         for m in masks.double().numpy()])
    np.testing.assert_allclose(ours.numpy(), by_scipy, rtol=1e-5, atol=1e-6)


def test_mask_blur_makes_even_sizes_odd_and_zero_is_identity():
    masks = rand_mask()
    (out,) = node("MaskBlur+")(CTX, mask=masks, amount=4)
    torch.testing.assert_close(out, gaussian_blur(masks, 5))
    assert node("MaskBlur+")(CTX, mask=masks, amount=0)[0] is masks
    (old,) = node("MaskBlur+")(CTX, mask=masks, size=3, sigma=2.0)  # the 2023-09 signature
    ref = kornia.filters.gaussian_blur2d(masks.unsqueeze(1), (3, 3), (2.0, 2.0), border_type="reflect")[:, 0]
    torch.testing.assert_close(old, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(NodeInputError):
        node("MaskBlur+")(CTX, mask=torch.rand(1, 3, 3), amount=9)


def test_mask_smooth_is_a_majority_vote_of_the_thresholded_mask():
    masks = rand_mask(2, 16, 16)
    (out,) = node("MaskSmooth+")(CTX, mask=masks, amount=6)
    sigma = default_sigma(7)
    blurred = kornia.filters.gaussian_blur2d((masks > 0.5).float().unsqueeze(1), (7, 7), (sigma, sigma),
                                             border_type="reflect")[:, 0]
    assert torch.equal(out, (blurred > 0.5).float())


def test_mask_fix_order_on_hand_made_masks():
    hole = torch.ones(1, 9, 9)
    hole[0, 4, 4] = 0.0
    (filled,) = node("MaskFix+")(CTX, mask=hole, fill_holes=3)
    assert torch.equal(filled, torch.ones(1, 9, 9))
    speck = torch.zeros(1, 9, 9)
    speck[0, 2, 2] = 1.0
    (clean,) = node("MaskFix+")(CTX, mask=speck, remove_isolated_pixels=2)
    assert clean.sum() == 0
    (grown,) = node("MaskFix+")(CTX, mask=speck, erode_dilate=3)
    assert grown.sum() == 9 and grown[0, 1:4, 1:4].sum() == 9
    (shrunk,) = node("MaskFix+")(CTX, mask=grown, erode_dilate=-3)
    assert torch.equal(shrunk, speck)


# --- masks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("axis,dims", [("x", (2,)), ("y", (1,)), ("xy", (1, 2))])
def test_flips_match_numpy(axis, dims):
    masks, images = rand_mask(), rand_image()
    assert np.array_equal(node("MaskFlip+")(CTX, mask=masks, axis=axis)[0].numpy(), np.flip(masks.numpy(), dims))
    assert np.array_equal(node("ImageFlip+")(CTX, image=images, axis=axis)[0].numpy(),
                          np.flip(images.numpy(), dims))


def test_mask_bounding_box_by_numpy():
    masks = torch.zeros(2, 20, 30)
    masks[0, 3:6, 4:9] = 1.0
    masks[1, 10, 20] = 0.5
    picture = rand_image(1, 20, 30)
    out_mask, out_image, x, y, w, h = node("MaskBoundingBox+")(CTX, mask=masks, padding=2, image_optional=picture)
    ys, xs = np.nonzero(masks.numpy().max(axis=0))
    x1, y1 = max(0, xs.min() - 2), max(0, ys.min() - 2)
    x2, y2 = min(30, xs.max() + 3), min(20, ys.max() + 3)
    assert (x, y, w, h) == (x1, y1, x2 - x1, y2 - y1)
    assert torch.equal(out_mask, masks[:, y1:y2, x1:x2])
    assert out_image.shape[0] == 2 and torch.equal(out_image[1], picture[0, y1:y2, x1:x2])
    with pytest.raises(NodeInputError):
        node("MaskBoundingBox+")(CTX, mask=torch.zeros(1, 4, 4))


def test_mask_batch_expand_and_from_batch():
    a, b = rand_mask(2), rand_mask(1, seed=5)
    (joined,) = node("MaskBatch+")(CTX, mask1=a, mask2=b)
    assert joined.shape == (3, 12, 16) and torch.equal(joined[2], b[0])
    frames = torch.arange(4.0).view(4, 1, 1).expand(4, 2, 2)
    levels = lambda m: m[:, 0, 0].tolist()  # noqa: E731
    assert levels(node("MaskExpandBatch+")(CTX, mask=frames, size=7, method="expand")[0]) == [0, 0, 1, 2, 2, 3, 3]
    assert levels(node("MaskExpandBatch+")(CTX, mask=frames, size=3, method="expand")[0]) == [0, 2, 3]
    assert levels(node("MaskExpandBatch+")(CTX, mask=frames, size=6, method="repeat all")[0]) == [0, 1, 2, 3, 0, 1]
    assert levels(node("MaskExpandBatch+")(CTX, mask=frames, size=6, method="repeat first")[0]) == [0, 0, 0, 1, 2, 3]
    assert levels(node("MaskExpandBatch+")(CTX, mask=frames, size=6, method="repeat last")[0]) == [0, 1, 2, 3, 3, 3]
    assert levels(node("MaskFromBatch+")(CTX, mask=frames, start=2, length=5)[0]) == [2, 3]
    assert levels(node("MaskFromBatch+")(CTX, mask=frames, start=9, length=1)[0]) == [3]


def test_mask_from_list_and_from_colours():
    (flat,) = node("MaskFromList+")(CTX, width=3, height=2, values=[0.25, 2.0], str_values="0.5, -1")
    assert flat.shape == (4, 2, 3) and flat[:, 0, 0].tolist() == [0.25, 1.0, 0.5, 0.0]
    colours = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1],
                            [0.5, 0.5, 0.5]], dtype=torch.float32).view(1, 1, 9, 3)
    masks = node("MaskFromRGBCMYBW+")(CTX, image=colours)
    for i, m in enumerate(masks):  # red, green, blue, cyan, magenta, yellow, black, white: pixel i only
        assert m[0, 0].tolist() == [float(j == i) for j in range(9)], i


# --- images --------------------------------------------------------------------------------

@pytest.mark.parametrize("position,offsets", [("center", (0, 0)), ("bottom-right", (0, 0)), ("top-left", (3, 2)),
                                              ("right-center", (5, -9))])
def test_image_crop_by_pil(position, offsets):
    images = rand_image(1, 20, 30)
    out, x, y = node("ImageCrop+")(CTX, image=images, width=16, height=8, position=position,
                                   x_offset=offsets[0], y_offset=offsets[1])
    pil = Image.fromarray((images[0].numpy() * 255).astype(np.uint8))
    ref = np.asarray(pil.crop((x, y, x + out.shape[2], y + out.shape[1]))) / 255
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1 / 255)
    expected = {"center": (7, 6), "bottom-right": (14, 12), "top-left": (3, 2), "right-center": (19, 0)}[position]
    assert (x, y) == expected


def test_desaturate_rec601_is_pils_greyscale():
    pixels = (rand_image(1, 8, 8) * 255).round() / 255
    (grey,) = node("ImageDesaturate+")(CTX, image=pixels, factor=1.0, method="luminance (Rec.601)")
    pil = np.asarray(Image.fromarray((pixels[0].numpy() * 255).astype(np.uint8)).convert("L")) / 255
    np.testing.assert_allclose(grey[0, ..., 0].numpy(), pil, atol=1.01 / 255)
    (half,) = node("ImageDesaturate+")(CTX, image=pixels, factor=0.5, method="average")
    torch.testing.assert_close(half, 0.5 * pixels + 0.5 * pixels.mean(3, keepdim=True))
    with pytest.raises(NodeInputError):
        node("ImageDesaturate+")(CTX, image=pixels, factor=1.0, method=None)


def test_posterize_and_enhance_difference():
    images = rand_image()
    (poster,) = node("ImagePosterize+")(CTX, image=images, threshold=0.4)
    assert torch.equal(poster[..., 0], (images.mean(3) > 0.4).float()) and poster.shape == images.shape
    a, b = rand_image(seed=3), rand_image(seed=4)
    (diff,) = node("ImageEnhanceDifference+")(CTX, image1=a, image2=b, exponent=1.0)
    torch.testing.assert_close(diff, (a - b).clamp(0, 1))


def test_image_batch_multiple_resizes_to_the_first():
    a, b = rand_image(2, 12, 16), rand_image(1, 24, 32, seed=9)
    (out,) = node("ImageBatchMultiple+")(CTX, image_1=a, image_2=b, image_4=a, method="nearest-exact")
    assert out.shape == (5, 12, 16, 3) and torch.equal(out[:2], a) and torch.equal(out[3:], a)
    torch.testing.assert_close(out[2], b[0, 1::2, 1::2])  # nearest-exact halving: pixel 2i + 1


def test_image_composite_is_pils_paste_through_the_mask():
    dest, src = rand_image(1, 20, 30), rand_image(1, 6, 8, seed=2)
    weights = (rand_mask(1, 6, 8, seed=3) > 0.5).float()
    (out,) = node("ImageComposite+")(CTX, destination=dest, source=src, x=10, y=4, offset_x=2, offset_y=1,
                                     mask=weights)
    to8 = lambda t: Image.fromarray((t.numpy() * 255).round().astype(np.uint8))  # noqa: E731
    pil = to8(dest[0])
    pil.paste(to8(src[0]), (12, 5), Image.fromarray((weights[0].numpy() * 255).astype(np.uint8)))
    np.testing.assert_allclose(out[0].numpy(), np.asarray(pil) / 255, atol=0.6 / 255)
    with pytest.raises(NodeInputError):
        node("ImageComposite+")(CTX, destination=dest, source=src, x=25, y=0, offset_x=0, offset_y=0)


def test_composite_from_mask_batch_blends_per_mask():
    a, b, m = rand_image(1), rand_image(1, seed=7), rand_mask(3)
    (out,) = node("ImageCompositeFromMaskBatch+")(CTX, image_from=a, image_to=b, mask=m)
    ref = m[..., None].numpy() * b.numpy() + (1 - m[..., None].numpy()) * a.numpy()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-6)
    assert out.shape[0] == 3


def test_image_expand_batch_picks_like_the_pack():
    frames = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 2, 2, 3)
    (out,) = node("ImageExpandBatch+")(CTX, image=frames, size=8, method="expand")
    assert out[:, 0, 0, 0].tolist() == [0, 0, 1, 2, 2, 3, 4, 4]  # floor((i + 1/2) 5/8)


def test_tiles_cut_with_overlap_and_sew_back():
    image = torch.rand(1, 20, 30, 3)
    tiles, tw, th, ox, oy = node("ImageTile+")(CTX, image=image, rows=2, cols=3, overlap=0.0, overlap_x=4,
                                               overlap_y=2)
    assert (tw, th, ox, oy) == (14, 12, 4, 2) and tiles.shape == (6, 12, 14, 3)
    # tile (1, 2): rows 10-2..20, columns 20-4..30 of the image
    assert torch.equal(tiles[5], image[0, 8:20, 16:30])
    assert torch.equal(tiles[0], image[0, 0:12, 0:14])
    (back,) = node("ImageUntile+")(CTX, tiles=tiles, overlap_x=4, overlap_y=2, rows=2, cols=3)
    # overlapping tiles carry the same pixels, so any blend of them is the image again
    torch.testing.assert_close(back, image, rtol=1e-6, atol=1e-6)


def cas_reference(img: np.ndarray, amount: float) -> np.ndarray:
    """CAS per pixel with explicit loops over a zero-padded [H, W] plane."""
    p = np.pad(img, 1)
    out = np.zeros_like(img)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            win = p[y:y + 3, x:x + 3]
            cross = [win[0, 1], win[1, 0], win[1, 1], win[1, 2], win[2, 1]]
            diag = [win[0, 0], win[0, 2], win[2, 0], win[2, 2]]
            mn = max(min(cross), 0) + max(min(diag), 0)
            mx = min(max(cross), 1) + min(max(diag), 1)
            amp = np.sqrt(min(mn, 2 - mx) / (mx + 1e-5))
            w = -amp * (amount * (1 / 5 - 1 / 8) + 1 / 8)
            out[y, x] = np.clip(((cross[0] + cross[1] + cross[3] + cross[4]) * w + win[1, 1]) / (1 + 4 * w), 0, 1)
    return out


def test_cas_sharpening_by_the_per_pixel_rule():
    image = rand_image(1, 7, 9)
    (out,) = node("ImageCASharpening+")(CTX, image=image, amount=0.6)
    for ch in range(3):
        np.testing.assert_allclose(out[0, ..., ch].numpy(), cas_reference(image[0, ..., ch].double().numpy(), 0.6),
                                   rtol=1e-4, atol=1e-5)
