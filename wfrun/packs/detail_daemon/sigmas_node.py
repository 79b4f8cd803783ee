"""DetailDaemonNode (Jonseed/ComfyUI-Detail-Daemon, 2024-10-25, deprecated the same day): Detail
Daemon applied to the SIGMAS themselves instead of to the sampler's model calls.

As the pack: ``steps = len(sigmas) - 1``; the schedule (:func:`.nodes.detail_schedule`) is
made for ``2·steps - 1`` steps with the samplers that call the model twice a step
(``dpmpp_sde``, ``dpmpp_2s_ancestral``, ``heun``, ``dpm_2``, ``dpm_2_ancestral``), else for
``steps``; each sigma but the last is multiplied by ``1 - m`` (mode ``cond``), ``1 + m``
(``uncond``) or ``1 - m·cfg_scale`` (``both``), ``m`` being the step's schedule value times
0.1 (only the first ``steps`` values are used).

The second output is a picture of the schedule. The pack draws it with matplotlib (a 600x400
RGBA figure with title, labels, legend and ticks); wfrun draws the same curve on the same
axes range (-1 to 1, a grid line at each step and at each 0.5) into an image of that size and
format, without the text. It is for looking at only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

from .nodes import detail_schedule

TWO_CALL_SAMPLERS = ("dpmpp_sde", "dpmpp_2s_ancestral", "heun", "dpm_2", "dpm_2_ancestral")
MODES = ("cond", "uncond", "both")
#: matplotlib's figsize (6, 4) at 100 dpi, and its first line colour.
PLOT_WIDTH, PLOT_HEIGHT = 600, 400
CURVE = (0x1F / 255, 0x77 / 255, 0xB4 / 255)
GRID = (0.85, 0.85, 0.85)
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 580, 20, 370


def adjusted_sigmas(sigmas: torch.Tensor, schedule: np.ndarray, mode: str, cfg_scale: float) -> torch.Tensor:
    out = sigmas.clone()
    for idx in range(len(sigmas) - 1):
        m = float(schedule[idx]) * 0.1
        factor = 1 - m if mode == "cond" else 1 + m if mode == "uncond" else 1 - m * cfg_scale
        out[idx] = out[idx] * factor
    return out


def plot(schedule: np.ndarray) -> torch.Tensor:
    """The schedule as a line on white, ``[1, 400, 600, 4]`` (alpha 1)."""
    image = np.ones((PLOT_HEIGHT, PLOT_WIDTH, 3), dtype=np.float32)
    n = max(len(schedule), 1)

    def x_of(i: float) -> float:
        return _LEFT + (_RIGHT - _LEFT) * (i / (n - 1) if n > 1 else 0.5)

    def y_of(v: float) -> float:
        return _BOTTOM - (_BOTTOM - _TOP) * (min(max(v, -1.0), 1.0) + 1.0) / 2.0

    for i in range(n):
        image[_TOP:_BOTTOM + 1, int(round(x_of(i)))] = GRID
    for v in (-1.0, -0.5, 0.0, 0.5, 1.0):
        image[int(round(y_of(v))), _LEFT:_RIGHT + 1] = GRID
    points = [(x_of(i), y_of(float(v))) for i, v in enumerate(schedule)]
    for (x0, y0), (x1, y1) in zip(points, points[1:] or points):
        count = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, count + 1):
            x, y = int(round(x0 + (x1 - x0) * t)), int(round(y0 + (y1 - y0) * t))
            image[max(y - 1, 0):y + 1, max(x - 1, 0):x + 1] = CURVE
    rgba = np.concatenate([image, np.ones((PLOT_HEIGHT, PLOT_WIDTH, 1), dtype=np.float32)], axis=-1)
    return torch.from_numpy(rgba)[None]


@executor("DetailDaemonNode")
def detail_daemon_node(ctx: ExecContext, sigmas: Any, detail_amount: float, start: float, end: float, bias: float,
                       exponent: float, start_offset: float, end_offset: float, fade: float, smooth: bool, mode: Any,
                       cfg_scale: float, sampler_name: Any, **_: Any) -> tuple:
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1 or len(sigmas) < 2:
        raise NodeInputError("sigmas", "expected SIGMAS of at least one step",
                             "connect a scheduler node (BasicScheduler) here")
    if mode not in MODES:
        raise NodeInputError("mode", f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    steps = len(sigmas) - 1
    actual = steps * 2 - 1 if sampler_name in TWO_CALL_SAMPLERS else steps
    schedule = detail_schedule(actual, float(start), float(end), float(bias), float(detail_amount), float(exponent),
                               float(start_offset), float(end_offset), float(fade), bool(smooth))
    return adjusted_sigmas(sigmas, schedule, mode, float(cfg_scale)), plot(schedule)
