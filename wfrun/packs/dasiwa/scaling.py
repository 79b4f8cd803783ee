"""DaSiWa Resolution Scale Calculator (``nodes/scaling_nodes.py``) in its forms from
9eac62a (2026-04-03) to the rework of 6fb01e3 (2026-06-05): method, precision and
resolution presets, no_scale, scale_from_image, aspect preset, swap, manual aspect, mode,
and from 37f2ee4 (2026-05-09) a custom divisor.

It picks a target area in megapixels (10**6 pixels) from a preset table, an aspect ratio
from the image (its width and height) or from an aspect preset (the manual width:height for
``CUSTOM``; ``swap_aspect`` exchanges them, for presets only), and gives
``sqrt(area * ratio)`` by ``sqrt(area / ratio)``, rounded to a multiple of 32 in the
"WAN/LTX (Div32)" mode, of 64 in "LTX 2-Stage (Div64)" (995e5ee), of ``custom_divisor`` in
"CUSTOM" (37f2ee4), or to a whole number ("Standard"). The float outputs are the rounded
values; the integer outputs are at least a floor: 32 at 9eac62a, 64 at 995e5ee, the mode's
divisor (1 for Standard) from 37f2ee4. ``no_scale`` gives the source width and height as
they are (an aspect preset's own small numbers, when not from an image).

Reading: in-memory migration rebinds the node to the newest layout by name, which has no
slot for the inputs the rework renamed (method, the presets, aspect_preset, swap_aspect,
the manual aspect), so those are read from the node's saved ``widgets_values`` bound with
the first pre-rework signature they fit exactly (10 widgets: 9eac62a or 995e5ee; 11:
37f2ee4); inputs the node gets by name (links, an API prompt) take precedence.

A 10-widget save fits both 9eac62a and 995e5ee (and 995e5ee and 37f2ee4 share a date), so
the saved form is not always known; their floors are where they differ: a result that
depends on it (a side under 64 pixels, only with extreme aspect ratios) is refused. The rework of 6fb01e3 (other presets, then 1024**2-pixel
megapixels from 112e6d1) is refused by its date: none of this set's files uses it.
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.graph.widgets import Choice, bind, fit as fit_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_widgets
from wfrun.specs.registry import default_registry

NODE = "DaSiWa_ResolutionScaleCalculator"

PRECISION_PRESETS = {
    "0.26 MP - Preview": 0.26, "0.36 MP - Small": 0.36, "0.52 MP - SD": 0.52, "0.65 MP - Balanced": 0.65,
    "0.83 MP - HD": 0.83, "1.05 MP - HD+": 1.05, "1.20 MP - HD++": 1.20, "1.35 MP - 2K lite": 1.35,
    "1.55 MP - 2K": 1.55, "1.65 MP - 2K+": 1.65, "1.75 MP - QHD": 1.75, "2.10 MP - FHD": 2.10,
    "3.30 MP - QHD+": 3.30, "4.75 MP - 2K Pro": 4.75, "6.50 MP - Production": 6.50, "8.30 MP - UHD": 8.30,
}
RESOLUTION_PRESETS = {"360p": 0.23, "480p": 0.38, "720p": 0.92, "1080p": 2.07, "1440p": 3.68, "2K": 4.19, "4K": 8.29}
ASPECT_PRESETS = {"1:1 - Square": (1, 1), "2:3 - Classic": (2, 3), "3:4 - Photo": (3, 4), "5:8 - Tall": (5, 8),
                  "9:16 - Social": (9, 16), "9:21 - Cinema": (9, 21), "CUSTOM": (0, 0)}
#: The Div64 mode and the floor of 64 came with 995e5ee; CUSTOM and per-mode floors with 37f2ee4.
DIV64_DATE = "2026-05-09"
#: 6fb01e3 reworked the inputs (refused).
REWORK_DATE = "2026-06-05"


def _source_size(scale_from_image: bool, image: Any, aspect_preset: str, swap_aspect: bool,
                 manual_w: int, manual_h: int) -> tuple[float, float]:
    if scale_from_image:
        if image is None:
            raise NodeInputError("image", "image: 'scale_from_image' is on, but no image is connected "
                                 "(the pack raises the same)", "connect an image or turn scale_from_image off")
        shape = getattr(image, "shape", ())
        if len(shape) != 4:
            raise NodeInputError("image", f"image: expected a batch of images [frames, height, width, 3], "
                                 f"found shape {tuple(shape)}")
        return float(shape[2]), float(shape[1])
    if aspect_preset == "CUSTOM":
        w, h = float(manual_w), float(manual_h)
    else:
        w, h = ASPECT_PRESETS.get(aspect_preset, (1, 1))
    return (h, w) if swap_aspect else (w, h)


OLD_NAMES = ("method", "precision_presets", "resolution_presets", "aspect_preset", "swap_aspect",
             "manual_aspect_width", "manual_aspect_height")


def _floor_rule(sig: Any) -> str:
    """How a pre-rework form floors its integer outputs: "32" (9eac62a), "64" (995e5ee) or
    "mode" (37f2ee4: the mode's divisor)."""
    if any(i.name == "custom_divisor" for i in sig.inputs):
        return "mode"
    return "64" if sig.date >= DIV64_DATE else "32"


def _pre_rework_inputs(ctx: ExecContext, given: dict[str, Any]) -> tuple[dict[str, Any], set[str]] | None:
    """The inputs by a pre-rework form's names and the floor rules of the forms they fit
    (see Reading), or None."""
    spec = default_registry().get(NODE)
    if spec is None:
        return None
    saved = saved_widgets(ctx.workflow_json, ctx.node_id)
    found: dict[str, Any] | None = None
    rules: set[str] = set()
    for index, sig in enumerate(spec.signatures):
        if sig.date >= REWORK_DATE or not saved or not fit_values(sig, index, saved).perfect:
            continue
        values = bind(spec, saved, Choice(index, "shape")).values
        if found is None:
            found = {**values, **{k: v for k, v in given.items()
                                  if v is not None and (k in values or k == "image") and k not in OLD_NAMES}}
        rules.add(_floor_rule(sig))
    if found is not None:
        return found, rules
    if all(given.get(name) is not None for name in OLD_NAMES):  # an API prompt names them
        rules = {_floor_rule(sig) for sig in spec.signatures if sig.date == ctx.saved_date < REWORK_DATE}
        if rules:
            return given, rules
    return None


@executor(NODE, pure=True)
def resolution_scale(ctx: ExecContext, **given: Any) -> tuple:
    found = _pre_rework_inputs(ctx, given)
    if found is None:
        raise NodeInputError("resolution_preset", "the reworked DaSiWa Resolution Scale Calculator (2026-06-05 and "
                             "later: resolution_preset, aspect_preset_when_not_image, ...) is not implemented",
                             "replace it by fixed width and height")
    values, rules = found
    results = {rule: _calculate(values, rule) for rule in sorted(rules)}
    if len(set(results.values())) > 1:
        raise NodeInputError("mode", f"the node's saved widgets fit forms of it that give different sizes here "
                             f"({', '.join(f'{r[0]}x{r[1]}' for r in results.values())}: their floors of 32 or 64 "
                             "pixels differ) and the file does not say which saved it",
                             "choose a larger preset or a squarer aspect")
    return next(iter(results.values()))


def _calculate(v: dict[str, Any], rule: str) -> tuple:
    no_scale, scale_from_image, mode = bool(v["no_scale"]), bool(v["scale_from_image"]), v["mode"]
    source_w, source_h = _source_size(scale_from_image, v.get("image"), v["aspect_preset"], bool(v["swap_aspect"]),
                                      v["manual_aspect_width"], v["manual_aspect_height"])
    if no_scale:
        return int(source_w), int(source_h), float(int(source_w)), float(int(source_h))
    if source_h == 0:
        raise NodeInputError("aspect_preset", "aspect_preset: the aspect ratio has a height of 0")
    ratio = source_w / source_h
    if v["method"] == "Use Resolution Presets":
        area = RESOLUTION_PRESETS.get(v["resolution_presets"], 2.07)
    else:
        area = PRECISION_PRESETS.get(v["precision_presets"], 0.52)
    pixels = area * 1_000_000
    calc_w, calc_h = math.sqrt(pixels * ratio), math.sqrt(pixels / ratio)
    divisor = {"LTX 2-Stage (Div64)": 64, "WAN/LTX (Div32)": 32, "Standard": 1}.get(mode)
    if mode == "CUSTOM":
        divisor = max(1, int(v.get("custom_divisor", 8)))
    elif divisor is None:
        raise NodeInputError("mode", f"unknown mode {mode!r}")
    w, h = int(round(calc_w / divisor) * divisor), int(round(calc_h / divisor) * divisor)
    floor = divisor if mode == "CUSTOM" else {"32": 32, "64": 64}.get(rule, divisor)  # CUSTOM: 37f2ee4 only
    return max(w, floor), max(h, floor), float(w), float(h)
