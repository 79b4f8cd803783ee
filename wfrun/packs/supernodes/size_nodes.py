"""SuperNodes' size helpers, as at 0.1.8 (``tools/get_common_aspect_ratio.py``,
``qol.py``/``tools/image_size_calculator.py``).

* ``GetCommonAspectRatio``: of the ratios switched on (1:1, 4:3, 3:2, 5:4, 16:9, 16:10,
  21:9, 2:1, 1.85:1 as 37:20, 2.39:1 as 239:100; 1:1 alone when none is on), the one whose
  long-over-short value is nearest the input's (the first on ties), turned to the input's
  orientation (portrait when height > width). Outputs its two terms.
* ``ImageSizeCalculator``: ``size`` is the longer side (``max``) or the shorter (``min``) of
  the ratio ``aspect_w:aspect_h``, the other side follows; both rounded to the nearest
  multiple of ``multiple_of`` (Python's ``round``, halves to even) and at least one multiple.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

RATIOS = {"1:1": (1, 1), "4:3": (4, 3), "3:2": (3, 2), "5:4": (5, 4), "16:9": (16, 9), "16:10": (16, 10),
          "21:9": (21, 9), "2:1": (2, 1), "1.85:1": (37, 20), "2.39:1": (239, 100)}


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NodeInputError(name, f"expected a whole number of at least 1, found {value!r}")
    return value


@executor("GetCommonAspectRatio")
def get_common_aspect_ratio(ctx: ExecContext, width: Any, height: Any, **switches: Any) -> tuple:
    width, height = _positive(width, "width"), _positive(height, "height")
    enabled = {name: terms for name, terms in RATIOS.items() if switches.get(name, True)} or {"1:1": (1, 1)}
    portrait = height > width
    value = height / width if portrait else width / height
    best = min(enabled.values(), key=lambda t: abs(value - max(t) / min(t)))  # min keeps the first on ties
    return (min(best), max(best)) if portrait else (max(best), min(best))


@executor("ImageSizeCalculator")
def image_size_calculator(ctx: ExecContext, aspect_w: Any, aspect_h: Any, mode: Any, size: Any, multiple_of: Any,
                          **_: Any) -> tuple:
    aspect_w, aspect_h = _positive(aspect_w, "aspect_w"), _positive(aspect_h, "aspect_h")
    size, multiple = _positive(size, "size"), _positive(multiple_of, "multiple_of")
    if mode not in ("max", "min"):
        raise NodeInputError("mode", f"{mode!r} is not max or min")
    ratio = aspect_w / aspect_h
    width_set = aspect_w >= aspect_h if mode == "max" else aspect_w <= aspect_h
    w, h = (size, size / ratio) if width_set else (size * ratio, size)
    return (max(multiple, int(round(w / multiple)) * multiple), max(multiple, int(round(h / multiple)) * multiple))
