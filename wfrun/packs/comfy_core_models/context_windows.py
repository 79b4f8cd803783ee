"""ContextWindowsManual and WanContextWindowsManual (``comfy_extras/nodes_context_windows.py``).

Both return the MODEL with a context-window patch
(:class:`wfrun.sampling.ksampler.context_windows.ContextWindowSettings`); the core samplers
(KSampler, KSamplerAdvanced, SamplerCustom and the samplers built on them) then split every
model call over more latent frames than the window into overlapping windows and blend the
window predictions (the rules are in :mod:`wfrun.sampling.ksampler.context_windows`).

WanContextWindowsManual takes pixel frames and windows the latent's frames (``dim`` 2): the
window is ``max((context_length - 1) // 4 + 1, 1)`` latent frames. Its other rules changed
over ComfyUI's history, and wfrun follows the signature the workflow was saved with:

- the overlap: ``(context_overlap - 1) // 4 + 1`` latent frames (rounded up) until
  2026-06-19, ``context_overlap // 4`` since (the signature with ``retain_first_frame``);
- FreeNoise: an input since 2025-12-05, off before;
- the causal fix (``causal_window_fix``, a frame before each window not at frame 0): always
  on for Wan since 2026-05-05; the node never had the input. wfrun dates a workflow by its
  signature, so the 7-value signature (2025-12-05 to 2026-06-19) runs without it — the
  ComfyUI of its first five months — and the 9-value one with it;
- ``retain_first_frame`` (since 2026-06-19): every window's conditioning keeps the first
  latent frame's (the start image of image-to-video).

ContextWindowsManual takes latent frames as given, with ``dim``; wfrun runs windows over the
frames of a Wan latent (``dim`` 2) and refuses another ``dim`` where it would split the
latent (ComfyUI would split channels or rows). Its ``causal_window_fix`` exists since
2026-05-05 (off before), ``latent_retain_index_list`` since 2026-06-19.

Per-frame conditioning is cut to each window as ComfyUI's Wan models have it cut
(:func:`window_inputs`): the concatenated image channels and mask of image-to-video /
Fun models, the VACE contexts, Fun Camera's rays and a Wan 2.2 noise mask (the per-frame
timesteps) — each where its frame count is the latent's, with the retained positions; text,
CLIP vision and the Fun reference frame are used whole. ComfyUI slices VACE contexts since
2025-12-30 and would fail on them before; wfrun always slices them. Wan 2.2 Animate's pose
and face inputs in context windows are refused (ComfyUI offsets them by the reference frame;
wfrun does not run that yet).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.model_patches import check_model
from wfrun.sampling.ksampler.context_windows import FUSE_METHODS, SCHEDULE_NAMES, ContextWindowSettings, Window

#: WanContextWindowsManual's overlap became ``context_overlap // 4`` (ComfyUI cd77c551).
WAN_OVERLAP_FLOOR_DATE = "2026-06-19"
#: The causal fix, on for Wan and an input of ContextWindowsManual (ComfyUI e5369c0e).
CAUSAL_FIX_DATE = "2026-05-05"
#: FreeNoise became an input (ComfyUI 79d17ba2); before it the nodes had none.
FREENOISE_DATE = "2025-12-05"


def _since(ctx: ExecContext, date: str) -> bool:
    """Whether the node's saved signature is from ``date`` on (unknown: the newest)."""
    return ctx.saved_date is None or ctx.saved_date >= date


def _check_choices(context_schedule: str, fuse_method: str) -> None:
    if context_schedule not in SCHEDULE_NAMES:
        raise NodeInputError("context_schedule", f"unknown context schedule {context_schedule!r}",
                             f"use one of {', '.join(SCHEDULE_NAMES)}")
    if fuse_method not in FUSE_METHODS:
        raise NodeInputError("fuse_method", f"unknown fuse method {fuse_method!r}", f"use one of {', '.join(FUSE_METHODS)}")


def _index_list(text: Any, name: str) -> tuple[int, ...]:
    """ComfyUI's comma-separated index list (empty: none)."""
    if not text:
        return ()
    try:
        return tuple(int(part.strip()) for part in str(text).split(","))
    except ValueError:
        raise NodeInputError(name, f"{text!r} is not a comma-separated list of latent frame indices",
                             "write e.g. 0 or 0,1") from None


@executor("WanContextWindowsManual")
def wan_context_windows_manual(ctx: ExecContext, model: Any, context_length: int, context_overlap: int,
                               context_schedule: str, context_stride: int, closed_loop: bool, fuse_method: str,
                               freenoise: bool, retain_first_frame: bool, split_conds_to_windows: bool,
                               **_: Any) -> tuple:
    model = check_model(model)
    _check_choices(context_schedule, fuse_method)
    overlap = int(context_overlap)
    if _since(ctx, WAN_OVERLAP_FLOOR_DATE):
        overlap = max(overlap // 4, 0)
    else:
        overlap = max((overlap - 1) // 4 + 1, 0)
    settings = ContextWindowSettings(
        length=max((int(context_length) - 1) // 4 + 1, 1), overlap=overlap, schedule=context_schedule,
        stride=int(context_stride), closed_loop=bool(closed_loop), fuse_method=fuse_method, dim=2,
        freenoise=bool(freenoise) and _since(ctx, FREENOISE_DATE),
        cond_retain=(0,) if retain_first_frame and _since(ctx, WAN_OVERLAP_FLOOR_DATE) else (),
        causal_fix=_since(ctx, CAUSAL_FIX_DATE), split_conds=bool(split_conds_to_windows))
    return (model.patched(context_windows=settings),)


@executor("ContextWindowsManual")
def context_windows_manual(ctx: ExecContext, model: Any, context_length: int, context_overlap: int,
                           context_schedule: str, context_stride: int, closed_loop: bool, fuse_method: str,
                           dim: int, freenoise: bool, cond_retain_index_list: str, split_conds_to_windows: bool,
                           latent_retain_index_list: str, causal_window_fix: bool, **_: Any) -> tuple:
    model = check_model(model)
    _check_choices(context_schedule, fuse_method)
    settings = ContextWindowSettings(
        length=int(context_length), overlap=int(context_overlap), schedule=context_schedule,
        stride=int(context_stride), closed_loop=bool(closed_loop), fuse_method=fuse_method, dim=int(dim),
        freenoise=bool(freenoise) and _since(ctx, FREENOISE_DATE),
        cond_retain=_index_list(cond_retain_index_list, "cond_retain_index_list"),
        latent_retain=_index_list(latent_retain_index_list, "latent_retain_index_list"),
        causal_fix=bool(causal_window_fix) and _since(ctx, CAUSAL_FIX_DATE),
        split_conds=bool(split_conds_to_windows))
    return (model.patched(context_windows=settings),)


def window_inputs(window: Window, extra: torch.Tensor | None, extras: dict,
                  denoise_mask: torch.Tensor | None) -> tuple[torch.Tensor | None, dict, torch.Tensor | None]:
    """A Wan predictor's per-frame inputs cut to ``window``: the concatenated channels, the
    entry's extras (VACE contexts, camera rays, Bernini streams as long as the latent) and the
    noise mask. Text, CLIP vision and
    the reference frame are whole."""
    if extras.get("pose") is not None or extras.get("face") is not None:
        raise NodeInputError("model", "context windows on Wan 2.2 Animate (pose and face inputs) are not supported "
                             "by wfrun yet", "sample the whole video at once, or in chunks with WanAnimateToVideo")
    out = dict(extras)
    out["vace"] = tuple((window.take_cond(context), strength) for context, strength in extras.get("vace", ()))
    out["camera"] = window.take_cond(extras.get("camera"))
    # Bernini's in-context streams: one as long as the latent (a source video) is cut to the
    # window; shorter ones (reference images, a shorter clip) stay whole (ComfyUI WAN21's
    # resize_cond_for_context_window)
    out["context"] = tuple(window.take_cond(stream) for stream in extras.get("context", ()))
    return window.take_cond(extra), out, window.take_cond(denoise_mask)
