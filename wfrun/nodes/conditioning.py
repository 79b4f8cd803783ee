"""CONDITIONING as ComfyUI passes it: a list of ``[tensor, dict]`` pairs; nodes add keys to
the dicts (``concat_latent_image``, ``concat_mask``, ``clip_vision_output``, ``vace_frames``…)
without touching their inputs (``node_helpers.conditioning_set_values``).

Here in ``nodes`` (not in the core pack) because conditioning nodes of other packs (KJNodes'
WanImageToVideoSVIPro) set the same keys the same way, and packs do not import each other."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import NodeInputError


def set_values(conditioning: Any, values: dict[str, Any], *, append: bool = False, input_name: str = "positive") -> list:
    """A copy of ``conditioning`` with ``values`` set in every entry's dict; with ``append``
    list values are added to the entry's existing lists."""
    check(conditioning, input_name)
    out = []
    for tensor, options in conditioning:
        options = dict(options)
        for key, value in values.items():
            options[key] = list(options.get(key, [])) + list(value) if append and key in options else value
        out.append([tensor, options])
    return out


def check(conditioning: Any, input_name: str) -> None:
    if not isinstance(conditioning, list) or not all(
            isinstance(c, (list, tuple)) and len(c) == 2 and isinstance(c[1], dict) for c in conditioning):
        raise NodeInputError(input_name, f"expected a CONDITIONING, got {type(conditioning).__name__}",
                             "connect a CLIPTextEncode")
