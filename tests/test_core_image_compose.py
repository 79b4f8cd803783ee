"""ComfyUI's ImageStitch, JoinImageWithAlpha, RebatchImages and ColorTransfer.

References are worked independently: ImageStitch's layouts and paddings written out by
hand with numpy, its size matching with Pillow's LANCZOS on 8-bit data (what ComfyUI's
``lanczos`` does); JoinImageWithAlpha's bilinear mask resize by hand; ColorTransfer's
formulas in numpy/scipy on top of kornia's Lab conversion (the library ComfyUI calls), and
its histogram look-up table with ``numpy.searchsorted`` on exactly representable shares.
"""

from __future__ import annotations

import kornia
import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from tests.node_helpers import node
from wfrun.media.lab import lab_to_rgb, rgb_to_lab
from wfrun.nodes.executor import ExecContext, NodeInputError

ctx = ExecContext()


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def refused(class_type, name, **inputs):
    with pytest.raises(NodeInputError) as err:
        node(class_type)(ctx, **inputs)
    assert err.value.input_name == name, err.value
    return err.value


# ---------------------------------------------------------------------------- ImageStitch

def stitch(**inputs):
    return node("ImageStitch")(ctx, **inputs)[0].numpy()


def test_stitch_places_image2_on_each_side_without_resizing():
    a, b = rand(1, 2, 3, 3, seed=1), rand(1, 2, 4, 3, seed=2)
    n1, n2 = a.numpy(), b.numpy()
    same = dict(image1=a, image2=b, match_image_size=False, spacing_width=0)
    assert np.array_equal(stitch(direction="right", **same), np.concatenate([n1, n2], axis=2))
    assert np.array_equal(stitch(direction="left", **same), np.concatenate([n2, n1], axis=2))
    # up/down: widths 3 and 4 differ, image1 gets a white column after (the odd pixel goes last)
    padded = np.concatenate([n1, np.ones((1, 2, 1, 3), np.float32)], axis=2)
    assert np.array_equal(stitch(direction="down", **same), np.concatenate([padded, n2], axis=1))
    assert np.array_equal(stitch(direction="up", **same), np.concatenate([n2, padded], axis=1))


def test_stitch_pads_the_shorter_image_centred_with_the_spacing_grey():
    a, b = rand(1, 2, 2, 3, seed=3), rand(1, 5, 2, 3, seed=4)
    out = stitch(image1=a, image2=b, direction="right", match_image_size=False, spacing_width=0,
                 spacing_color="black")
    expected = np.zeros((1, 5, 4, 3), np.float32)
    expected[:, 1:3, :2] = a.numpy()  # 3 rows missing: 1 above, 2 below
    expected[:, :, 2:] = b.numpy()
    assert np.array_equal(out, expected)
    # an RGB colour pads with 0 (the spacing strip alone is coloured)
    red = stitch(image1=a, image2=b, direction="right", match_image_size=False, spacing_width=0, spacing_color="red")
    assert np.array_equal(red, expected)


def test_stitch_spacing_is_even_coloured_and_opaque_and_channels_even_out():
    a = rand(1, 3, 2, 3, seed=5)  # RGB
    b = rand(1, 3, 2, 4, seed=6)  # RGBA
    out = stitch(image1=a, image2=b, direction="right", match_image_size=False, spacing_width=3, spacing_color="green")
    assert out.shape == (1, 3, 2 + 4 + 2, 4)  # 3 -> 4 columns of spacing
    assert np.array_equal(out[..., :2, :3], a.numpy()) and np.all(out[..., :2, 3] == 1.0)  # opaque alpha added
    assert np.array_equal(out[:, :, 2:6], np.broadcast_to(np.array([0, 1, 0, 1], np.float32), (1, 3, 4, 4)))
    assert np.array_equal(out[:, :, 6:], b.numpy())
    white = stitch(image1=a, image2=a, direction="down", match_image_size=False, spacing_width=2,
                   spacing_color="white")
    assert np.array_equal(white[:, 3:5], np.ones((1, 2, 2, 3), np.float32))


def test_stitch_repeats_the_last_frame_of_the_shorter_batch():
    a, b = rand(3, 2, 2, 3, seed=7), rand(1, 2, 2, 3, seed=8)
    out = stitch(image1=a, image2=b, direction="right", match_image_size=False, spacing_width=0)
    assert out.shape[0] == 3
    for i in range(3):
        assert np.array_equal(out[i], np.concatenate([a[i].numpy(), b[0].numpy()], axis=1))


def _pil_lanczos(image: np.ndarray, width: int, height: int) -> np.ndarray:
    eight = np.clip(255.0 * image, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(eight).resize((width, height), Image.Resampling.LANCZOS)) / np.float32(255)


def test_stitch_matches_image2_to_image1_keeping_its_aspect():
    a = rand(1, 6, 5, 3, seed=9)
    b = rand(1, 2, 4, 3, seed=10)  # 4 wide, 2 high: aspect 2
    out = stitch(image1=a, image2=b, direction="right", match_image_size=True, spacing_width=0)
    assert out.shape == (1, 6, 5 + 12, 3)  # height 6, width int(6 * 2)
    np.testing.assert_allclose(out[0, :, 5:], _pil_lanczos(b[0].numpy(), 12, 6), atol=1e-6)
    down = stitch(image1=a, image2=b, direction="down", match_image_size=True, spacing_width=0)
    assert down.shape == (1, 6 + 2, 5, 3)  # width 5, height int(5 / 2)
    np.testing.assert_allclose(down[0, 6:], _pil_lanczos(b[0].numpy(), 5, 2), atol=1e-6)
    # image1 is left as it is; only image2 goes through 8 bits
    assert np.array_equal(down[0, :6], a[0].numpy())


def test_stitch_without_image2_and_bad_inputs():
    a = rand(1, 2, 2, 3)
    assert node("ImageStitch")(ctx, image1=a)[0] is a
    refused("ImageStitch", "direction", image1=a, image2=a, direction="sideways")
    refused("ImageStitch", "image2", image1=a, image2="x")
    refused("ImageStitch", "match_image_size", image1=rand(1, 2, 2, 3), image2=rand(1, 1, 16384, 3))


# ---------------------------------------------------------------------------- JoinImageWithAlpha

def test_join_image_with_alpha_inverts_and_resizes_the_mask():
    image = rand(1, 2, 4, 3, seed=11)
    mask = torch.tensor([[[0.2, 0.6]]])  # one row, two columns, stretched to 2 x 4
    (out,) = node("JoinImageWithAlpha")(ctx, image=image, alpha=mask)
    v0, v1 = 0.2, 0.6
    row = [v0, 0.75 * v0 + 0.25 * v1, 0.25 * v0 + 0.75 * v1, v1]  # bilinear, half-pixel centres
    expected_alpha = 1.0 - np.array([row, row], np.float32)
    assert out.shape == (1, 2, 4, 4)
    assert torch.equal(out[..., :3], image)
    np.testing.assert_allclose(out[0, ..., 3].numpy(), expected_alpha, atol=1e-6)


def test_join_image_with_alpha_drops_an_existing_alpha_and_evens_batches():
    image = rand(1, 3, 3, 4, seed=12)
    masks = rand(3, 3, 3, seed=13)
    (out,) = node("JoinImageWithAlpha")(ctx, image=image, alpha=masks)
    assert out.shape == (3, 3, 3, 4)
    for i in range(3):
        assert torch.equal(out[i, ..., :3], image[0, ..., :3])
        torch.testing.assert_close(out[i, ..., 3], 1.0 - masks[i])
    refused("JoinImageWithAlpha", "alpha", image=image, alpha="mask")


# ---------------------------------------------------------------------------- RebatchImages

def test_rebatch_lays_frames_end_to_end_and_cuts_batches():
    a, b = rand(2, 2, 2, 3, seed=14), rand(3, 2, 2, 3, seed=15)
    frames = torch.cat([a, b])  # the five frames in order, whatever batches they came in
    (out,) = node("RebatchImages")(ctx, images=[a, b], batch_size=[4096])
    assert len(out) == 1 and torch.equal(out[0], frames)
    (out,) = node("RebatchImages")(ctx, images=[a, b], batch_size=[2])
    assert [o.shape[0] for o in out] == [2, 2, 1]
    assert all(torch.equal(o, frames[i * 2:i * 2 + 2]) for i, o in enumerate(out))
    (out,) = node("RebatchImages")(ctx, images=[b], batch_size=[1])
    assert [torch.equal(o, b[i:i + 1]) for i, o in enumerate(out)] == [True] * 3
    # frames of another size may follow in a batch of their own, not in a shared one
    c = rand(1, 3, 3, 3, seed=16)
    assert [o.shape for o in node("RebatchImages")(ctx, images=[a, c], batch_size=[2])[0]] == [a.shape, c.shape]
    refused("RebatchImages", "images", images=[a, c], batch_size=[10])


# ---------------------------------------------------------------------------- ColorTransfer

def test_lab_conversion_is_korniass():
    image = rand(2, 3, 5, 4, seed=16)
    image[0, :, 0, 0] = 0.0  # the linear branches at black
    image[0, :, 0, 1] = torch.tensor([0.01, 0.03, 0.002])
    torch.testing.assert_close(rgb_to_lab(image), kornia.color.rgb_to_lab(image), rtol=1e-5, atol=1e-4)
    lab = kornia.color.rgb_to_lab(image)
    lab[1, 1:] *= 3.0  # colours outside sRGB: the clip on the way back
    torch.testing.assert_close(lab_to_rgb(lab), kornia.color.lab_to_rgb(lab), rtol=1e-5, atol=1e-5)


def _lab_np(frame: torch.Tensor) -> np.ndarray:
    """[3, pixels] float64 in Lab (kornia)."""
    return kornia.color.rgb_to_lab(frame.movedim(-1, 0)[None])[0].reshape(3, -1).double().numpy()


def _rgb(lab: np.ndarray, height: int, width: int) -> np.ndarray:
    back = kornia.color.lab_to_rgb(torch.from_numpy(lab.reshape(3, height, width)).float()[None])[0]
    return back.movedim(0, -1).numpy()


def _mkl(cov_s: np.ndarray, cov_r: np.ndarray) -> np.ndarray:
    root = scipy.linalg.sqrtm(cov_s).real
    inverse = np.linalg.inv(root)
    return inverse @ scipy.linalg.sqrtm(root @ cov_r @ root).real @ inverse


def transfer(**inputs):
    return node("ColorTransfer")(ctx, **inputs)[0].numpy()


@pytest.mark.parametrize("method", ["reinhard_lab", "mkl_lab"])
def test_color_transfer_per_frame_against_the_formula(method):
    target, ref = rand(2, 4, 5, 3, seed=17), rand(2, 3, 3, 3, seed=18)
    out = transfer(image_target=target, image_ref=ref, method=method, source_stats="per_frame", strength=1.0)
    for i in range(2):
        src, r = _lab_np(target[i]), _lab_np(ref[i])
        ms, mr = src.mean(1, keepdims=True), r.mean(1, keepdims=True)
        if method == "reinhard_lab":
            lab = (src - ms) / src.std(1, keepdims=True) * r.std(1, keepdims=True) + mr
        else:
            cs, cr = np.cov(src, bias=True), np.cov(r, bias=True)
            lab = _mkl(cs, cr) @ (src - ms) + mr
        np.testing.assert_allclose(out[i], _rgb(lab, 4, 5), atol=2e-4)


def test_color_transfer_uniform_pools_and_strength_blends_in_lab():
    target, ref = rand(3, 3, 4, 3, seed=19), rand(1, 4, 4, 3, seed=20)
    out = transfer(image_target=target, image_ref=ref, method="reinhard_lab", source_stats="uniform", strength=0.5)
    frames = [_lab_np(target[i]) for i in range(3)]
    mean = sum(f.mean(1, keepdims=True) for f in frames) / 3  # mean of the frame means
    std = np.sqrt(sum(((f - mean) ** 2).mean(1, keepdims=True) for f in frames) / 3)
    r = _lab_np(ref[0])
    for i, src in enumerate(frames):
        matched = (src - mean) / std * r.std(1, keepdims=True) + r.mean(1, keepdims=True)
        np.testing.assert_allclose(out[i], _rgb(src + 0.5 * (matched - src), 3, 4), atol=2e-4)


def test_color_transfer_target_frame_applies_one_frames_transform_to_all():
    target, ref = rand(3, 3, 3, 3, seed=21), rand(2, 3, 3, 3, seed=22)
    out = transfer(image_target=target, image_ref=ref, method="mkl_lab", source_stats="target_frame", strength=1.0,
                   **{"source_stats.target_index": 7})  # clamped to the last frame
    base = _lab_np(target[2])
    refs = [_lab_np(ref[i]) for i in range(2)]
    r_mean = sum(r.mean(1, keepdims=True) for r in refs) / 2
    r_cov = sum((r - r_mean) @ (r - r_mean).T / r.shape[1] for r in refs) / 2
    matrix = _mkl(np.cov(base, bias=True), r_cov)
    for i in range(3):
        lab = matrix @ (_lab_np(target[i]) - base.mean(1, keepdims=True)) + r_mean
        np.testing.assert_allclose(out[i], _rgb(lab, 3, 3), atol=2e-4)
    refused("ColorTransfer", "source_stats.target_index", image_target=target, image_ref=ref, method="mkl_lab",
            source_stats="target_frame")


def _lut(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per channel: bins floor(255 x), cumulative shares, the first ref bin reaching each."""
    out = []
    for c in range(src.shape[0]):
        s_hist = np.bincount(np.clip((src[c] * 255).astype(int), 0, 255), minlength=256).cumsum()
        r_hist = np.bincount(np.clip((ref[c] * 255).astype(int), 0, 255), minlength=256).cumsum()
        out.append(np.minimum(np.searchsorted(r_hist / r_hist[-1], s_hist / s_hist[-1], side="left"), 255) / 255)
    return np.array(out)


def test_color_transfer_histogram_per_frame_maps_through_the_cdfs():
    # 16 pixels: every share is k/16, exact in float32 and float64
    target, ref = rand(2, 4, 4, 3, seed=23), rand(2, 4, 4, 3, seed=24) * 0.5 + 0.25
    out = transfer(image_target=target, image_ref=ref, method="histogram", source_stats="per_frame", strength=1.0)
    for i in range(2):
        src = target[i].movedim(-1, 0).reshape(3, -1).numpy()
        lut = _lut(src, ref[i].movedim(-1, 0).reshape(3, -1).numpy())
        bins = np.clip((src * 255).astype(int), 0, 255)
        expected = np.take_along_axis(lut, bins, axis=1).reshape(3, 4, 4).transpose(1, 2, 0)
        np.testing.assert_allclose(out[i], expected, atol=1e-6)
    # strength 0: the target itself
    assert node("ColorTransfer")(ctx, image_target=target, image_ref=ref, method="histogram",
                                 source_stats="per_frame", strength=0.0)[0] is target


def test_color_transfer_refuses_rgba_for_lab_methods():
    err = refused("ColorTransfer", "image_target", image_target=rand(1, 2, 2, 4), image_ref=rand(1, 2, 2, 3),
                  method="reinhard_lab", source_stats="per_frame", strength=1.0)
    assert "RGB" in str(err)
    refused("ColorTransfer", "method", image_target=rand(1, 2, 2, 3), image_ref=rand(1, 2, 2, 3), method="lut",
            source_stats="per_frame", strength=1.0)


# ---------------------------------------------------------------------------- SplitImageWithAlpha

def test_split_image_with_alpha_gives_colour_and_inverted_alpha_and_undoes_join():
    rgba = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    colour, mask = node("SplitImageWithAlpha")(ExecContext(), image=rgba)
    assert torch.equal(colour, rgba[..., :3])
    assert torch.equal(mask, 1.0 - rgba[..., 3])  # ComfyUI's masks mark what is transparent
    (joined,) = node("JoinImageWithAlpha")(ExecContext(), image=colour, alpha=mask)
    torch.testing.assert_close(joined, rgba)
    rgb = rgba[..., :3]
    colour, mask = node("SplitImageWithAlpha")(ExecContext(), image=rgb)
    assert torch.equal(colour, rgb) and mask.shape == (2, 3, 4) and not mask.any()
