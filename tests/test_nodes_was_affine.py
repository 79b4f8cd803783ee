"""was_affine's WAS Latent Affine: the Perlin field against a per-pixel loop written from the
pack's description (same generator draws), and the affine formula on the latent."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.was_affine.perlin import perlin_noise

CTX = ExecContext()


def reference_perlin(h, w, scale, octaves, persistence, lacunarity, seed):
    """Per pixel: gradients from torch.rand on a CPU generator (the pack's draws), then classic
    gradient noise with the quintic fade, octave sum, normalisation to 0..1."""
    rng = torch.Generator(device="cpu")
    rng.manual_seed(seed)
    fy, fx = max(h / scale, 1.0), max(w / scale, 1.0)
    total = np.zeros((h, w))
    amp, mul, maxamp = 1.0, 1.0, 0.0
    for _ in range(octaves):
        gy, gx = fy * mul, fx * mul
        gh, gw = math.floor(gy) + 1, math.floor(gx) + 1
        theta = (torch.rand((gh + 1, gw + 1), generator=rng, dtype=torch.float32) * 2 * math.pi).double().numpy()
        ys, xs = np.linspace(0, gy, h), np.linspace(0, gx, w)
        for r, yv in enumerate(ys):
            for c, xv in enumerate(xs):
                iy, ix = int(math.floor(yv)), int(math.floor(xv))
                ty, tx = yv - iy, xv - ix

                def dot(cx, cy, dx, dy):
                    a = theta[min(cy, gh), min(cx, gw)]
                    return math.cos(a) * dx + math.sin(a) * dy

                fade = lambda t: t * t * t * (t * (t * 6 - 15) + 10)
                u, v = fade(tx), fade(ty)
                top = dot(ix, iy, tx, ty) * (1 - u) + dot(ix + 1, iy, tx - 1, ty) * u
                bottom = dot(ix, iy + 1, tx, ty - 1) * (1 - u) + dot(ix + 1, iy + 1, tx - 1, ty - 1) * u
                total[r, c] += amp * (top * (1 - v) + bottom * v)
        maxamp += amp
        amp *= persistence
        mul *= lacunarity
    total /= maxamp
    return (total - total.min()) / (total.max() - total.min() + 1e-12)


@pytest.mark.parametrize("h,w,scale,octaves,seed", [(12, 20, 4.0, 3, 7), (9, 9, 24.0, 5, 123)])
def test_perlin_matches_the_reference(h, w, scale, octaves, seed):
    got = perlin_noise(h, w, scale, octaves, 0.6, 1.8, seed, torch.device("cpu"), torch.float32)
    assert np.allclose(got.double().numpy(), reference_perlin(h, w, scale, octaves, 0.6, 1.8, seed), atol=1e-4)


def test_perlin_options_give_the_dict():
    assert node("WASPerlinOptions")(CTX, perlin_scale=24, perlin_octaves=5, perlin_persistence=0.6,
                                    perlin_lacunarity=1.8) == ({"perlin_scale": 24.0, "perlin_octaves": 5,
                                                                "perlin_persistence": 0.6, "perlin_lacunarity": 1.8},)


def test_per_frame_affine_formula():
    torch.manual_seed(0)
    x = torch.randn(1, 16, 3, 6, 8)
    # the field drawn on the CPU on any machine (the pack's default draws on CUDA where there is one)
    opts = {"perlin_scale": 4.0, "perlin_octaves": 2, "perlin_persistence": 0.5, "perlin_lacunarity": 2.0,
            "compute_device": "cpu"}
    out, mask = node("WASLatentAffine")(CTX, latent={"samples": x, "extra": 1}, scale=0.975, bias=0.005,
                                        pattern="perlin", temporal_mode="per_frame", seed=11, noise_options=opts)
    for i in range(3):
        m = perlin_noise(6, 8, 4.0, 2, 0.5, 2.0, 11 + i * 9973, torch.device("cpu"), torch.float32)
        expected = x[:, :, i] * ((1 - m) + m * 0.975) + 0.005 * m
        assert torch.allclose(out["samples"][:, :, i], expected, atol=1e-6)
        assert torch.equal(mask[i], m)
    assert out["extra"] == 1 and mask.shape == (3, 6, 8)


def test_static_checker_with_threshold_and_invert():
    x = torch.ones(2, 4, 8, 8)
    out, mask = node("WASLatentAffine")(CTX, latent={"samples": x}, scale=0.5, bias=0.0, pattern="checker",
                                        temporal_mode="static", seed=0,
                                        options={"checker_size": 4, "invert_mask": True})
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    m = 1.0 - (((yy // 4) + (xx // 4)) % 2).float()
    assert torch.equal(out["samples"], x * ((1 - m) + m * 0.5)) and torch.equal(mask[0], m)


@pytest.mark.parametrize("inputs,name", [({"pattern": "pink_noise"}, "pattern"),
                                         ({"external_mask": torch.zeros(1, 8, 8, 3)}, "external_mask"),
                                         ({"options": {"blur_ksize": 5, "blur_sigma": 1.0}}, "options"),
                                         ({"options": {"sharpen_enable": True}}, "options")])
def test_refusals(inputs, name):
    kwargs = {"latent": {"samples": torch.zeros(1, 4, 8, 8)}, "scale": 0.9, "bias": 0.0, "pattern": "perlin",
              "temporal_mode": "static", "seed": 0, **inputs}
    with pytest.raises(NodeInputError) as err:
        node("WASLatentAffine")(CTX, **kwargs)
    assert err.value.input_name == name


def test_saves_of_every_signature_compute_alike():
    # the 2025-11-04 signature (NestedTensor unwrapping) treats a plain latent as before
    x = torch.randn(1, 4, 2, 8, 8, generator=torch.Generator().manual_seed(3))
    kwargs = dict(latent={"samples": x}, scale=0.9, bias=0.01, pattern="white_noise", temporal_mode="static", seed=5)
    old = node("WASLatentAffine")(dataclasses.replace(CTX, saved_date="2025-09-02"), **kwargs)
    new = node("WASLatentAffine")(dataclasses.replace(CTX, saved_date="2025-11-04"), **kwargs)
    assert torch.equal(old[0]["samples"], new[0]["samples"]) and torch.equal(old[1], new[1])
