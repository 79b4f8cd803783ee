"""Impact Pack's ImpactMakeImageBatch (``modules/impact/util_nodes.py``) and
ImpactCombineConditionings (``modules/impact/special_samplers.py``).

Both declare only their first input (``image1``, ``conditioning1``); the pack's frontend adds
``image2``, ``image3``… (``conditioning2``…) as the user connects them, and the node takes
them as ``**kwargs``, in the order the prompt lists them: the slot order, which the numeric
suffix gives here.

* ImpactMakeImageBatch: ``image1`` is the batch; each later IMAGE of another size than the
  batch is first resized to it (lanczos, centre crop: ``comfy.utils.common_upscale``), then
  all are joined along the frame axis.
* ImpactCombineConditionings: the CONDITIONING lists one after another (``res += v``), as
  core ConditioningCombine does for two: the sampler then runs every entry.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.impact.nodes import _image

_NUMBERED = re.compile(r"^(image|conditioning)(\d+)$")


def numbered(prefix: str, values: dict[str, Any]) -> list[tuple[str, Any]]:
    """The connected ``<prefix>N`` inputs in slot order (unconnected slots are not passed)."""
    found = []
    for name, value in values.items():
        match = _NUMBERED.match(name)
        if match and match.group(1) == prefix and value is not None:
            found.append((int(match.group(2)), name, value))
    return [(name, value) for _, name, value in sorted(found)]




@executor("ImpactMakeImageBatch")
def impact_make_image_batch(ctx: ExecContext, image1: Any, **more: Any) -> tuple:
    batch = _image(image1, "image1")
    for name, value in numbered("image", more):
        image = _image(value, name)
        if image.shape[1:] != batch.shape[1:]:
            image = common_upscale(image.movedim(-1, 1), batch.shape[2], batch.shape[1], "lanczos",
                                   "center").movedim(1, -1)
        batch = torch.cat((batch, image.to(batch.device, batch.dtype)), dim=0)
    return (batch,)


def _conditioning(value: Any, name: str) -> list:
    if not isinstance(value, list) or not all(isinstance(e, (list, tuple)) and len(e) == 2 for e in value):
        raise NodeInputError(name, f"expected a CONDITIONING (a list of [embeddings, options]), "
                             f"found {type(value).__name__}", f"connect a CONDITIONING output to '{name}'")
    return value


@executor("ImpactCombineConditionings")
def impact_combine_conditionings(ctx: ExecContext, conditioning1: Any, **more: Any) -> tuple:
    out = list(_conditioning(conditioning1, "conditioning1"))
    for name, value in numbered("conditioning", more):
        out += _conditioning(value, name)
    return (out,)
