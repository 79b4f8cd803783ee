"""``UnloadModel`` and ``UnloadAllModels`` (``unloadModel.py``; inputs unchanged since the
first commit, 2024-09-02): pass ``value`` on after freeing GPU memory.

In ComfyUI, UnloadModel takes the ``model`` input out of ComfyUI's loaded models and frees
it (a dict such as a vision-language model's loses its ``model`` key, from 2024-10-04),
UnloadAllModels unloads every model; both then empty the CUDA cache and return ``value``
(the first of the node's inputs, and the only output). Outputs never change.

wfrun's residency (``wfrun.models.residency``) keeps models on the GPU after use and sends
the least recently used back when room is needed. Here "unload" means: every resident
module found in ``model`` (the value itself, or a module held in its fields, a dict's or a
list's items, two levels down) goes back to its offload device now — all resident modules
for UnloadAllModels —, then the garbage collector and ``torch.cuda.empty_cache()`` run.
The model stays usable: a later node brings it back, as ComfyUI reloads an unloaded model.
wfrun values are not mutated, so a dict's ``model`` key is not deleted; a node reading it
after the unload in ComfyUI would fail, in wfrun it reads the model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from torch import nn

from wfrun.models import residency
from wfrun.nodes.executor import ExecContext, executor

#: How far into a value's fields, items and attributes to look for modules.
DEPTH = 2


def modules_in(value: Any, depth: int = DEPTH) -> Iterator[nn.Module]:
    """The torch modules a value holds: itself, or inside its dataclass fields, dict values
    or list items, ``depth`` levels down."""
    if isinstance(value, nn.Module):
        yield value
        return
    if depth < 0:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name, None) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, (list, tuple)):
        children = list(value)
    else:
        return
    for child in children:
        yield from modules_in(child, depth - 1)


@executor("UnloadModel")
def unload_model(ctx: ExecContext, value: Any = None, model: Any = None, **_: Any) -> tuple:
    wanted = {id(m) for m in modules_in(model)}
    for module in residency.resident():
        if id(module) in wanted:
            residency.send_back(module)
    residency.release_cached_memory()
    return (value,)


@executor("UnloadAllModels")
def unload_all_models(ctx: ExecContext, value: Any = None, **_: Any) -> tuple:
    residency.release_all()
    residency.release_cached_memory()
    return (value,)
