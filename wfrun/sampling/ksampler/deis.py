"""Coefficients of ComfyUI's ``deis`` sampler (DEIS "tab" mode, after zju-pi's diff-sampler).

DEIS integrates the noise-prediction ODE of a VP diffusion in its time ``t`` with a Lagrange
polynomial through the last ``order`` derivatives. ComfyUI maps the k-diffusion sigmas into
that time with a *fixed* VP schedule fitted to EDM's range (``sigma_min = 0.002``,
``sigma_max = 80``, ``epsilon_s = 1e-3``), whatever the model, and integrates each step's
polynomial numerically over 10,000 points. The same is done here in float32; the derivative
of ``log alpha(t)`` is taken in closed form rather than by autograd (same value).
"""

from __future__ import annotations

import torch

_EPS_S, _EDM_SIGMA_MIN, _EDM_SIGMA_MAX = 1e-3, 0.002, 80.0


def _vp_schedule() -> tuple[torch.Tensor, torch.Tensor]:
    """(beta_min, beta_d) of the VP schedule spanning EDM's sigma range."""
    log_min = torch.log(torch.tensor(_EDM_SIGMA_MIN) ** 2 + 1)
    log_max = torch.log(torch.tensor(_EDM_SIGMA_MAX) ** 2 + 1)
    beta_d = 2 * (log_min / _EPS_S - log_max) / (_EPS_S - 1)
    beta_min = log_max - 0.5 * beta_d
    return beta_min, beta_d


def sigma_to_vp_time(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DEIS time of each sigma, and the schedule's ``beta_0``, ``beta_1``."""
    beta_min, beta_d = _vp_schedule()
    s = sigmas.detach().cpu().float()
    t = ((beta_min ** 2 + 2 * beta_d * (s ** 2 + 1).log()).sqrt() - beta_min) / beta_d
    return t, beta_min, beta_d + beta_min


def _integrand(beta_0: torch.Tensor, beta_1: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    alpha = torch.exp(-0.5 * taus ** 2 * (beta_1 - beta_0) - taus * beta_0)
    dlog_alpha = -taus * (beta_1 - beta_0) - beta_0
    return -0.5 * dlog_alpha / torch.sqrt(alpha * (1 - alpha))


def _lagrange(nodes: torch.Tensor, j: int, taus: torch.Tensor) -> torch.Tensor:
    poly = torch.ones_like(taus)
    for k in range(nodes.shape[0]):
        if k != j:
            poly = poly * (taus - nodes[k]) / (nodes[j] - nodes[k])
    return poly


def deis_coefficients(sigmas: torch.Tensor, max_order: int, mode: str = "tab",
                      points: int = 10000) -> list[list[torch.Tensor]]:
    """Per step, the weights of the current and previous derivatives ([] for first-order steps)."""
    if mode != "tab":
        raise ValueError(f"DEIS mode {mode!r} is not implemented (ComfyUI's KSampler uses 'tab')")
    t, beta_0, beta_1 = sigma_to_vp_time(sigmas)
    out: list[list[torch.Tensor]] = []
    for i in range(len(t) - 1):
        order = min(i + 1, max_order)
        if order == 1 or float(sigmas[i + 1]) <= 0:  # the sampler takes an Euler step there
            out.append([])
            continue
        t_cur, t_next = t[i], t[i + 1]
        taus = torch.linspace(float(t_cur), float(t_next), points)
        dtau = (t_next - t_cur) / points
        nodes = t[[i - k for k in range(order)]]
        weight = _integrand(beta_0, beta_1, taus)
        out.append([torch.sum(weight * _lagrange(nodes, j, taus)) * dtau for j in range(order)])
    return out

