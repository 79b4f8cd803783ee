"""The ``sampler_name`` options of ComfyUI's KSampler, written for a flow (CONST) model.

Each sampler walks a sigma schedule with a denoiser ``model(x, sigma) -> x0`` the way
ComfyUI's ``comfy/k_diffusion/sampling.py`` does (k-diffusion's algorithms, plus ComfyUI's
additions). They all work in k-diffusion's variable: ``x`` at sigma ``s`` with the ODE
``dx/ds = (x - x0)/s``. For a flow model ``x = (1-s)*x0 + s*noise`` this is the flow ODE
itself (``(x - x0)/s`` is the velocity), so the deterministic solvers need nothing special.

What is specific to a CONST model, as ComfyUI does it:

- ``euler_ancestral``, ``dpm_2_ancestral`` and ``dpmpp_2s_ancestral`` switch to their
  ``_RF`` forms: step down to ``sigma_down = sigma_next * (1 + (sigma_next/sigma - 1)*eta)``
  by interpolating between ``x`` and ``x0``, rescale by ``(1-sigma_next)/(1-sigma_down)`` and
  add ``sqrt(sigma_next^2 - sigma_down^2 * ((1-sigma_next)/(1-sigma_down))^2)`` of noise,
  which keeps the flow marginals (the VE ancestral step would not).
- The SDE and exponential samplers (``dpmpp_sde``, ``dpmpp_2m_sde*``, ``dpmpp_3m_sde*``,
  ``er_sde``, ``seeds_*``, ``exp_heun_2_x0*``, ``sa_solver*``, the CFG++ Euler) use the
  CONST half-log-SNR ``log((1-s)/s)`` and move a first sigma of 1 to
  ``percent_to_sigma(1e-4)``.
- Samplers ComfyUI did not adapt stay as they are there, VE formulas on flow sigmas:
  ``dpmpp_2m``, ``res_multistep*``, ``lms``, ``ddpm`` (its VP rescaling), ``deis``, ``ipndm*``.
  Faithful, not "fixed".
- ``lcm`` re-noises the x0 prediction with the model's ``noise_scaling`` (flow mix).
- ``ddim`` is ``euler`` (ComfyUI maps it so; it only differs for masked latents, where its
  inpainting noise comes from ``seed + 1``, see :mod:`.run`).

The CFG++ samplers (``*_cfg_pp``) need the negative prediction of each call: they run with
a :class:`~.guidance.CFGDenoiser` copy that always runs the negative pass and keeps it
(``ctx.uncond()``), as ComfyUI's disable-cfg1 + post-cfg capture does.

``uni_pc``/``uni_pc_bh2`` live in :mod:`.uni_pc`; ``dpm_fast`` and ``dpm_adaptive`` (the
adaptive DPM-Solver) are not implemented and raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from .model_sampling import FlowSampling
from .noise import BrownianTreeNoiseSampler, NoiseSampler, default_noise_sampler

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SamplerContext:
    """What a sampler may need besides the denoiser, the latent and the sigmas."""

    ms: FlowSampling
    seed: int | None = None
    callback: Callable[[dict], None] | None = None
    #: the negative x0 of the last denoiser call (CFG++ samplers only)
    uncond: Callable[[], torch.Tensor] | None = None
    noise_sampler: NoiseSampler | None = None
    #: sampler settings a node sets besides the name (RES4LYF's ``ResOptions``); None: the name's own
    options: Any = None

    def report(self, i: int, x, sigma, denoised, sigma_hat=None) -> None:
        if self.callback is not None:
            self.callback({"x": x, "i": i, "sigma": sigma,
                           "sigma_hat": sigma if sigma_hat is None else sigma_hat, "denoised": denoised})

    def step_noise(self, x: torch.Tensor) -> NoiseSampler:
        return self.noise_sampler or default_noise_sampler(x, seed=self.seed)

    def brownian_noise(self, x: torch.Tensor, sigmas: torch.Tensor, cpu: bool = True) -> NoiseSampler:
        if self.noise_sampler is not None:
            return self.noise_sampler
        positive = sigmas[sigmas > 0]
        return BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), seed=self.seed, cpu=cpu)


def _d(x, sigma, denoised):
    """k-diffusion's ODE derivative ``(x - x0) / sigma`` (the velocity for a flow model)."""
    return (x - denoised) / sigma


def _ones(x):
    return x.new_ones([x.shape[0]])


def _ve_ancestral(sigma, sigma_next, eta=1.0):
    """k-diffusion's VE ancestral split of a step into (sigma_down, sigma_up)."""
    if not eta:
        return sigma_next, 0.0
    up = min(sigma_next, eta * (sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2) ** 0.5)
    return (sigma_next ** 2 - up ** 2) ** 0.5, up


def _rf_ancestral(sigma, sigma_next, eta):
    """ComfyUI's flow ancestral step: (sigma_down, rescale to sigma_next, renoise amount)."""
    sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta)
    alpha_next, alpha_down = 1 - sigma_next, 1 - sigma_down
    renoise = (sigma_next ** 2 - sigma_down ** 2 * alpha_next ** 2 / alpha_down ** 2) ** 0.5
    return sigma_down, alpha_next / alpha_down, renoise


def _neg_log(sigma):
    return sigma.log().neg()


# --- first-order and Karras ODE samplers ------------------------------------------------

def euler(model, x, sigmas, ctx):
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        ctx.report(i, x, sigmas[i], denoised)
        x = x + _d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def euler_ancestral(model, x, sigmas, ctx, eta=1.0, s_noise=1.0):
    """The RF (flow) form ComfyUI uses for CONST models."""
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        sigma_down, rescale, renoise = _rf_ancestral(sigma, sigma_next, eta)
        ratio = sigma_down / sigma
        x = ratio * x + (1 - ratio) * denoised
        if eta > 0:
            x = rescale * x + noise(sigma, sigma_next) * s_noise * renoise
    return x


def heun(model, x, sigmas, ctx):
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        d = _d(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = _d(x_2, sigma_next, model(x_2, sigma_next * s_in))
            x = x + (d + d_2) / 2 * dt
    return x


def heunpp2(model, x, sigmas, ctx):
    s_in = _ones(x)
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        d = _d(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == s_end:
            x = x + d * dt
        elif sigmas[i + 2] == s_end:
            x_2 = x + d * dt
            d_2 = _d(x_2, sigma_next, model(x_2, sigma_next * s_in))
            w2 = sigma_next / (2 * sigmas[0])
            x = x + (d * (1 - w2) + d_2 * w2) * dt
        else:
            x_2 = x + d * dt
            d_2 = _d(x_2, sigma_next, model(x_2, sigma_next * s_in))
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigma_next)
            d_3 = _d(x_3, sigmas[i + 2], model(x_3, sigmas[i + 2] * s_in))
            w2 = sigma_next / (3 * sigmas[0])
            w3 = sigmas[i + 2] / (3 * sigmas[0])
            x = x + ((1 - w2 - w3) * d + w2 * d_2 + w3 * d_3) * dt
    return x


def dpm_2(model, x, sigmas, ctx):
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        d = _d(x, sigma, denoised)
        if sigma_next == 0:
            x = x + d * (sigma_next - sigma)
        else:
            sigma_mid = sigma.log().lerp(sigma_next.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma)
            d_2 = _d(x_2, sigma_mid, model(x_2, sigma_mid * s_in))
            x = x + d_2 * (sigma_next - sigma)
    return x


def dpm_2_ancestral(model, x, sigmas, ctx, eta=1.0, s_noise=1.0):
    """The RF (flow) form ComfyUI uses for CONST models."""
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        sigma_down, rescale, renoise = _rf_ancestral(sigma, sigma_next, eta)
        ctx.report(i, x, sigma, denoised)
        d = _d(x, sigma, denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigma)
        else:
            sigma_mid = sigma.log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma)
            d_2 = _d(x_2, sigma_mid, model(x_2, sigma_mid * s_in))
            x = x + d_2 * (sigma_down - sigma)
            x = rescale * x + noise(sigma, sigma_next) * s_noise * renoise
    return x


def lms(model, x, sigmas, ctx, order=4):
    from scipy import integrate

    s_in = _ones(x)
    t = sigmas.detach().cpu().numpy()
    history: list[torch.Tensor] = []

    def coefficient(cur_order, i, j):
        def basis(tau):
            prod = 1.0
            for k in range(cur_order):
                if k != j:
                    prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
            return prod
        return integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0]

    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        history.append(_d(x, sigmas[i], denoised))
        if len(history) > order:
            history.pop(0)
        ctx.report(i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            cur_order = min(i + 1, order)
            coeffs = [coefficient(cur_order, i, j) for j in range(cur_order)]
            x = x + sum(c * d for c, d in zip(coeffs, reversed(history)))
    return x


# --- DPM-Solver++ family -----------------------------------------------------------------

def dpmpp_2s_ancestral(model, x, sigmas, ctx, eta=1.0, s_noise=1.0):
    """The RF (flow) form ComfyUI uses for CONST models."""
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        sigma_down, rescale, renoise = _rf_ancestral(sigma, sigma_next, eta)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = x + _d(x, sigma, denoised) * (sigma_down - sigma)
        else:
            if sigma == 1.0:
                sigma_s = 0.9999
            else:
                lam, lam_down = ((1 - sigma) / sigma).log(), ((1 - sigma_down) / sigma_down).log()
                sigma_s = ((lam + (lam_down - lam) / 2).exp() + 1) ** -1
            ratio_s = sigma_s / sigma
            mid = model(ratio_s * x + (1 - ratio_s) * denoised, sigma_s * s_in)
            ratio = sigma_down / sigma
            x = ratio * x + (1 - ratio) * mid
        if sigma_next > 0 and eta > 0:
            x = rescale * x + noise(sigma, sigma_next) * s_noise * renoise
    return x


def dpmpp_sde(model, x, sigmas, ctx, eta=1.0, s_noise=1.0, r=0.5, gpu=False):
    if len(sigmas) <= 1:
        return x
    noise = ctx.brownian_noise(x, sigmas, cpu=not gpu)
    ms = ctx.ms
    s_in = _ones(x)
    sigmas = ms.offset_first_sigma_for_snr(sigmas)
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        lam_s, lam_t = ms.half_log_snr(sigma), ms.half_log_snr(sigma_next)
        h = lam_t - lam_s
        lam_mid = lam_s + r * h
        sigma_mid = ms.sigma_from_half_log_snr(lam_mid)
        alpha_s = sigma * lam_s.exp()
        alpha_mid = sigma_mid * lam_mid.exp()
        alpha_t = sigma_next * lam_t.exp()

        down, up = _ve_ancestral(lam_s.neg().exp(), lam_mid.neg().exp(), eta)
        h_ = _neg_log(down) - lam_s
        x_2 = (alpha_mid / alpha_s) * (-h_).exp() * x - alpha_mid * (-h_).expm1() * denoised
        if eta > 0 and s_noise > 0:
            x_2 = x_2 + alpha_mid * noise(sigma, sigma_mid) * s_noise * up
        denoised_2 = model(x_2, sigma_mid * s_in)

        down, up = _ve_ancestral(lam_s.neg().exp(), lam_t.neg().exp(), eta)
        h_ = _neg_log(down) - lam_s
        mixed = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * mixed
        if eta > 0 and s_noise > 0:
            x = x + alpha_t * noise(sigma, sigma_next) * s_noise * up
    return x


def dpmpp_2m(model, x, sigmas, ctx):
    s_in = _ones(x)
    old_denoised = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        t, t_next = _neg_log(sigma), _neg_log(sigma_next)
        h = t_next - t
        if old_denoised is None or sigma_next == 0:
            target = denoised
        else:
            r = (t - _neg_log(sigmas[i - 1])) / h
            target = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (sigma_next / sigma) * x - (-h).expm1() * target
        old_denoised = denoised
    return x


def dpmpp_2m_sde(model, x, sigmas, ctx, eta=1.0, s_noise=1.0, solver_type="midpoint", gpu=False):
    if len(sigmas) <= 1:
        return x
    if solver_type not in ("heun", "midpoint"):
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    noise = ctx.brownian_noise(x, sigmas, cpu=not gpu)
    ms = ctx.ms
    s_in = _ones(x)
    sigmas = ms.offset_first_sigma_for_snr(sigmas)
    old_denoised, h, h_last = None, None, None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
        else:
            lam_s, lam_t = ms.half_log_snr(sigma), ms.half_log_snr(sigma_next)
            h = lam_t - lam_s
            h_eta = h * (eta + 1)
            alpha_t = sigma_next * lam_t.exp()
            one_minus = (-h_eta).expm1().neg()
            x = sigma_next / sigma * (-h * eta).exp() * x + alpha_t * one_minus * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + alpha_t * (one_minus / (-h_eta) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * alpha_t * one_minus * (1 / r) * (denoised - old_denoised)
            if eta > 0 and s_noise > 0:
                x = x + noise(sigma, sigma_next) * sigma_next * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


def dpmpp_3m_sde(model, x, sigmas, ctx, eta=1.0, s_noise=1.0, gpu=False):
    if len(sigmas) <= 1:
        return x
    noise = ctx.brownian_noise(x, sigmas, cpu=not gpu)
    ms = ctx.ms
    s_in = _ones(x)
    sigmas = ms.offset_first_sigma_for_snr(sigmas)
    d_1, d_2 = None, None
    h, h_1, h_2 = None, None, None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
        else:
            lam_s, lam_t = ms.half_log_snr(sigma), ms.half_log_snr(sigma_next)
            h = lam_t - lam_s
            h_eta = h * (eta + 1)
            alpha_t = sigma_next * lam_t.exp()
            x = sigma_next / sigma * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            phi_2 = h_eta.neg().expm1() / h_eta + 1
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                diff0 = (denoised - d_1) / r0
                diff1 = (d_1 - d_2) / r1
                first = diff0 + (diff0 - diff1) * r0 / (r0 + r1)
                second = (diff0 - diff1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + (alpha_t * phi_2) * first - (alpha_t * phi_3) * second
            elif h_1 is not None:
                x = x + (alpha_t * phi_2) * ((denoised - d_1) / (h_1 / h))
            if eta > 0 and s_noise > 0:
                x = x + noise(sigma, sigma_next) * sigma_next * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        d_1, d_2 = denoised, d_1
        h_1, h_2 = h, h_1
    return x


# --- re-noising samplers -------------------------------------------------------------------

def ddpm(model, x, sigmas, ctx):
    """ComfyUI's DDPM step, in its VP rescaling of the k-diffusion variable (also for flow models)."""
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_prev = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        eps = (x - denoised) / sigma
        x_vp = x / torch.sqrt(1.0 + sigma ** 2.0)
        acp = 1 / (sigma * sigma + 1)
        acp_prev = 1 / (sigma_prev * sigma_prev + 1)
        alpha = acp / acp_prev
        mu = (1.0 / alpha).sqrt() * (x_vp - (1 - alpha) * eps / (1 - acp).sqrt())
        if sigma_prev > 0:
            mu = mu + ((1 - alpha) * (1.0 - acp_prev) / (1.0 - acp)).sqrt() * noise(sigma, sigma_prev)
        x = mu
        if sigma_prev != 0:
            x = x * torch.sqrt(1.0 + sigma_prev ** 2.0)
    return x


def lcm(model, x, sigmas, ctx):
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        ctx.report(i, x, sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = ctx.ms.noise_scaling(sigmas[i + 1], noise(sigmas[i], sigmas[i + 1]), x)
    return x


# --- linear multistep (zju-pi diff-sampler) ----------------------------------------------

def _shift_history(history, value, max_order):
    if len(history) == max_order - 1:
        history[:] = history[1:] + [value]
    else:
        history.append(value)


def ipndm(model, x, sigmas, ctx, max_order=4):
    s_in = _ones(x)
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in)
        ctx.report(i, x, t_cur, denoised)
        d = (x - denoised) / t_cur
        order = min(max_order, i + 1)
        dt = t_next - t_cur
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x + dt * d
        elif order == 2:
            x_next = x + dt * (3 * d - history[-1]) / 2
        elif order == 3:
            x_next = x + dt * (23 * d - 16 * history[-1] + 5 * history[-2]) / 12
        else:
            x_next = x + dt * (55 * d - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]) / 24
        _shift_history(history, d, max_order)
        x = x_next
    return x


def ipndm_v(model, x, sigmas, ctx, max_order=4):
    s_in = _ones(x)
    t = sigmas
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in)
        ctx.report(i, x, t_cur, denoised)
        d = (x - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x + (t_next - t_cur) * d
        else:
            h0 = t_next - t_cur
            h1 = t_cur - t[i - 1]
            if order == 2:
                c1 = (2 + h0 / h1) / 2
                c2 = -(h0 / h1) / 2
                x_next = x + h0 * (c1 * d + c2 * history[-1])
            elif order == 3:
                h2 = t[i - 1] - t[i - 2]
                k = (1 - h0 / (3 * (h0 + h1)) * (h0 * (h0 + h1)) / (h1 * (h1 + h2))) / 2
                c1 = (2 + h0 / h1) / 2 + k
                c2 = -(h0 / h1) / 2 - (1 + h1 / h2) * k
                c3 = k * h1 / h2
                x_next = x + h0 * (c1 * d + c2 * history[-1] + c3 * history[-2])
            else:
                h2 = t[i - 1] - t[i - 2]
                h3 = t[i - 2] - t[i - 3]
                k1 = (1 - h0 / (3 * (h0 + h1)) * (h0 * (h0 + h1)) / (h1 * (h1 + h2))) / 2
                k2 = ((1 - h0 / (3 * (h0 + h1))) / 2 + (1 - h0 / (2 * (h0 + h1))) * h0 / (6 * (h0 + h1 + h2))) \
                    * (h0 * (h0 + h1) * (h0 + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3))
                q = h1 * (h1 + h2) / (h2 * (h2 + h3))
                c1 = (2 + h0 / h1) / 2 + k1 + k2
                c2 = -(h0 / h1) / 2 - (1 + h1 / h2) * k1 - (1 + h1 / h2 + q) * k2
                c3 = k1 * h1 / h2 + (h1 / h2 + q * (1 + h2 / h3)) * k2
                c4 = -k2 * q * h1 / h2
                x_next = x + h0 * (c1 * d + c2 * history[-1] + c3 * history[-2] + c4 * history[-3])
        _shift_history(history, d.detach(), max_order)
        x = x_next
    return x


def deis(model, x, sigmas, ctx, max_order=3, deis_mode="tab"):
    from .deis import deis_coefficients

    s_in = _ones(x)
    coeffs = deis_coefficients(sigmas, max_order, mode=deis_mode)
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in)
        ctx.report(i, x, t_cur, denoised)
        d = (x - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next <= 0:
            order = 1
        if order == 1:
            x_next = x + (t_next - t_cur) * d
        else:
            c = coeffs[i]
            x_next = x + c[0] * d + sum(c[k] * history[-k] for k in range(1, order))
        _shift_history(history, d.detach(), max_order)
        x = x_next
    return x


# --- CFG++ variants -------------------------------------------------------------------------

def _need_uncond(ctx: SamplerContext) -> Callable[[], torch.Tensor]:
    if ctx.uncond is None:  # run.sample always provides it for these samplers
        raise ValueError("CFG++ samplers need the CFG denoiser's negative prediction")
    return ctx.uncond


def euler_ancestral_cfg_pp(model, x, sigmas, ctx, eta=1.0, s_noise=1.0):
    uncond = _need_uncond(ctx)
    noise = ctx.step_noise(x)
    ms = ctx.ms
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        alpha_s = sigma * ms.half_log_snr(sigma).exp()
        alpha_t = sigma_next * ms.half_log_snr(sigma_next).exp()
        d = _d(x, sigma, alpha_s * uncond())
        down, up = _ve_ancestral(sigma / alpha_s, sigma_next / alpha_t, eta=eta)
        x = alpha_t * denoised + alpha_t * down * d
        if eta > 0 and s_noise > 0:
            x = x + alpha_t * noise(sigma, sigma_next) * s_noise * up
    return x


def euler_cfg_pp(model, x, sigmas, ctx):
    return euler_ancestral_cfg_pp(model, x, sigmas, ctx, eta=0.0, s_noise=0.0)


def dpmpp_2s_ancestral_cfg_pp(model, x, sigmas, ctx, eta=1.0, s_noise=1.0):
    """ComfyUI has no RF form of this one: the VE ancestral step, also on flow models."""
    uncond = _need_uncond(ctx)
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        down, up = _ve_ancestral(sigma, sigma_next, eta=eta)
        ctx.report(i, x, sigma, denoised)
        u = uncond()
        if down == 0:
            x = denoised + _d(x, sigma, u) * down
        else:
            t, t_next = _neg_log(sigma), _neg_log(down)
            h = t_next - t
            s = t + h / 2
            shifted = x + (denoised - u)
            x_2 = ((-s).exp() / (-t).exp()) * shifted - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, (-s).exp() * s_in)
            x = ((-t_next).exp() / (-t).exp()) * (x + (denoised - uncond())) - (-h).expm1() * denoised_2
        if sigma_next > 0:
            x = x + noise(sigma, sigma_next) * s_noise * up
    return x


def dpmpp_2m_cfg_pp(model, x, sigmas, ctx):
    uncond = _need_uncond(ctx)
    s_in = _ones(x)
    old_uncond = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        u = uncond()
        ctx.report(i, x, sigma, denoised)
        t, t_next = _neg_log(sigma), _neg_log(sigma_next)
        h = t_next - t
        mix = -torch.exp(-h) * u
        if old_uncond is not None and sigma_next != 0:
            r = (t - _neg_log(sigmas[i - 1])) / h
            mix = mix - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + torch.exp(-h) * x
        old_uncond = u
    return x


# --- RES multistep, gradient estimation --------------------------------------------------

def res_multistep(model, x, sigmas, ctx, eta=0.0, s_noise=1.0, cfg_pp=False):
    """Second-order RES (arXiv 2308.02157) in -log(sigma) time; the ancestral forms use the VE split."""
    uncond = _need_uncond(ctx) if cfg_pp else None
    noise = ctx.step_noise(x)
    s_in = _ones(x)
    old_sigma_down = None
    old_denoised = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        down, up = _ve_ancestral(sigma, sigma_next, eta=eta)
        ctx.report(i, x, sigma, denoised)
        u = uncond() if cfg_pp else None
        if down == 0 or old_denoised is None:
            if cfg_pp:
                x = denoised + _d(x, sigma, u) * down
            else:
                x = x + _d(x, sigma, denoised) * (down - sigma)
        else:
            t, t_old, t_next, t_prev = _neg_log(sigma), _neg_log(old_sigma_down), _neg_log(down), _neg_log(sigmas[i - 1])
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1 = torch.expm1(-h) / (-h)
            phi2 = (phi1 - 1.0) / (-h)
            b1 = torch.nan_to_num(phi1 - phi2 / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2 / c2, nan=0.0)
            if cfg_pp:
                x = x + (denoised - u)
                x = (-h).exp() * x + h * (b1 * u + b2 * old_denoised)
            else:
                x = (-h).exp() * x + h * (b1 * denoised + b2 * old_denoised)
        if sigma_next > 0:
            x = x + noise(sigma, sigma_next) * s_noise * up
        old_denoised = u if cfg_pp else denoised
        old_sigma_down = down
    return x


def gradient_estimation(model, x, sigmas, ctx, ge_gamma=2.0, cfg_pp=False):
    uncond = _need_uncond(ctx) if cfg_pp else None
    s_in = _ones(x)
    old_d = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        d = _d(x, sigma, uncond() if cfg_pp else denoised)
        ctx.report(i, x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = denoised
        else:
            x = denoised + d * sigma_next if cfg_pp else x + d * dt
            if i >= 1:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x


# --- ER-SDE, SEEDS, exponential Heun --------------------------------------------------------

def er_sde(model, x, sigmas, ctx, s_noise=1.0, max_stage=3):
    """VP ER-SDE-Solver-3 (arXiv 2309.06169) with ComfyUI's default noise scaler."""
    noise = ctx.step_noise(x)
    ms = ctx.ms
    s_in = _ones(x)

    def scaler(v):
        return v * ((v ** 0.3).exp() + 10.0)

    points = 200.0
    index = torch.arange(0, points, dtype=torch.float32, device=x.device)
    sigmas = ms.offset_first_sigma_for_snr(sigmas)
    er_lambdas = ms.half_log_snr(sigmas).neg().exp()  # sigma_t / alpha_t
    old_denoised = None
    old_denoised_d = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        stage = min(max_stage, i + 1)
        if sigma_next == 0:
            x = denoised
        else:
            lam_s, lam_t = er_lambdas[i], er_lambdas[i + 1]
            alpha_s, alpha_t = sigma / lam_s, sigma_next / lam_t
            r = scaler(lam_t) / scaler(lam_s)
            x = (alpha_t / alpha_s) * r * x + alpha_t * (1 - r) * denoised
            if stage >= 2:
                dt = lam_t - lam_s
                step = -dt / points
                positions = lam_t + index * step
                scaled = scaler(positions)
                s = torch.sum(1 / scaled) * step
                denoised_d = (denoised - old_denoised) / (lam_s - er_lambdas[i - 1])
                x = x + alpha_t * (dt + s * scaler(lam_t)) * denoised_d
                if stage >= 3:
                    s_u = torch.sum((positions - lam_s) / scaled) * step
                    denoised_u = (denoised_d - old_denoised_d) / ((lam_s - er_lambdas[i - 2]) / 2)
                    x = x + alpha_t * ((dt ** 2) / 2 + s_u * scaler(lam_t)) * denoised_u
                old_denoised_d = denoised_d
            if s_noise > 0:
                amount = (lam_t ** 2 - lam_s ** 2 * r ** 2).sqrt().nan_to_num(nan=0.0)
                x = x + alpha_t * noise(sigma, sigma_next) * s_noise * amount
        old_denoised = denoised
    return x


def _h_phi_1(h):
    return torch.expm1(h)


def _h_phi_2(h):
    return (torch.expm1(h) - h) / h


def seeds_2(model, x, sigmas, ctx, eta=1.0, s_noise=1.0, r=0.5, solver_type="phi_1"):
    """SEEDS-2 (arXiv 2305.14267), data prediction in half-log-SNR time."""
    if solver_type not in ("phi_1", "phi_2"):
        raise ValueError("solver_type must be 'phi_1' or 'phi_2'")
    noise = ctx.step_noise(x)
    ms = ctx.ms
    s_in = _ones(x)
    inject = eta > 0 and s_noise > 0
    sigmas = ms.offset_first_sigma_for_snr(sigmas)
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        lam_s, lam_t = ms.half_log_snr(sigma), ms.half_log_snr(sigma_next)
        h = lam_t - lam_s
        h_eta = h * (eta + 1)
        lam_1 = torch.lerp(lam_s, lam_t, r)
        sigma_1 = ms.sigma_from_half_log_snr(lam_1)
        alpha_1 = sigma_1 * lam_1.exp()
        alpha_t = sigma_next * lam_t.exp()

        x_2 = sigma_1 / sigma * (-r * h * eta).exp() * x - alpha_1 * _h_phi_1(-r * h_eta) * denoised
        if inject:
            sde_noise = (-2 * r * h * eta).expm1().neg().sqrt() * noise(sigma, sigma_1)
            x_2 = x_2 + sde_noise * sigma_1 * s_noise
        denoised_2 = model(x_2, sigma_1 * s_in)

        decay = sigma_next / sigma * (-h * eta).exp() * x
        if solver_type == "phi_1":
            x = decay - alpha_t * _h_phi_1(-h_eta) * torch.lerp(denoised, denoised_2, fac)
        else:
            b2 = _h_phi_2(-h_eta) / r
            b1 = _h_phi_1(-h_eta) - b2
            x = decay - alpha_t * (b1 * denoised + b2 * denoised_2)
        if inject:
            seg = (r - 1) * h * eta
            sde_noise = sde_noise * seg.exp() + seg.mul(2).expm1().neg().sqrt() * noise(sigma_1, sigma_next)
            x = x + sde_noise * sigma_next * s_noise
    return x


def exp_heun_2_x0(model, x, sigmas, ctx):
    return seeds_2(model, x, sigmas, ctx, eta=0.0, s_noise=0.0, r=1.0, solver_type="phi_2")


def exp_heun_2_x0_sde(model, x, sigmas, ctx, eta=1.0, s_noise=1.0):
    return seeds_2(model, x, sigmas, ctx, eta=eta, s_noise=s_noise, r=1.0, solver_type="phi_2")


def seeds_3(model, x, sigmas, ctx, eta=1.0, s_noise=1.0, r_1=1.0 / 3, r_2=2.0 / 3):
    """SEEDS-3 (arXiv 2305.14267)."""
    noise = ctx.step_noise(x)
    ms = ctx.ms
    s_in = _ones(x)
    inject = eta > 0 and s_noise > 0
    sigmas = ms.offset_first_sigma_for_snr(sigmas)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in)
        ctx.report(i, x, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        lam_s, lam_t = ms.half_log_snr(sigma), ms.half_log_snr(sigma_next)
        h = lam_t - lam_s
        h_eta = h * (eta + 1)
        lam_1, lam_2 = torch.lerp(lam_s, lam_t, r_1), torch.lerp(lam_s, lam_t, r_2)
        sigma_1, sigma_2 = ms.sigma_from_half_log_snr(lam_1), ms.sigma_from_half_log_snr(lam_2)
        alpha_1, alpha_2 = sigma_1 * lam_1.exp(), sigma_2 * lam_2.exp()
        alpha_t = sigma_next * lam_t.exp()

        x_2 = sigma_1 / sigma * (-r_1 * h * eta).exp() * x - alpha_1 * _h_phi_1(-r_1 * h_eta) * denoised
        if inject:
            sde_noise = (-2 * r_1 * h * eta).expm1().neg().sqrt() * noise(sigma, sigma_1)
            x_2 = x_2 + sde_noise * sigma_1 * s_noise
        denoised_2 = model(x_2, sigma_1 * s_in)

        a32 = r_2 / r_1 * _h_phi_2(-r_2 * h_eta)
        a31 = _h_phi_1(-r_2 * h_eta) - a32
        x_3 = sigma_2 / sigma * (-r_2 * h * eta).exp() * x - alpha_2 * (a31 * denoised + a32 * denoised_2)
        if inject:
            seg = (r_1 - r_2) * h * eta
            sde_noise = sde_noise * seg.exp() + seg.mul(2).expm1().neg().sqrt() * noise(sigma_1, sigma_2)
            x_3 = x_3 + sde_noise * sigma_2 * s_noise
        denoised_3 = model(x_3, sigma_2 * s_in)

        b3 = _h_phi_2(-h_eta) / r_2
        b1 = _h_phi_1(-h_eta) - b3
        x = sigma_next / sigma * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b3 * denoised_3)
        if inject:
            seg = (r_2 - 1) * h * eta
            sde_noise = sde_noise * seg.exp() + seg.mul(2).expm1().neg().sqrt() * noise(sigma_2, sigma_next)
            x = x + sde_noise * sigma_next * s_noise
    return x


# --- registry ---------------------------------------------------------------------------------

def _with(fn, **fixed):
    def bound(model, x, sigmas, ctx, **options):
        return fn(model, x, sigmas, ctx, **{**fixed, **options})
    bound.__name__ = fn.__name__
    bound.__doc__ = fn.__doc__
    return bound


SamplerFn = Callable[[Model, torch.Tensor, torch.Tensor, SamplerContext], torch.Tensor]

#: name -> sampler function, for every k-diffusion sampler implemented here.
KDIFFUSION_SAMPLERS: dict[str, SamplerFn] = {
    "euler": euler,
    "euler_cfg_pp": euler_cfg_pp,
    "euler_ancestral": euler_ancestral,
    "euler_ancestral_cfg_pp": euler_ancestral_cfg_pp,
    "heun": heun,
    "heunpp2": heunpp2,
    "exp_heun_2_x0": exp_heun_2_x0,
    "exp_heun_2_x0_sde": exp_heun_2_x0_sde,
    "dpm_2": dpm_2,
    "dpm_2_ancestral": dpm_2_ancestral,
    "lms": lms,
    "dpmpp_2s_ancestral": dpmpp_2s_ancestral,
    "dpmpp_2s_ancestral_cfg_pp": dpmpp_2s_ancestral_cfg_pp,
    "dpmpp_sde": dpmpp_sde,
    "dpmpp_sde_gpu": _with(dpmpp_sde, gpu=True),
    "dpmpp_2m": dpmpp_2m,
    "dpmpp_2m_cfg_pp": dpmpp_2m_cfg_pp,
    "dpmpp_2m_sde": dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": _with(dpmpp_2m_sde, gpu=True),
    "dpmpp_2m_sde_heun": _with(dpmpp_2m_sde, solver_type="heun"),
    "dpmpp_2m_sde_heun_gpu": _with(dpmpp_2m_sde, solver_type="heun", gpu=True),
    "dpmpp_3m_sde": dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": _with(dpmpp_3m_sde, gpu=True),
    "ddpm": ddpm,
    "lcm": lcm,
    "ipndm": ipndm,
    "ipndm_v": ipndm_v,
    "deis": deis,
    "res_multistep": res_multistep,
    "res_multistep_cfg_pp": _with(res_multistep, cfg_pp=True),
    "res_multistep_ancestral": _with(res_multistep, eta=1.0),
    "res_multistep_ancestral_cfg_pp": _with(res_multistep, eta=1.0, cfg_pp=True),
    "gradient_estimation": gradient_estimation,
    "gradient_estimation_cfg_pp": _with(gradient_estimation, cfg_pp=True),
    "er_sde": er_sde,
    "seeds_2": seeds_2,
    "seeds_3": seeds_3,
}

#: Samplers that read the negative prediction (ComfyUI disables the cfg1 shortcut for them).
CFG_PP_SAMPLERS = frozenset(name for name in KDIFFUSION_SAMPLERS if name.endswith("_cfg_pp"))
