"""How a flow-matching model maps between sigma, timestep, noise and data (ComfyUI's CONST flow).

ComfyUI describes every model's noise parameterisation with a ``model_sampling`` object:
a *discretisation* (the table of 1000 training sigmas and the sigma <-> timestep maps) mixed
with a *prediction type* (how a noisy latent is built and how the model's output becomes a
data prediction). Wan 2.1 and 2.2 use ``ModelSamplingDiscreteFlow`` + ``CONST``, and the
``ModelSamplingSD3`` node replaces that object with a fresh one of the same kind and a new
``shift`` (and ``multiplier`` 1000). :class:`FlowSampling` is that pair, nothing more.

Facts it reproduces, and why they matter:

- ``sigma(t) = shift*u / (1 + (shift-1)*u)`` with ``u = t / multiplier`` (the identity when
  ``shift == 1``); ``timestep(sigma) = sigma * multiplier``. The model is called with that
  timestep (``sigma*1000`` for Wan), never with an integer table index. The two maps are
  not inverses when ``shift != 1`` (``sigma`` shifts, ``timestep`` does not unshift): the
  ``normal``/``sgm_uniform`` schedulers go through both, so their last sigma for shift 8 is
  ``sigma(1000*sigma_min) = 0.060``, not ``sigma_min``; kept as ComfyUI has it.
- The sigma table is ``sigma(arange(1, 1001) / 1000 * multiplier)`` in float32: its first
  entry is ``sigma_min`` (``sigma(1)``, not 0) and its last ``sigma_max`` (1.0 for every shift).
  The ``simple``, ``beta``, ``ddim_uniform`` and ``normal`` schedulers pick from or span this
  table, so its float32 values are kept as ComfyUI computes them.
- ``percent_to_sigma(p)`` (used by SkipLayerGuidance, ControlNet windows, SA-Solver):
  1.0 at ``p <= 0``, 0.0 at ``p >= 1``, otherwise the shifted ``1 - p``.
- CONST: a noisy latent is ``sigma*noise + (1-sigma)*latent`` (``noise_scaling``; ComfyUI's
  ``max_denoise`` flag changes nothing for CONST), the data prediction from a velocity
  output ``v`` is ``x - sigma*v`` (``denoised``), the model input is ``x`` itself, and the
  sampler's result is divided by ``1 - sigma_last`` (``inverse_noise_scaling``). That last
  division is what makes a KSamplerAdvanced run that stops with leftover noise hand the
  *clean-latent scale* to the next KSamplerAdvanced, whose ``noise_scaling`` with zero noise
  multiplies it back: the two halves chain exactly.
- The half-log-SNR of a CONST model is ``log((1-sigma)/sigma)``; the SDE and exponential
  samplers work in it (:meth:`FlowSampling.half_log_snr`), and a first sigma of 1.0 (infinite
  there) is moved to ``percent_to_sigma(1e-4)`` first (:meth:`offset_first_sigma_for_snr`).

Wan's default shift, as ComfyUI's ``supported_models`` sets ``sampling_settings`` for every
Wan config (``WAN21_T2V`` and all classes derived from it: I2V, FunControl, Camera, VACE,
HuMo, Wan 2.2 S2V/Animate/Camera and the Wan 2.2 TI2V-5B ``WAN22_T2V``; the Wan 2.2 A14B
checkpoints are detected as Wan 2.1 T2V/I2V configs): :data:`WAN_DEFAULT_SHIFT` = 8.0.
A ``ModelSamplingSD3`` node's own default is :data:`MODEL_SAMPLING_SD3_DEFAULT_SHIFT` = 3.0.
"""

from __future__ import annotations

import torch

#: ``sampling_settings["shift"]`` of ComfyUI's Wan model configs (WAN21_* and WAN22_*).
WAN_DEFAULT_SHIFT = 8.0
#: The ``shift`` widget default of ComfyUI's ``ModelSamplingSD3`` node.
MODEL_SAMPLING_SD3_DEFAULT_SHIFT = 3.0
#: ``ModelSamplingSD3`` always builds its object with this multiplier.
FLOW_MULTIPLIER = 1000.0
#: ComfyUI's flow sigma table has this many entries.
TABLE_SIZE = 1000


def time_snr_shift(shift: float, t):
    """The flow time shift ``shift*t / (1 + (shift-1)*t)``; ``t`` unchanged when shift is 1."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def _per_sample(sigma, like: torch.Tensor):
    """A scalar sigma as a 0-d tensor, a per-sample ``[B]`` sigma as ``[B, 1, ...]``."""
    sigma = torch.as_tensor(sigma, device=like.device)
    if sigma.numel() == 1:
        return sigma.reshape(())
    return sigma.reshape(sigma.shape[:1] + (1,) * (like.ndim - 1))


class FlowSampling:
    """ComfyUI's ``ModelSamplingDiscreteFlow`` mixed with ``CONST`` (what ``ModelSamplingSD3`` makes).

    ``shift`` and ``multiplier`` are the only parameters; ``sigmas`` is the float32 table of
    1000 training sigmas, increasing (``sigma_min`` first, ``sigma_max`` last).
    """

    prediction_type = "const"

    def __init__(self, shift: float = 1.0, multiplier: float = FLOW_MULTIPLIER):
        self.shift = float(shift)
        self.multiplier = float(multiplier)
        steps = torch.arange(1, TABLE_SIZE + 1, 1) / TABLE_SIZE  # float32, as ComfyUI divides an int64 arange
        self.sigmas = self.sigma(steps * self.multiplier)

    def __repr__(self) -> str:
        return f"FlowSampling(shift={self.shift:g}, multiplier={self.multiplier:g})"

    # --- discretisation ---------------------------------------------------------------

    @property
    def sigma_min(self) -> torch.Tensor:
        """First table entry (a 0-d float32 tensor, as ComfyUI keeps it)."""
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        """Last table entry (1.0 for every shift)."""
        return self.sigmas[-1]

    def timestep(self, sigma):
        """The model's timestep for ``sigma``: ``sigma * multiplier``."""
        return sigma * self.multiplier

    def sigma(self, timestep):
        """The (shifted) sigma of a model timestep."""
        return time_snr_shift(self.shift, timestep / self.multiplier)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at ``percent`` of the way through sampling (start/end_percent inputs)."""
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return float(time_snr_shift(self.shift, 1.0 - percent))

    # --- CONST prediction type -----------------------------------------------------------

    def calculate_input(self, sigma, x: torch.Tensor) -> torch.Tensor:
        """The model sees the noisy latent unscaled."""
        return x

    def denoised(self, x: torch.Tensor, sigma, model_output: torch.Tensor) -> torch.Tensor:
        """Data prediction from a velocity output: ``x - sigma * v``."""
        return x - model_output * _per_sample(sigma, model_output)

    def noise_scaling(self, sigma, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """The starting point at ``sigma``: ``sigma*noise + (1-sigma)*latent`` (``max_denoise`` unused)."""
        s = _per_sample(sigma, noise)
        return s * noise + (1.0 - s) * latent

    def inverse_noise_scaling(self, sigma, latent: torch.Tensor) -> torch.Tensor:
        """The sampler's result back on the clean-latent scale: ``latent / (1 - sigma)``."""
        return latent / (1.0 - _per_sample(sigma, latent))

    # --- half-log-SNR (the time of the exponential/SDE samplers) ---------------------------

    def half_log_snr(self, sigma: torch.Tensor) -> torch.Tensor:
        """``log(alpha/sigma)`` with ``alpha = 1 - sigma``: ``-logit(sigma)``."""
        return sigma.logit().neg()

    def sigma_from_half_log_snr(self, half_log_snr: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`half_log_snr`: ``sigmoid(-lambda)``."""
        return half_log_snr.neg().sigmoid()

    def offset_first_sigma_for_snr(self, sigmas: torch.Tensor, percent_offset: float = 1e-4) -> torch.Tensor:
        """A first sigma of 1 (infinite half-log-SNR) moved to ``percent_to_sigma(1e-4)``."""
        if len(sigmas) <= 1:
            return sigmas
        if sigmas[0] >= 1:
            sigmas = sigmas.clone()
            sigmas[0] = self.percent_to_sigma(percent_offset)
        return sigmas

