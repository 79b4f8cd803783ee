"""mxToolkit's sliders (``mxtoolkit.py``): constants a user drags in the UI.

The frontend (``js/Slider.js``) keeps the slider's value in two hidden widgets, an INT
``Xi`` and a FLOAT ``Xf``, and a flag ``isfloatX`` (1 when the slider has decimals); the
node outputs ``Xf`` when the flag is set, else ``Xi``. ``mxSlider2D`` does the same for X
and Y. The outputs are typed ``*`` and feed INT and FLOAT inputs alike.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor


def pick(whole: Any, decimal: Any, is_float: Any) -> Any:
    """The slider's value: the FLOAT widget when the flag is set, else the INT one."""
    return decimal if is_float > 0 else whole


@executor("mxSlider")
def mx_slider(ctx: ExecContext, Xi: int, Xf: float, isfloatX: int, **_: Any) -> tuple:  # noqa: N803 (the pack's names)
    return (pick(Xi, Xf, isfloatX),)


@executor("mxSlider2D")
def mx_slider_2d(ctx: ExecContext, Xi: int, Xf: float, Yi: int, Yf: float, isfloatX: int, isfloatY: int,  # noqa: N803
                 **_: Any) -> tuple:
    return (pick(Xi, Xf, isfloatX), pick(Yi, Yf, isfloatY))
