"""Set 6's utility nodes: essentials' ImageSmartSharpen+, core ImageAddNoise, RES4LYF's
SeedGenerator, pysssss' ShowText.

References: kornia's own ``enhance.sharpness`` (the library the pack calls); the bilateral
filter's defining formula computed in float64 with the exact exponential (OpenCV's float path
reads the colour weight from a 4096-steps-per-channel table, linearly interpolated, so the two
agree to a few 1e-6), over the disc window and mirrored border OpenCV uses; ComfyUI's own
ImageAddNoise body (torch's global generator)."""

from __future__ import annotations

import math

import kornia
import numpy as np
import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.essentials.smart_sharpen import bilateral_filter, sharpness

CTX = ExecContext()


def reference_bilateral(img: np.ndarray, d: int, sigma_color: float, sigma_space: float, disc: bool = True):
    """sum_k w_k x_k / sum_k w_k, w = exp(-|dx|²/2σs²) exp(-(Σ_c |x_c - x0_c|)²/2σc²), float64."""
    radius = max(d // 2, 1)
    h, w, _ = img.shape
    pad = np.pad(img.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    total = np.zeros_like(img, dtype=np.float64)
    weights = np.zeros((h, w))
    for i in range(-radius, radius + 1):
        for j in range(-radius, radius + 1):
            r = math.hypot(i, j)
            if disc and r > radius:
                continue
            nb = pad[radius + i:radius + i + h, radius + j:radius + j + w]
            dist = np.abs(nb - img).sum(axis=-1)
            wk = math.exp(-r * r / (2 * sigma_space ** 2)) * np.exp(-dist ** 2 / (2 * sigma_color ** 2))
            weights += wk
            total += nb * wk[..., None]
    return total / weights[..., None]


@pytest.fixture(scope="module")
def picture() -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    base = torch.linspace(0, 1, 20)[None, :, None].expand(14, 20, 3).clone()
    return (base + 0.15 * torch.rand(14, 20, 3, generator=gen)).clamp(0, 1).float()


@pytest.mark.parametrize("d,sigma_color,sigma_space", [(5, 0.25, 1.1), (7, 0.1, 1.4), (3, 0.05, 0.8)])
def test_bilateral_filter_is_the_formula_over_a_disc_with_mirrored_borders(picture, d, sigma_color, sigma_space):
    ours = bilateral_filter(picture, d, sigma_color, sigma_space).numpy()
    want = reference_bilateral(picture.numpy(), d, sigma_color, sigma_space)
    assert np.abs(ours - want).max() < 2e-5
    if d >= 5:  # the square window would weigh the corners too: the disc is what is computed
        square = reference_bilateral(picture.numpy(), d, sigma_color, sigma_space, disc=False)
        assert np.abs(ours - square).max() > 50 * np.abs(ours - want).max()


def test_bilateral_filter_leaves_a_flat_image_as_it_is():
    flat = torch.full((6, 7, 3), 0.3)
    assert torch.equal(bilateral_filter(flat, 5, 0.25, 1.1), flat)


@pytest.mark.parametrize("factor", [0.5, 1.5, 5.0])
def test_sharpness_is_kornias(picture, factor):
    chw = picture.permute(2, 0, 1)
    assert torch.allclose(sharpness(chw, factor), kornia.enhance.sharpness(chw, factor), atol=1e-6)


def test_smart_sharpen_mixes_the_bilateral_blur_and_kornias_sharpening(picture):
    batch = torch.stack([picture, picture.flip(1)])
    (out,) = node("ImageSmartSharpen+")(CTX, image=batch, noise_radius=5, preserve_edges=0.75, sharpen=1.5,
                                        ratio=0.5)
    sigma = 0.3 * ((5 - 1) * 0.5 - 1) + 0.8
    for got, img in zip(out, batch):
        blurred = torch.from_numpy(reference_bilateral(img.numpy(), 5, 0.25, sigma)).float()
        sharp = kornia.enhance.sharpness(img.permute(2, 0, 1), 1.5).permute(1, 2, 0)
        assert torch.allclose(got, (0.5 * sharp + 0.5 * blurred).clamp(0, 1), atol=2e-5)
    # radius 1 and no sharpening: the image itself
    (same,) = node("ImageSmartSharpen+")(CTX, image=batch, noise_radius=1, preserve_edges=0.75, sharpen=0.0, ratio=0.3)
    assert torch.allclose(same, batch)


def test_image_add_noise_is_comfyuis_body():
    image = torch.rand(2, 8, 10, 3, generator=torch.Generator().manual_seed(1))
    (ours,) = node("ImageAddNoise")(CTX, image=image, seed=123456789, strength=0.3)
    generator = torch.manual_seed(123456789)  # ComfyUI's own lines
    want = torch.clip(image + 0.3 * torch.randn(image.size(), generator=generator, device="cpu").to(image), 0.0, 1.0)
    assert torch.equal(ours, want)
    with pytest.raises(NodeInputError) as err:
        node("ImageAddNoise")(CTX, image=image, seed=-1, strength=0.3)
    assert err.value.input_name == "seed"


def test_seed_generator_gives_seed_and_seed_plus_one():
    assert node("SeedGenerator")(CTX, seed=11) == (11, 12)
    assert node("SeedGenerator")(CTX, seed=2 ** 64 - 1) == (2 ** 64 - 1, 2 ** 64)


def test_show_text_passes_its_list_on():
    assert node("ShowText|pysssss")(CTX, text=["a", "b"]) == (["a", "b"],)
