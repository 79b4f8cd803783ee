"""``HyVideoEnhanceAVideo`` feeding a WanVideoSampler's ``feta_args``.

Before WanVideoEnhanceAVideo existed, the WanVideoWrapper's own T2V example (2025-03-01)
took Enhance-A-Video's settings from the HunyuanVideo wrapper's node: its ``setargs`` hands
its inputs on as the FETAARGS dict, and the Wan sampler reads only ``weight``,
``start_percent`` and ``end_percent`` from it. ``single_blocks`` and ``double_blocks`` pick
HunyuanVideo's block kinds; a Wan transformer has neither, so the Wan sampler applies the
weight to its blocks whatever they say, and so does wfrun.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor
from wfrun.sampling.conditioning import FetaArgs


@executor("HyVideoEnhanceAVideo")
def hy_video_enhance_a_video(ctx: ExecContext, weight: float, start_percent: float, end_percent: float,
                             **_: Any) -> tuple:
    return (FetaArgs(weight=float(weight), start_percent=float(start_percent), end_percent=float(end_percent)),)
