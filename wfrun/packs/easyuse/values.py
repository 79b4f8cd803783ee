"""Easy-Use's value, switch and batch nodes (``py/nodes/logic.py``, ``py/nodes/prompt.py``,
``py/nodes/seed.py``).

* ``easy int``, ``easy seed``: the widget's whole number, passed on.
* ``easy float``: the widget's number rounded to 3 decimals with Python's ``round``.
* ``easy positive``: its text, passed on unchanged (the widget, or a STRING linked there).
* ``easy promptConcat``: ``prompt1 + separator + prompt2``, each made text with ``str`` (a
  list or tuple joined with ", " first, as the pack's newest code does; an input left
  unconnected counts as "").
* ``easy imageSwitch``: ``image_a`` when ``boolean`` is true, else ``image_b``. Both inputs
  are required in the pack, so both branches run there too.
* ``easy batchAnything``: joins two values the way the pack does, in its order of cases:
  two tensors (IMAGE) along the batch, the second resized to the first's size (bilinear,
  centre crop) when they differ; a number or text and a list/tuple: the scalar appended;
  two scalars: ``[any_1, any_2]`` (a scalar only in ``any_2``: ``[any_2, any_1]``); two
  LATENTs: samples joined (the second resized bilinear, centre crop) with ``batch_index``
  lists concatenated; anything else: ``any_1 + any_2`` (a Python list joins, so does text),
  and a missing side gives the other unchanged. What Python cannot add is a clear error.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.switches import switched_image

_ABSENT: Any = None


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    return int(value)


@executor("easy int", pure=True)
def easy_int(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return (_whole(value, "value"),)


@executor("easy seed")
def easy_seed(ctx: ExecContext, seed: Any, **_: Any) -> tuple:
    return (_whole(seed, "seed"),)


@executor("easy float")
def easy_float(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError("value", f"value: expected a number, found {value!r}")
    return (round(value, 3),)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


@executor("easy positive", pure=True)
def positive(ctx: ExecContext, positive: Any, **_: Any) -> tuple:
    if not isinstance(positive, str):
        raise NodeInputError("positive", f"positive: expected a STRING, found {type(positive).__name__}")
    return (positive,)


@executor("easy promptConcat")
def prompt_concat(ctx: ExecContext, separator: Any, prompt1: Any = "", prompt2: Any = "", **_: Any) -> tuple:
    for name, value in (("prompt1", prompt1), ("prompt2", prompt2), ("separator", separator)):
        if isinstance(value, torch.Tensor) or isinstance(value, dict):
            raise NodeInputError(name, f"{name}: expected text, found {type(value).__name__}",
                                 f"connect a STRING output to {name}")
    return (_text(prompt1) + _text(separator) + _text(prompt2),)


@executor("easy imageSwitch")
def image_switch(ctx: ExecContext, image_a: Any, image_b: Any, boolean: Any, **_: Any) -> tuple:
    return (switched_image(boolean, ("image_a", image_a), ("image_b", image_b)),)


def _is_latent(value: Any) -> bool:
    return isinstance(value, dict) and "samples" in value


def _latent_batch(first: dict, second: dict) -> dict:
    s1, s2 = first["samples"], second["samples"]
    if s1.ndim != s2.ndim or s1.ndim < 4:
        raise NodeInputError("any_2", f"any_2: cannot batch latents of shapes {list(s1.shape)} and {list(s2.shape)}")
    if s1.shape[1:] != s2.shape[1:]:
        if s1.shape[1:-2] != s2.shape[1:-2]:
            raise NodeInputError("any_2", f"any_2: cannot batch latents of shapes {list(s1.shape)} and "
                                 f"{list(s2.shape)}", "give latents with the same channels (and frames)")
        if s2.ndim == 5:  # video latents: frames into the batch for the 2-D resize, as ComfyUI's common_upscale
            b, c, t = s2.shape[:3]
            flat = s2.movedim(2, 1).reshape(b * t, c, *s2.shape[-2:])
            flat = common_upscale(flat, s1.shape[-1], s1.shape[-2], "bilinear", "center")
            s2 = flat.reshape(b, t, c, *flat.shape[-2:]).movedim(1, 2)
        else:
            s2 = common_upscale(s2, s1.shape[-1], s1.shape[-2], "bilinear", "center")
    out = dict(first)
    out["samples"] = torch.cat((s1, s2), dim=0)
    out["batch_index"] = (list(first.get("batch_index", range(s1.shape[0])))
                          + list(second.get("batch_index", range(s2.shape[0]))))
    return out


@executor("easy batchAnything")
def batch_anything(ctx: ExecContext, any_1: Any = _ABSENT, any_2: Any = _ABSENT, **_: Any) -> tuple:
    if any_1 is None and any_2 is None:
        raise NodeInputError("any_1", "any_1 and any_2: nothing is connected", "connect the values to batch")
    if isinstance(any_1, torch.Tensor) or isinstance(any_2, torch.Tensor):
        if any_1 is None or any_2 is None:
            return (any_2 if any_1 is None else any_1,)
        if not isinstance(any_1, torch.Tensor) or not isinstance(any_2, torch.Tensor):
            name = "any_2" if isinstance(any_1, torch.Tensor) else "any_1"
            raise NodeInputError(name, f"{name}: cannot batch a tensor with {type(any_1 if name == 'any_1' else any_2).__name__}")
        if any_1.ndim != 4 or any_2.ndim != 4 or any_1.shape[-1] != any_2.shape[-1]:
            raise NodeInputError("any_2", f"any_2: cannot batch images of shapes {list(any_1.shape)} and "
                                 f"{list(any_2.shape)}", "give two IMAGE batches with the same channels")
        if any_1.shape[1:] != any_2.shape[1:]:
            any_2 = common_upscale(any_2.movedim(-1, 1), any_1.shape[2], any_1.shape[1], "bilinear",
                                   "center").movedim(1, -1)
        return (torch.cat((any_1, any_2.to(any_1.device, any_1.dtype)), 0),)
    scalar = (str, float, int)
    if isinstance(any_1, scalar):
        if any_2 is None:
            return (any_1,)
        if isinstance(any_2, tuple):
            return (any_2 + (any_1,),)
        if isinstance(any_2, list):
            return (any_2 + [any_1],)
        return ([any_1, any_2],)
    if isinstance(any_2, scalar):
        if any_1 is None:
            return (any_2,)
        if isinstance(any_1, tuple):
            return (any_1 + (any_2,),)
        if isinstance(any_1, list):
            return (any_1 + [any_2],)
        return ([any_2, any_1],)
    if _is_latent(any_1) and (any_2 is None or _is_latent(any_2)):
        return (any_1 if any_2 is None else _latent_batch(any_1, any_2),)
    if _is_latent(any_2) and (any_1 is None or _is_latent(any_1)):
        return (any_2 if any_1 is None else _latent_batch(any_2, any_1),)
    if any_1 is None:
        return (any_2,)
    if any_2 is None:
        return (any_1,)
    try:
        return (any_1 + any_2,)
    except TypeError:
        raise NodeInputError("any_2", f"any_2: cannot batch {type(any_1).__name__} with {type(any_2).__name__}",
                             "connect two IMAGEs, two LATENTs, or lists/values") from None
