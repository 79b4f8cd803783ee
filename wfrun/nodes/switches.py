"""The boolean image switch several packs have (Easy-Use's imageSwitch, Crystools' Switch
image): one rule, so both name the input that is used and say what it holds alike."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError


def switched_image(boolean: Any, when_true: tuple[str, Any], when_false: tuple[str, Any]) -> torch.Tensor:
    """The IMAGE of ``(input name, value)`` that ``boolean`` picks; an error names the boolean
    when it is not one, and the picked input when it holds no IMAGE batch."""
    if not isinstance(boolean, (bool, int)):
        raise NodeInputError("boolean", f"expected a BOOLEAN, found {boolean!r}")
    name, chosen = when_true if boolean else when_false
    if not isinstance(chosen, torch.Tensor) or chosen.ndim != 4:
        found = list(chosen.shape) if isinstance(chosen, torch.Tensor) else type(chosen).__name__
        raise NodeInputError(name, f"boolean is {bool(boolean)}, so {name} is used: expected an IMAGE, found {found}",
                             f"connect an IMAGE to {name}")
    return chosen
