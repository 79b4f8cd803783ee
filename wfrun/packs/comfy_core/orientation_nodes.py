"""ComfyUI's ImageInvert (``nodes.py``), ImageFlip and ImageRotate (``comfy_extras/nodes_images.py``).

* ImageInvert: ``1 - image``.
* ImageFlip: ``x-axis: vertically`` flips the rows (upside down), ``y-axis: horizontally``
  the columns (mirror), as ComfyUI's ``torch.flip`` on dims 1 and 2.
* ImageRotate: quarter turns clockwise (``torch.rot90`` with ``k`` 1, 2, 3 from height to
  width); ``none`` hands the image on.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor
from wfrun.packs.comfy_core.values import choice_input, image_input

FLIPS = {"x-axis: vertically": 1, "y-axis: horizontally": 2}
ROTATIONS = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}


@executor("ImageInvert")
def image_invert(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    return (1.0 - image_input(image, "image"),)


@executor("ImageFlip")
def image_flip(ctx: ExecContext, image: Any, flip_method: Any, **_: Any) -> tuple:
    image = image_input(image, "image")
    return (torch.flip(image, dims=[FLIPS[choice_input(flip_method, "flip_method", tuple(FLIPS))]]),)


@executor("ImageRotate")
def image_rotate(ctx: ExecContext, image: Any, rotation: Any, **_: Any) -> tuple:
    image = image_input(image, "image")
    return (torch.rot90(image, k=ROTATIONS[choice_input(rotation, "rotation", tuple(ROTATIONS))], dims=[2, 1]),)
