"""ComfyUI's ImageAddNoise (``comfy_extras/nodes_images.py``; the same in the V3 rewrite):
``clip(image + strength * randn(image.shape), 0, 1)``, the noise drawn on the CPU from
``torch.manual_seed(seed)`` in float32 and then moved to the image's device and dtype.
A seeded generator of its own gives the same numbers without touching torch's global one."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.values import image as as_image

MAX_SEED = 0xFFFFFFFFFFFFFFFF


@executor("ImageAddNoise")
def image_add_noise(ctx: ExecContext, image: Any, seed: Any, strength: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise NodeInputError("seed", f"expected a whole number from 0 to {MAX_SEED}, found {seed!r}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise NodeInputError("strength", f"expected a number, found {strength!r}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(image.size(), generator=generator, device="cpu").to(image)
    return (torch.clip(image + strength * noise, min=0.0, max=1.0),)
