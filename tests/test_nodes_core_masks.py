"""Core mask, image, transform and Canny nodes against independent numpy/scipy/PIL
computations written here from ComfyUI's semantics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def run(class_type, ctx=None, **inputs):
    return node(class_type)(ctx or ExecContext(), **inputs)


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- masks

def test_mask_image_conversions():
    mask = rand(2, 4, 5)
    (image,) = run("MaskToImage", mask=mask)
    assert image.shape == (2, 4, 5, 3) and all(torch.equal(image[..., c], mask) for c in range(3))
    (single,) = run("MaskToImage", mask=mask[0])  # a [H, W] mask is one frame
    assert single.shape == (1, 4, 5, 3)
    rgba = rand(2, 4, 5, 4)
    for index, channel in enumerate(("red", "green", "blue", "alpha")):
        (out,) = run("ImageToMask", image=rgba, channel=channel)
        assert torch.equal(out, rgba[..., index])
    with pytest.raises(NodeInputError) as err:
        run("ImageToMask", image=rand(1, 4, 5, 3), channel="alpha")
    assert err.value.input_name == "channel"
    (solid,) = run("SolidMask", value=0.25, width=7, height=3)
    assert solid.shape == (1, 3, 7) and torch.all(solid == 0.25)
    (inverted,) = run("InvertMask", mask=mask)
    assert torch.allclose(inverted, 1 - mask)


@pytest.mark.parametrize("tapered", [True, False])
@pytest.mark.parametrize("expand", [0, 1, 3, -2])
def test_grow_mask_matches_scipy_grey_morphology(tapered, expand):
    mask = torch.zeros(2, 12, 14)
    mask[0, 5, 6] = 1.0
    mask[0, 2:4, 9:12] = 0.6
    mask[1] = (rand(12, 14, seed=3) > 0.7).float()
    c = 0 if tapered else 1
    footprint = np.array([[c, 1, c], [1, 1, 1], [c, 1, c]])
    expected = []
    for frame in mask.numpy():
        for _ in range(abs(expand)):
            frame = (scipy.ndimage.grey_erosion if expand < 0 else scipy.ndimage.grey_dilation)(frame, footprint=footprint)
        expected.append(frame)
    (out,) = run("GrowMask", mask=mask, expand=expand, tapered_corners=tapered)
    assert np.array_equal(out.numpy(), np.stack(expected))


def test_grow_mask_shape_of_one_step():
    mask = torch.zeros(1, 5, 5)
    mask[0, 2, 2] = 1
    (cross,) = run("GrowMask", mask=mask, expand=1, tapered_corners=True)
    (square,) = run("GrowMask", mask=mask, expand=1)  # the spec's default: tapered
    assert int(cross.sum()) == 5 and torch.equal(cross, square)
    (square,) = run("GrowMask", mask=mask, expand=1, tapered_corners=False)
    assert int(square.sum()) == 9


def test_grow_mask_huge_expand_stops_when_nothing_changes():
    mask = torch.zeros(1, 6, 6)
    mask[0, 0, 0] = 1
    (out,) = run("GrowMask", mask=mask, expand=16384)
    assert torch.all(out == 1)


def composite_reference(dest, src, x, y, mask):
    """ComfyUI's ImageCompositeMasked, pixel by pixel in numpy (same size frames, no resize)."""
    out = dest.copy()
    b, h, w, _ = dest.shape
    sh, sw = src.shape[1:3]
    for i in range(sh):
        for j in range(sw):
            if 0 <= y + i < h and 0 <= x + j < w:
                m = 1.0 if mask is None else mask[i, j]
                out[:, y + i, x + j] = m * src[:, i, j] + (1 - m) * dest[:, y + i, x + j]
    return out


def test_image_composite_masked_matches_reference():
    dest, src = rand(2, 8, 10, 3), rand(1, 4, 5, 3, seed=1)
    mask = rand(4, 5, seed=2)
    (out,) = run("ImageCompositeMasked", destination=dest, source=src, x=7, y=6, mask=mask)
    expected = composite_reference(dest.numpy(), np.repeat(src.numpy(), 2, 0), 7, 6, mask.numpy())
    assert np.allclose(out.numpy(), expected, atol=1e-6)
    (plain,) = run("ImageCompositeMasked", destination=dest, source=src, x=1, y=2)
    assert np.allclose(plain.numpy(), composite_reference(dest.numpy(), np.repeat(src.numpy(), 2, 0), 1, 2, None))
    assert not torch.equal(dest, out)  # the destination input is not changed in place
    (resized,) = run("ImageCompositeMasked", destination=dest, source=src, resize_source=True)
    assert torch.allclose(resized, F.interpolate(src.movedim(-1, 1), size=(8, 10), mode="bilinear")
                          .movedim(1, -1).expand(2, -1, -1, -1))
    (rgba,) = run("ImageCompositeMasked", destination=rand(1, 4, 4, 4), source=rand(1, 2, 2, 3))
    assert rgba.shape == (1, 4, 4, 4) and torch.all(rgba[0, :2, :2, 3] == 1)


def test_mask_preview_writes_a_temp_png(tmp_path):
    ctx = ExecContext(output_dir=tmp_path / "out")
    assert run("MaskPreview", ctx, mask=rand(2, 4, 4)) == ()
    files = sorted((tmp_path / "out" / "temp").iterdir())
    assert len(files) == 2 and all(p.suffix == ".png" for p in files)


# ---------------------------------------------------------------------------- batches

def test_repeat_and_batch_images():
    image = rand(2, 3, 4, 3)
    (out,) = run("RepeatImageBatch", image=image, amount=3)
    assert out.shape == (6, 3, 4, 3) and torch.equal(out[4:], image)
    other = rand(1, 6, 8, 4, seed=5)
    (batch,) = run("BatchImagesNode", **{"images.image1": other, "images.image0": image, "images.image2": image})
    assert batch.shape == (5, 3, 4, 4)
    assert torch.equal(batch[:2, ..., :3], image) and torch.all(batch[:2, ..., 3] == 1)  # order by number
    assert torch.allclose(batch[2], F.interpolate(other.movedim(-1, 1), size=(3, 4), mode="bilinear")
                          .movedim(1, -1)[0])
    with pytest.raises(NodeInputError):
        run("BatchImagesNode")


def test_get_image_size_and_from_batch_exist():
    assert run("GetImageSize", image=rand(3, 5, 7, 3)) == (7, 5, 3)
    (one,) = run("ImageFromBatch", image=rand(4, 2, 2, 3), batch_index=-1)
    assert one.shape == (1, 2, 2, 3)


# ---------------------------------------------------------------------------- transforms

def resize(kind, input, **options):
    inputs = {f"resize_type.{k}": v for k, v in options.items()}
    return run("ResizeImageMaskNode", input=input, resize_type=kind, **inputs)[0]


def test_resize_image_mask_sizes():
    image = rand(1, 40, 60, 3)
    mask = rand(2, 40, 60)
    assert resize("scale dimensions", image, width=30, height=0, crop="disabled").shape == (1, 20, 30, 3)
    assert resize("scale dimensions", mask, width=16, height=16, crop="center").shape == (2, 16, 16)
    assert resize("scale dimensions", image, width=0, height=0, crop="center") is image
    assert resize("scale by multiplier", image, multiplier=0.5).shape == (1, 20, 30, 3)
    assert resize("scale longer dimension", image, longer_size=30).shape == (1, 20, 30, 3)
    assert resize("scale shorter dimension", image, shorter_size=30).shape == (1, 30, 45, 3)
    assert resize("scale width", mask, width=15).shape == (2, 10, 15)
    assert resize("scale height", mask, height=10).shape == (2, 10, 15)
    assert resize("scale total pixels", image, megapixels=0.01).shape == (1, 84, 125, 3)  # x sqrt(10485 / 2400)
    assert resize("match size", image, match=rand(1, 8, 9), crop="disabled").shape == (1, 8, 9, 3)
    assert resize("scale to multiple", rand(1, 41, 66, 3), multiple=16).shape == (1, 32, 64, 3)


def test_resize_image_mask_values_and_errors():
    image = rand(1, 8, 8, 3)
    (area,) = run("ResizeImageMaskNode", input=image, resize_type="scale by multiplier",
                  **{"resize_type.multiplier": 0.5})  # scale_method's default: area
    assert torch.allclose(area, F.avg_pool2d(image.movedim(-1, 1), 2).movedim(1, -1), atol=1e-6)
    with pytest.raises(NodeInputError) as err:
        run("ResizeImageMaskNode", input=image, resize_type="scale width")
    assert err.value.input_name == "resize_type.width"
    with pytest.raises(NodeInputError) as err:
        run("ResizeImageMaskNode", input="x", resize_type="scale width", **{"resize_type.width": 4})
    assert err.value.input_name == "input"


def outpaint_reference(h, w, left, top, right, bottom, feathering):
    """ComfyUI's loop, as written in nodes.py."""
    mask = np.ones((h + top + bottom, w + left + right), np.float32)
    t = np.zeros((h, w), np.float32)
    if feathering > 0 and feathering * 2 < h and feathering * 2 < w:
        for i in range(h):
            for j in range(w):
                dt = i if top != 0 else h
                db = h - i if bottom != 0 else h
                dl = j if left != 0 else w
                dr = w - j if right != 0 else w
                d = min(dt, db, dl, dr)
                if d >= feathering:
                    continue
                v = (feathering - d) / feathering
                t[i, j] = v * v
    mask[top:top + h, left:left + w] = t
    return mask


@pytest.mark.parametrize("sides,feathering", [((8, 0, 16, 4), 5), ((0, 8, 0, 0), 3), ((4, 4, 4, 4), 0),
                                              ((8, 8, 8, 8), 20)])
def test_image_pad_for_outpaint(sides, feathering):
    image = rand(2, 16, 20, 3)
    left, top, right, bottom = sides
    out, mask = run("ImagePadForOutpaint", image=image, left=left, top=top, right=right, bottom=bottom,
                    feathering=feathering)
    assert out.shape == (2, 16 + top + bottom, 20 + left + right, 3)
    assert torch.equal(out[:, top:top + 16, left:left + 20], image)
    assert torch.all(out[:, :top] == 0.5) and torch.all(out[:, :, :left] == 0.5)
    assert mask.shape == (1,) + out.shape[1:3]
    assert np.allclose(mask[0].numpy(), outpaint_reference(16, 20, left, top, right, bottom, feathering), atol=1e-6)


# ---------------------------------------------------------------------------- Canny

def canny_reference(image, low, high):
    """The Canny steps written out with scipy/numpy for one grey image (see filter_nodes)."""
    taps = np.exp(-np.arange(-2, 3) ** 2 / 2.0)
    taps /= taps.sum()
    blurred = scipy.ndimage.correlate1d(image, taps, axis=1, mode="mirror")
    blurred = scipy.ndimage.correlate1d(blurred, taps, axis=0, mode="mirror")
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
    gx = scipy.ndimage.correlate(blurred, sobel, mode="nearest")
    gy = scipy.ndimage.correlate(blurred, sobel.T, mode="nearest")
    mag = np.sqrt(gx * gx + gy * gy + 1e-6)
    floor = np.sqrt(1e-6)
    h, w = image.shape
    sector = np.round(np.arctan2(gy, gx) * 4 / np.pi).astype(int) % 8
    steps = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]
    kept = np.zeros_like(mag)
    for i in range(h):
        for j in range(w):
            ok = mag[i, j] > floor
            for k in (sector[i, j], (sector[i, j] + 4) % 8):
                di, dj = steps[k]
                other = mag[i + di, j + dj] if 0 <= i + di < h and 0 <= j + dj < w else floor
                ok &= mag[i, j] > other or (k in (0, 2) and mag[i, j] == other)
            kept[i, j] = mag[i, j] if ok else 0
    strong = kept > high
    weak = (kept > low) & ~strong
    labels, _ = scipy.ndimage.label(strong | weak, structure=np.ones((3, 3)))
    keep = np.unique(labels[strong])
    return np.isin(labels, keep[keep > 0]).astype(np.float32)


def test_canny_matches_the_written_out_steps():
    yy, xx = np.mgrid[0:24, 0:30].astype(np.float64)
    grey = ((yy - 12) ** 2 + (xx - 14) ** 2 < 50).astype(np.float64) * 0.8 + 0.1 * (xx > 22)
    image = torch.from_numpy(np.stack([grey] * 3, -1)).float().unsqueeze(0)
    (edges,) = run("Canny", image=image, low_threshold=0.2, high_threshold=0.5)
    assert edges.shape == (1, 24, 30, 3) and torch.equal(edges[..., 0], edges[..., 2])
    expected = canny_reference(grey.astype(np.float32).astype(np.float64), 0.2, 0.5)
    assert edges[0, ..., 0].sum() > 20
    assert (edges[0, ..., 0].numpy() != expected).mean() < 0.01  # float32 vs float64 ties aside


def test_canny_matches_kornia():
    import kornia  # the test extra pins kornia>=0.9 (older versions break ties differently)

    images = torch.cat([rand(2, 20, 26, 3), (torch.arange(26.) > 9).float().view(1, 1, 26, 1).expand(1, 20, 26, 3)])
    for low, high in ((0.4, 0.8), (0.1, 0.3), (0.02, 0.05)):
        (edges,) = run("Canny", image=images, low_threshold=low, high_threshold=high)
        reference = kornia.filters.canny(images.movedim(-1, 1), low, high)[1].repeat(1, 3, 1, 1).movedim(1, -1)
        assert torch.equal(edges, reference)


def test_canny_input_errors():
    with pytest.raises(NodeInputError) as err:
        run("Canny", image=rand(1, 8, 8, 3), low_threshold=0.9, high_threshold=0.2)
    assert err.value.input_name == "low_threshold"
    with pytest.raises(NodeInputError) as err:
        run("Canny", image=rand(1, 2, 8, 3))
    assert err.value.input_name == "image"
