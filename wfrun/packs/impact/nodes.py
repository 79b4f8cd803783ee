"""Impact Pack's ImageListToImageBatch (``modules/impact/util_nodes.py``) and
ImpactWildcardProcessor (``modules/impact/impact_pack.py``, ``wildcards.py``).

* ImageListToImageBatch (an ``INPUT_IS_LIST`` node: the engine hands it the list,
  ``wfrun.engine.lists``) joins a list of IMAGE batches into one batch; a later image of
  another size is first resized to the first one's (lanczos, centre crop, as
  ``comfy.utils.common_upscale``). A single IMAGE (a list of one) comes out unchanged.
* ImpactWildcardProcessor: in "Populate" mode (``mode`` true, or "populate" since the pack made
  it a combo) ComfyUI's Impact server fills
  ``populated_text`` from ``wildcard_text`` when the prompt is queued; in "Fixed" mode the
  saved ``populated_text`` is used ("reproduce" is Fixed for one run, then the frontend turns it
  to Populate: one run of wfrun is that run). Either text then loses its comment lines (a line whose
  first non-space character is ``#`` is dropped, and the line after it is joined to the line
  before with a space, as ``process_comment_out`` does, quirks included: after a comment
  that precedes every kept line, the second kept line is the one joined to the first). Wildcard syntax (``{a|b}`` choices,
  ``__name__`` wildcard files) is not supported yet: a text that uses it stops the run with
  an error on the input that holds it, rather than run a different prompt.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

WILDCARD_SYNTAX = re.compile(r"{([^{}]*?)}|__([\w.\-+/*\\]+?)__")


def _image(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], found {found}",
                             f"connect an IMAGE output to '{name}'")
    return value


@executor("ImageListToImageBatch")
def image_list_to_image_batch(ctx: ExecContext, images: Any, **_: Any) -> tuple:
    if not isinstance(images, list):  # the engine hands a list node lists only
        _image(images, "images")
        raise NodeInputError("images", "images: expected the engine's list of IMAGEs, found one IMAGE")
    if not images:
        raise NodeInputError("images", "images: the list is empty", "connect a node that gives images")
    batch = _image(images[0], "images")
    for item in images[1:]:
        item = _image(item, "images")
        if item.shape[1:] != batch.shape[1:]:
            item = common_upscale(item.movedim(-1, 1), batch.shape[2], batch.shape[1], "lanczos",
                                  "center").movedim(1, -1)
        batch = torch.cat((batch, item), dim=0)
    return (batch,)


def comment_out(text: str) -> str:
    """Impact's ``process_comment_out``."""
    kept: list[str] = []
    after_comment = False
    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            after_comment = True
            continue
        if not kept:
            kept.append(line)  # as in the pack, the flag then stays set for the next line
        elif after_comment:
            kept[-1] += " " + line
            after_comment = False
        else:
            kept.append(line)
    return "\n".join(kept)


@executor("ImpactWildcardProcessor")
def wildcard_processor(ctx: ExecContext, wildcard_text: Any, populated_text: Any, mode: Any, seed: Any,
                       **_: Any) -> tuple:
    if mode not in (True, False, "populate", "fixed", "reproduce"):
        raise NodeInputError("mode", f"unknown mode {mode!r}", "use populate, fixed or reproduce")
    populate = mode in (True, "populate")
    name = "wildcard_text" if populate else "populated_text"
    text = wildcard_text if populate else populated_text
    if not isinstance(text, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(text).__name__}")
    text = comment_out(text)
    found = WILDCARD_SYNTAX.search(text)
    if found:
        raise NodeInputError(name, f"{name}: wildcard syntax {found.group(0)[:60]!r} is not supported by wfrun yet",
                             "write the prompt out in full, or set the node to Fixed with the populated text")
    return (text,)
