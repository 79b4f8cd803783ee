"""ComfyUI "V3" nodes: ``define_schema()`` returning ``io.Schema(...)``.

ComfyUI core's ``comfy_extras`` (and newer packs) declare nodes as
``io.Schema(node_id=..., inputs=[io.Int.Input("x", default=1, min=0), ...],
outputs=[io.Image.Output()], hidden=[io.Hidden.unique_id])``. The interpreter gets two
hooks here that turn those builder calls into plain records instead of running
``comfy_api``; the records are then mapped to the same :class:`InputSpec` rows a V1
node would give, following ``Schema.get_v1_info`` (which is what the frontend sees).

The ``io`` class name -> type string table is read from the tree's own
``comfy_api/latest/_io.py`` decorators when the tree has one (ComfyUI itself); packs
that only import ``comfy_api`` use :data:`IO_TYPES`, the same table taken from ComfyUI.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from wfrun.specs.spec import InputSpec, OutputSpec, Signature

from .static_eval import (
    UNKNOWN,
    ClassInfo,
    ExternalRef,
    FunctionRef,
    Interpreter,
)
from .v1_nodes import SEED_NAMES, _json_value, _number, call_classmethod, combo_fields

#: ``comfy_api.latest.io`` type classes and their io_type, as declared by ComfyUI's
#: ``@comfytype(io_type=...)`` decorators (comfy_api/latest/_io.py, 2026-01).
IO_TYPES: dict[str, str] = {
    "Boolean": "BOOLEAN", "Int": "INT", "Float": "FLOAT", "String": "STRING",
    "Combo": "COMBO", "MultiCombo": "COMBO", "Image": "IMAGE",
    "WanCameraEmbedding": "WAN_CAMERA_EMBEDDING", "Webcam": "WEBCAM", "Mask": "MASK",
    "Latent": "LATENT", "Conditioning": "CONDITIONING", "Sampler": "SAMPLER",
    "Sigmas": "SIGMAS", "Noise": "NOISE", "Guider": "GUIDER", "Clip": "CLIP",
    "ControlNet": "CONTROL_NET", "Vae": "VAE", "Model": "MODEL", "ClipVision": "CLIP_VISION",
    "ClipVisionOutput": "CLIP_VISION_OUTPUT", "StyleModel": "STYLE_MODEL", "Gligen": "GLIGEN",
    "UpscaleModel": "UPSCALE_MODEL", "LatentUpscaleModel": "LATENT_UPSCALE_MODEL",
    "Audio": "AUDIO", "Video": "VIDEO", "SVG": "SVG", "LoraModel": "LORA_MODEL",
    "LossMap": "LOSS_MAP", "Voxel": "VOXEL", "Mesh": "MESH", "Hooks": "HOOKS",
    "HookKeyframes": "HOOK_KEYFRAMES", "TimestepsRange": "TIMESTEPS_RANGE",
    "LatentOperation": "LATENT_OPERATION", "FlowControl": "FLOW_CONTROL",
    "Accumulation": "ACCUMULATION", "Load3DCamera": "LOAD3D_CAMERA", "Load3D": "LOAD_3D",
    "Load3DAnimation": "LOAD_3D_ANIMATION", "Photomaker": "PHOTOMAKER", "Point": "POINT",
    "FaceAnalysis": "FACE_ANALYSIS", "BBOX": "BBOX", "SEGS": "SEGS", "AnyType": "*",
    "MODEL_PATCH": "MODEL_PATCH", "AudioEncoder": "AUDIO_ENCODER",
    "AudioEncoderOutput": "AUDIO_ENCODER_OUTPUT", "Tracks": "TRACKS",
    "MultiType": "COMFY_MULTITYPED_V3", "MatchType": "COMFY_MATCHTYPE_V3",
    "Autogrow": "COMFY_AUTOGROW_V3", "DynamicCombo": "COMFY_DYNAMICCOMBO_V3",
    "DynamicSlot": "COMFY_DYNAMICSLOT_V3",
}

#: Hidden inputs that ``Schema.finalize`` adds.
_OUTPUT_NODE_HIDDEN = ("prompt", "extra_pnginfo")
_API_NODE_HIDDEN = ("auth_token_comfy_org", "api_key_comfy_org")


@dataclass(frozen=True)
class V3Type:
    """An ``io`` type class (``io.Int``) or ``io.Custom("X")``."""

    kind: str
    io_type: str


@dataclass(frozen=True)
class V3Ctor:
    """``io.Int.Input`` / ``io.Int.Output`` before it is called."""

    type: V3Type
    what: str  # "Input" | "Output"


@dataclass(eq=False)
class V3Input:
    type: V3Type
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class V3Output:
    type: V3Type
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class V3Aux:
    """Helper objects: ``MatchType.Template``, ``Autogrow.TemplatePrefix``,
    ``DynamicCombo.Option``..."""

    kind: str
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class V3Schema:
    kwargs: dict[str, Any] = field(default_factory=dict)


def _camel_to_type(name: str) -> str:
    if name.isupper():
        return name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _comfytype_of(cls: ClassInfo) -> str | None:
    """``@comfytype(io_type="X")`` on an in-tree class (ComfyUI's own _io.py)."""
    for d in cls.node.decorator_list:
        if isinstance(d, ast.Call):
            fname = d.func.id if isinstance(d.func, ast.Name) else getattr(d.func, "attr", None)
            if fname == "comfytype":
                for kw in d.keywords:
                    if kw.arg == "io_type" and isinstance(kw.value, ast.Constant):
                        return kw.value.value
                if d.args and isinstance(d.args[0], ast.Constant):
                    return d.args[0].value
    return None


def _is_comfy_api(dotted: str) -> bool:
    """``comfy_api`` and its submodules (not ``comfy_api_nodes``)."""
    return dotted.split(".", 1)[0] == "comfy_api"


def _in_comfy_api(value: Any) -> bool:
    if isinstance(value, ExternalRef):
        return _is_comfy_api(value.path)
    if isinstance(value, (ClassInfo, FunctionRef)):
        module = value.module if isinstance(value, ClassInfo) else value.scope.module
        return _is_comfy_api(module.name)
    return False


def _v3_type(value: Any) -> V3Type | None:
    if isinstance(value, V3Type):
        return value
    if isinstance(value, ExternalRef) and _is_comfy_api(value.path):
        name = value.path.rsplit(".", 1)[-1]
        if name[:1].isupper():
            return V3Type(name, IO_TYPES.get(name) or _camel_to_type(name))
    if isinstance(value, ClassInfo):
        io_type = _comfytype_of(value)
        if io_type is not None:
            return V3Type(value.name, io_type)
    return None


#: ``io.Schema`` field defaults, for ``super().define_schema().category`` and the like.
_SCHEMA_DEFAULTS: dict[str, Any] = {
    "display_name": None, "category": "sd", "inputs": [], "outputs": [], "hidden": [],
    "description": "", "is_input_list": False, "is_output_node": False, "is_deprecated": False,
    "is_experimental": False, "is_api_node": False, "not_idempotent": False,
}


def _attr_hook(interp: Interpreter, base: Any, attr: str) -> Any:
    if isinstance(base, V3Schema):
        if attr in base.kwargs:
            return base.kwargs[attr]
        return _SCHEMA_DEFAULTS.get(attr, UNKNOWN)
    if attr in ("Input", "Output"):
        t = _v3_type(base)
        if t is not None:
            return V3Ctor(t, attr)
    return NotImplemented


def _call_hook(interp: Interpreter, func: Any, args: list | None, kwargs: dict | None,
               node: ast.Call, scope: Any) -> Any:
    if args is None or kwargs is None:
        if isinstance(func, V3Ctor):
            return V3Input(func.type, [UNKNOWN], {}) if func.what == "Input" else V3Output(func.type, [], {})
        return NotImplemented
    if isinstance(func, V3Ctor):
        return (V3Input if func.what == "Input" else V3Output)(func.type, args, kwargs)
    if not _in_comfy_api(func):
        return NotImplemented
    name = func.path.rsplit(".", 1)[-1] if isinstance(func, ExternalRef) else func.name
    if name == "Custom":
        io_type = args[0] if args else kwargs.get("io_type")
        return V3Type("Custom", io_type) if isinstance(io_type, str) else UNKNOWN
    if name == "Schema":
        return V3Schema(dict(kwargs))
    if name in ("Template", "TemplatePrefix", "TemplateNames", "Option", "RemoteOptions"):
        return V3Aux(name, args, kwargs)
    return NotImplemented


def install(interp: Interpreter) -> None:
    """Teach an interpreter the ``io.*`` builders (idempotent)."""
    if _call_hook not in interp.call_hooks:
        interp.call_hooks.append(_call_hook)
        interp.attr_hooks.append(_attr_hook)


def _arg(obj: V3Input | V3Output | V3Aux, index: int, name: str, default: Any = None) -> Any:
    if name in obj.kwargs:
        return obj.kwargs[name]
    if index < len(obj.args):
        return obj.args[index]
    return default


def _enum_value(value: Any) -> Any:
    if isinstance(value, ExternalRef):
        return value.path.rsplit(".", 1)[-1]
    return value


def _input_spec(inp: V3Input, interp: Interpreter) -> InputSpec | None:
    name = _arg(inp, 0, "id")
    if isinstance(name, V3Input):  # MultiType.Input(io.Int.Input(...), types=[...])
        return _input_spec(name, interp)
    if not isinstance(name, str):
        return None
    kind, io_type = inp.type.kind, inp.type.io_type
    kw = inp.kwargs
    section = "optional" if kw.get("optional") is True else "required"
    fields: dict[str, Any] = {"name": name, "section": section, "type": io_type}
    if kind in ("Combo", "MultiCombo") or io_type == "COMBO":
        options = _arg(inp, 1, "options", UNKNOWN)
        if isinstance(options, ClassInfo) and options.is_enum:
            options = interp.iterate(options)
        fields["type"] = "COMBO"
        fields.update(combo_fields(options) or {"options_dynamic": True})
        # Any upload button (image, video, audio) saves one more widget value.
        if kw.get("upload") is not None:
            fields["image_upload"] = True
    elif kind == "DynamicCombo" or io_type == "COMFY_DYNAMICCOMBO_V3":
        # A combo whose choice adds nested inputs; only the combo itself is modelled.
        options = _arg(inp, 1, "options", UNKNOWN)
        keys = []
        nested: dict[str, list[InputSpec]] = {}
        if isinstance(options, (list, tuple)):
            for o in options:
                key = _enum_value(_arg(o, 0, "key")) if isinstance(o, V3Aux) else UNKNOWN
                keys.append(key)
                inner = _arg(o, 1, "inputs", []) if isinstance(o, V3Aux) else []
                if isinstance(key, str) and isinstance(inner, (list, tuple)):
                    specs = [_input_spec(i, interp) for i in inner if isinstance(i, V3Input)]
                    nested[key] = [spec for spec in specs if spec is not None]
        fields["type"] = "COMBO"
        fields.update(combo_fields(keys) if keys else {"options_dynamic": True})
        if any(nested.values()):
            fields["dynamic"] = nested
    elif kind == "MatchType" or io_type == "COMFY_MATCHTYPE_V3":
        fields["type"] = "*"
    elif kind == "MultiType" or io_type == "COMFY_MULTITYPED_V3":
        types = _arg(inp, 1, "types", UNKNOWN)
        names = []
        if isinstance(types, (list, tuple)):
            for t in types:
                vt = _v3_type(t)
                names.append(vt.io_type if vt else None)
        fields["type"] = ",".join(dict.fromkeys(names)) if names and all(names) else "*"
    widget_type = kw.get("widget_type")
    if isinstance(widget_type, str):
        fields["type"] = widget_type
    default = _json_value(kw.get("default"))
    if default is not None:
        fields["default"] = _enum_value(default)
    elif isinstance(kw.get("default"), ExternalRef):
        fields["default"] = _enum_value(kw["default"])
    for key in ("min", "max", "step"):
        v = _number(kw.get(key))
        if v is not None:
            fields[key] = v
    if kw.get("multiline") is True:
        fields["multiline"] = True
    if kw.get("force_input") is True:
        fields["force_input"] = True
    if kw.get("lazy") is True:
        fields["lazy"] = True
    # ``True`` or, in newer ComfyUI, an ``io.ControlAfterGenerate`` member (its start mode).
    control = kw.get("control_after_generate")
    if (control is not None and control is not False) or (fields["type"] == "INT" and name in SEED_NAMES):
        fields["control_after_generate"] = True
    return InputSpec(**fields)


def _output_spec(out: V3Output) -> OutputSpec:
    io_type = out.type.io_type
    if out.type.kind == "MatchType":
        io_type = "*"
        oid, display = _arg(out, 1, "id"), out.kwargs.get("display_name")
    else:
        oid, display = _arg(out, 0, "id"), _arg(out, 1, "display_name")
    fields: dict[str, Any] = {"type": io_type}
    name = display if isinstance(display, str) and display else oid if isinstance(oid, str) and oid else None
    if name is not None:
        fields["name"] = name
    if out.kwargs.get("is_output_list") is True:
        fields["is_list"] = True
    return OutputSpec(**fields)


def _hidden_spec(value: Any) -> InputSpec | None:
    if isinstance(value, ExternalRef):
        name = value.path.rsplit(".", 1)[-1]
        return InputSpec(name=name, section="hidden", type=name.upper())
    if isinstance(value, str):
        return InputSpec(name=value.lower(), section="hidden", type=value)
    return None


def schema_of(interp: Interpreter, cls: ClassInfo) -> V3Schema | None:
    install(interp)
    result = call_classmethod(interp, cls, "define_schema")
    return result if isinstance(result, V3Schema) else None


def v3_node(interp: Interpreter, cls: ClassInfo) -> tuple[str | None, Signature | None, dict[str, Any]]:
    """(node_id, signature, metadata) of a V3 node class."""
    schema = schema_of(interp, cls)
    if schema is None:
        return None, None, {}
    kw = schema.kwargs
    node_id = kw.get("node_id")
    if not isinstance(node_id, str):
        return None, None, {}
    meta: dict[str, Any] = {}
    if isinstance(kw.get("display_name"), str):
        meta["display_name"] = kw["display_name"]
    meta["category"] = kw["category"] if isinstance(kw.get("category"), str) else "sd"
    if kw.get("is_deprecated") is True:
        meta["deprecated"] = True
    raw_inputs = kw.get("inputs", [])
    raw_outputs = kw.get("outputs", [])
    if not isinstance(raw_inputs, (list, tuple)) or not isinstance(raw_outputs, (list, tuple)):
        return node_id, None, meta
    specs: list[InputSpec] = []
    for inp in raw_inputs:
        if not isinstance(inp, V3Input):
            return node_id, None, meta
        spec = _input_spec(inp, interp)
        if spec is None:
            return node_id, None, meta
        specs.append(spec)
    # get_v1_info groups by section: required first, then optional, then hidden
    inputs = [s for s in specs if s.section == "required"] + [s for s in specs if s.section == "optional"]
    hidden_raw = kw.get("hidden") or []
    hidden: list[InputSpec] = []
    if isinstance(hidden_raw, (list, tuple)):
        for h in hidden_raw:
            spec = _hidden_spec(h)
            if spec is not None and all(x.name != spec.name for x in hidden):
                hidden.append(spec)
    extra = []
    if kw.get("is_api_node") is True:
        extra += _API_NODE_HIDDEN
    if kw.get("is_output_node") is True:
        extra += _OUTPUT_NODE_HIDDEN
    for name in extra:
        if all(x.name != name for x in hidden):
            hidden.append(InputSpec(name=name, section="hidden", type=name.upper()))
    outputs = []
    for out in raw_outputs:
        if isinstance(out, V3Output):
            outputs.append(_output_spec(out))
        else:
            outputs.append(OutputSpec(type="*"))
    sig = Signature(inputs=inputs + hidden, outputs=outputs, output_node=kw.get("is_output_node") is True,
                    input_is_list=kw.get("is_input_list") is True)
    return node_id, sig, meta


def is_v3_class(cls: ClassInfo) -> bool:
    """Whether the class's own code (not ``comfy_api``'s base classes, which define both)
    declares ``define_schema`` before any ``INPUT_TYPES``."""
    for c in cls.mro():
        if _is_comfy_api(c.module.name):
            continue
        attrs = c.attrs()
        if "define_schema" in attrs:
            return True
        if "INPUT_TYPES" in attrs:
            return False
    return False
