"""ComfyUI_essentials' ImageFromBatch+ and GetImageSize+ against hand-computed slices."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def frames(n, h=4, w=6):
    """Frame i is flat at level i / 10, so a slice shows which frames it kept."""
    return torch.arange(n, dtype=torch.float32).div(10).reshape(n, 1, 1, 1).expand(n, h, w, 3).clone()


def levels(image):
    return [round(float(f[0, 0, 0]) * 10) for f in image]


@pytest.mark.parametrize("start,length,expected", [
    (0, -1, [0, 1, 2, 3, 4]),      # the spec defaults: the whole batch
    (2, 2, [2, 3]),
    (3, -1, [3, 4]),               # negative length: everything from start
    (3, 10, [3, 4]),               # length clipped at the end
    (9, 3, [4]),                   # start past the end: the last frame
    (1, 0, []),                    # zero length: an empty batch, as the pack slices it
])
def test_image_from_batch(start, length, expected):
    out, = node("ImageFromBatch+")(ExecContext(), image=frames(5), start=start, length=length)
    assert levels(out) == expected
    assert out.shape[1:] == (4, 6, 3)


def test_image_from_batch_defaults_take_everything():
    out, = node("ImageFromBatch+")(ExecContext(), image=frames(3))
    assert levels(out) == [0, 1, 2]


@pytest.mark.parametrize("inputs,name", [
    ({"image": torch.zeros(4, 6, 3)}, "image"),
    ({"image": "not an image"}, "image"),
    ({"image": frames(2), "start": -1}, "start"),
    ({"image": frames(2), "length": 1.5}, "length"),
])
def test_image_from_batch_bad_inputs(inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("ImageFromBatch+")(ExecContext(), **inputs)
    assert err.value.input_name == name


def test_get_image_size_gives_width_height_count():
    assert node("GetImageSize+")(ExecContext(), image=frames(7, h=48, w=80)) == (80, 48, 7)
    with pytest.raises(NodeInputError) as err:
        node("GetImageSize+")(ExecContext(), image=torch.zeros(0, 4, 4, 3))
    assert err.value.input_name == "image"


# ------------------------------------------------------------------ ImageColorMatch+, MaskFromColor+

import kornia as KORNIA  # noqa: E402  (a test dependency: the library the pack calls)


def kornia_color_match(image, reference, space, factor, mask=None):
    """The pack's steps on kornia's conversions (the library the pack calls)."""
    to = {"LAB": KORNIA.color.rgb_to_lab, "YCbCr": KORNIA.color.rgb_to_ycbcr, "RGB": lambda t: t,
          "LUV": KORNIA.color.rgb_to_luv, "YUV": KORNIA.color.rgb_to_yuv, "XYZ": KORNIA.color.rgb_to_xyz}[space]
    back = {"LAB": KORNIA.color.lab_to_rgb, "YCbCr": KORNIA.color.ycbcr_to_rgb, "RGB": lambda t: t,
            "LUV": KORNIA.color.luv_to_rgb, "YUV": KORNIA.color.yuv_to_rgb, "XYZ": KORNIA.color.xyz_to_rgb}[space]
    img, ref = to(image.permute(0, 3, 1, 2)), to(reference.permute(0, 3, 1, 2))
    if mask is None:
        r_mean, r_std = ref.mean(dim=(2, 3), keepdim=True), ref.std(dim=(2, 3), keepdim=True)
    else:
        m = (mask.unsqueeze(1) > 0.5).float()
        n = m.sum(dim=(2, 3), keepdim=True)
        r_mean = (ref * m).sum(dim=(2, 3), keepdim=True) / n
        r_std = ((((ref * m) - r_mean) ** 2 * m).sum(dim=(2, 3), keepdim=True) / n).sqrt()
    mean, std = img.mean(dim=(2, 3), keepdim=True), img.std(dim=(2, 3), keepdim=True)
    matched = (img - mean) / std * r_std + r_mean
    return back(factor * matched + (1 - factor) * img).permute(0, 2, 3, 1).clamp(0, 1)


@pytest.mark.parametrize("space", ["LAB", "YCbCr", "RGB", "LUV", "YUV", "XYZ"])
def test_image_color_match_against_kornia(space):
    torch.manual_seed(0)
    image, reference = torch.rand(3, 6, 5, 3) * 0.6, torch.rand(1, 4, 7, 3) * 0.5 + 0.4
    out, = node("ImageColorMatch+")(ExecContext(), image=image, reference=reference, color_space=space, factor=0.3,
                                    device="cpu", batch_size=2)
    assert torch.allclose(out, kornia_color_match(image, reference, space, 0.3), atol=1e-5)


def test_image_color_match_reference_mask_limits_the_statistics():
    torch.manual_seed(1)
    image, reference = torch.rand(2, 4, 4, 3), torch.rand(2, 4, 4, 3)
    mask = torch.zeros(2, 4, 4)
    mask[:, :2] = 1.0
    out, = node("ImageColorMatch+")(ExecContext(), image=image, reference=reference, color_space="LAB", factor=1.0,
                                    device="gpu", batch_size=0, reference_mask=mask)
    assert torch.allclose(out, kornia_color_match(image, reference, "LAB", 1.0, mask), atol=1e-5)


def test_image_color_match_bad_inputs():
    image = torch.rand(2, 4, 4, 3)
    cases = [({"reference": torch.rand(3, 4, 4, 3)}, "reference"),
             ({"reference_mask": torch.ones(3, 4, 4)}, "reference_mask"),
             ({"color_space": "HSV"}, "color_space"), ({"image": torch.rand(4, 4, 3)}, "image")]
    for change, name in cases:
        inputs = {"image": image, "reference": image, "color_space": "LAB", "factor": 1.0, "device": "cpu",
                  "batch_size": 0, **change}
        with pytest.raises(NodeInputError) as err:
            node("ImageColorMatch+")(ExecContext(), **inputs)
        assert err.value.input_name == name


def test_mask_from_color():
    image = torch.zeros(1, 2, 2, 3)
    image[0, 0, 0] = torch.tensor([0.0, 0.0, 1 / 255])  # within 1 of black
    image[0, 0, 1] = torch.tensor([0.0, 0.0, 2 / 255])
    image[0, 1, 1] = torch.tensor([1.0, 1.0, 1.0])
    black, = node("MaskFromColor+")(ExecContext(), image=image, red=0, green=0, blue=0, threshold=1)
    assert black.tolist() == [[[1.0, 0.0], [1.0, 0.0]]]
    white, = node("MaskFromColor+")(ExecContext(), image=image)  # defaults: 255, 255, 255, threshold 0
    assert white.tolist() == [[[0.0, 0.0], [0.0, 1.0]]]
    with pytest.raises(NodeInputError) as err:
        node("MaskFromColor+")(ExecContext(), image=image, red="0")
    assert err.value.input_name == "red"


def test_image_batch_to_list_gives_each_frame():
    out, = node("ImageBatchToList+")(ExecContext(), image=frames(3))
    assert [f.shape for f in out] == [(1, 4, 6, 3)] * 3 and [levels(f) for f in out] == [[0], [1], [2]]


def test_image_list_to_batch_joins_and_resizes_to_the_first():
    big = torch.rand(1, 8, 12, 3, generator=torch.Generator().manual_seed(3))
    out, = node("ImageListToBatch+")(ExecContext(), image=[frames(2), big, frames(1)])
    assert out.shape == (4, 4, 6, 3) and levels(out[:2]) == [0, 1] and levels(out[3:]) == [0]
    # the same aspect ratio: no crop, torch's bicubic to 4x6 (comfy.utils.common_upscale)
    expected = torch.nn.functional.interpolate(big.movedim(-1, 1), size=(4, 6), mode="bicubic").movedim(1, -1)
    torch.testing.assert_close(out[2:3], expected)
    with pytest.raises(NodeInputError):
        node("ImageListToBatch+")(ExecContext(), image=frames(2))  # the engine hands this node a list
