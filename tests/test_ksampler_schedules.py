"""ComfyUI's KSampler schedules and model sampling, checked against their closed formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from wfrun.sampling.ksampler import (MODEL_SAMPLING_SD3_DEFAULT_SHIFT, SCHEDULER_NAMES, WAN_DEFAULT_SHIFT,
                                     FlowSampling, UnknownSchedulerError, advanced_sigmas, ksampler_sigmas,
                                     prepare_noise, scheduler_sigmas)


def shifted(u, shift):
    return shift * u / (1 + (shift - 1) * u)


def table(shift):
    return shifted(np.arange(1, 1001) / 1000.0, shift)


# --- FlowSampling ----------------------------------------------------------------------------

def test_wan_and_sd3_default_shifts():
    assert WAN_DEFAULT_SHIFT == 8.0
    assert MODEL_SAMPLING_SD3_DEFAULT_SHIFT == 3.0


@pytest.mark.parametrize("shift", [1.0, 3.0, 8.0])
def test_flow_sampling_table_and_maps(shift):
    ms = FlowSampling(shift)
    assert ms.sigmas.dtype == torch.float32 and len(ms.sigmas) == 1000
    np.testing.assert_allclose(ms.sigmas.numpy(), table(shift), rtol=1e-6)
    assert float(ms.sigma_max) == pytest.approx(1.0)
    assert float(ms.sigma_min) == pytest.approx(shifted(0.001, shift), rel=1e-6)
    t = torch.tensor([0.0, 250.0, 999.0])
    np.testing.assert_allclose(ms.sigma(t).numpy(), shifted(t.numpy() / 1000, shift), rtol=1e-6)
    s = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(ms.timestep(s), s * 1000)
    assert ms.percent_to_sigma(0.0) == 1.0 and ms.percent_to_sigma(1.0) == 0.0
    assert ms.percent_to_sigma(0.25) == pytest.approx(shifted(0.75, shift))


def test_const_noise_scaling_and_denoised():
    ms = FlowSampling(5.0)
    noise, latent = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    sigma = torch.tensor(0.3)
    x = ms.noise_scaling(sigma, noise, latent)
    assert torch.allclose(x, 0.3 * noise + 0.7 * latent, atol=1e-6)  # float32 rounding near zero
    assert torch.allclose(ms.inverse_noise_scaling(sigma, x), x / 0.7)
    v = noise - latent
    assert torch.allclose(ms.denoised(x, sigma, v), latent, atol=1e-6)
    per_sample = torch.tensor([0.2, 0.6])
    y = ms.noise_scaling(per_sample, noise, latent)
    assert torch.allclose(y[1], 0.6 * noise[1] + 0.4 * latent[1], atol=1e-6)


# --- schedulers --------------------------------------------------------------------------------

@pytest.mark.parametrize("shift,steps", [(1.0, 10), (8.0, 7), (3.0, 30)])
def test_simple_picks_evenly_from_the_table(shift, steps):
    got = scheduler_sigmas(FlowSampling(shift), "simple", steps).numpy()
    tab = table(shift)
    want = [tab[999 - int(i * 1000 / steps)] for i in range(steps)] + [0.0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shift", [1.0, 8.0])
def test_karras_exponential_kl_optimal_formulas(shift):
    ms = FlowSampling(shift)
    lo, hi, n = float(ms.sigma_min), float(ms.sigma_max), 9
    ramp = np.linspace(0, 1, n)
    karras = (hi ** (1 / 7) + ramp * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7
    np.testing.assert_allclose(scheduler_sigmas(ms, "karras", n).numpy(), np.append(karras, 0), rtol=2e-5)
    expo = np.exp(np.linspace(math.log(hi), math.log(lo), n))
    np.testing.assert_allclose(scheduler_sigmas(ms, "exponential", n).numpy(), np.append(expo, 0), rtol=2e-5)
    frac = np.arange(n) / (n - 1)
    kl = np.tan(frac * math.atan(lo) + (1 - frac) * math.atan(hi))
    np.testing.assert_allclose(scheduler_sigmas(ms, "kl_optimal", n).numpy(), np.append(kl, 0), rtol=2e-5)


@pytest.mark.parametrize("shift,steps", [(1.0, 10), (8.0, 20)])
def test_beta_uses_the_beta_quantiles(shift, steps):
    idx = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), 0.6, 0.6) * 999)
    idx = [int(i) for k, i in enumerate(idx) if k == 0 or i != idx[k - 1]]
    want = np.append(table(shift)[idx], 0)
    np.testing.assert_allclose(scheduler_sigmas(FlowSampling(shift), "beta", steps).numpy(), want, rtol=1e-6)


@pytest.mark.parametrize("shift", [1.0, 8.0])
def test_normal_and_sgm_uniform_are_linear_in_timestep(shift):
    # ComfyUI: timesteps from timestep(sigma_max) to timestep(sigma_min) (sigma * 1000), mapped
    # through sigma(t) (which shifts): timestep() and sigma() are not inverses for shift != 1.
    ms = FlowSampling(shift)
    lo = shifted(0.001, shift) * 1000
    t = np.linspace(1000.0, lo, 6)
    want = np.append(shifted(t / 1000, shift), 0)
    np.testing.assert_allclose(scheduler_sigmas(ms, "normal", 6).numpy(), want, rtol=1e-5)
    t = np.linspace(1000.0, lo, 7)[:-1]
    np.testing.assert_allclose(scheduler_sigmas(ms, "sgm_uniform", 6).numpy(),
                               np.append(shifted(t / 1000, shift), 0), rtol=1e-5)


def test_known_small_cases():
    ms = FlowSampling(1.0)
    np.testing.assert_allclose(scheduler_sigmas(ms, "linear_quadratic", 4).numpy(),
                               [1.0, 0.9875, 0.975, 0.725, 0.0], atol=1e-6)
    np.testing.assert_allclose(scheduler_sigmas(ms, "ddim_uniform", 4).numpy(),
                               [0.752, 0.502, 0.252, 0.002, 0.0], atol=1e-6)


def test_every_scheduler_ends_at_zero_and_decreases():
    ms = FlowSampling(8.0)
    for name in SCHEDULER_NAMES:
        s = scheduler_sigmas(ms, name, 12)
        assert float(s[-1]) == 0.0, name
        assert bool((s[1:] <= s[:-1]).all()), name


def test_unknown_scheduler_raises_with_the_list():
    with pytest.raises(UnknownSchedulerError, match="'sigmoid_offset'.*simple.*bong_tangent"):
        scheduler_sigmas(FlowSampling(), "sigmoid_offset", 10)


# --- KSampler and KSamplerAdvanced windows ---------------------------------------------------------

def test_ksampler_denoise_takes_the_tail_of_a_longer_schedule():
    ms = FlowSampling(8.0)
    full = scheduler_sigmas(ms, "simple", 20)
    assert torch.equal(ksampler_sigmas(ms, "simple", 10, denoise=0.5), full[-11:])
    longer = scheduler_sigmas(ms, "simple", int(7 / 0.3))
    assert torch.equal(ksampler_sigmas(ms, "simple", 7, denoise=0.3), longer[-8:])
    assert torch.equal(ksampler_sigmas(ms, "simple", 10, denoise=1.0), scheduler_sigmas(ms, "simple", 10))
    assert len(ksampler_sigmas(ms, "simple", 10, denoise=0.0)) == 0


def test_discard_penultimate_samplers():
    ms = FlowSampling(8.0)
    longer = scheduler_sigmas(ms, "simple", 11)
    got = ksampler_sigmas(ms, "simple", 10, sampler_name="uni_pc")
    assert torch.equal(got, torch.cat([longer[:-2], longer[-1:]]))
    assert len(got) == 11
    assert torch.equal(ksampler_sigmas(ms, "simple", 10, sampler_name="euler"), scheduler_sigmas(ms, "simple", 10))


def test_advanced_windows():
    ms = FlowSampling(8.0)
    full = scheduler_sigmas(ms, "simple", 20)
    high = advanced_sigmas(ms, "simple", 20, 0, 10, force_full_denoise=False)
    assert torch.equal(high, full[:11])
    low = advanced_sigmas(ms, "simple", 20, 10, 10000, force_full_denoise=True)
    assert torch.equal(low, full[10:])
    cut = advanced_sigmas(ms, "simple", 20, 0, 10, force_full_denoise=True)
    assert torch.equal(cut[:-1], full[:10]) and float(cut[-1]) == 0.0
    assert len(advanced_sigmas(ms, "simple", 20, 20, 10000, force_full_denoise=True)) == 0
    assert float(full[10]) != 0.0  # the window did not write into a shared schedule


# --- initial noise -------------------------------------------------------------------------------------

def test_prepare_noise_is_comfyui_cpu_randn():
    latent = torch.zeros(1, 16, 3, 4, 4)
    want = torch.randn(latent.shape, generator=torch.Generator().manual_seed(123))
    assert torch.equal(prepare_noise(latent, 123), want)
    assert torch.equal(prepare_noise(latent, 123, disable_noise=True), torch.zeros_like(latent))
    assert not torch.equal(prepare_noise(latent, 124), want)


def test_prepare_noise_batch_index_takes_each_index_draw():
    latent = torch.zeros(2, 2, 3)
    g = torch.Generator().manual_seed(7)
    draws = [torch.randn(1, 2, 3, generator=g) for _ in range(3)]
    got = prepare_noise(latent, 7, batch_index=[2, 0])
    assert torch.equal(got, torch.cat([draws[2], draws[0]]))
