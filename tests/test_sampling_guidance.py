"""Guidance objects against their formulas, computed here independently (float64 / numpy)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from wfrun.sampling.guidance import (CFG, BatchedCFG, CFGZeroStar, FreSca, PhantomCFG, fourier_filter,
                                     wrapper_guidance)


def pair(seed: int = 0, shape=(16, 3, 8, 8)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def f64(x: torch.Tensor) -> np.ndarray:
    return x.double().numpy()


def numpy_fresca(x: np.ndarray, low: float, high: float, cutoff: int) -> np.ndarray:
    """FreSca written from its definition: scale the centred 2-D spectrum (low inside the
    ``±cutoff`` square around the centre, high outside), back to space, real part."""
    spectrum = np.fft.fftshift(np.fft.fft2(x, axes=(-2, -1)), axes=(-2, -1))
    h, w = x.shape[-2:]
    scale = np.full((h, w), high)
    scale[h // 2 - cutoff:h // 2 + cutoff, w // 2 - cutoff:w // 2 + cutoff] = low
    return np.fft.ifft2(np.fft.ifftshift(spectrum * scale, axes=(-2, -1)), axes=(-2, -1)).real


def test_cfg_skips_the_uncond_pass_at_one_and_mixes_otherwise():
    cfg = CFG()
    cond, uncond = pair()
    assert not cfg.needs_uncond(1.0, 0) and not cfg.needs_uncond(1.0 + 1e-12, 3) and cfg.needs_uncond(5.0, 0)
    assert not cfg.zero_init(0) and not cfg.batched
    assert cfg.cond_only(cond, 0) is cond
    expected = f64(uncond) + 5.0 * (f64(cond) - f64(uncond))
    np.testing.assert_allclose(f64(cfg.combine(cond, uncond, 5.0, 0)), expected, rtol=1e-5, atol=1e-5)
    # the same bits as the textbook expression (x * 1.0 is exact)
    assert torch.equal(cfg.combine(cond, uncond, 5.0, 0), uncond + 5.0 * (cond - uncond))


def test_cfg_zero_star_projects_uncond_and_zero_inits_the_first_steps():
    cond, uncond = pair(1)
    alpha = float((f64(cond) * f64(uncond)).sum() / ((f64(uncond) ** 2).sum() + 1e-8))
    guidance = CFGZeroStar(zero_init_steps=1)
    expected = f64(uncond) * alpha + 4.0 * (f64(cond) - f64(uncond) * alpha)
    np.testing.assert_allclose(f64(guidance.combine(cond, uncond, 4.0, 5)), expected, rtol=1e-4, atol=1e-4)
    assert [guidance.zero_init(s) for s in range(4)] == [True, True, False, False]  # zero_star_steps + 1 steps
    assert not CFGZeroStar(None).zero_init(0)
    # uncond proportional to cond: alpha recovers the factor, the guided result is cond
    torch.testing.assert_close(guidance.combine(cond, cond * 0.5, 7.0, 5), cond, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cutoff", [1, 2, 5])
def test_fresca_filters_the_guidance_difference(cutoff):
    cond, uncond = pair(2)
    fresca = FreSca(0.8, 1.3, cutoff)
    np.testing.assert_allclose(f64(fourier_filter(cond, 0.8, 1.3, cutoff)), numpy_fresca(f64(cond), 0.8, 1.3, cutoff),
                               rtol=1e-4, atol=1e-4)
    expected = f64(uncond) + 6.0 * numpy_fresca(f64(cond) - f64(uncond), 0.8, 1.3, cutoff)
    np.testing.assert_allclose(f64(fresca.combine(cond, uncond, 6.0, 0)), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f64(fresca.cond_only(cond, 0)), numpy_fresca(f64(cond), 0.8, 1.3, cutoff),
                               rtol=1e-4, atol=1e-4)
    assert not fresca.needs_uncond(1.0, 0)
    # with CFG-Zero* under it, both terms take the projection factor
    zero = FreSca(0.8, 1.3, cutoff, CFGZeroStar(0))
    alpha = float((f64(cond) * f64(uncond)).sum() / ((f64(uncond) ** 2).sum() + 1e-8))
    expected = f64(uncond) * alpha + 6.0 * numpy_fresca(f64(cond) - f64(uncond), 0.8, 1.3, cutoff) * alpha
    np.testing.assert_allclose(f64(zero.combine(cond, uncond, 6.0, 0)), expected, rtol=1e-4, atol=1e-4)
    assert zero.zero_init(0) and not zero.zero_init(1)


def test_batched_cfg_always_runs_both_passes_and_combines_as_its_inner_guidance():
    cond, uncond = pair(3)
    batched = BatchedCFG(CFGZeroStar(0))
    assert batched.batched and batched.needs_uncond(1.0, 0) and batched.zero_init(0)
    assert torch.equal(batched.combine(cond, uncond, 3.0, 1), CFGZeroStar(0).combine(cond, uncond, 3.0, 1))


def test_phantom_three_pass_guidance():
    cond, uncond = pair(4)
    ref = (cond + uncond) / 3
    phantom = PhantomCFG((3.0, 1.0, 2.5))
    assert [phantom.scale_at(s) for s in range(5)] == [3.0, 1.0, 2.5, 2.5, 2.5]
    assert [phantom.needs_reference(s) for s in range(3)] == [True, False, True]
    expected = f64(uncond) + 2.5 * (f64(ref) - f64(uncond)) + 5.0 * (f64(cond) - f64(ref))
    np.testing.assert_allclose(f64(phantom.combine(cond, uncond, ref, 5.0, 7)), expected, rtol=1e-5, atol=1e-5)
    assert PhantomCFG(2.0).scale_at(10) == 2.0


def test_wrapper_guidance_builds_what_the_options_ask_for():
    def args(**kw):
        base = dict(cfg_zero_star=False, use_zero_init=False, zero_star_steps=0, use_fresca=False,
                    fresca_scale_low=1.0, fresca_scale_high=1.25, fresca_freq_cutoff=20)
        return SimpleNamespace(**{**base, **kw})

    assert type(wrapper_guidance(None)) is CFG and type(wrapper_guidance(args())) is CFG
    zero = wrapper_guidance(args(cfg_zero_star=True, use_zero_init=True, zero_star_steps=2))
    assert isinstance(zero, CFGZeroStar) and zero.zero_init_steps == 2
    assert wrapper_guidance(args(cfg_zero_star=True)).zero_init_steps is None  # no zero init without use_zero_init
    both = wrapper_guidance(args(cfg_zero_star=True, use_fresca=True), batched=True)
    assert isinstance(both, BatchedCFG) and isinstance(both.inner, FreSca) and isinstance(both.inner.base, CFGZeroStar)
