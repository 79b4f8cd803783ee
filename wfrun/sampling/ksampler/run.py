"""One KSampler pass: ComfyUI's ``KSAMPLER.sample`` around a named sampler.

What ComfyUI does between "here are the sigmas" and "here is the latent", in order:

1. an empty schedule (``denoise <= 0``, or a KSamplerAdvanced window starting at or past its
   last step) returns the input latent untouched;
2. with ``disable_noise`` (KSamplerAdvanced ``add_noise: disable``) the noise is zeros;
3. a non-zero input latent is brought into the model's latent space (``latent_format``'s
   ``process_in``; Wan normalises by its per-channel mean/std). An all-zero latent (an
   EmptyLatent) is left as it is;
4. the start is ``noise_scaling(sigmas[0], noise, latent)``, for a flow model
   ``sigma0*noise + (1-sigma0)*latent``: the pure noise at ``sigma0 = 1``, the
   "latent image + noise" mix of img2img for ``denoise < 1``, the leftover-noise latent
   itself when a second KSamplerAdvanced continues with zero noise;
5. with a ``denoise_mask`` (a latent's ``noise_mask``), every model call sees the kept
   region re-noised to the current sigma and its x0 replaced by the latent there
   (``KSamplerX0Inpaint``; for ``ddim`` that re-noising uses fresh noise from ``seed + 1``);
6. the named sampler runs; for the CFG++ samplers the denoiser keeps its negative
   prediction (ComfyUI's disable-cfg1 + post-cfg capture);
7. ``inverse_noise_scaling(sigmas[-1], x)``: for a flow model the result divided by
   ``1 - sigma_last`` (1 for a full run; the leftover-noise scale for a partial one; 0.999
   after ``uni_pc``, which replaced a final 0 by 0.001 in place);
8. the result leaves the model's latent space (``latent_format.process_out``).

``callback(step, total)`` is called once per step with ``step = i + 1`` (what ComfyUI's
progress bar shows) and ``total = len(sigmas) - 1``; ``on_step(info)``, when given, gets the
sampler's own step report (``x``, ``i``, ``sigma``, ``sigma_hat``, ``denoised``: the x0
prediction in the model's latent space, what ComfyUI's preview callback receives). The result has the latent's dtype and
device (ComfyUI's is float32, the dtype of its latents).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Protocol

import torch

from .guidance import CFGDenoiser, Denoiser
from .model_sampling import FlowSampling
from . import res4lyf
from .samplers import CFG_PP_SAMPLERS, KDIFFUSION_SAMPLERS, SamplerContext
from .uni_pc import sample_unipc, sample_unipc_bh2

#: ComfyUI's KSampler sampler list (``KSAMPLER_NAMES + ["ddim", "uni_pc", "uni_pc_bh2"]``), in its order.
COMFY_SAMPLER_NAMES: tuple[str, ...] = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "exp_heun_2_x0", "exp_heun_2_x0_sde", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast",
    "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu",
    "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v",
    "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde",
    "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
)
#: ComfyUI's list as the RES4LYF pack extends it when it loads (its names after uni_pc_bh2).
SAMPLER_NAMES: tuple[str, ...] = COMFY_SAMPLER_NAMES + res4lyf.RES4LYF_SAMPLER_NAMES

#: Samplers of ComfyUI's list that wfrun does not run, and why (asking for one raises).
NOT_IMPLEMENTED: dict[str, str] = {
    "dpm_fast": "the fixed-step DPM-Solver (k-diffusion's DPMSolver class) is not ported",
    "dpm_adaptive": "the adaptive-step DPM-Solver (k-diffusion's DPMSolver class) is not ported",
}

_ALL_SAMPLERS = {**KDIFFUSION_SAMPLERS, "ddim": KDIFFUSION_SAMPLERS["euler"],
                 "uni_pc": sample_unipc, "uni_pc_bh2": sample_unipc_bh2}
for _name in ("sa_solver", "sa_solver_pece"):
    NOT_IMPLEMENTED[_name] = "the stochastic Adams solver (SA-Solver) is not ported yet"
NOT_IMPLEMENTED.update(res4lyf.NOT_IMPLEMENTED)


def _res_sampler(name: str):
    variant = res4lyf.RES_SAMPLERS[name]

    def run(model, x, sigmas, ctx):
        return res4lyf.sample_res(model, x, sigmas, ctx, variant=variant, options=ctx.options)

    run.__name__ = f"sample_{name}"
    return run


_ALL_SAMPLERS.update({name: _res_sampler(name) for name in res4lyf.RES_SAMPLERS})

#: Every sampler name :func:`sample` accepts.
IMPLEMENTED_SAMPLERS: tuple[str, ...] = tuple(n for n in SAMPLER_NAMES if n in _ALL_SAMPLERS)
assert set(IMPLEMENTED_SAMPLERS) | set(NOT_IMPLEMENTED) == set(SAMPLER_NAMES)


class LatentFormat(Protocol):
    """The model's latent space (ComfyUI's ``latent_format``): ``process_in``/``process_out``."""

    def process_in(self, latent: torch.Tensor) -> torch.Tensor: ...

    def process_out(self, latent: torch.Tensor) -> torch.Tensor: ...


class SamplerNotAvailableError(ValueError):
    """A sampler name ComfyUI does not offer, or one wfrun does not implement."""

    def __init__(self, message: str, sampler_name: str):
        super().__init__(message)
        self.sampler_name = sampler_name


def check_sampler(sampler_name: str) -> None:
    """Raise :class:`SamplerNotAvailableError` naming the sampler unless :func:`sample` runs it."""
    if sampler_name in _ALL_SAMPLERS:
        return
    if sampler_name in NOT_IMPLEMENTED:
        raise SamplerNotAvailableError(
            f"KSampler sampler {sampler_name!r} is not implemented in wfrun ({NOT_IMPLEMENTED[sampler_name]}); "
            f"pick another sampler_name, e.g. euler, uni_pc or dpmpp_2m", sampler_name)
    raise SamplerNotAvailableError(
        f"unknown KSampler sampler {sampler_name!r}; ComfyUI's KSampler (with RES4LYF's) offers: " + ", ".join(SAMPLER_NAMES),
        sampler_name)


def _inpaint(model: Denoiser, ms: FlowSampling, mask: torch.Tensor, latent: torch.Tensor,
             noise: torch.Tensor, noisy: bool = True) -> Denoiser:
    """ComfyUI's ``KSamplerX0Inpaint``: the kept part is the latent, noised to the current
    sigma (``scale_latent_inpaint``) unless ``noisy`` is off (Wan 2.2's WAN22 keeps it clean)."""
    keep = 1.0 - mask

    def masked(x, sigma):
        kept = ms.noise_scaling(sigma, noise, latent) if noisy else latent
        x = x * mask + kept * keep
        return model(x, sigma) * mask + latent * keep

    return masked


def sample(denoiser: Denoiser, latent: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor,
           sampler_name: str, *, seed: int | None, ms: FlowSampling,
           callback: Callable[[int, int], None] | None = None, disable_noise: bool = False,
           denoise_mask: torch.Tensor | None = None, latent_format: LatentFormat | None = None,
           noisy_inpaint: bool = True, on_step: Callable[[dict], None] | None = None,
           sampler_options: res4lyf.ResOptions | Mapping[str, Any] | None = None) -> torch.Tensor:
    """Run ``sampler_name`` over ``sigmas`` from ``latent`` and ``noise`` as KSampler does.

    ``denoiser(x, sigma) -> x0`` is usually :func:`~.guidance.cfg_denoiser`'s; the CFG++
    samplers require that one. ``seed`` seeds the per-step noise of ancestral/SDE samplers.
    ``denoise_mask`` must already be broadcastable to the latent (1 = resample, 0 = keep);
    ``noisy_inpaint`` False keeps the masked-out latent un-noised (the model's
    ``scale_latent_inpaint`` returning the latent, as Wan 2.2's does). ``sampler_options``
    replaces the settings the name implies: RES options for the RES samplers (RES4LYF's
    ClownsharKSampler), or a mapping of a k-diffusion sampler's keyword arguments (``eta``,
    ``s_noise``, ``r``, ``solver_type``, ``order``: ComfyUI's ``ksampler(name, extra_options)``
    from the SamplerEulerAncestral-style nodes).
    """
    check_sampler(sampler_name)
    keyword_options: dict[str, Any] = {}
    if isinstance(sampler_options, Mapping):
        keyword_options, sampler_options = dict(sampler_options), None
    if sampler_options is not None and sampler_name not in res4lyf.RES_SAMPLERS:
        raise SamplerNotAvailableError(f"sampler options are only taken by the RES samplers, not {sampler_name!r}",
                                       sampler_name)
    if sigmas.shape[-1] == 0:
        return latent
    device = latent.device
    if disable_noise:
        noise = torch.zeros_like(latent)
    noise = noise.to(device=device, dtype=latent.dtype)
    sigmas = sigmas.to(device=device, dtype=torch.float32).clone()

    latent_in = latent
    if latent_format is not None and torch.count_nonzero(latent) > 0:
        latent_in = latent_format.process_in(latent)

    uncond = None
    if sampler_name in CFG_PP_SAMPLERS:
        if not isinstance(denoiser, CFGDenoiser):
            raise SamplerNotAvailableError(
                f"sampler {sampler_name!r} (CFG++) needs the CFG denoiser of cfg_denoiser(): "
                "it reads the negative prediction", sampler_name)
        denoiser = denoiser.capturing_uncond()
        captured = denoiser

        def uncond() -> torch.Tensor:
            return captured.uncond_denoised

    model: Denoiser = denoiser
    if denoise_mask is not None:
        mask = denoise_mask.to(device=device, dtype=latent.dtype)
        mask_noise = noise
        if sampler_name == "ddim":  # ComfyUI's ddim = euler with random inpainting noise
            generator = torch.Generator(device="cpu")
            generator.manual_seed((41 if seed is None else int(seed)) + 1)
            mask_noise = torch.randn(noise.shape, generator=generator, device="cpu").to(noise.dtype).to(device)
        model = _inpaint(denoiser, ms, mask, latent_in, mask_noise, noisy_inpaint)

    total = len(sigmas) - 1
    step_callback = None
    if callback is not None or on_step is not None:
        def step_callback(info: dict) -> None:
            if on_step is not None:
                on_step(info)
            if callback is not None:
                callback(int(info["i"]) + 1, total)

    ctx = SamplerContext(ms=ms, seed=seed, callback=step_callback, uncond=uncond, options=sampler_options)
    x = ms.noise_scaling(sigmas[0], noise, latent_in)
    with torch.no_grad():
        x = _ALL_SAMPLERS[sampler_name](model, x, sigmas, ctx, **keyword_options)
    x = ms.inverse_noise_scaling(sigmas[-1], x)
    if latent_format is not None:
        x = latent_format.process_out(x)
    return x.to(latent.dtype)
