"""Numbers shown the way a user writes them, in messages about limits and values.

Node specs store every min/max as a JSON float (ComfyUI's ``/object_info`` does), so an
INT seed's max of ``0xffffffffffffffff`` arrives as ``1.8446744073709552e+19`` and a
``steps`` min of 1 as ``1.0``. A message saying "use a value between 0 and
1.8446744073709552e+19" is one the user cannot type back; these helpers turn such bounds
into the number the pack author wrote, and floats into their shortest clean form
(``0.3``, not ``0.30000000000000004``).
"""

from __future__ import annotations

import math
from typing import Any

#: Floats represent every whole number up to here exactly.
_EXACT = 2**53


def spec_bound(bound: float | int | None, input_type: str, upper: bool) -> float | int | None:
    """The bound a spec means: a whole number for an INT input, a clean float otherwise.

    Above 2**53 a float cannot hold ``2**k - 1``; it holds ``2**k``. Pack authors write
    such limits as all-ones masks (``0xffffffffffffffff``), so an upper bound that is a
    power of two that large is read as that power minus one."""
    if bound is None or isinstance(bound, bool) or not isinstance(bound, (int, float)):
        return None
    if isinstance(bound, float) and not math.isfinite(bound):
        return None
    if input_type != "INT":
        return clean_float(float(bound))
    if isinstance(bound, float) and not bound.is_integer():
        return math.floor(bound) if upper else math.ceil(bound)
    whole = int(bound)
    if upper and isinstance(bound, float) and whole >= _EXACT and whole & (whole - 1) == 0:
        return whole - 1
    return whole


def clean_float(value: float) -> float:
    """``value`` rounded to 15 significant digits, which drops binary noise
    (``0.1 + 0.2`` → ``0.3``) and keeps every value a person typed."""
    if not math.isfinite(value):
        return value
    return float(f"{value:.15g}")


def plain(value: Any) -> Any:
    """A number as a JSON value the way a user writes it (``30`` for ``30.0``, ``0.3``
    for ``0.30000000000000004``), for the found/expected fields of a diagnostic; JSON
    has one number type, so nothing is lost. Anything else comes back unchanged."""
    if isinstance(value, float) and math.isfinite(value):
        cleaned = clean_float(value)
        return int(cleaned) if cleaned.is_integer() and abs(cleaned) < _EXACT else cleaned
    return value


def shown(value: Any) -> str:
    """A number as the user would write it: ``5`` not ``5.0``, ``0.3`` not
    ``0.30000000000000004``, ``true`` for a boolean; anything else as JSON would show it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        cleaned = clean_float(value)
        if cleaned.is_integer() and abs(cleaned) < _EXACT:
            return str(int(cleaned))
        return repr(cleaned)
    return repr(value)
