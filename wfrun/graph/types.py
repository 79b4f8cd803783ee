"""ComfyUI's link type rules, in one place.

A link may connect an output to an input when the types are equal, when either side is
``*`` (any), or when comma-separated unions (``IMAGE,MASK``) share a member. Widget
inputs converted to sockets accept their widget type; combos travel as ``COMBO`` or as a
list of options in older files.
"""

from __future__ import annotations

from typing import Any

_ANY = {"*", "", None}
#: Link types a pack renamed without changing the value: the old name still links to the
#: new one (WanVideoWrapper's TeaCache output TEACACHEARGS became CACHEARGS when EasyCache
#: and MagCache joined it; forks of the March 2025 wrapper still ask for TEACACHEARGS).
_RENAMED = {"TEACACHEARGS": "CACHEARGS"}


def _members(value: Any) -> set[str]:
    if isinstance(value, list):
        return {"COMBO"}
    if not isinstance(value, str):
        return {str(value)}
    return {part.strip() for part in value.split(",")}


def compatible(output_type: Any, input_type: Any) -> bool:
    """Whether a link from ``output_type`` may feed ``input_type``."""
    if output_type in _ANY or input_type in _ANY:
        return True
    out = {_RENAMED.get(m, m) for m in _members(output_type)}
    inp = {_RENAMED.get(m, m) for m in _members(input_type)}
    if "*" in out or "*" in inp:
        return True
    return bool(out & inp)
