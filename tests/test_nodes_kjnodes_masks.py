"""KJNodes' BlockifyMask, DrawMaskOnImage and GrowMaskWithBlur against references written
here: a per-block loop, the blend formula, and scipy's grey morphology."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_fill_holes, grey_dilation, grey_erosion

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def _blockify_reference(mask: np.ndarray, block: int) -> np.ndarray:
    out = np.zeros_like(mask)
    ys, xs = np.nonzero(mask > 0)
    if len(ys) == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    hd, wd = max(1, (y1 - y0) // block), max(1, (x1 - x0) // block)
    hs, ws = (y1 - y0) // hd, (x1 - x0) // wd
    for by in range(hd):
        for bx in range(wd):
            ya, yb = y0 + by * hs, (y1 if by == hd - 1 else y0 + (by + 1) * hs)
            xa, xb = x0 + bx * ws, (x1 if bx == wd - 1 else x0 + (bx + 1) * ws)
            out[ya:yb, xa:xb] = 1.0 if mask[ya:yb, xa:xb].sum() > 0 else 0.0
    return out


def test_blockify_fills_blocks_that_hold_any_mask():
    g = torch.Generator().manual_seed(0)
    masks = (torch.rand(3, 80, 100, generator=g) > 0.985).float()
    masks[2] = 0  # an empty frame stays empty
    (out,) = node("BlockifyMask")(CTX, masks=masks, block_size=16)
    for i in range(3):
        np.testing.assert_array_equal(out[i].numpy(), _blockify_reference(masks[i].numpy(), 16))
    assert float(out[2].sum()) == 0


def test_draw_mask_on_image_blends_the_colour():
    g = torch.Generator().manual_seed(1)
    image, mask = torch.rand(2, 6, 8, 3, generator=g), torch.rand(1, 6, 8, generator=g)
    (out,) = node("DrawMaskOnImage")(CTX, image=image, mask=mask, color="255, 0, 0, 128")
    m = mask[0].unsqueeze(-1) * (128 / 255)
    expected = image * (1 - m) + torch.tensor([1.0, 0.0, 0.0]) * m
    torch.testing.assert_close(out, expected)
    (hexed,) = node("DrawMaskOnImage")(CTX, image=image, mask=mask, color="#ff000080")
    torch.testing.assert_close(hexed, expected)
    with pytest.raises(NodeInputError):
        node("DrawMaskOnImage")(CTX, image=image, mask=mask, color="red")


def test_draw_mask_resizes_the_mask_nearest():
    image, mask = torch.zeros(1, 4, 4, 3), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    (out,) = node("DrawMaskOnImage")(CTX, image=image, mask=mask, color="0, 0, 1.0")
    assert torch.equal(out[0, :2, :2, 2], torch.ones(2, 2)) and float(out[0, 2:, :, 2].sum()) == 0


@pytest.mark.parametrize("expand,tapered", [(3, True), (2, False), (-2, True), (-1, False)])
def test_grow_is_grey_morphology(expand, tapered):
    g = torch.Generator().manual_seed(2)
    mask = (torch.rand(2, 20, 24, generator=g) > 0.8).float()
    mask[1] = torch.rand(20, 24, generator=g)  # soft values too
    (out, inverted) = node("GrowMaskWithBlur")(CTX, mask=mask, expand=expand, incremental_expandrate=0.0,
                                                tapered_corners=tapered, flip_input=False, blur_radius=0.0,
                                                lerp_alpha=1.0, decay_factor=1.0)
    footprint = CROSS if tapered else np.ones((3, 3), dtype=bool)
    op = grey_dilation if expand > 0 else grey_erosion
    for i in range(2):
        expected = mask[i].numpy()
        for _ in range(abs(expand)):
            expected = op(expected, footprint=footprint, mode="nearest")
        np.testing.assert_allclose(out[i].numpy(), expected)
    torch.testing.assert_close(inverted, 1.0 - out)


def test_grow_rate_fill_holes_and_decay():
    ring = torch.zeros(1, 9, 9)
    ring[0, 2:7, 2:7] = 1
    ring[0, 3:6, 3:6] = 0
    (filled, _) = node("GrowMaskWithBlur")(CTX, mask=ring, expand=0, tapered_corners=True, flip_input=False,
                                           blur_radius=0.0, fill_holes=True)
    np.testing.assert_array_equal(filled[0].numpy(), binary_fill_holes(ring[0].numpy() > 0).astype(np.float32))
    dots = torch.zeros(3, 9, 9)
    dots[:, 4, 4] = 1
    (grown, _) = node("GrowMaskWithBlur")(CTX, mask=dots, expand=0, incremental_expandrate=1.0, tapered_corners=False,
                                          flip_input=False, blur_radius=0.0)
    assert [int(f.sum()) for f in grown] == [1, 9, 25]  # 0, 1, 2 steps of a square
    (decayed, _) = node("GrowMaskWithBlur")(CTX, mask=dots, expand=0, tapered_corners=True, flip_input=False,
                                            blur_radius=0.0, decay_factor=0.5)
    assert float(decayed.max()) == pytest.approx(1.0)


def test_grow_blur_is_pillows_gaussian_on_8_bits():
    from PIL import Image, ImageFilter

    mask = torch.zeros(1, 16, 16)
    mask[0, 6:10, 6:10] = 1
    (out, _) = node("GrowMaskWithBlur")(CTX, mask=mask, expand=0, tapered_corners=True, flip_input=True,
                                        blur_radius=2.0)
    pixels = ((1.0 - mask[0]).numpy() * 255).astype(np.uint8)
    expected = np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(2.0)), dtype=np.float32) / 255
    np.testing.assert_allclose(out[0].numpy(), expected)


def test_latent_range_along_frames_and_batch():
    video = {"samples": torch.arange(2 * 3 * 6).float().reshape(1, 2, 6, 1, 3), "noise_mask": torch.ones(1)}
    (out,) = node("GetLatentRangeFromBatch")(CTX, latents=video, start_index=1, num_frames=2)
    assert torch.equal(out["samples"], video["samples"][:, :, 1:3]) and set(out) == {"samples"}
    (last,) = node("GetLatentRangeFromBatch")(CTX, latents=video, start_index=-1, num_frames=4)
    assert torch.equal(last["samples"], video["samples"][:, :, 2:])
    (rest,) = node("GetLatentRangeFromBatch")(CTX, latents={"samples": torch.zeros(5, 4, 2, 2)}, start_index=3,
                                              num_frames=-1)
    assert rest["samples"].shape[0] == 2
    with pytest.raises(NodeInputError):
        node("GetLatentRangeFromBatch")(CTX, latents=video, start_index=6, num_frames=1)


def test_replace_images_in_batch():
    original, new = torch.zeros(5, 4, 6, 3), torch.ones(2, 4, 6, 3)
    images, masks = node("ReplaceImagesInBatch")(CTX, start_index=2, original_images=original, replacement_images=new)
    assert [float(f.mean()) for f in images] == [0, 0, 1, 1, 0] and masks.shape == (1, 64, 64)
    assert float(original.sum()) == 0  # the input is not changed
    (_, m) = node("ReplaceImagesInBatch")(CTX, start_index=0, original_masks=torch.zeros(3, 8, 8),
                                         replacement_masks=torch.ones(1, 4, 4))
    assert float(m[0].min()) == 1.0 and float(m[1:].sum()) == 0  # resized to 8x8 (nearest)
    with pytest.raises(NodeInputError):
        node("ReplaceImagesInBatch")(CTX, start_index=4, original_images=original, replacement_images=new)
