"""RES4LYF's KSampler additions: the bong_tangent/beta57 schedulers and the RES samplers.

References are computed independently of :mod:`wfrun.sampling.ksampler.res4lyf`: the
schedules from their formulas in numpy/scipy, phi functions by quadrature, the samplers
against exact solutions of linear ODEs and against a step-by-step transcription of
RES4LYF's procedure (fixed-point "bongmath" sweeps, its seeded Gaussian noise).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from wfrun.nodes.executor import NodeInputError
from wfrun.packs.comfy_core_models.ksampler_nodes import _check_names
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler import res4lyf as R
from wfrun.sampling.ksampler.samplers import SamplerContext


def _ctx(shift: float = 8.0) -> SamplerContext:
    return SamplerContext(ms=ks.FlowSampling(shift))


# --- schedulers ------------------------------------------------------------------------------

def _bong_reference(steps: int) -> np.ndarray:
    """RES4LYF's bong_tangent written from its description: two arctan ramps 1→0.5→0."""
    n = steps + 2
    split = int(n * 0.6)  # (n*0.6 + n*0.6)/2
    slope = 0.2 * 40 / n

    def ramp(count, pivot, high, low):
        k = np.arange(count, dtype=np.float64)
        f = 0.5 + np.arctan(slope * (pivot - k)) / np.pi
        return (f - f[-1]) / (f[0] - f[-1]) * (high - low) + low

    first = ramp(split, int(n * 0.6), 1.0, 0.5)[:-1]
    second = ramp(n - split, int(n * 0.6) - split, 0.5, 0.0)
    return np.concatenate([first, second]).astype(np.float32)


@pytest.mark.parametrize("steps", [2, 3, 4, 7, 10, 20, 30, 50])
def test_bong_tangent_matches_formula_and_ignores_shift(steps):
    for shift in (1.0, 5.0, 8.0):
        got = ks.scheduler_sigmas(ks.FlowSampling(shift), "bong_tangent", steps)
        assert got.dtype == torch.float32 and got.shape == (steps + 1,)
        np.testing.assert_allclose(got.numpy(), _bong_reference(steps), rtol=0, atol=2e-7)
    assert got[0] == 1.0 and got[-1] == 0.0
    assert torch.all(got[1:] < got[:-1])


def test_bong_tangent_one_step_is_refused():
    with pytest.raises(ks.schedulers.SchedulerStepsError):
        ks.scheduler_sigmas(ks.FlowSampling(8.0), "bong_tangent", 1)


@pytest.mark.parametrize("steps", [1, 5, 20, 33])
def test_beta57_is_beta_with_alpha_05_beta_07(steps):
    ms = ks.FlowSampling(5.0)
    table = ms.sigmas.numpy()
    picks = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), 0.5, 0.7) * 999).astype(int)
    keep = np.concatenate([[True], picks[1:] != picks[:-1]])
    expected = np.concatenate([table[picks[keep]], [0.0]]).astype(np.float32)
    got = ks.scheduler_sigmas(ms, "beta57", steps)
    np.testing.assert_array_equal(got.numpy(), expected)
    assert not torch.equal(got, ks.scheduler_sigmas(ms, "beta", steps)) or steps == 1


def test_res4lyf_names_are_in_the_lists():
    assert ks.SCHEDULER_NAMES[-2:] == ("bong_tangent", "beta57")
    for name in ("res_2s", "res_3s", "res_2m", "res_3m", "res_2s_ode", "res_3s_ode", "res_2m_ode", "res_3m_ode"):
        assert name in ks.IMPLEMENTED_SAMPLERS
    for name in ("res_5s", "res_6s", "deis_2m", "rk_beta"):
        with pytest.raises(ks.SamplerNotAvailableError, match=name) as err:
            ks.check_sampler(name)
        assert err.value.sampler_name == name


def test_ksampler_node_accepts_and_refuses_by_name():
    _check_names("res_2s", "bong_tangent")
    _check_names("res_3m_ode", "beta57")
    with pytest.raises(NodeInputError) as err:
        _check_names("res_5s", "bong_tangent")
    assert err.value.input_name == "sampler_name" and "res_5s" in str(err.value)


# --- phi functions and tableaux ----------------------------------------------------------------

def _phi_quad(j: int, z: float) -> float:
    """phi_j(z) = int_0^1 e^{(1-u) z} u^{j-1}/(j-1)! du."""
    return scipy.integrate.quad(lambda u: math.exp((1 - u) * z) * u ** (j - 1) / math.factorial(j - 1),
                                0.0, 1.0, epsabs=0, epsrel=1e-13)[0]


@pytest.mark.parametrize("z", [-1e-9, -1e-4, -0.03, -0.2, -0.49, -0.51, -1.0, -3.0, 0.3])
@pytest.mark.parametrize("j", [1, 2, 3])
def test_phi_functions(j, z):
    assert R.phi(j, z) == pytest.approx(_phi_quad(j, z), rel=1e-12)


@pytest.mark.parametrize("h", [0.01, 0.2, 0.7])
def test_res_tableaux_satisfy_the_exponential_order_conditions(h):
    p1, p2 = _phi_quad(1, -h), _phi_quad(2, -h)
    two = R.res_2s_tableau(h)
    three = R.res_3s_tableau(h)
    for tab in (two, three):
        assert sum(tab.b) == pytest.approx(p1, rel=1e-13)
        assert sum(b * c for b, c in zip(tab.b, tab.c)) == pytest.approx(p2, rel=1e-13)
        for row, c in zip(tab.a, tab.c):  # each stage is exact for a constant x0 prediction
            assert sum(row) == pytest.approx(c * _phi_quad(1, -c * h) if c else 0.0, rel=1e-13, abs=1e-16)


# --- deterministic samplers on linear ODEs -----------------------------------------------------

def _log_schedule(n: int, hi: float = 0.9, lo: float = 0.05) -> torch.Tensor:
    return torch.exp(torch.linspace(math.log(hi), math.log(lo), n + 1, dtype=torch.float64))


@pytest.mark.parametrize("name,order", [("res_2s_ode", 2), ("res_3s_ode", 3), ("res_2m_ode", 2),
                                        ("res_3m_ode", 2)])
def test_order_of_accuracy_on_a_linear_denoiser(name, order):
    """x0 = lam * x gives dx/dsigma = (1 - lam) x / sigma, solved by x0 (s/s0)^(1-lam).

    res_3m reaches order 2 only: RES4LYF gives its history stages res_3s's weights,
    which meet the third-order condition only for the nodes 1/2 and 1."""
    lam = 0.7
    errors = []
    for n in (16, 32, 64):
        sigmas = _log_schedule(n)
        x = torch.ones(1, 1, 1, 2, 2, dtype=torch.float64)
        out = R.sample_res(lambda v, s: lam * v, x, sigmas, _ctx(), variant=R.RES_SAMPLERS[name])
        errors.append(abs(float(out.flatten()[0]) - (0.05 / 0.9) ** (1 - lam)))
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert abs(rates[-1] - order) < 0.15, rates


def _affine_in_time_solution(x0: float, t0: float, t1: float, alpha: float, beta: float) -> float:
    """dx/dt = alpha + beta t - x (t = -log sigma): exact solution at t1."""
    decay = math.exp(-(t1 - t0))
    return decay * x0 + alpha * (1 - decay) + beta * ((t1 - 1) - (t0 - 1) * decay)


@pytest.mark.parametrize("name", ["res_2s_ode", "res_3s_ode", "res_2m_ode", "res_3m_ode"])
def test_exact_for_an_x0_prediction_affine_in_log_sigma(name):
    """Every RES tableau here integrates x0 predictions linear in t exactly (phi_1, phi_2
    conditions), so with such a toy denoiser each sampler lands on the closed form."""
    alpha, beta = 0.3, -0.45

    def model(x, s):
        return torch.full_like(x, alpha) + beta * (-torch.log(s)).reshape(-1, 1, 1, 1, 1)

    sigmas = torch.tensor([0.95, 0.8, 0.62, 0.5, 0.33, 0.25, 0.16, 0.1], dtype=torch.float64)
    x = torch.full((1, 2, 1, 3, 3), 1.7, dtype=torch.float64)
    out = R.sample_res(model, x, sigmas, _ctx(), variant=R.RES_SAMPLERS[name])
    expected = _affine_in_time_solution(1.7, -math.log(0.95), -math.log(0.1), alpha, beta)
    torch.testing.assert_close(out, torch.full_like(x, expected), rtol=1e-12, atol=1e-12)


def test_a_schedule_ending_in_zero_goes_to_sigma_min_then_takes_the_x0_prediction():
    ms = ks.FlowSampling(8.0)
    calls: list[float] = []

    def model(x, s):
        calls.append(float(s[0]))
        return 0.5 * x + 0.1

    sigmas = torch.tensor([1.0, 0.6, 0.3, 0.0])
    x = torch.ones(1, 1, 1, 2, 2)
    out = R.sample_res(model, x, sigmas, SamplerContext(ms=ms), variant=R.RES_SAMPLERS["res_2s_ode"])
    sigma_min = float(ms.sigma_min)
    # three RES steps of two stages each (1 → 0.6 → 0.3 → sigma_min), then the x0 call at sigma_min
    assert len(calls) == 7 and calls[-1] == pytest.approx(sigma_min, rel=1e-7)
    assert calls[-2] == pytest.approx(math.sqrt(0.3 * sigma_min), rel=1e-6)  # c = 1/2 in log sigma
    assert out.dtype == torch.float32


def test_last_sigma_below_sigma_min_is_raised_to_it():
    ms = ks.FlowSampling(8.0)
    prepared = R.prepare_sigmas(torch.tensor([0.5, 0.5, 0.001, 0.0], dtype=torch.float64),
                                ms.sigma_min.double())
    np.testing.assert_array_equal(prepared.numpy(), [0.5, float(ms.sigma_min), 0.0])


# --- the noisy default, against a transcription of RES4LYF's step -----------------------------------

class _PackNoise:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, shape):
        n = torch.randn(shape, dtype=torch.float64, generator=self.g)
        n = (n - n.mean()) / n.std()
        return (n - n.mean(dim=(-2, -1), keepdim=True)) / n.std(dim=(-2, -1), keepdim=True)


def _renoise(x0, xs, sigma, s, noise, eta=0.5):
    up = eta * s
    residual = math.sqrt(s * s - up * up)
    alpha = 1 - s + residual
    down = residual / alpha
    e = (x0 - xs) / (sigma - s)
    return alpha * (x0 - sigma * e + down * e) + up * noise


def _reference_res_step(model, x0, sigma, sigma_next, stages, step_noise, stage_noise):
    """One RES4LYF step as the pack walks it: stages, stage noise, 100 bongmath sweeps,
    final weights, step noise. Coefficients from quadrature phi functions."""
    h = math.log(sigma / sigma_next)
    p = lambda j, z: _phi_quad(j, z)  # noqa: E731
    if stages == 2:
        c = [0.0, 0.5]
        a = [[0.0, 0.0], [0.5 * p(1, -0.5 * h), 0.0]]
        b2 = p(2, -h) / 0.5
        b = [p(1, -h) - b2, b2]
    else:
        c = [0.0, 0.5, 1.0]
        a32 = 4 * 0.5 * p(2, -0.5 * h) + 2 * p(2, -h)
        b3 = p(2, -h) / 3
        a = [[0, 0, 0], [0.5 * p(1, -0.5 * h), 0, 0], [p(1, -h) - a32, a32, 0]]
        b = [p(1, -h) - 5 * b3, 4 * b3, b3]
    s = [sigma * math.exp(-ci * h) for ci in c]
    data, xs, x_start = [], x0, x0
    for i in range(stages):
        data.append(model(xs, torch.tensor([s[i]], dtype=torch.float64)))
        if i == stages - 1:
            break
        xs = x_start + h * sum(a[i + 1][j] * (data[j] - x_start) for j in range(i + 1))
        xs = _renoise(x_start, xs, sigma, s[i + 1], stage_noise(x0.shape))
        for _ in range(100):  # the pack's bongmath sweeps
            x_start = xs - h * sum(a[i + 1][j] * (data[j] - x_start) for j in range(i + 1))
    x_next = x_start + h * sum(bj * (d - x_start) for bj, d in zip(b, data))
    return _renoise(x_start, x_next, sigma, sigma_next, step_noise(x0.shape))


@pytest.mark.parametrize("name,stages", [("res_2s", 2), ("res_3s", 3)])
def test_noisy_step_matches_the_packs_procedure(name, stages):
    def model(x, s):  # depends on x, so bongmath's new start point changes the result
        return 0.6 * x + 0.1 * s.reshape(-1, 1, 1, 1, 1) - 0.05

    torch.manual_seed(3)
    x = torch.randn(1, 2, 3, 4, 5, dtype=torch.float64)
    sigmas = torch.tensor([0.8, 0.6], dtype=torch.float64)  # no final 0: one RES step only
    got = R.sample_res(model, x, sigmas, _ctx(), variant=R.RES_SAMPLERS[name])
    expected = _reference_res_step(model, x, 0.8, 0.6, stages, _PackNoise(-1), _PackNoise(9999))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    ode = R.sample_res(model, x, sigmas, _ctx(), variant=R.RES_SAMPLERS[name + "_ode"])
    assert (got - ode).abs().max() > 1e-2  # the default does inject noise


def test_step_noise_does_not_follow_the_ksampler_seed():
    """RES4LYF's sampler gets noise_seed -1 whatever KSampler's seed is."""
    model = lambda x, s: 0.5 * x  # noqa: E731
    x = torch.ones(1, 1, 2, 4, 4)
    sigmas = ks.scheduler_sigmas(ks.FlowSampling(8.0), "bong_tangent", 6)
    runs = [R.sample_res(model, x, sigmas, SamplerContext(ms=ks.FlowSampling(8.0), seed=seed),
                         variant=R.RES_SAMPLERS["res_2m"]) for seed in (1, 12345)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_ksampler_pass_runs_res_2s_with_bong_tangent():
    ms = ks.FlowSampling(8.0)
    sigmas = ks.ksampler_sigmas(ms, "bong_tangent", 5, 1.0, sampler_name="res_2s")
    latent = torch.zeros(1, 4, 2, 4, 4)
    noise = ks.prepare_noise(latent, 7)
    steps: list[int] = []
    out = ks.sample(lambda x, s: 0.2 * x, latent, noise, sigmas, "res_2s", seed=7, ms=ms,
                    callback=lambda i, n: steps.append(i))
    assert out.shape == latent.shape and out.dtype == latent.dtype and torch.isfinite(out).all()
    assert steps == [1, 2, 3, 4, 5]


def test_bong_tangent_one_step_is_a_steps_error_at_the_node():
    from wfrun.packs.comfy_core_models.custom_sampling import basic_sigmas

    with pytest.raises(NodeInputError) as err:
        basic_sigmas(ks.FlowSampling(8.0), "bong_tangent", 1, 1.0)
    assert err.value.input_name == "steps"
    assert len(basic_sigmas(ks.FlowSampling(8.0), "bong_tangent", 2, 1.0)) == 3
