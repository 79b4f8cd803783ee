"""Binding positional ``widgets_values`` to named inputs, with the right signature.

The frontend saves widget values as a list in the order the node declared its widget
inputs *when the file was saved*, plus hidden extras: a ``control_after_generate`` value
("fixed", "randomize", …) after seed widgets and an "image" upload value after
the last required widget of a node with an upload button (LoadImage's file combo). If the node's inputs changed since, positions shift; so we first
pick the signature the file was saved with, then bind by position.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Any, Literal

from wfrun.specs.spec import WIDGET_TYPES, InputSpec, NodeSpec, Signature

CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})

#: Keys of dict-shaped ``widgets_values`` that only drive the frontend's preview.
DICT_UI_ONLY_KEYS = frozenset({"videopreview"})

SlotKind = Literal["value", "control", "upload"]


@dataclass(frozen=True)
class WidgetSlot:
    """One position in ``widgets_values``."""

    kind: SlotKind
    input: InputSpec


def widget_slots(signature: Signature, legacy_force_input: bool = False,
                 values: list[Any] | None = None) -> list[WidgetSlot]:
    """The positions ``widgets_values`` has for a node saved with ``signature``.

    Frontends before mid-2025 drew ``forceInput`` widgets as widgets converted to
    sockets, so their values were saved too (``legacy_force_input``); later ones save
    nothing for them. Files of both eras exist. A ``DynamicCombo``'s nested widgets
    follow it, for the option the saved ``values`` chose.
    """
    slots: list[WidgetSlot] = []
    uploads: list[WidgetSlot] = []
    for spec in signature.inputs:
        if uploads and spec.section != "required":
            slots.extend(uploads)
            uploads = []
        forced = legacy_force_input and spec.force_input and spec.section != "hidden" \
            and spec.type in WIDGET_TYPES
        if not spec.is_widget and not forced:
            continue
        _add_slots(slots, spec, values, uploads)
    return slots + uploads


def _add_slots(slots: list[WidgetSlot], spec: InputSpec, values: list[Any] | None,
               uploads: list[WidgetSlot]) -> None:
    """The slots of one widget input. Its upload button's value goes to ``uploads``: the
    frontend adds the button as an ``upload`` input at the end of the *required* inputs,
    so it is saved after the last required widget (LoadImageMask: file, channel, "image";
    a node with optional widgets: file, required ones, "image", optional ones)."""
    position = len(slots)
    slots.append(WidgetSlot("value", spec))
    if spec.control_after_generate:
        slots.append(WidgetSlot("control", spec))
    if spec.image_upload:
        uploads.append(WidgetSlot("upload", spec))
    if spec.dynamic and values is not None and position < len(values):
        chosen = values[position]
        for nested in spec.dynamic.get(chosen, []) if isinstance(chosen, str) else []:
            if nested.is_widget:
                _add_slots(slots, nested.model_copy(update={"name": f"{spec.name}.{nested.name}"}), values, uploads)


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
        return value is None or (isinstance(value, str) and value in CONTROL_VALUES)
    if slot.kind == "upload":
        return value is None or isinstance(value, str)
    return value_kind_fits(slot.input, value)


_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def _is_display_only(value: Any) -> bool:
    """Values of widgets that only show something: buttons (``null``), empty
    placeholders (``""``), HTML info panels some packs add in JavaScript (KJNodes'
    resize info, WanVideoWrapper's LoRA metadata), and a list of on/off toggles a frontend
    extension keeps on any node (realworld 057's CLIPTextEncode saves ``[false, true]``
    after its text; no ComfyUI widget holds a list of booleans), and dicts: no ComfyUI
    widget type saves one, while an extension's own widgets do (rgthree's Power Lora
    Loader saves its header, one ``{on, lora, strength, strengthTwo}`` per row and its
    button as dicts past its declared inputs; its executor reads them itself), and lists of
    dicts, empty ones too (the LoRA Manager's ``loras`` widget of rows, whose custom type
    wfrun does not count as a widget; its executor reads it itself), and hex colours: the
    frontend's colour pickers on a node (ComfyUI's InfiniteTalk template saves its Painter
    nodes with a second ``"#000000"`` after ``bg_color``, a brush colour no version of the
    node declares)."""
    if isinstance(value, str) and _HEX_COLOUR.fullmatch(value):
        return True
    if isinstance(value, dict):
        return True
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return True
    if isinstance(value, list) and value and all(isinstance(v, bool) for v in value):
        return True
    return value in ("", None) or (isinstance(value, str) and value.lstrip().startswith("<"))


def trim_trailing_empties(values: list[Any], slot_count: int, signature: Signature | None = None) -> list[Any]:
    """Drop display-only values past the last slot.

    The frontend assigns saved values to widgets by position and ignores extras, and the
    pack author's own files have such values at the end, so they say nothing about the
    signature. With ``signature``, also the text of the frontend's progress-text preview
    (:func:`reports_progress_text`).
    """
    end = len(values)
    if (signature is not None and end == slot_count + 1 and isinstance(values[-1], str)
            and reports_progress_text(signature)):
        end -= 1
    if signature is not None and end > slot_count and types_its_options(signature):
        end = slot_count
    while end > slot_count and _is_display_only(values[end - 1]):
        end -= 1
    return values[:end]


def types_its_options(signature: Signature) -> bool:
    """Whether the node's one widget is a combo whose options the user types in the
    frontend (core CustomCombo: a COMBO with an empty fixed option list). The frontend saves
    the chosen index and the typed options after the choice (``[choice, index, option1, …,
    ""]``); they are the frontend's own, bound to no input."""
    widgets = [i for i in signature.inputs if i.is_widget]
    return (len(widgets) == 1 and widgets[0].type == "COMBO" and widgets[0].options == []
            and widgets[0].options_from is None and not widgets[0].options_dynamic)


def reports_progress_text(signature: Signature) -> bool:
    """Whether a node can show a progress text: ComfyUI sends it by the node's id, so such a
    node takes the hidden ``UNIQUE_ID`` input (core's ``GetImageSize`` shows "width: …,
    height: …\n batch size: …" so). The frontend shows the text in a widget of its own and
    saves it as one more string after the node's widgets (pubcol 039); ComfyUI never
    passes it to the node, so a single trailing string there is that text."""
    return any(i.section == "hidden" and i.type == "UNIQUE_ID" for i in signature.inputs)


@dataclass
class Fit:
    """How well a list of saved values fits one signature."""

    signature: Signature
    index: int
    #: saved value count (after trimming trailing empties) minus the slot count
    surplus: int
    kind_matches: int
    option_matches: int
    compared: int
    legacy: bool = False

    @property
    def kinds_ok(self) -> bool:
        return self.kind_matches == self.compared

    @property
    def perfect(self) -> bool:
        return self.surplus == 0 and self.kinds_ok

    @property
    def short(self) -> bool:
        """Fewer values than slots, all of the right kind: saved before inputs were added
        at the end; the frontend gives the new widgets their defaults."""
        return self.surplus < 0 and self.kinds_ok

    def score(self) -> tuple:
        return (self.perfect, self.surplus == 0, self.short, self.kind_matches - abs(self.surplus),
                self.option_matches)


def has_forced_widgets(signature: Signature) -> bool:
    return any(i.force_input and i.type in WIDGET_TYPES for i in signature.inputs)


def fit(signature: Signature, index: int, values: list[Any], legacy: bool = False) -> Fit:
    slots = widget_slots(signature, legacy, values)
    values = trim_trailing_empties(values, len(slots), signature)
    pairs = list(zip(slots, values))
    kinds = sum(1 for s, v in pairs if slot_fits(s, v))
    options = sum(1 for s, v in pairs if s.kind == "value" and value_in_options(s.input, v))
    return Fit(signature, index, len(values) - len(slots), kinds, options, len(pairs), legacy)


@dataclass
class Binding:
    """The outcome of binding one node's saved widgets."""

    signature: Signature
    values: dict[str, Any] = field(default_factory=dict)
    unbound: list[Any] = field(default_factory=list)
    #: How the saved values fit the chosen signature: "exact", "kinds" (right count, some
    #: values of the wrong kind), "short" (inputs added since), or "mismatch".
    fit: str = "exact"

    @property
    def exact(self) -> bool:
        return self.fit == "exact"
    #: How the signature was chosen (see :class:`Choice`).
    chosen_by: str = "latest"
    legacy_force_input: bool = False


@dataclass(frozen=True)
class Choice:
    """Which signature (and slot layout) a node's saved values are read with."""

    index: int
    how: str  # "ver", "shape", "names", "latest" or "best-effort"
    legacy_force_input: bool = False


def choose_signature(
    spec: NodeSpec,
    values: list[Any] | dict[str, Any] | None,
    ver_index: int | None = None,
    commit_index: dict[str, int] | None = None,
) -> Choice:
    """The signature a node was saved with, and how it was decided.

    ``properties.ver`` (a pack commit) decides when we know that commit's place in the
    pack's history and the values fit; otherwise the newest signature whose widget count
    and value kinds fit best. Each signature is tried in both slot layouts (with and
    without legacy ``forceInput`` slots, see :func:`widget_slots`).
    """
    sigs = spec.signatures
    if isinstance(values, dict):
        return Choice(_choose_by_names(sigs, values), "names")
    values = values or []
    fits = [fit(sig, i, values, legacy) for i, sig in enumerate(sigs) for legacy in (False, True)
            if not legacy or has_forced_widgets(sig)]
    if ver_index is not None and commit_index:
        candidate = None
        for i, sig in enumerate(sigs):
            first = commit_index.get(sig.first_commit or "")
            if first is not None and first <= ver_index:
                candidate = i
        for f in fits:
            if f.index == candidate and f.perfect and not _contradicted(f, fits):
                return Choice(f.index, "ver", f.legacy)
    best = max(fits, key=lambda f: (f.score(), f.index, not f.legacy))
    if best.perfect:
        return Choice(best.index, "shape", best.legacy)
    if not values and not widget_slots(sigs[-1]):
        return Choice(len(sigs) - 1, "latest")
    return Choice(best.index, "best-effort", best.legacy)


def _contradicted(chosen: Fit, fits: list[Fit]) -> bool:
    """Whether the saved values say ``properties.ver`` is stale: a later signature fits
    them just as well and lists more of them among its combo options. Files carry such
    vers (realworld 014 names the wrapper's 2025-02-25 commit ``44c5944`` but saves
    ``base_precision='fp16'``, an option added the next day); reading them with the
    ver's signature would report valid values as unknown options."""
    return any(f.perfect and f.index > chosen.index and f.option_matches > chosen.option_matches
               for f in fits)


def _choose_by_names(sigs: list[Signature], values: dict[str, Any]) -> int:
    """Newest signature missing the fewest saved names (extra keys are dynamic widgets)."""
    best, best_score = len(sigs) - 1, None
    for i, sig in enumerate(sigs):
        names = {w.name for w in sig.widgets}
        score = (-len(names - values.keys()), len(names & values.keys()), i)
        if best_score is None or score > best_score:
            best, best_score = i, score
    return best


def bind(spec: NodeSpec, values: list[Any] | dict[str, Any] | None, choice: Choice) -> Binding:
    """Bind saved widget values to input names as ``choice`` says."""
    signature = spec.signatures[choice.index]
    binding = Binding(signature, chosen_by=choice.how, legacy_force_input=choice.legacy_force_input)
    if isinstance(values, dict):
        # VideoHelperSuite saves a dict; format-specific widgets (crf, pix_fmt, …) are
        # added at run time by the frontend and are real inputs of the queued prompt.
        binding.values = {k: v for k, v in values.items() if k not in DICT_UI_ONLY_KEYS}
        return binding
    slots = widget_slots(signature, choice.legacy_force_input, list(values or []))
    values = trim_trailing_empties(list(values or []), len(slots), signature)
    for slot, value in zip(slots, values):
        if slot.kind == "value":
            binding.values[slot.input.name] = value
    binding.unbound = values[len(slots):]
    how_well = fit(signature, choice.index, values, choice.legacy_force_input)
    binding.fit = ("exact" if how_well.perfect else "short" if how_well.short
                   else "kinds" if how_well.surplus == 0 else "mismatch")
    return binding


def spec_for(registry: Any, class_type: str, properties: Any, values: Any) -> NodeSpec | None:
    """The spec a saved node is read with: the one of the pack its properties name
    (``Registry.get``), unless its saved widgets fit none of that spec's signatures
    while they fit the registry's default spec exactly.

    That happens where ComfyUI replaced a pack's node by a core namesake: since 2025-11-17
    core's widget-less ``wanBlockSwap`` takes the name from orssorbit's pack in every
    install (custom nodes cannot override core names), and the frontend then saves the
    core node's empty widget list under the old node's ``cnr_id``."""
    spec = registry.get(class_type, properties)
    default = registry.get(class_type)
    if spec is None or default is None or spec is default or isinstance(values, dict):
        return spec
    values = list(values) if isinstance(values, list) else []
    if _fits_exactly(spec, values) or not _fits_exactly(default, values):
        return spec
    return default


def _fits_exactly(spec: NodeSpec, values: list[Any]) -> bool:
    return any(fit(sig, i, values, legacy).perfect for i, sig in enumerate(spec.signatures)
               for legacy in (False, True) if not legacy or has_forced_widgets(sig))

