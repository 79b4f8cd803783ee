"""Binding positional ``widgets_values`` to named inputs, with the right signature.

The frontend saves widget values as a list in the order the node declared its widget
inputs *when the file was saved*, plus hidden extras: a ``control_after_generate`` value
("fixed", "randomize", …) after seed widgets and an "image" upload value after
LoadImage's file combo. If the node's inputs changed since, positions shift; so we first
pick the signature the file was saved with, then bind by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from wfrun.nodes.spec import InputSpec, NodeSpec, Signature

CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})

#: Keys of dict-shaped ``widgets_values`` that only drive the frontend's preview.
DICT_UI_ONLY_KEYS = frozenset({"videopreview"})

SlotKind = Literal["value", "control", "upload"]


@dataclass(frozen=True)
class WidgetSlot:
    """One position in ``widgets_values``."""

    kind: SlotKind
    input: InputSpec


def widget_slots(signature: Signature) -> list[WidgetSlot]:
    """The positions ``widgets_values`` has for a node saved with ``signature``."""
    slots: list[WidgetSlot] = []
    for spec in signature.inputs:
        if not spec.is_widget:
            continue
        slots.append(WidgetSlot("value", spec))
        if spec.control_after_generate:
            slots.append(WidgetSlot("control", spec))
        if spec.image_upload:
            slots.append(WidgetSlot("upload", spec))
    return slots


def value_kind_fits(spec: InputSpec, value: Any) -> bool:
    """Whether ``value`` has the JSON kind a widget of this type saves (not its range)."""
    if spec.type == "INT":
        return _is_number(value) and float(value).is_integer()
    if spec.type == "FLOAT":
        return _is_number(value)
    if spec.type == "BOOLEAN":
        return isinstance(value, bool)
    if spec.type == "STRING":
        return isinstance(value, str)
    if spec.type == "COMBO":
        if spec.options and not spec.options_from and not spec.options_dynamic:
            return value in spec.options or isinstance(value, str) == _options_are_str(spec)
        return value is None or isinstance(value, (str, int, float))
    return True


def value_in_options(spec: InputSpec, value: Any) -> bool:
    return bool(spec.options) and value in spec.options


def _options_are_str(spec: InputSpec) -> bool:
    return all(isinstance(o, str) for o in spec.options or [])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def slot_fits(slot: WidgetSlot, value: Any) -> bool:
    if slot.kind == "control":
        return value in CONTROL_VALUES or value is None
    if slot.kind == "upload":
        return value is None or isinstance(value, str)
    return value_kind_fits(slot.input, value)


@dataclass
class Fit:
    """How well a list of saved values fits one signature."""

    signature: Signature
    index: int
    exact_length: bool
    kind_matches: int
    option_matches: int
    total: int

    @property
    def perfect(self) -> bool:
        return self.exact_length and self.kind_matches == self.total

    def score(self) -> tuple:
        return (self.perfect, self.exact_length, self.kind_matches, self.option_matches)


def fit(signature: Signature, index: int, values: list[Any]) -> Fit:
    slots = widget_slots(signature)
    kinds = sum(1 for s, v in zip(slots, values) if slot_fits(s, v))
    options = sum(1 for s, v in zip(slots, values) if s.kind == "value" and value_in_options(s.input, v))
    return Fit(signature, index, len(slots) == len(values), kinds, options, max(len(slots), len(values)))


@dataclass
class Binding:
    """The outcome of binding one node's saved widgets."""

    signature: Signature
    values: dict[str, Any] = field(default_factory=dict)
    unbound: list[Any] = field(default_factory=list)
    #: True when the saved values fit the chosen signature exactly (count and kinds).
    exact: bool = True
    #: How the signature was chosen: "ver", "shape", "names" or "latest".
    chosen_by: str = "latest"


def choose_signature(
    spec: NodeSpec,
    values: list[Any] | dict[str, Any] | None,
    ver_index: int | None = None,
    commit_index: dict[str, int] | None = None,
) -> tuple[int, str]:
    """Index of the signature a node was saved with, and how it was decided.

    ``properties.ver`` (a pack commit) decides when we know that commit's place in the
    pack's history and the values fit; otherwise the newest signature whose widget count
    and value kinds fit best.
    """
    sigs = spec.signatures
    if isinstance(values, dict):
        return _choose_by_names(sigs, values), "names"
    values = values or []
    if ver_index is not None and commit_index:
        candidate = None
        for i, sig in enumerate(sigs):
            first = commit_index.get(sig.first_commit or "")
            if first is not None and first <= ver_index:
                candidate = i
        if candidate is not None and fit(sigs[candidate], candidate, values).perfect:
            return candidate, "ver"
    fits = [fit(sig, i, values) for i, sig in enumerate(sigs)]
    best = max(fits, key=lambda f: (f.score(), f.index))
    if not best.perfect and not values and not widget_slots(sigs[-1]):
        return len(sigs) - 1, "latest"
    return best.index, "shape" if best.perfect else "latest-best-effort"


def _choose_by_names(sigs: list[Signature], values: dict[str, Any]) -> int:
    best, best_score = len(sigs) - 1, None
    for i, sig in enumerate(sigs):
        names = {w.name for w in sig.widgets}
        score = (len(names & values.keys()), -len(names ^ values.keys()), i)
        if best_score is None or score > best_score:
            best, best_score = i, score
    return best


def bind(spec: NodeSpec, values: list[Any] | dict[str, Any] | None, index: int, how: str) -> Binding:
    """Bind saved widget values to input names using signature ``index``."""
    signature = spec.signatures[index]
    binding = Binding(signature, chosen_by=how)
    if isinstance(values, dict):
        # VideoHelperSuite saves a dict; format-specific widgets (crf, pix_fmt, …) are
        # added at run time by the frontend and are real inputs of the queued prompt.
        binding.values = {k: v for k, v in values.items() if k not in DICT_UI_ONLY_KEYS}
        return binding
    values = list(values or [])
    slots = widget_slots(signature)
    for slot, value in zip(slots, values):
        if slot.kind == "value":
            binding.values[slot.input.name] = value
    binding.unbound = values[len(slots):]
    binding.exact = fit(signature, index, values).perfect
    return binding
