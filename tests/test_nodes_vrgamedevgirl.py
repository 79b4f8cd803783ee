"""comfyui-vrgamedevgirl's FastUnsharpSharpen and FastFilmGrain against formulas written
here with scipy and plain tensor arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def _frames(n=3, h=7, w=9, seed=0):
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("use_gpu,mode", [(False, "nearest"), (True, "constant")])
def test_unsharp_is_x_plus_strength_times_x_minus_a_3x3_mean(use_gpu, mode):
    images = _frames()
    (out,) = node("FastUnsharpSharpen")(CTX, images=images, strength=1.7, use_gpu=use_gpu)
    x = images.numpy().astype(np.float64)
    blur = uniform_filter(x, size=(1, 3, 3, 1), mode=mode, cval=0.0)
    expected = np.clip(x + 1.7 * (x - blur), 0.0, 1.0)
    assert out.shape == images.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def test_unsharp_defaults_to_the_edge_repeating_blur_for_old_saves():
    images = _frames(seed=1)
    (old,) = node("FastUnsharpSharpen")(CTX, images=images, strength=0.5)  # a 2025 save: strength only
    (cpu,) = node("FastUnsharpSharpen")(CTX, images=images, strength=0.5, use_gpu=False)
    assert torch.equal(old, cpu)
    (same,) = node("FastUnsharpSharpen")(CTX, images=images, strength=0.0)
    assert torch.allclose(same, images)


def test_grain_grey_at_saturation_zero_and_scaled_channels_at_one():
    images = torch.full((4, 32, 32, 3), 0.5)
    torch.manual_seed(3)
    (grey,) = node("FastFilmGrain")(CTX, images=images, grain_intensity=0.01, saturation_mix=0.0, batch_size=0)
    assert torch.allclose(grey[..., 0], grey[..., 1]) and torch.allclose(grey[..., 2], grey[..., 1])
    torch.manual_seed(3)
    (colour,) = node("FastFilmGrain")(CTX, images=images, grain_intensity=0.01, saturation_mix=1.0, batch_size=0)
    torch.manual_seed(3)
    noise = torch.randn(4, 32, 32, 3)  # the same draw: red x2, blue x3, green as is
    expected = (0.5 + 0.01 * noise * torch.tensor([2.0, 1.0, 3.0])).clamp(0, 1)
    assert torch.allclose(colour, expected, atol=1e-6)
    assert torch.equal(colour[..., 1], grey[..., 1])  # green noise is the grey noise


def test_grain_in_chunks_keeps_shape_and_range():
    images = _frames(n=5, seed=2)
    (out,) = node("FastFilmGrain")(CTX, images=images, grain_intensity=0.5, saturation_mix=0.5, batch_size=2)
    assert out.shape == images.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, images)


def test_grain_needs_rgb():
    with pytest.raises(NodeInputError) as err:
        node("FastFilmGrain")(CTX, images=torch.zeros(1, 4, 4, 4), grain_intensity=0.1, saturation_mix=0.5)
    assert err.value.input_name == "images"
