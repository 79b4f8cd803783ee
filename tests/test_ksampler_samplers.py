"""ComfyUI's KSampler samplers on a flow model, against diffusers and a Gaussian toy with a known answer.

The toy: data ``x0 ~ N(mu, sd^2)`` per element, flow ``x_s = (1-s)*x0 + s*noise``. The
optimal velocity is known in closed form and its probability-flow ODE is linear, so a
deterministic sampler started from pure noise must end at ``mu + sd * noise``.
"""

from __future__ import annotations

import pytest
import torch

from wfrun.sampling.ksampler import (IMPLEMENTED_SAMPLERS, NOT_IMPLEMENTED, SAMPLER_NAMES, FlowSampling,
                                     SamplerNotAvailableError, advanced_sigmas, cfg_denoiser, ksampler_sigmas,
                                     prepare_noise, sample)
from wfrun.sampling.ksampler.res4lyf import RES4LYF_SAMPLER_NAMES

MU, SD = 0.7, 0.5
SHAPE = (1, 4, 2, 8, 8)


def toy_velocity(x: torch.Tensor, timestep: torch.Tensor, which=None) -> torch.Tensor:
    """The optimal flow velocity for x0 ~ N(MU, SD^2): (x - E[x0|x]) / s."""
    s = (timestep / 1000).reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    a = 1 - s
    x0 = MU + a * SD ** 2 / (a ** 2 * SD ** 2 + s ** 2) * (x - a * MU)
    return (x - x0) / s


def run(name, steps=30, scheduler="simple", shift=3.0, seed=0, latent=None, cfg=1.0, predict=toy_velocity,
        denoise=1.0, **kw):
    ms = FlowSampling(shift)
    latent = torch.zeros(SHAPE) if latent is None else latent
    noise = prepare_noise(latent, seed)
    sigmas = ksampler_sigmas(ms, scheduler, steps, denoise, sampler_name=name)
    return sample(cfg_denoiser(predict, cfg, ms), latent, noise, sigmas, name, seed=seed, ms=ms, **kw), noise


def test_sampler_list_is_comfyuis():
    assert SAMPLER_NAMES[:4] == ("euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp")
    comfy = SAMPLER_NAMES[:44]  # ComfyUI's own list, then RES4LYF's additions
    assert comfy[-3:] == ("ddim", "uni_pc", "uni_pc_bh2")
    assert SAMPLER_NAMES[44:] == RES4LYF_SAMPLER_NAMES and "res_2s" in RES4LYF_SAMPLER_NAMES
    assert set(IMPLEMENTED_SAMPLERS) | set(NOT_IMPLEMENTED) == set(SAMPLER_NAMES)
    for name in ("euler", "euler_ancestral", "uni_pc", "uni_pc_bh2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde",
                 "heun", "dpm_2", "dpm_2_ancestral", "lcm", "ddim", "res_multistep", "deis", "dpmpp_3m_sde",
                 "euler_cfg_pp", "gradient_estimation", "er_sde"):
        assert name in IMPLEMENTED_SAMPLERS, name


@pytest.mark.parametrize("name", ["dpm_fast", "dpm_adaptive", "not_a_sampler"])
def test_unavailable_samplers_raise_naming_the_sampler(name):
    with pytest.raises(SamplerNotAvailableError, match=repr(name)):
        run(name, steps=2)


# --- against diffusers ---------------------------------------------------------------------------

def test_euler_matches_diffusers_flow_match_euler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    ms = FlowSampling(8.0)
    sigmas = ksampler_sigmas(ms, "simple", 12)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    seen = []

    def predict(x, t, which):
        seen.append(t.clone())
        return toy_velocity(x, t)

    ours = sample(cfg_denoiser(predict, 1.0, ms), torch.zeros(SHAPE), noise, sigmas, "euler", seed=1, ms=ms)

    sched = FlowMatchEulerDiscreteScheduler(shift=1.0)
    sched.set_timesteps(sigmas=sigmas[:-1].tolist())
    assert torch.allclose(sched.sigmas, sigmas, atol=1e-6)
    x = noise.clone()
    for k, t in enumerate(sched.timesteps):
        assert torch.allclose(seen[k], t.reshape(1), rtol=1e-5)
        x = sched.step(toy_velocity(x, t.reshape(1)), t, x, return_dict=False)[0]
    assert torch.allclose(ours, x, atol=1e-5)


def _diffusers_ve(scheduler_cls, sigmas: torch.Tensor, noise: torch.Tensor, **config) -> torch.Tensor:
    """Run a diffusers VP scheduler on sigmas taken as VE sigmas, with an x0-predicting model."""
    sched = scheduler_cls(prediction_type="sample", use_flow_sigmas=False, **config)
    n = len(sigmas) - 1
    sched.set_timesteps(n)
    sched.sigmas = sigmas.clone().to(torch.float32)
    sched.timesteps = torch.arange(n, 0, -1) * 10
    x_vp = noise / torch.sqrt(1 + sigmas[0] ** 2)
    for k, t in enumerate(sched.timesteps):
        s = sigmas[k]
        x_ve = x_vp * torch.sqrt(1 + s ** 2)
        x0 = x_ve - s * toy_velocity(x_ve, (s * 1000).reshape(1))
        x_vp = sched.step(x0, t, x_vp, return_dict=False)[0]
    return x_vp


@pytest.mark.parametrize("name,solver_type", [("uni_pc", "bh1"), ("uni_pc_bh2", "bh2")])
def test_uni_pc_matches_diffusers_unipc_in_comfyuis_parameterisation(name, solver_type):
    """ComfyUI's UniPC is VP-on-k-diffusion-sigmas (lambda = -log sigma), not diffusers' flow UniPC.

    diffusers' ``UniPCMultistepScheduler`` configured the same way (sigmas as VE sigmas, x0
    prediction, order 3, lower order at the end) gives the same steps; ComfyUI replaces a final 0
    by 0.001, divides by alpha(0.001) and then by 1 - 0.001 (inverse_noise_scaling).
    """
    from diffusers import UniPCMultistepScheduler

    ms = FlowSampling(8.0)
    sigmas = ksampler_sigmas(ms, "simple", 10, sampler_name=name)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    ours = sample(cfg_denoiser(toy_velocity, 1.0, ms), torch.zeros(SHAPE), noise, sigmas, name, seed=2, ms=ms)

    ve = sigmas.clone()
    ve[-1] = 0.001
    ref = _diffusers_ve(UniPCMultistepScheduler, ve, noise, solver_order=3, solver_type=solver_type,
                        lower_order_final=True, predict_x0=True)
    ref = ref * torch.sqrt(torch.tensor(1 + 0.001 ** 2)) / (1 - 0.001)
    assert torch.allclose(ours, ref, atol=2e-4), float((ours - ref).abs().max())


def test_dpmpp_2m_matches_diffusers_dpmsolver_plus_plus():
    from diffusers import DPMSolverMultistepScheduler

    ms = FlowSampling(5.0)
    sigmas = ksampler_sigmas(ms, "karras", 9)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    ours = sample(cfg_denoiser(toy_velocity, 1.0, ms), torch.zeros(SHAPE), noise, sigmas, "dpmpp_2m", seed=3, ms=ms)
    ref = _diffusers_ve(DPMSolverMultistepScheduler, sigmas, noise, algorithm_type="dpmsolver++", solver_order=2,
                        solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero")
    assert torch.allclose(ours, ref, atol=2e-5), float((ours - ref).abs().max())


# --- the Gaussian toy ----------------------------------------------------------------------------------

DETERMINISTIC = ["euler", "heun", "heunpp2", "dpm_2", "lms", "dpmpp_2m", "ipndm", "ipndm_v", "deis",
                 "res_multistep", "gradient_estimation", "exp_heun_2_x0", "ddim", "uni_pc", "uni_pc_bh2",
                 "euler_cfg_pp", "dpmpp_2m_cfg_pp", "res_multistep_cfg_pp", "gradient_estimation_cfg_pp"]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_reach_the_odes_answer(name):
    errors = []
    for steps in ((10, 40) if name == "deis" else (20, 160)):
        out, noise = run(name, steps=steps, scheduler="simple", shift=3.0)
        if name.startswith("uni_pc"):
            out = out * (1 - 0.001)  # ComfyUI's final 0.001 sigma
        errors.append(float((out - (MU + SD * noise)).abs().mean()))
    assert errors[1] < 0.01 and errors[0] < 0.2, errors


STOCHASTIC = ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
              "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "lcm", "ddpm", "er_sde", "seeds_2", "seeds_3",
              "res_multistep_ancestral", "exp_heun_2_x0_sde", "euler_ancestral_cfg_pp"]


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_are_seeded(name):
    a, _ = run(name, steps=8, seed=11)
    b, _ = run(name, steps=8, seed=11)
    c, _ = run(name, steps=8, seed=12)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("name", ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_2m_sde"])
def test_flow_ancestral_steps_keep_the_data_distribution(name):
    """The RF ancestral step re-noises on the flow path: samples keep mean MU and spread SD."""
    latent = torch.zeros(1, 4, 1, 32, 32)
    out, noise = run(name, steps=100, latent=latent, seed=5)
    assert abs(float(out.mean()) - MU) < 0.03
    assert abs(float(out.std()) - SD) < 0.05
    assert not torch.allclose(out, MU + SD * noise, atol=0.05)  # it did re-noise


# --- KSampler semantics ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["euler", "heun", "dpm_2", "exp_heun_2_x0"])
def test_two_advanced_halves_equal_one_full_run(name):
    """Wan 2.2 A14B: high-noise 0→10 with leftover noise, low-noise 10→end without adding noise."""
    ms = FlowSampling(8.0)
    latent = torch.zeros(SHAPE)
    den = cfg_denoiser(toy_velocity, 1.0, ms)
    noise = prepare_noise(latent, 42)
    full = sample(den, latent, noise, ksampler_sigmas(ms, "simple", 20, sampler_name=name), name, seed=42, ms=ms)

    s1 = advanced_sigmas(ms, "simple", 20, 0, 10, force_full_denoise=False, sampler_name=name)
    mid = sample(den, latent, noise, s1, name, seed=42, ms=ms)
    s2 = advanced_sigmas(ms, "simple", 20, 10, 10000, force_full_denoise=True, sampler_name=name)
    out = sample(den, mid, prepare_noise(mid, 42, disable_noise=True), s2, name, seed=42, ms=ms, disable_noise=True)
    assert torch.allclose(out, full, atol=1e-5), float((out - full).abs().max())
    # the leftover-noise latent is handed over on the clean-latent scale: x / (1 - sigma)
    x_mid = sample(den, latent, noise, s1, name, seed=42, ms=ms) * (1 - s1[-1])
    assert torch.allclose(ms.noise_scaling(s2[0], torch.zeros_like(mid), mid), x_mid, atol=1e-6)


def test_denoise_below_one_starts_from_the_latent_noise_mix():
    ms = FlowSampling(8.0)
    latent = torch.full(SHAPE, 0.3)
    noise = prepare_noise(latent, 9)
    sigmas = ksampler_sigmas(ms, "simple", 6, denoise=0.4)
    first = []

    def predict(x, t, which):
        if not first:
            first.append(x.clone())
        return toy_velocity(x, t)

    sample(cfg_denoiser(predict, 1.0, ms), latent, noise, sigmas, "euler", seed=9, ms=ms)
    assert float(sigmas[0]) < 1
    assert torch.allclose(first[0], sigmas[0] * noise + (1 - sigmas[0]) * latent)


def test_empty_schedule_returns_the_latent_untouched():
    latent = torch.randn(SHAPE)
    out, _ = run("euler", steps=10, denoise=0.0, latent=latent)
    assert out is latent


def test_callback_counts_steps():
    calls = []
    run("euler", steps=5, callback=lambda step, total: calls.append((step, total)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    calls.clear()
    run("uni_pc", steps=5, callback=lambda step, total: calls.append((step, total)))
    assert calls == [(i, 5) for i in range(1, 6)]


class ToyLatentFormat:
    def process_in(self, latent):
        return (latent - 1.0) * 2.0

    def process_out(self, latent):
        return latent / 2.0 + 1.0


def test_latent_format_wraps_the_pass_and_skips_empty_latents():
    ms = FlowSampling(3.0)
    latent = torch.zeros(SHAPE)
    noise = prepare_noise(latent, 3)
    sigmas = ksampler_sigmas(ms, "simple", 20)
    den = cfg_denoiser(toy_velocity, 1.0, ms)
    plain = sample(den, latent, noise, sigmas, "euler", seed=3, ms=ms)
    wrapped = sample(den, latent, noise, sigmas, "euler", seed=3, ms=ms, latent_format=ToyLatentFormat())
    assert torch.allclose(wrapped, plain / 2.0 + 1.0, atol=1e-6)


def test_denoise_mask_keeps_the_masked_out_region():
    ms = FlowSampling(3.0)
    latent = torch.full(SHAPE, -0.4)
    mask = torch.zeros(SHAPE)
    mask[..., :4] = 1.0
    noise = prepare_noise(latent, 4)
    sigmas = ksampler_sigmas(ms, "simple", 10)
    out = sample(cfg_denoiser(toy_velocity, 1.0, ms), latent, noise, sigmas, "euler", seed=4, ms=ms,
                 denoise_mask=mask)
    assert torch.allclose(out[..., 4:], latent[..., 4:], atol=1e-6)
    assert not torch.allclose(out[..., :4], latent[..., :4])
