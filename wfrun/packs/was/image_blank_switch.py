"""WAS Node Suite's Image Blank, Image Input Switch and Latent Input Switch (``WAS_Node_Suite.py``).

* Image Blank: one frame of ``width`` x ``height`` (each cut down to a multiple of 8, as
  the pack does before drawing) in the colour ``red``/``green``/``blue`` (0..255), as the
  pack's Pillow image divided by 255.
* Image Input Switch: ``image_a`` when ``boolean`` is true, else ``image_b``. Saves from
  before 2024-03-03 have a NUMBER ``boolean_number`` instead: ``image_a`` when it rounds to
  1. Both inputs are required in the pack and always computed (no lazy inputs); the one
  not chosen may be None (an Impact ``signal_opt`` with nothing connected), as in ComfyUI.
* Latent Input Switch: the same rule over ``latent_a`` and ``latent_b`` (the pack's two
  switches are written alike in every version, ``boolean_number`` until 2024-03-03 too).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise NodeInputError(name, f"expected a whole number, found {value!r}")
    if not low <= int(value) <= high:
        raise NodeInputError(name, f"{value} is outside {low}..{high}")
    return int(value)


@executor("Image Blank")
def image_blank(ctx: ExecContext, width: Any, height: Any, red: Any, green: Any, blue: Any, **_: Any) -> tuple:
    w = _whole("width", width, 8, 1 << 16) // 8 * 8
    h = _whole("height", height, 8, 1 << 16) // 8 * 8
    colour = torch.tensor([_whole(n, v, 0, 255) for n, v in (("red", red), ("green", green), ("blue", blue))],
                          dtype=torch.float32) / 255.0
    return (colour.expand(1, h, w, 3).contiguous(),)


def _switch(a: Any, b: Any, boolean: Any, boolean_number: Any) -> Any:
    """``a`` when the switch is on (``boolean``; before 2024-03-03 ``boolean_number``
    rounding to 1), else ``b``."""
    if boolean is None and boolean_number is not None:
        if isinstance(boolean_number, bool) or not isinstance(boolean_number, (int, float)):
            raise NodeInputError("boolean_number", f"expected a NUMBER, found {boolean_number!r}")
        return a if int(round(boolean_number)) == 1 else b
    if boolean is None:
        raise NodeInputError("boolean", "nothing is connected to boolean", "connect a BOOLEAN")
    if not isinstance(boolean, (bool, int, float)):
        raise NodeInputError("boolean", f"expected a BOOLEAN, found {type(boolean).__name__}")
    return a if boolean else b


@executor("Image Input Switch")
def image_input_switch(ctx: ExecContext, image_a: Any = None, image_b: Any = None, boolean: Any = None,
                       boolean_number: Any = None, **_: Any) -> tuple:
    return (_switch(image_a, image_b, boolean, boolean_number),)


@executor("Latent Input Switch")
def latent_input_switch(ctx: ExecContext, latent_a: Any = None, latent_b: Any = None, boolean: Any = None,
                        boolean_number: Any = None, **_: Any) -> tuple:
    return (_switch(latent_a, latent_b, boolean, boolean_number),)
