"""Classic ("V1") ComfyUI nodes: ``INPUT_TYPES`` / ``RETURN_TYPES`` class attributes.

Turns the evaluated ``INPUT_TYPES()`` dict into :class:`InputSpec` rows the way the
ComfyUI frontend reads it, because that is what decides the order and meaning of the
``widgets_values`` a workflow file stores:

- ``("INT", {...})`` is a widget of that type; ``(["a", "b"], {...})`` and
  ``("COMBO", {"options": [...]})`` are combos; a combo over
  ``folder_paths.get_filename_list(f)`` takes any file of folder ``f``;
- an INT named ``seed`` or ``noise_seed`` gets a ``control_after_generate`` widget even
  when the dict does not ask for one (the frontend adds it by name);
- anything the interpreter could not work out becomes a combo with
  ``options_dynamic`` (nearly always a list computed at import time), never an error.
"""

from __future__ import annotations

from typing import Any

from wfrun.specs.spec import WIDGET_TYPES, InputSpec, OutputSpec, Signature

from .static_eval import (
    UNKNOWN,
    BoundMethod,
    ClassInfo,
    ExternalRef,
    FolderList,
    FunctionRef,
    Interpreter,
    is_known,
)

SECTIONS = ("required", "optional", "hidden")
#: Input names the frontend always gives a ``control_after_generate`` widget.
SEED_NAMES = frozenset({"seed", "noise_seed"})


def call_classmethod(interp: Interpreter, cls: ClassInfo, name: str) -> Any:
    """Call ``cls.name()`` the way ComfyUI does (no arguments)."""
    fn = cls.lookup(name)
    if isinstance(fn, FunctionRef):
        if fn.kind == "staticmethod":
            return interp.call_guarded(fn)
        # classmethod, or a plain function that ComfyUI would call on the class anyway
        return interp.call_guarded(BoundMethod(fn, cls))
    return UNKNOWN


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _json_value(value: Any) -> Any:
    """Keep only plain JSON-able data (a default that is a tensor stays unknown)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)) and is_known(value):
        items = [_json_value(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    if isinstance(value, dict) and is_known(value) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v) for k, v in value.items()}
    return None


def folder_spec(value: FolderList) -> dict[str, Any]:
    """``options_from`` names the model folder; several concatenated folders are
    joined with ``,`` in declaration order (``unet_gguf,diffusion_models``)."""
    out: dict[str, Any] = {}
    if value.folders:
        out["options_from"] = ",".join(value.folders)
    if value.fixed:
        out["options"] = [_json_value(v) for v in value.fixed]
    if value.dynamic or not value.folders:
        out["options_dynamic"] = True
    return out


def combo_fields(options: Any) -> dict[str, Any] | None:
    """Combo fields for an options value, or None when it is not list-like at all."""
    if isinstance(options, FolderList):
        return folder_spec(options)
    if isinstance(options, (list, tuple)):
        if is_known(options) and all(isinstance(o, (str, int, float, bool)) or o is None for o in options):
            return {"options": list(options)}
        return {"options_dynamic": True}
    if isinstance(options, (set, frozenset)):
        return {"options_dynamic": True}
    return None


def input_spec(name: str, section: str, value: Any) -> InputSpec:
    """One ``INPUT_TYPES`` entry -> InputSpec."""
    head: Any = value
    opts: dict[str, Any] = {}
    if isinstance(value, (tuple, list)):
        if not value:
            head = UNKNOWN
        else:
            head = value[0]
            if len(value) > 1 and isinstance(value[1], dict):
                opts = value[1]
    fields: dict[str, Any] = {"name": name, "section": section}
    if isinstance(head, str):
        fields["type"] = head
        if head == "COMBO":
            combo = combo_fields(opts.get("options", UNKNOWN)) or {"options_dynamic": True}
            fields.update(combo)
    else:
        combo = combo_fields(head)
        fields["type"] = "COMBO"
        if combo is not None:
            fields.update(combo)
        elif section == "hidden":
            fields["type"] = "*"
        else:
            # Not evaluable: nearly always a combo over a list computed at import time.
            fields["options_dynamic"] = True
    for key in ("default",):
        if key in opts:
            v = _json_value(opts[key])
            if v is not None:
                fields[key] = v
    for key in ("min", "max", "step"):
        v = _number(opts.get(key))
        if v is not None:
            fields[key] = v
    if opts.get("multiline") is True:
        fields["multiline"] = True
    if opts.get("forceInput") is True:
        fields["force_input"] = True
    if isinstance(opts.get("widgetType"), str) and fields["type"] not in WIDGET_TYPES:
        fields["widget_type"] = opts["widgetType"]
    if opts.get("lazy") is True:
        fields["lazy"] = True
    if opts.get("image_upload") is True:
        fields["image_upload"] = True
    if opts.get("control_after_generate") is True or (
        fields["type"] == "INT" and name in SEED_NAMES
    ):
        fields["control_after_generate"] = True
    return InputSpec(**fields)


def inputs_from_dict(result: Any) -> list[InputSpec] | None:
    """All sections in the frontend's order: required, then optional, then hidden."""
    if not isinstance(result, dict):
        return None
    inputs: list[InputSpec] = []
    for section in SECTIONS:
        if section not in result:
            continue
        entries = result[section]
        if not isinstance(entries, dict) or not all(isinstance(name, str) for name in entries):
            # A section we cannot read would silently drop inputs and shift every
            # widget after them; better to say the signature is unknown.
            return None
        for name, value in entries.items():
            inputs.append(input_spec(name, section, value))
    return inputs


def output_type(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, FolderList)):
        return "COMBO"
    return "*"


def outputs(cls: ClassInfo) -> list[OutputSpec]:
    types = cls.lookup("RETURN_TYPES", ())
    if isinstance(types, (str, ExternalRef)) or types is UNKNOWN:
        types = (types,) if isinstance(types, str) else ()
    if not isinstance(types, (list, tuple)):
        return []
    names = cls.lookup("RETURN_NAMES", None)
    is_list = cls.lookup("OUTPUT_IS_LIST", None)
    out = []
    for i, t in enumerate(types):
        spec: dict[str, Any] = {"type": output_type(t)}
        if isinstance(names, (list, tuple)) and i < len(names) and isinstance(names[i], str):
            spec["name"] = names[i]
        if isinstance(is_list, (list, tuple)) and i < len(is_list) and is_list[i] is True:
            spec["is_list"] = True
        out.append(OutputSpec(**spec))
    return out


def v1_node(interp: Interpreter, cls: ClassInfo) -> tuple[Signature | None, dict[str, Any]]:
    """The signature and metadata of a V1 node class; signature None if unreadable."""
    result = call_classmethod(interp, cls, "INPUT_TYPES")
    inputs = inputs_from_dict(result)
    meta: dict[str, Any] = {}
    category = cls.lookup("CATEGORY", None)
    if isinstance(category, str):
        meta["category"] = category
    if cls.lookup("DEPRECATED", False) is True:
        meta["deprecated"] = True
    if inputs is None:
        return None, meta
    sig = Signature(inputs=inputs, outputs=outputs(cls), output_node=cls.lookup("OUTPUT_NODE", False) is True,
                    input_is_list=cls.lookup("INPUT_IS_LIST", False) is True)
    return sig, meta
