"""ImageRemoveAlpha+ (``image.py`` of ComfyUI_essentials): an RGBA image loses its alpha
channel (dropped, not composited over a background: the colour channels stay as they are);
any other image passes unchanged, as in the pack."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("ImageRemoveAlpha+")
def image_remove_alpha(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE output")
    return (image[..., :3] if image.shape[3] == 4 else image,)
