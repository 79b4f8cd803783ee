"""ComfyUI's ``uni_pc`` and ``uni_pc_bh2`` samplers (UniPC, Zhao et al. 2023, multistep, data prediction).

ComfyUI runs UniPC in a *VP* view of the k-diffusion variable whatever the model:
``alpha = 1/sqrt(1 + s^2)``, ``std = s/sqrt(1 + s^2)``, ``lambda = log(alpha/std) = -log s``,
with ``x_vp = x / sqrt(1 + s^2)``; the model's x0 prediction is routed through a noise
prediction and back (``predict_eps_sigma``). On a flow model this solves the same ODE as
Euler, but its exponential integrator is built on ``-log sigma``, not on the flow's
``log((1-sigma)/sigma)`` that diffusers' ``UniPCMultistepScheduler(use_flow_sigmas=True)``
uses, so the two differ at finite steps. diffusers with ``use_flow_sigmas=False``,
``prediction_type="sample"`` and these sigmas taken as VE sigmas gives ComfyUI's steps.

The procedure, as ComfyUI has it:

- order ``min(3, len(sigmas) - 2)``; variant ``bh1`` (``B(h) = h``) for ``uni_pc``, ``bh2``
  (``B(h) = e^h - 1``) for ``uni_pc_bh2``; warm-up with increasing order, lower order on
  the last steps, the corrector on every step but the last, the corrector's model call
  reused as the next step's prediction (one model call per step);
- a final sigma of 0 is replaced by 0.001 (UniPC's ``lambda`` is infinite at 0), *in place*
  on the sigma tensor it was given: ComfyUI then divides the result by ``1 - 0.001`` in
  ``inverse_noise_scaling``, a 0.1% scale on flow models that wfrun reproduces (run.py reads
  the last sigma after the sampler ran, as ComfyUI does);
- a 1-step schedule runs no update (order 0) and returns the rescaled starting latent.
"""

from __future__ import annotations

import torch


def _log_alpha(s):
    return 0.5 * torch.log(1 / (s * s + 1))


def _alpha(s):
    return torch.exp(_log_alpha(s))


def _std(s):
    return torch.sqrt(1.0 - torch.exp(2.0 * _log_alpha(s)))


def _lambda(s):
    la = _log_alpha(s)
    return la - 0.5 * torch.log(1.0 - torch.exp(2.0 * la))


def _col(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v[(...,) + (None,) * (ndim - 1)]


class _UniPC:
    def __init__(self, model, variant: str):
        if variant not in ("bh1", "bh2"):
            raise ValueError(f"UniPC variant {variant!r}")
        self.model = model
        self.variant = variant

    def data_prediction(self, x_vp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0 via ComfyUI's noise round trip: VE input, eps from the denoiser, back to x0 in VP."""
        s = _col(t, x_vp.ndim)
        x_ve = x_vp * ((s ** 2 + 1.0) ** 0.5)
        eps = (x_ve - self.model(x_ve, t)) / s
        return (x_vp - _col(_std(t), x_vp.ndim) * eps) / _col(_alpha(t), x_vp.ndim)

    def update(self, x, model_prev, t_prev, t, order, use_corrector=True):
        ndim = x.ndim
        t_prev_0 = t_prev[-1]
        lam_prev_0 = _lambda(t_prev_0)
        lam_t = _lambda(t)
        m0 = model_prev[-1]
        sigma_prev_0, sigma_t = _std(t_prev_0), _std(t)
        alpha_t = torch.exp(_log_alpha(t))
        h = lam_t - lam_prev_0

        rks, diffs = [], []
        for i in range(1, order):
            rk = ((_lambda(t_prev[-(i + 1)]) - lam_prev_0) / h)[0]
            rks.append(rk)
            diffs.append((model_prev[-(i + 1)] - m0) / rk)
        rks.append(torch.ones((), dtype=h.dtype, device=h.device))
        rks_t = torch.stack([r.to(device=x.device) for r in rks])

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial = 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        rows, b = [], []
        for i in range(1, order + 1):
            rows.append(torch.pow(rks_t, i - 1))
            b.append(h_phi_k * factorial / b_h)
            factorial *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        R = torch.stack(rows)
        b_t = torch.stack([v.to(device=x.device) for v in b])

        stacked = torch.stack(diffs, dim=1) if diffs else None
        if stacked is not None:
            rhos_p = torch.tensor([0.5], device=x.device) if order == 2 else torch.linalg.solve(R[:-1, :-1], b_t[:-1])
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=x.device) if order == 1 else torch.linalg.solve(R, b_t)

        base = _col(sigma_t / sigma_prev_0, ndim) * x - _col(alpha_t * h_phi_1, ndim) * m0
        scale = _col(alpha_t * b_h, ndim)
        pred_res = torch.tensordot(stacked, rhos_p.to(stacked.dtype), dims=([1], [0])) if stacked is not None else 0
        x_t = base - scale * pred_res
        model_t = None
        if use_corrector:
            model_t = self.data_prediction(x_t, t)
            corr_res = (torch.tensordot(stacked, rhos_c[:-1].to(stacked.dtype), dims=([1], [0]))
                        if stacked is not None else 0)
            x_t = base - scale * (corr_res + rhos_c[-1].to(x.dtype) * (model_t - m0))
        return x_t, model_t

    def run(self, x, ts, order, report):
        steps = len(ts) - 1
        batch = x.shape[0]
        model_prev: list[torch.Tensor] = []
        t_prev: list[torch.Tensor] = []
        for step_index in range(steps):
            if step_index == 0:
                vec_t = ts[0].expand(batch)
                model_prev = [self.data_prediction(x, vec_t)]
                t_prev = [vec_t]
            elif step_index < order:
                vec_t = ts[step_index].expand(batch)
                x, model_x = self.update(x, model_prev, t_prev, vec_t, step_index, use_corrector=True)
                if model_x is None:
                    model_x = self.data_prediction(x, vec_t)
                model_prev.append(model_x)
                t_prev.append(vec_t)
            else:
                last = step_index + (2 if step_index == steps - 1 else 1)
                for step in range(step_index, last):
                    vec_t = ts[step].expand(batch)
                    step_order = min(order, steps + 1 - step)
                    x, model_x = self.update(x, model_prev, t_prev, vec_t, step_order,
                                             use_corrector=step != steps)
                    for i in range(order - 1):
                        t_prev[i] = t_prev[i + 1]
                        model_prev[i] = model_prev[i + 1]
                    t_prev[-1] = vec_t
                    if step < steps:
                        if model_x is None:
                            model_x = self.data_prediction(x, vec_t)
                        model_prev[-1] = model_x
            report(step_index, x, model_prev[-1])
        return x


def sample_unipc(model, noise, sigmas, ctx, variant: str = "bh1"):
    """UniPC from ``noise`` (the k-diffusion variable at ``sigmas[0]``); may set ``sigmas[-1]`` to 0.001."""
    if sigmas[-1] == 0:
        sigmas[-1] = 0.001  # in place, as ComfyUI (its caller's inverse_noise_scaling sees it)
    ts = sigmas
    x = noise / torch.sqrt(1.0 + ts[0] ** 2.0)
    order = min(3, len(ts) - 2)

    def report(i, x_i, denoised):
        if ctx.callback is not None:
            ctx.callback({"x": x_i, "i": i, "denoised": denoised})

    x = _UniPC(model, variant).run(x, ts, order, report)
    return x / _alpha(ts[-1])


def sample_unipc_bh2(model, noise, sigmas, ctx):
    return sample_unipc(model, noise, sigmas, ctx, variant="bh2")
