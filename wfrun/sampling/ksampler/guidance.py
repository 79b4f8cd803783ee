"""KSampler's denoiser: model predictions combined by classifier-free guidance, with ComfyUI's hooks.

ComfyUI's ``sampling_function``/``cfg_function`` turn one call ``denoiser(x, sigma)`` into a
data prediction (x0):

1. the model runs for the positive prompt and, unless ``cfg`` is 1.0 (``math.isclose``) and
   nothing disabled that shortcut, for the negative one; each raw output becomes a data
   prediction with the model sampling's ``denoised`` (CONST: ``x - sigma*v``). With the cfg1
   shortcut the negative prediction is a zeros tensor (what ComfyUI's empty batch yields), so
   the plain formula below gives exactly the positive prediction, and hooks see those zeros;
2. ``sampler_pre_cfg_function`` hooks may replace the pair (``pre_cfg``);
3. ``uncond + (cond - uncond) * cfg``, or ``x - cfg_function(args)`` when a model patch set a
   ``sampler_cfg_function`` (its args carry noise predictions ``cond = x - cond_denoised``);
4. each ``sampler_post_cfg_function`` hook returns a new x0 (``post_cfg``: CFGZeroStar,
   SkipLayerGuidanceDiT, CFGNorm, the CFG++ samplers' capture of ``uncond_denoised``).

The model itself is the caller's ``predict(x, timestep, which)``: ``x`` the noisy latent
(the CONST model input is the latent itself), ``timestep`` the model's timestep per sample
(``sigma * multiplier``, float), ``which`` the conditioning to use. The library asks only for
``"cond"`` and ``"uncond"``; hooks may ask for anything their ``predict`` understands
(e.g. a skip-layer pass) through ``args["calc_denoised"](which, x=None)``, which returns
that pass's data prediction. ``model_input(x) -> x'``, when given, replaces the ``x`` each
prediction is made from and turned into x0 with (ComfyUI's APPLY_MODEL wrappers, e.g.
InfiniteTalk pinning its first latent frames); the hooks' ``input`` stays the sampler's ``x``. ``predict`` returns None when no conditioning entry of ``which``
applies at this sigma (all outside their timestep ranges): the data prediction is then zeros,
what ComfyUI's ``calc_cond_batch`` yields for a prompt with nothing to run. Raw outputs are
cast to the latent's dtype (ComfyUI casts to float32, the dtype its latents always have).

The dicts the hooks receive mirror ComfyUI's keys; ``"sigma"`` and ``"timestep"`` are both
the per-sample sigma tensor (ComfyUI passes sigma under both names):

- pre_cfg: ``conds`` (``("cond", "uncond" or None)``), ``conds_out`` ([cond_denoised,
  uncond_denoised]), ``cond_scale``, ``timestep``, ``input``, ``sigma``, ``calc_denoised``;
  returns the new ``conds_out`` list.
- cfg_function: ``cond``, ``uncond`` (noise predictions), ``cond_scale``, ``timestep``,
  ``input``, ``sigma``, ``cond_denoised``, ``uncond_denoised``, ``input_cond``,
  ``input_uncond``, ``calc_denoised``; returns a noise prediction.
- post_cfg: ``denoised``, ``cond``, ``uncond`` (names or None), ``cond_scale``,
  ``cond_denoised``, ``uncond_denoised``, ``sigma``, ``input``, ``calc_denoised``; returns x0.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

from .model_sampling import FlowSampling

PredictFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
Hook = Callable[[dict], Any]
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class CFGDenoiser:
    """``denoiser(x, sigma) -> x0`` with ComfyUI's CFG, cfg1 shortcut and hook points.

    ``uncond_denoised`` holds the negative prediction of the last call (the CFG++ samplers
    read it); ``disable_cfg1_optimization`` forces the negative pass at ``cfg == 1``.
    """

    def __init__(self, predict: PredictFn, cfg: float, ms: FlowSampling, *,
                 post_cfg: Sequence[Hook] = (), pre_cfg: Sequence[Hook] = (),
                 cfg_function: Hook | None = None, disable_cfg1_optimization: bool = False,
                 model_input: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.predict = predict
        self.model_input = model_input
        self.cfg = float(cfg)
        self.ms = ms
        self.post_cfg = tuple(post_cfg)
        self.pre_cfg = tuple(pre_cfg)
        self.cfg_function = cfg_function
        self.disable_cfg1_optimization = disable_cfg1_optimization
        self.uncond_denoised: torch.Tensor | None = None

    @property
    def runs_uncond(self) -> bool:
        """Whether a call runs the negative prompt (ComfyUI skips it at cfg 1.0)."""
        return not math.isclose(self.cfg, 1.0) or self.disable_cfg1_optimization

    def capturing_uncond(self) -> "CFGDenoiser":
        """A copy for the CFG++ samplers: negative pass always on, its x0 kept after the hooks ran."""
        copy = CFGDenoiser(self.predict, self.cfg, self.ms, post_cfg=self.post_cfg, pre_cfg=self.pre_cfg,
                           cfg_function=self.cfg_function, disable_cfg1_optimization=True,
                           model_input=self.model_input)
        copy.post_cfg = self.post_cfg + (copy._keep_uncond,)
        return copy

    def _keep_uncond(self, args: dict) -> torch.Tensor:
        self.uncond_denoised = args["uncond_denoised"]
        return args["denoised"]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        ms = self.ms
        timestep = ms.timestep(sigma)

        def calc_denoised(which, x_in: torch.Tensor | None = None) -> torch.Tensor:
            x_in = x if x_in is None else x_in
            if self.model_input is not None:
                x_in = self.model_input(x_in)
            out = self.predict(ms.calculate_input(sigma, x_in), timestep, which)
            if out is None:  # no conditioning entry applies at this sigma
                return torch.zeros_like(x_in)
            return ms.denoised(x_in, sigma, out.to(x_in.dtype))

        uncond_name = "uncond" if self.runs_uncond else None
        cond_pred = calc_denoised("cond")
        uncond_pred = calc_denoised("uncond") if uncond_name else torch.zeros_like(x)

        conds_out = [cond_pred, uncond_pred]
        for hook in self.pre_cfg:
            conds_out = hook({"conds": ("cond", uncond_name), "conds_out": conds_out, "cond_scale": self.cfg,
                              "timestep": sigma, "input": x, "sigma": sigma, "calc_denoised": calc_denoised})
        cond_pred, uncond_pred = conds_out[0], conds_out[1]

        if self.cfg_function is not None:
            args = {"cond": x - cond_pred, "uncond": x - uncond_pred, "cond_scale": self.cfg,
                    "timestep": sigma, "input": x, "sigma": sigma, "cond_denoised": cond_pred,
                    "uncond_denoised": uncond_pred, "input_cond": "cond", "input_uncond": uncond_name,
                    "calc_denoised": calc_denoised}
            result = x - self.cfg_function(args)
        else:
            result = uncond_pred + (cond_pred - uncond_pred) * self.cfg

        for hook in self.post_cfg:
            result = hook({"denoised": result, "cond": "cond", "uncond": uncond_name, "cond_scale": self.cfg,
                           "uncond_denoised": uncond_pred, "cond_denoised": cond_pred, "sigma": sigma,
                           "input": x, "calc_denoised": calc_denoised})
        return result


def cfg_denoiser(predict: PredictFn, cfg: float, ms: FlowSampling, *, post_cfg: Sequence[Hook] = (),
                 pre_cfg: Sequence[Hook] = (), cfg_function: Hook | None = None,
                 disable_cfg1_optimization: bool = False,
                 model_input: Callable[[torch.Tensor], torch.Tensor] | None = None) -> CFGDenoiser:
    """The denoiser KSampler samples with (see :class:`CFGDenoiser`)."""
    return CFGDenoiser(predict, cfg, ms, post_cfg=post_cfg, pre_cfg=pre_cfg, cfg_function=cfg_function,
                       disable_cfg1_optimization=disable_cfg1_optimization, model_input=model_input)
