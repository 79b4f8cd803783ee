"""Generic re-binding: saved positions → names → the newest signature's positions.

Once :mod:`history` knows the signature a node was saved with, its values can be read by
name. Writing them back in the newest signature's order repairs every insert, drop and
reorder the pack made since, with no rule. Two safeguards make it trustworthy:

- a value is only ever written into a slot whose type accepts its kind (a boolean never
  lands in a FLOAT); otherwise the slot gets its default and the value is reported;
- a new input gets the default it had *when it was introduced* after the saved signature,
  which is the value a re-save by the pack author at that time got, and so the behaviour
  the node had; later default flips are for new nodes, not for old files.

Display-only values the frontend left past the last slot (``""``, HTML panels) are not
carried into the new layout: the frontend assigns saved values by position, so a stray
``""`` lands in whatever input the pack appends next (that is how WanVideoSampler's
``batched_cfg`` got ``""`` in the pack author's own files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wfrun.graph.widgets import WidgetSlot, trim_trailing_empties, value_kind_fits, widget_slots
from wfrun.specs.spec import WIDGET_TYPES, InputSpec, NodeSpec, Signature

#: The frontend's value for a new seed widget's ``control_after_generate``.
DEFAULT_CONTROL = "randomize"
#: The value LoadImage-style upload widgets save.
DEFAULT_UPLOAD = "image"


@dataclass
class Bound:
    """One node's saved widget values, by input name."""

    values: dict[str, Any] = field(default_factory=dict)
    controls: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, Any] = field(default_factory=dict)
    #: Saved values past the last slot that carry data (reported, never written back).
    extras: list[Any] = field(default_factory=list)
    #: Display-only values past the last slot (dropped, reported).
    trailing: list[Any] = field(default_factory=list)
    #: Saved position of each input name.
    positions: dict[str, int] = field(default_factory=dict)


def bind_saved(signature: Signature, values: list[Any], legacy: bool = False) -> Bound:
    """Read positional ``values`` with the signature they were saved for."""
    slots = widget_slots(signature, legacy, values)
    kept = trim_trailing_empties(list(values), len(slots), signature)
    bound = Bound(trailing=list(values[len(kept):]))
    for position, (slot, value) in enumerate(zip(slots, kept)):
        name = slot.input.name
        if slot.kind == "value":
            bound.values[name] = value
            bound.positions[name] = position
        elif slot.kind == "control":
            bound.controls[name] = value
        else:
            bound.uploads[name] = value
    bound.extras = kept[len(slots):]
    return bound


def default_of(spec: InputSpec) -> Any:
    """The value ComfyUI gives a widget with no saved value."""
    if spec.default is not None:
        return spec.default
    if spec.type == "COMBO" and spec.options:
        return spec.options[0]
    return {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False, "STRING": ""}.get(spec.type)


def introduction_default(spec: NodeSpec, saved_index: int, name: str, target: InputSpec) -> Any:
    """The default ``name`` had in the first signature after ``saved_index`` that has it,
    if that value still fits the target input; else the target's own default."""
    for sig in spec.signatures[saved_index + 1:]:
        found = sig.input(name)
        if found is not None and found.is_widget:
            value = default_of(found)
            if value is not None and value_kind_fits(target, value) and \
                    (target.type != "COMBO" or not target.options or value in target.options):
                return value
            break
    return default_of(target)


@dataclass
class Written:
    """The outcome of writing named values into a signature's layout."""

    values: list[Any]
    #: Inputs that got a default (no saved value), name → value.
    filled: dict[str, Any] = field(default_factory=dict)
    #: Saved values whose kind the target slot does not accept, name → value.
    rejected: dict[str, Any] = field(default_factory=dict)
    #: Saved names the target signature has no widget for, name → value.
    unplaced: dict[str, Any] = field(default_factory=dict)


def target_slots(target: Signature, legacy: bool, named: dict[str, Any]) -> list[WidgetSlot]:
    """The target layout; a DynamicCombo's nested widgets follow the option ``named`` holds."""
    slots: list[WidgetSlot] = []
    uploads: list[WidgetSlot] = []
    for spec in target.inputs:
        if uploads and spec.section != "required":
            slots.extend(uploads)
            uploads = []
        forced = legacy and spec.force_input and spec.section != "hidden" and spec.type in WIDGET_TYPES
        if spec.is_widget or forced:
            _add(slots, spec, named, uploads)
    return slots + uploads


def _add(slots: list[WidgetSlot], spec: InputSpec, named: dict[str, Any], uploads: list[WidgetSlot]) -> None:
    """One widget's slots; an upload button's value goes after the last required widget, as
    :func:`wfrun.graph.widgets.widget_slots` reads it."""
    slots.append(WidgetSlot("value", spec))
    if spec.control_after_generate:
        slots.append(WidgetSlot("control", spec))
    if spec.image_upload:
        uploads.append(WidgetSlot("upload", spec))
    chosen = named.get(spec.name, spec.default)
    if spec.dynamic and isinstance(chosen, str):
        for nested in spec.dynamic.get(chosen, []):
            if nested.is_widget:
                _add(slots, nested.model_copy(update={"name": f"{spec.name}.{nested.name}"}), named, uploads)


def write(target: Signature, bound: Bound, named: dict[str, Any], legacy: bool = False,
          default: Any = None) -> Written:
    """Lay ``named`` values out in ``target``'s widget order.

    ``default(input_spec)`` gives the value for an input with no saved value
    (:func:`default_of` when not given).
    """
    pick = default or default_of
    out = Written([])
    placed: set[str] = set()
    for slot in target_slots(target, legacy, named):
        name = slot.input.name
        if slot.kind == "control":
            out.values.append(bound.controls.get(name, DEFAULT_CONTROL))
            continue
        if slot.kind == "upload":
            out.values.append(bound.uploads.get(name, DEFAULT_UPLOAD))
            continue
        placed.add(name)
        if name in named and value_kind_fits(slot.input, named[name]):
            out.values.append(named[name])
            continue
        if name in named:
            out.rejected[name] = named[name]
        value = pick(slot.input)
        out.filled[name] = value
        out.values.append(value)
    out.unplaced = {k: v for k, v in named.items() if k not in placed}
    return out
