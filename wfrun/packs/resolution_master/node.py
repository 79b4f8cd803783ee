"""ResolutionMaster (``aztoolkit.py``): a width and height a user sets on the node's canvas.

The canvas (JavaScript) does the work: presets, snapping, aspect ratios and the rescale
factor are computed in the browser and saved into the widgets (``width``, ``height``,
``rescale_value``), so the node passes them on: ``width``, ``height``, the rescale factor,
``batch_size`` and an empty latent ``[batch, 4, height // 8, width // 8]`` (``[batch, 128,
height // 16, width // 16]`` for ``latent_128x16``). The first saves (2025-08) have only
the first three outputs; their links are by slot, so the extra outputs change nothing.

Where the versions differ, written down: until the 2026 rewrite, auto-detect kept the
widget size whether or not it matched the connected image, and the rescale factor was the
saved ``rescale_value``. The rewrite recomputes the factor in Python from the same settings
the canvas used (so it equals the saved value unless the file was edited by hand), and with
auto-detect on and an image connected re-fits the size by the canvas's rules. wfrun cannot
tell which version saved a file once defaults are filled in, so it follows the saved values
(the 2025 behaviour) and says so in the log when auto-detect is on with an image.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


def _size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 0:
        raise NodeInputError(name, f"{name}: expected a whole number of pixels, found {value!r}")
    return int(value)


@executor("ResolutionMaster")
def resolution_master(ctx: ExecContext, width: Any, height: Any, latent_type: str,
                      batch_size: int, auto_detect: bool, rescale_value: float,
                      input_image: Any = None, **_: Any) -> tuple:
    width, height = _size(width, "width"), _size(height, "height")
    if auto_detect and input_image is not None:
        log.warning("ResolutionMaster node %s: auto-detect is on; wfrun uses the size saved on the node, "
                    "%dx%d (the 2026 pack may re-fit it to the image)", ctx.node_id, width, height)
    batch = max(1, _size(batch_size, "batch_size"))
    if batch * width * height > 2 ** 34:
        raise NodeInputError("batch_size", f"an empty latent of {batch} x {width} x {height} is too large")
    if latent_type == "latent_128x16":
        latent = torch.zeros(batch, 128, height // 16, width // 16)
    else:
        latent = torch.zeros(batch, 4, height // 8, width // 8)
    return (width, height, float(rescale_value), batch, {"samples": latent})
