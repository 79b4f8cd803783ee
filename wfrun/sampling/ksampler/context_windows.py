"""ComfyUI core's context windows (``comfy/context_windows.py``) around a KSampler model.

A MODEL patched by ContextWindowsManual / WanContextWindowsManual predicts a long latent in
overlapping temporal windows: every model call (cond, uncond, a SkipLayerGuidanceDiT pass)
whose latent has more than ``length`` frames along ``dim`` is split, each window is
predicted on its own, and the window predictions are blended back. :class:`WindowedPredictor`
wraps the ``predict(x, timestep, which)`` function the samplers call (the place of ComfyUI's
``calc_cond_batch`` context handler); CFG and post-CFG patches see the blended result.

Its rules, as ComfyUI's ``IndexListContextHandler`` has them (sizes are latent frames):

- a call with at most ``length`` frames runs the model once, untouched;
- the step index is the first of the run's sigmas close to the call's sigma (relative
  tolerance 1e-4); a call at a sigma that is none of them (a multi-stage sampler's substep)
  keeps the last step's index;
- windows, from :mod:`wfrun.sampling.context`: ``standard_static`` (fixed, every
  ``length - overlap``, the last slid back to end at the last frame), ``standard_uniform``
  (AnimateDiff's uniform windows at strides 1, 2, 4… up to ``stride``, shifted each step by
  the bit-reversed step index, starts stopping ``overlap`` short of a full turn, wrapped
  windows slid back to the end, duplicates dropped), ``looped_uniform`` (the same, wrapping
  round; starts stop ``overlap`` short unless ``closed_loop``), ``batched`` (back to back,
  no overlap, the last one shorter);
- ``causal_fix`` (ComfyUI's ``causal_window_fix``): a window not starting at frame 0 is
  run with the frame before it prepended (its latent, conditioning and retained frames
  alike), and that frame's prediction is dropped;
- ``latent_retain``: window positions listed get the latent's frames of the same index
  (``cond_retain`` does the same to the per-frame conditioning; the model's predictor does
  that, see :class:`Window`);
- fuse: ``flat`` weights 1, ``pyramid`` 1, 2, … up to the window's middle and back down
  (unnormalised), ``overlap-linear`` 1 with ramps ``linspace(1e-37, 1, overlap)`` into
  every window but one starting at frame 0 and out of every window but one ending at the
  last frame; each frame's prediction is the weighted sum over the windows holding it
  divided by the summed weights; ``relative`` instead keeps a running weighted mean per
  frame, window by window, with a window's weight at a frame ``1 - |i - centre| / half span``
  (at least 0.01);
- FreeNoise (:func:`freenoise`): before sampling, beyond the first window each block of
  ``length - overlap`` frames of the starting noise is a shuffled copy of the block
  ``length`` frames earlier, the shuffles drawn from a CPU generator seeded with the seed.

Not carried over: ``split_conds_to_windows`` picks one of several combined conditionings
per window; wfrun's samplers run one conditioning per prompt, so it changes nothing here.
Differences, written down: ComfyUI before 2026-03-01 raised an error on a substep sigma;
wfrun keeps the last step's windows there, as later ComfyUI does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from wfrun.sampling import context as schedules

log = logging.getLogger(__name__)

SCHEDULE_NAMES = ("standard_static", "standard_uniform", "looped_uniform", "batched")
FUSE_METHODS = ("pyramid", "relative", "flat", "overlap-linear")


class ContextWindowError(ValueError):
    """Settings that cannot make windows for this latent (the caller names the input)."""


@dataclass(frozen=True)
class ContextWindowSettings:
    """One context-window patch, in latent frames along ``dim``."""

    length: int
    overlap: int
    schedule: str = "standard_static"
    stride: int = 1
    closed_loop: bool = False
    fuse_method: str = "pyramid"
    dim: int = 2
    freenoise: bool = False
    cond_retain: tuple[int, ...] = ()
    latent_retain: tuple[int, ...] = ()
    causal_fix: bool = False
    split_conds: bool = False


def window_indices(settings: ContextWindowSettings, num_frames: int, step: int) -> list[list[int]]:
    """The windows (frame indices) of one step over ``num_frames`` frames."""
    size, overlap, stride = settings.length, settings.overlap, settings.stride
    name = settings.schedule
    if name == "standard_static":
        if size - overlap <= 0 and num_frames > size:
            raise ContextWindowError(f"an overlap of {overlap} latent frames leaves no new frames in windows of {size}")
        return schedules.static_standard(step, None, num_frames, size, stride, overlap)
    if name in ("standard_uniform", "looped_uniform"):
        if size - overlap <= 0 and num_frames > size:
            raise ContextWindowError(f"an overlap of {overlap} latent frames leaves no new frames in windows of {size}")
        if name == "standard_uniform":
            return schedules.uniform_standard(step, None, num_frames, size, stride, overlap, closed_loop=False)
        return schedules.uniform_looped(step, None, num_frames, size, stride, overlap,
                                        closed_loop=settings.closed_loop)
    if name == "batched":
        return schedules.batched(step, None, num_frames, size)
    raise ContextWindowError(f"unknown context schedule {name!r}; use one of {', '.join(SCHEDULE_NAMES)}")


def fuse_weights(method: str, window: list[int], num_frames: int, overlap: int) -> torch.Tensor:
    """The float32 weights of one window's frames (``flat``, ``pyramid``/``relative``'s
    pyramid, ``overlap-linear``)."""
    n = len(window)
    if method == "flat":
        return torch.ones(n)
    if method in ("pyramid", "relative"):
        rise = list(range(1, (n + 1) // 2 + 1))
        fall = rise[:n // 2][::-1]  # even n: the peak twice; odd n: once
        return torch.tensor(rise + fall, dtype=torch.float32)
    if method == "overlap-linear":
        weights = torch.ones(n)
        ramp_in, ramp_out = min(window) > 0, max(window) < num_frames - 1
        # as in ComfyUI, an overlap longer than the window, or none where a ramp out is due, is an error
        if (ramp_in or ramp_out) and overlap > n or ramp_out and overlap == 0:
            raise ContextWindowError(f"overlap-linear needs an overlap of 1 to {n} latent frames, got {overlap}")
        if ramp_in:
            weights[:overlap] = torch.linspace(1e-37, 1, overlap)
        if ramp_out:
            weights[n - overlap:] = torch.linspace(1, 1e-37, overlap)
        return weights
    raise ContextWindowError(f"unknown fuse method {method!r}; use one of {', '.join(FUSE_METHODS)}")


def relative_bias(window: list[int]) -> list[float]:
    """``relative`` fusing's weight of each window position: 1 at the window's centre (from
    its first and last index), falling linearly to the ends, never below 0.01."""
    first, last = window[0], window[-1]
    centre = (first + last) / 2
    half_span = (last - first + 1e-2) / 2
    return [max(1e-2, 1 - abs(i - centre) / half_span) for i in window]


def _at(dim: int, index: Any) -> tuple:
    return (slice(None),) * dim + (index,)


@dataclass
class Window:
    """One window of one model call: its frames of the full latent, the anchor frame
    prepended by the causal fix (or None), and the conditioning positions to retain.

    A predictor takes its per-frame inputs for the window with :meth:`take_cond` (ComfyUI's
    rule: a tensor whose size along ``dim`` is the latent's frame count is sliced, with
    ``cond_retain``; any other is used whole)."""

    indices: list[int]
    total: int
    dim: int = 2
    anchor: int | None = None
    cond_retain: tuple[int, ...] = ()

    @property
    def frames(self) -> list[int]:
        """The full latent's frames the model sees, in order (the anchor first)."""
        return ([self.anchor] if self.anchor is not None else []) + list(self.indices)

    def take(self, full: torch.Tensor, retain: tuple[int, ...] = (), dim: int | None = None) -> torch.Tensor:
        """``full``'s window frames along ``dim``; positions in ``retain`` keep ``full``'s
        frames of the same index."""
        dim = self.dim if dim is None else dim
        out = full[_at(dim, self.frames)]
        if retain:
            if max(retain) >= out.shape[dim] or max(retain) >= full.shape[dim] or min(retain) < 0:
                raise ContextWindowError(f"retained index {max(retain)} is outside a window of "
                                         f"{out.shape[dim]} frames")
            out[_at(dim, list(retain))] = full[_at(dim, list(retain))]
        return out

    def take_cond(self, cond: torch.Tensor | None, dim: int | None = None) -> torch.Tensor | None:
        """A per-frame conditioning tensor for this window (whole when it is not per-frame)."""
        dim = self.dim if dim is None else dim
        if cond is None or cond.ndim <= dim or cond.shape[dim] != self.total:
            return cond
        return self.take(cond, self.cond_retain, dim)

    def full_shape(self, x: torch.Tensor) -> torch.Tensor:
        """A zero tensor shaped like the full latent (an expanded view: no memory), for a
        predictor that builds its inputs from the latent's shape."""
        shape = list(x.shape)
        shape[self.dim] = self.total
        return x.new_zeros(()).expand(shape)


Predict = Callable[..., torch.Tensor]


@dataclass
class WindowedPredictor:
    """``predict(x, timestep, which)`` in context windows. ``predict`` must also take
    ``window=`` (a :class:`Window`) and then cut its per-frame conditioning to it."""

    predict: Predict
    settings: ContextWindowSettings
    sigmas: torch.Tensor
    multiplier: float = 1000.0
    step: int = 0
    _logged: bool = field(default=False, repr=False)

    def uses_windows(self, x: torch.Tensor) -> bool:
        return x.shape[self.settings.dim] > self.settings.length

    def _set_step(self, timestep: torch.Tensor) -> None:
        sigma = (timestep.reshape(-1)[0] / self.multiplier).to(self.sigmas.dtype).cpu()
        match = torch.nonzero(torch.isclose(self.sigmas.cpu(), sigma, rtol=1e-4))
        if match.numel():
            self.step = int(match[0].item())

    def windows(self, num_frames: int) -> list[Window]:
        s = self.settings
        out = []
        for indices in window_indices(s, num_frames, self.step):
            anchor = indices[0] - 1 if s.causal_fix and 0 <= indices[0] - 1 < num_frames else None
            out.append(Window(indices, num_frames, s.dim, anchor, s.cond_retain))
        return out

    def __call__(self, x: torch.Tensor, timestep: torch.Tensor, which: Any) -> torch.Tensor | None:
        """The fused prediction; None where ``predict`` gives None (no conditioning entry in
        range at this timestep: the same for every window, so for the whole latent)."""
        s = self.settings
        if not self.uses_windows(x):
            return self.predict(x, timestep, which)
        total = x.shape[s.dim]
        if not self._logged:
            log.info("context windows of %d latent frames, overlap %d, over %d frames", s.length, s.overlap, total)
            self._logged = True
        self._set_step(timestep)
        count_shape = [1] * x.ndim
        count_shape[s.dim] = total
        fused: torch.Tensor | None = None
        counts = torch.zeros(count_shape, device=x.device)
        biases = [0.0] * total
        for window in self.windows(total):
            out = self.predict(window.take(x, s.latent_retain), timestep, which, window=window)
            if out is None:
                return None
            if window.anchor is not None:
                out = out.narrow(s.dim, 1, out.shape[s.dim] - 1)
            if fused is None:
                fused = torch.zeros(x.shape, dtype=out.dtype, device=out.device)
            if s.fuse_method == "relative":
                for pos, (i, bias) in enumerate(zip(window.indices, relative_bias(window.indices))):
                    before = biases[i]
                    keep, add = before / (before + bias), bias / (before + bias)
                    fused[_at(s.dim, i)] = fused[_at(s.dim, i)] * keep + out[_at(s.dim, pos)] * add
                    biases[i] = before + bias
                continue
            weights = fuse_weights(s.fuse_method, window.indices, total, s.overlap).to(x.device)
            shape = [1] * x.ndim
            shape[s.dim] = -1
            weights = weights.view(shape)
            fused[_at(s.dim, window.indices)] += out * weights
            counts[_at(s.dim, window.indices)] += weights
        assert fused is not None
        return fused if s.fuse_method == "relative" else fused / counts


def freenoise(noise: torch.Tensor, settings: ContextWindowSettings, seed: int) -> torch.Tensor:
    """FreeNoise on the starting ``noise`` (in place, returned), as ComfyUI's core applies it
    along ``settings.dim`` with a CPU generator seeded with ``seed`` (the pack's
    :func:`wfrun.sampling.context.freenoise_shuffle`, which shuffles the same blocks the same
    way, on the frames axis of a ``[C, T, H, W]`` view)."""
    dim, size, overlap = settings.dim, settings.length, settings.overlap
    total = noise.shape[dim]
    if total <= size:
        return noise
    if size - overlap == 0:
        raise ContextWindowError(f"FreeNoise with an overlap of {overlap} latent frames in windows of {size}: "
                                 "no frames to shuffle")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    moved = noise.movedim(dim, 0).cpu()
    flat = moved.reshape(1, total, -1).clone()  # [1, T, rest]: the frames on axis 1
    schedules.freenoise_shuffle(flat, size, overlap, generator)
    noise.copy_(flat.reshape(moved.shape).movedim(0, dim).to(noise.device))
    return noise
