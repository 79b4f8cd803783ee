"""Executors of the sampler-option nodes: each returns a value type of ``types.py``.

WanVideoTeaCache, WanVideoEasyCache, WanVideoMagCache, WanVideoSLG, WanVideoEnhanceAVideo, WanVideoContextOptions,
WanVideoExperimentalArgs, WanVideoLoopArgs, WanVideoRoPEFunction and WanVideoFreeInitArgs pass their widgets on as dicts in the pack
(nodes.py / cache_methods/nodes_cache.py, 2025-07); wfrun checks them here, so a bad value
names this node rather than the sampler. Keyword defaults are the latest spec's. A node
saved before an input existed is migrated first (``wfrun run`` does it in memory), which
gives it the value the input had when it was introduced; only an unmigrated old node (an
API prompt of an old pack version) reaches these defaults, e.g. TeaCache's
``use_coefficients`` true where versions before it computed the raw relative L1.
"""

from __future__ import annotations

import logging
from typing import Any

from wfrun.nodes.executor import NodeInputError
from wfrun.nodes.executor import ExecContext, executor
from wfrun.packs.wanvideo.types import (ContextOptions, RopeChoice, EasyCacheArgs, ExperimentalArgs, FetaArgs, LoopArgs,
                                        SLGArgs, TeaCacheArgs)
from wfrun.sampling.context import SCHEDULES
from wfrun.sampling.freeinit import METHODS, FreeInitArgs
from wfrun.sampling.magcache import MagCacheArgs

log = logging.getLogger(__name__)


@executor("WanVideoTeaCache")
def wanvideo_teacache(ctx: ExecContext, rel_l1_thresh: float, start_step: int, end_step: int,
                      cache_device: str, use_coefficients: bool, mode: str,
                      **_: Any) -> tuple:
    if mode not in ("e", "e0"):
        raise NodeInputError("mode", f"unknown TeaCache mode '{mode}'", "use 'e' or 'e0'")
    if float(rel_l1_thresh) < 0:
        raise NodeInputError("rel_l1_thresh", "the threshold cannot be negative")
    device = ctx.device if cache_device == "main_device" else ctx.offload_device
    return (TeaCacheArgs(rel_l1_thresh=float(rel_l1_thresh), start_step=int(start_step), end_step=int(end_step),
                         cache_device=str(device), use_coefficients=bool(use_coefficients), mode=str(mode)),)


@executor("WanVideoSLG")
def wanvideo_slg(ctx: ExecContext, blocks: str, start_percent: float, end_percent: float,
                 **_: Any) -> tuple:
    try:
        block_list = tuple(int(x.strip()) for x in str(blocks).split(",") if x.strip())
    except ValueError:
        raise NodeInputError("blocks", f"'{blocks}' is not a comma-separated list of block numbers",
                             "write block indices from 0, e.g. '9,10'") from None
    if not block_list:
        raise NodeInputError("blocks", "no block given", "write block indices from 0, e.g. '10'")
    return (SLGArgs(blocks=block_list, start_percent=float(start_percent), end_percent=float(end_percent)),)


@executor("WanVideoEnhanceAVideo")
def wanvideo_enhance_a_video(ctx: ExecContext, weight: float, start_percent: float,
                             end_percent: float, **_: Any) -> tuple:
    return (FetaArgs(weight=float(weight), start_percent=float(start_percent), end_percent=float(end_percent)),)


@executor("WanVideoContextOptions")
def wanvideo_context_options(ctx: ExecContext, *, context_schedule: str = "uniform_standard", context_frames: int,
                             context_stride: int, context_overlap: int, freenoise: bool,
                             verbose: bool, fuse_method: str, reference_latent: Any = None,
                             **_: Any) -> tuple:
    if context_schedule not in SCHEDULES:
        raise NodeInputError("context_schedule", f"unknown context schedule '{context_schedule}'",
                             "use one of " + ", ".join(SCHEDULES))
    if fuse_method not in ("linear", "pyramid"):
        raise NodeInputError("fuse_method", f"unknown fuse method '{fuse_method}'", "use 'linear' or 'pyramid'")
    latent_frames = (int(context_frames) - 1) // 4 + 1
    if int(context_overlap) // 4 >= latent_frames:
        raise NodeInputError("context_overlap", f"an overlap of {context_overlap} frames leaves no new frames "
                             f"in windows of {context_frames}", "make the overlap smaller than the window")
    ref = reference_latent["samples"][0] if isinstance(reference_latent, dict) else None
    return (ContextOptions(context_schedule=str(context_schedule), context_frames=int(context_frames),
                           context_stride=int(context_stride), context_overlap=int(context_overlap),
                           freenoise=bool(freenoise), verbose=bool(verbose), fuse_method=str(fuse_method),
                           reference_latent=ref),)


@executor("WanVideoExperimentalArgs")
def wanvideo_experimental_args(ctx: ExecContext, video_attention_split_steps: str, cfg_zero_star: bool,
                               use_zero_init: bool, zero_star_steps: int, use_fresca: bool,
                               fresca_scale_low: float, fresca_scale_high: float,
                               fresca_freq_cutoff: int, use_nag: bool = False, **_: Any) -> tuple:
    if use_nag:
        raise NodeInputError("use_nag", "NAG (normalized attention guidance) is not supported by wfrun",
                             "turn use_nag off")
    text = str(video_attention_split_steps or "")
    try:
        [int(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise NodeInputError("video_attention_split_steps", f"'{text}' is not a comma-separated list of steps") from None
    return (ExperimentalArgs(video_attention_split_steps=text, cfg_zero_star=bool(cfg_zero_star),
                             use_zero_init=bool(use_zero_init), zero_star_steps=int(zero_star_steps),
                             use_fresca=bool(use_fresca), fresca_scale_low=float(fresca_scale_low),
                             fresca_scale_high=float(fresca_scale_high), fresca_freq_cutoff=int(fresca_freq_cutoff)),)


@executor("WanVideoLoopArgs")
def wanvideo_loop_args(ctx: ExecContext, shift_skip: int, start_percent: float, end_percent: float,
                       **_: Any) -> tuple:
    return (LoopArgs(shift_skip=int(shift_skip), start_percent=float(start_percent), end_percent=float(end_percent)),)


@executor("WanVideoEasyCache")
def wanvideo_easycache(ctx: ExecContext, easycache_thresh: float, start_step: int, end_step: int, cache_device: str,
                       **_: Any) -> tuple:
    if float(easycache_thresh) < 0:
        raise NodeInputError("easycache_thresh", "the threshold cannot be negative")
    device = ctx.device if cache_device == "main_device" else ctx.offload_device
    return (EasyCacheArgs(easycache_thresh=float(easycache_thresh), start_step=int(start_step),
                          end_step=int(end_step), cache_device=str(device)),)


@executor("WanVideoMagCache")
def wanvideo_magcache(ctx: ExecContext, magcache_thresh: float, magcache_K: int, start_step: int, end_step: int,
                      cache_device: str, **_: Any) -> tuple:
    """The rule and the model's ratio table: :mod:`wfrun.sampling.magcache`."""
    if float(magcache_thresh) < 0:
        raise NodeInputError("magcache_thresh", "the threshold cannot be negative")
    if int(magcache_K) < 0:
        raise NodeInputError("magcache_K", f"magcache_K is {magcache_K}", "use 0 (never skip) to 6")
    device = ctx.device if cache_device == "main_device" else ctx.offload_device
    return (MagCacheArgs(magcache_thresh=float(magcache_thresh), magcache_K=int(magcache_K),
                         start_step=int(start_step), end_step=int(end_step), cache_device=str(device)),)


@executor("WanVideoRoPEFunction")
def wanvideo_rope_function(ctx: ExecContext, rope_function: str, ntk_scale_f: float, ntk_scale_h: float,
                           ntk_scale_w: float, **_: Any) -> tuple:
    """The rope function, or with NTK factors other than 1 the function and the factors
    (the pack's dict; the sampler scales the RoPE base of each axis by them, ``comfy`` rope
    functions only, as the pack)."""
    if rope_function not in ("default", "comfy", "comfy_chunked"):
        raise NodeInputError("rope_function", f"unknown rope function {rope_function!r}",
                             "use default, comfy or comfy_chunked")
    factors = (float(ntk_scale_f), float(ntk_scale_h), float(ntk_scale_w))
    for name, value in zip(("ntk_scale_f", "ntk_scale_h", "ntk_scale_w"), factors):
        if value <= 0:
            raise NodeInputError(name, f"{value}: the RoPE base would not be positive", "use a factor above 0")
    if factors == (1.0, 1.0, 1.0):
        return (rope_function,)
    return (RopeChoice(rope_function, factors),)


@executor("WanVideoFreeInitArgs")
def wanvideo_freeinit_args(ctx: ExecContext, freeinit_num_iters: int, freeinit_method: str, freeinit_n: int,
                           freeinit_d_s: float, freeinit_d_t: float, **_: Any) -> tuple:
    """FREEINITARGS as the pack's sampler reads them (``sampling.freeinit``): the iterations,
    the method and the Butterworth order; the cut-offs are read under other names there, so
    they stay 1.0 (a warning says so when the node sets others)."""
    if freeinit_method not in METHODS:
        raise NodeInputError("freeinit_method", f"{freeinit_method!r} has no filter (the pack's sampler fails on it)",
                             f"use one of {', '.join(METHODS)}")
    if int(freeinit_num_iters) < 1:
        raise NodeInputError("freeinit_num_iters", f"{freeinit_num_iters}", "use 1 or more")
    if float(freeinit_d_s) != 1.0 or float(freeinit_d_t) != 1.0:
        log.warning("WanVideoFreeInitArgs: the wrapper's sampler ignores freeinit_d_s/freeinit_d_t (it reads other "
                    "names) and filters with cut-offs 1.0; wfrun does the same")
    return (FreeInitArgs(num_iters=int(freeinit_num_iters), method=str(freeinit_method), n=int(freeinit_n)),)
