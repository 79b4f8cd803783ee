"""JPS Nodes (``jps_nodes.py``): Text Prompt (JPS) gives its text; Image Switch (JPS) gives
``img_<select>`` for ``select`` 2 … 5 and ``img_1`` for any other value (an unconnected
chosen input gives ``None``, as in the pack; ``img_1`` itself must be connected, since the
pack's function requires it); Get Image Size (JPS) gives width and height; Resolution Multiply (JPS) gives width and height each
times the whole ``factor`` (the pack's ``int`` of each); Text Concatenate (JPS) joins its
non-empty texts with the chosen delimiter."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

_ABSENT: Any = object()


@executor("Text Prompt (JPS)")
def text_prompt(ctx: ExecContext, text: Any, **_: Any) -> tuple:
    if not isinstance(text, str):
        raise NodeInputError("text", f"text: expected a STRING, found {type(text).__name__}")
    return (text,)


@executor("Image Switch (JPS)")
def image_switch(ctx: ExecContext, select: Any, img_1: Any = _ABSENT, **images: Any) -> tuple:
    if img_1 is _ABSENT:
        raise NodeInputError("img_1", "img_1: nothing is connected", "connect an image to img_1 (the pack requires it)")
    if isinstance(select, bool) or not isinstance(select, (int, float)):
        raise NodeInputError("select", f"select: expected a whole number, found {select!r}")
    if select in (2, 3, 4, 5):
        return (images.get(f"img_{int(select)}"),)
    return (img_1,)


@executor("Get Image Size (JPS)")
def get_image_size(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "image: expected an IMAGE [frames, height, width, channels]",
                             "connect an IMAGE output to 'image'")
    return int(image.shape[2]), int(image.shape[1])


def _whole(name: str, value: Any) -> int:
    """The pack calls ``int()`` on each value; a bool or a non-number is a user error here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    return int(value)


@executor("Resolution Multiply (JPS)")
def resolution_multiply(ctx: ExecContext, width: Any, height: Any, factor: Any, **_: Any) -> tuple:
    f = _whole("factor", factor)
    return _whole("width", width) * f, _whole("height", height) * f


_DELIMITERS = {"none": "", "space": " ", "comma": ", "}


@executor("Text Concatenate (JPS)", pure=True)
def text_concatenate(ctx: ExecContext, delimiter: Any, text1: Any = None, text2: Any = None, text3: Any = None,
                     text4: Any = None, text5: Any = None, **_: Any) -> tuple:
    """The non-empty texts of text1 … text5, in that order, joined by the delimiter (none,
    one space, or a comma and a space); unconnected and empty texts are skipped, as the
    pack's truthiness tests skip them, so no delimiter is doubled or left at an end."""
    if delimiter not in _DELIMITERS:
        raise NodeInputError("delimiter", f"delimiter: {delimiter!r} is not one of none, space, comma")
    parts = []
    for name, value in (("text1", text1), ("text2", text2), ("text3", text3), ("text4", text4), ("text5", text5)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
        if value:
            parts.append(value)
    return (_DELIMITERS[delimiter].join(parts),)
