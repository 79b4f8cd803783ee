"""KJNodes' crop nodes: BatchCropFromMaskAdvanced, BatchUncropAdvanced, BboxVisualize,
ImageCropByMaskAndResize and the BBOX values they pass. Expected boxes are worked out by
hand below from the pack's documented rule (Python rounding: halves go to even); pixels
against plain slicing, numpy index arithmetic or Pillow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.bboxes import boxes

CTX = ExecContext()


def _images(frames: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _block(masks: torch.Tensor, frame: int, rows: tuple[int, int], cols: tuple[int, int]) -> None:
    masks[frame, rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = 1.0


def test_bboxes_read_kjnodes_tuples_and_native_dicts():
    assert boxes([(1, 2, 3, 4), (5, 6, 7, 8)], "b") == [(1, 2, 3, 4), (5, 6, 7, 8)]
    assert boxes((1.9, 2, 3, 4), "b") == [(1, 2, 3, 4)]  # one flat box, truncated to integers
    assert boxes({"x": 1, "y": 2, "width": 3, "height": 4}, "b") == [(1, 2, 3, 4)]
    assert boxes([{"x": 1, "y": 2, "width": 3, "height": 4}], "b", "xyxy") == [(1, 2, 4, 6)]
    assert boxes([[(1, 2, 3, 4)], [(5, 6, 7, 8)]], "b") == [(1, 2, 3, 4), (5, 6, 7, 8)]  # per-frame lists
    with pytest.raises(NodeInputError) as err:
        boxes("0,0,1,1", "bboxes")
    assert err.value.input_name == "bboxes"


def test_batch_crop_follows_the_smoothed_centre_at_a_16_multiple_side():
    images = _images(3, 64, 96)
    masks = torch.zeros(3, 64, 96)
    _block(masks, 0, (20, 29), (30, 39))  # extent 9, centre (34.5, 24.5) -> (34, 24)
    _block(masks, 1, (22, 31), (40, 49))  # extent 9, centre (44.5, 26.5) -> (44, 26)
    _block(masks, 2, (24, 35), (50, 61))  # extent 11, centre (55.5, 29.5) -> (56, 30)
    out = node("BatchCropFromMaskAdvanced")(CTX, original_images=images, masks=masks, crop_size_mult=3.0,
                                            bbox_smooth_alpha=0.5)
    original, crops, crop_masks, combined, combined_masks, frame_boxes, combined_box, bw, bh = out
    # side: round(0.5 * 11) = 6 (half to even), * 3 = 18, up to 32
    assert (bw, bh) == (32, 32)
    # centres: (34, 24); (round(39.0), round(25.0)); (round(47.5), round(27.5)) = (48, 28)
    assert frame_boxes == [(18, 8, 32, 32), (23, 9, 32, 32), (32, 12, 32, 32)]
    for i, (x, y, w, h) in enumerate(frame_boxes):
        assert torch.equal(crops[i], images[i, y:y + h, x:x + w])
        assert torch.equal(crop_masks[i], masks[i, y:y + h, x:x + w])
    # union extent x 30..61, y 20..35: side 31, centre (45.5, 27.5), half 15:
    # x round(30.5)=30 .. round(60.5)=60, y round(12.5)=12 .. round(42.5)=42
    assert combined_box == [(30, 12, 30, 30)]
    assert torch.equal(combined, images[:, 12:42, 30:60]) and torch.equal(combined_masks, masks[:, 12:42, 30:60])
    assert original is images


def test_a_crop_cut_by_the_border_is_stretched_nearest_and_centre_cropped():
    images = _images(1, 64, 96, seed=1)
    masks = torch.zeros(1, 64, 96)
    _block(masks, 0, (20, 29), (2, 11))  # extent 9 -> 9 * 3 = 27 -> side 32; centre (6.5, 24.5) -> (6, 24)
    _, crops, crop_masks, *_, frame_boxes, _, side, _ = node("BatchCropFromMaskAdvanced")(
        CTX, original_images=images, masks=masks, crop_size_mult=3.0, bbox_smooth_alpha=1.0)
    assert side == 32 and frame_boxes == [(0, 8, 22, 32)]
    # torchvision Resize(32, max_size=96) on 32x22: short side 22 -> 32, long int(32 * 32 / 22) = 46;
    # nearest source index floor(i * in / out); then CenterCrop(32, 32): top round(14 / 2) = 7
    rows = np.floor(np.arange(46, dtype=np.float32) * np.float32(32 / 46)).astype(int)
    cols = np.floor(np.arange(32, dtype=np.float32) * np.float32(22 / 32)).astype(int)
    region = images[0, 8:40, 0:22].numpy()
    expected = region[rows][:, cols][7:39]
    assert crops.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(crops[0].numpy(), expected)
    np.testing.assert_array_equal(crop_masks[0].numpy(), masks[0, 8:40, 0:22].numpy()[rows][:, cols][7:39])


def test_empty_masks_pass_whole_frames_and_mixed_batches_are_made_stackable():
    images = _images(2, 32, 48, seed=2)
    empty = node("BatchCropFromMaskAdvanced")(CTX, original_images=images, masks=torch.zeros(2, 32, 48),
                                              crop_size_mult=1.0, bbox_smooth_alpha=0.5)
    assert torch.equal(empty[1], images) and empty[5] == [(0, 0, 48, 32)] * 2
    assert empty[6] == [(0, 0, 0, 0)] and empty[7] == 0
    masks = torch.zeros(2, 32, 48)
    _block(masks, 0, (8, 23), (10, 25))  # extent 15 -> round(0.5 * 15) = 8 -> 16
    out = node("BatchCropFromMaskAdvanced")(CTX, original_images=images, masks=masks, crop_size_mult=1.0,
                                            bbox_smooth_alpha=0.5)
    # the pack fails stacking a 16x16 crop with the empty frame's 32x48 image; wfrun resizes that frame
    assert out[1].shape == (2, 16, 16, 3) and out[5][1] == (0, 0, 48, 32)
    rows = np.floor(np.arange(16, dtype=np.float32) * np.float32(32 / 16)).astype(int)
    cols = np.floor(np.arange(16, dtype=np.float32) * np.float32(48 / 16)).astype(int)
    np.testing.assert_array_equal(out[1][1].numpy(), images[1].numpy()[rows][:, cols])


def _u8(t: torch.Tensor) -> np.ndarray:
    return np.clip(255.0 * t.numpy(), 0, 255).astype(np.uint8)


def test_uncrop_without_blending_pastes_the_crop_into_its_box():
    originals = _images(2, 24, 32, seed=3)
    crops = _images(2, 8, 10, seed=4)
    frame_boxes = [(4, 5, 10, 8), (20, 10, 10, 8)]
    out, = node("BatchUncropAdvanced")(CTX, original_images=originals, cropped_images=crops,
                                       cropped_masks=torch.ones(2, 8, 10), combined_crop_mask=torch.ones(2, 8, 10),
                                       bboxes=frame_boxes, border_blending=0.0, crop_rescale=1.0,
                                       use_combined_mask=False, use_square_mask=True)
    for i, (x, y, w, h) in enumerate(frame_boxes):
        expected = _u8(originals[i]).copy()
        expected[y:y + h, x:x + w] = _u8(crops[i])
        np.testing.assert_array_equal(_u8(out[i]), expected)


def test_uncrop_with_a_crop_mask_composites_through_it():
    originals = _images(1, 16, 16, seed=5)
    crops = _images(1, 8, 8, seed=6)
    mask = torch.zeros(1, 8, 8)
    mask[0, :, :4] = 1.0  # left half pasted, right half keeps the original
    out, = node("BatchUncropAdvanced")(CTX, original_images=originals, cropped_images=crops, cropped_masks=mask,
                                       combined_crop_mask=mask, bboxes=[(4, 4, 8, 8)], border_blending=0.0,
                                       crop_rescale=1.0, use_combined_mask=False, use_square_mask=False)
    expected = _u8(originals[0]).copy()
    expected[4:12, 4:8] = _u8(crops[0])[:, :4]
    np.testing.assert_array_equal(_u8(out[0]), expected)


def test_uncrop_rescale_and_combined_box_and_blend_keep_the_centre():
    originals = torch.zeros(1, 32, 32, 3)
    crops = torch.ones(1, 4, 4, 3) * torch.tensor([0.2, 0.4, 0.6])
    out, = node("BatchUncropAdvanced")(CTX, original_images=originals, cropped_images=crops,
                                       cropped_masks=torch.ones(1, 4, 4), combined_crop_mask=torch.ones(1, 4, 4),
                                       bboxes=[(0, 0, 1, 1)], border_blending=0.0, crop_rescale=2.0,
                                       use_combined_mask=True, use_square_mask=True,
                                       combined_bounding_box=[(4, 4, 8, 8)])
    # the combined box (4, 4) - (12, 12) scaled by 2: (8, 8) - (24, 24), filled with the crop's colour
    inside = _u8(out[0])[8:24, 8:24]
    assert (inside == np.array([51, 102, 153], dtype=np.uint8)).all()
    assert _u8(out[0])[:8].max() == 0 and _u8(out[0])[24:].max() == 0
    blended, = node("BatchUncropAdvanced")(CTX, original_images=originals, cropped_images=crops,
                                           cropped_masks=torch.ones(1, 4, 4), combined_crop_mask=torch.ones(1, 4, 4),
                                           bboxes=[(4, 4, 24, 24)], border_blending=0.5, crop_rescale=1.0,
                                           use_combined_mask=False, use_square_mask=True)
    # blend ratio 24 / 2 * 0.5 = 6: a 3-pixel black border inside the box, blurred with radius 1.5
    centre, edge = _u8(blended[0])[16, 16], _u8(blended[0])[4, 16]
    assert (centre == np.array([51, 102, 153])).all() and edge[2] < 153 and _u8(blended[0])[0, 0].max() == 0


def test_uncrop_needs_a_box_per_frame():
    with pytest.raises(NodeInputError) as err:
        node("BatchUncropAdvanced")(CTX, original_images=torch.zeros(2, 8, 8, 3), cropped_images=torch.zeros(2, 4, 4, 3),
                                    cropped_masks=torch.ones(2, 4, 4), combined_crop_mask=torch.ones(2, 4, 4),
                                    bboxes=[(0, 0, 4, 4)], use_square_mask=True)
    assert err.value.input_name == "bboxes"


def _pil_rectangle(h: int, w: int, xy: tuple[int, int, int, int], width: int) -> np.ndarray:
    image = Image.new("RGB", (w, h))
    ImageDraw.Draw(image).rectangle(xy, outline=(255, 0, 0), width=width)
    return np.asarray(image).astype(np.float32) / 255.0


@pytest.mark.parametrize("line_width", [1, 2])
def test_bbox_visualize_draws_pillows_rectangle_but_its_last_corner(line_width):
    images = torch.zeros(2, 12, 14, 3)
    out, = node("BboxVisualize")(CTX, images=images, bboxes=[(2, 3, 5, 4), (0, 0, 13, 11)], line_width=line_width)
    for frame, (x, y, w, h) in enumerate([(2, 3, 5, 4), (0, 0, 13, 11)]):
        expected = _pil_rectangle(12, 14, (x, y, x + w, y + h), line_width)
        expected[y + h, x + w] = 0.0  # the pack's lines stop one short: that corner stays unpainted
        np.testing.assert_array_equal(out[frame].numpy(), expected)
    assert torch.equal(images, torch.zeros(2, 12, 14, 3))  # drawn on a copy


def test_bbox_visualize_xyxy_dicts_and_fewer_boxes_than_frames():
    images = torch.zeros(3, 12, 14, 3)
    out, = node("BboxVisualize")(CTX, images=images, bboxes={"x": 2, "y": 3, "width": 5, "height": 4},
                                 bbox_format="xyxy")
    assert out.shape == (1, 12, 14, 3)  # the pack zips frames with boxes
    expected = _pil_rectangle(12, 14, (2, 3, 7, 7), 1)
    expected[7, 7] = 0.0
    np.testing.assert_array_equal(out[0].numpy(), expected)


def test_image_crop_by_mask_and_resize():
    image = _images(1, 64, 64, seed=7)
    mask = torch.zeros(1, 64, 64)
    mask[0, 10:20, 20:40] = 0.8  # rounded to 1
    images, masks, out_boxes = node("ImageCropByMaskAndResize")(
        CTX, image=image, mask=mask, base_resolution=64, padding=0, min_crop_resolution=0, max_crop_resolution=0)
    # box 20 x 10 around (29.5, 14.5): x0 int(19.5) = 19, y0 int(9.5) = 9; common size 32 x 16 (up to 16s)
    # centred on (29, 14): x0 int(13.0) = 13, y0 int(6.0) = 6; target 64 x int(64 / 2) = 32
    assert out_boxes == [(13, 6, 45, 22)]
    assert images.shape == (1, 32, 64, 3) and masks.shape == (1, 32, 64)
    crop = Image.fromarray(_u8(image[0, 6:22, 13:45]))
    expected = np.asarray(crop.resize((64, 32), Image.Resampling.LANCZOS)).astype(np.float32) / 255.0
    np.testing.assert_allclose(images[0].numpy(), expected, atol=1e-6)
    # the mask block covers crop rows 4..13, columns 7..26: doubled, well inside it is 1, far outside 0
    assert masks[0, 10:26, 16:52].min() == 1.0 and masks[0, :6].max() == 0.0 and masks[0, :, 58:].max() == 0.0


def test_image_crop_by_mask_min_resolution_and_padding_stay_inside_the_image():
    image = _images(2, 40, 40, seed=8)
    mask = torch.zeros(2, 40, 40)
    mask[0, 0:4, 0:4] = 1.0
    mask[1, 30:40, 30:40] = 1.0
    _, _, out_boxes = node("ImageCropByMaskAndResize")(
        CTX, image=image, mask=mask, base_resolution=32, padding=8, min_crop_resolution=16, max_crop_resolution=32)
    # frame 0: 4 -> 16 wide, padding min((40 - 16) // 2, 8) = 8 -> 32, pushed to x0 = 0;
    # frame 1: 10 -> 16, +16 = 32 at max(0, min(int(34.5 - 16), 8)) = 8. Common 32 x 32.
    assert out_boxes == [(0, 0, 32, 32), (8, 8, 40, 40)]
    with pytest.raises(NodeInputError) as err:
        node("ImageCropByMaskAndResize")(CTX, image=image, mask=torch.zeros(2, 40, 40), base_resolution=32,
                                         padding=0, min_crop_resolution=0, max_crop_resolution=0)
    assert err.value.input_name == "min_crop_resolution"


def test_image_crop_by_mask_of_another_size_cuts_the_image_at_the_masks_coordinates():
    # Wan Animate workflows feed a pose canvas's face mask with the raw video: KJNodes runs on,
    # finding the box in the mask and cutting the image at those pixel coordinates
    image = _images(1, 48, 64, seed=9)
    mask = torch.zeros(1, 64, 32)
    mask[0, 20:30, 4:20] = 1.0
    images, masks, out_boxes = node("ImageCropByMaskAndResize")(
        CTX, image=image, mask=mask, base_resolution=32, padding=0, min_crop_resolution=0, max_crop_resolution=0)
    # box 16 x 10 in the mask at x0 int(11.5 - 8) = 3, y0 int(24.5 - 5) = 19; common 16 x 16;
    # centred on (11, 24): x0 max(0, min(int(11 - 8), 64 - 16)) = 3, y0 min(int(24 - 8), 48 - 16) = 16
    assert out_boxes == [(3, 16, 19, 32)]
    crop = Image.fromarray(_u8(image[0, 16:32, 3:19]))
    # target 32 x int(32 / 1.6) = 20, both rounded up to 16s: 32 x 32
    expected = np.asarray(crop.resize((32, 32), Image.Resampling.LANCZOS)).astype(np.float32) / 255.0
    assert images.shape == (1, 32, 32, 3) and masks.shape == (1, 32, 32)
    np.testing.assert_allclose(images[0].numpy(), expected, atol=1e-6)
    with pytest.raises(NodeInputError) as err:  # fewer masks than frames: the pack fails indexing
        node("ImageCropByMaskAndResize")(CTX, image=_images(2, 48, 64), mask=mask, base_resolution=32, padding=0,
                                         min_crop_resolution=0, max_crop_resolution=0)
    assert err.value.input_name == "mask"
