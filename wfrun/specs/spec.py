"""What a node *is*, as data: the shape of ComfyUI's ``/object_info``, with history.

A workflow file stores widget values by position, so to read one we must know the exact
input signature the node had when the file was saved. Each node therefore keeps every
signature it had over its pack's history (``signatures``, oldest first), each tagged with
the pack commit and date where it first appeared. Specs live as JSON in
``schemas/nodes/<pack>.json`` so a node can be checked and migrated even where wfrun
cannot run it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Input types that the frontend draws as widgets (values stored in ``widgets_values``).
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "COLOR"})

#: ComfyUI "V3" input types that stand for a group of dynamically added inputs.
DYNAMIC_INPUT_PREFIXES = ("COMFY_AUTOGROW", "COMFY_DYNAMIC", "COMFY_MATCHTYPE")

#: ComfyUI "V3" input types the frontend draws as a view of the node's result (core
#: ImageCompare's slider, ``io.ImageCompare``): never linked, no saved value, nothing the
#: backend reads; a required one is no missing input.
VIEW_INPUT_TYPES = frozenset({"IMAGECOMPARE"})

Section = Literal["required", "optional", "hidden"]


class InputSpec(BaseModel):
    """One input of one signature, in declaration order."""

    model_config = ConfigDict(extra="forbid")

    name: str
    section: Section
    #: ``INT``/``FLOAT``/``STRING``/``BOOLEAN``/``COMBO`` for widgets, else a link type
    #: such as ``IMAGE`` or ``WANVIDEOMODEL``; ``*`` accepts anything.
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    #: Fixed combo options, in order.
    options: list[Any] | None = None
    #: Combo filled at run time from a model folder (``folder_paths.get_filename_list``),
    #: e.g. ``diffusion_models``; any file name is accepted then.
    options_from: str | None = None
    #: Combo whose options the extractor could not evaluate statically.
    options_dynamic: bool = False
    multiline: bool = False
    #: ``forceInput``: a widget type drawn as a socket, so no ``widgets_values`` slot.
    force_input: bool = False
    #: The frontend adds a hidden ``control_after_generate`` widget value after it.
    control_after_generate: bool = False
    #: LoadImage-style upload button, which stores one extra widget value after it.
    image_upload: bool = False
    #: ``lazy`` inputs are evaluated only when the node asks for them.
    lazy: bool = False
    #: A V3 ``DynamicCombo``: the inputs each option adds right after the combo (the
    #: frontend draws them when the option is chosen, saves their values next, and
    #: queues them as ``<combo>.<input>``).
    dynamic: dict[str, list["InputSpec"]] | None = None
    #: ``widgetType``: the widget the frontend draws for a socket type that has none of its
    #: own (basic_data_handling's ``"FLOAT,INT"`` numbers with ``widgetType: "FLOAT"``).
    widget_type: str | None = None

    @property
    def is_widget(self) -> bool:
        """Whether this input stores a value in ``widgets_values`` when not linked."""
        return (self.widget_type or self.type) in WIDGET_TYPES and not self.force_input and self.section != "hidden"


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    name: str | None = None
    #: ComfyUI's ``OUTPUT_IS_LIST`` (V3 ``is_output_list``): the node returns a Python list
    #: of values here, and every later node that does not take lists whole runs once per
    #: item (``wfrun.engine.lists``).
    is_list: bool = False


class Signature(BaseModel):
    """The inputs and outputs a node had from ``first_commit`` until the next signature."""

    model_config = ConfigDict(extra="forbid")

    first_commit: str | None = None
    date: str | None = None
    inputs: list[InputSpec]
    outputs: list[OutputSpec] = Field(default_factory=list)
    output_node: bool = False
    #: ComfyUI's ``INPUT_IS_LIST`` (V3 ``is_input_list``): the node is called once with every
    #: input as a whole list (a widget as a list of one) instead of once per item of its
    #: list inputs (``wfrun.engine.lists``). A fact of the node's class, read from the pack
    #: like its inputs, so it lives here with them: a pack that turned it on or off made a
    #: new signature, since the executor then receives other values.
    input_is_list: bool = False

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    @property
    def widgets(self) -> list[InputSpec]:
        return [i for i in self.inputs if i.is_widget]


class NodeSpec(BaseModel):
    """Every signature one node type had, oldest first."""

    model_config = ConfigDict(extra="forbid")

    class_type: str
    pack: str
    display_name: str | None = None
    category: str | None = None
    deprecated: bool = False
    signatures: list[Signature]

    @property
    def latest(self) -> Signature:
        return self.signatures[-1]

    def widget_defaults(self, signature: Signature | None = None) -> dict[str, Any]:
        """The value each widget input takes when a workflow does not set it, by name.

        First the defaults of ``signature`` (the one the file was saved with; the newest
        when not given), then, for inputs that one has no default for (added later, or a
        socket then), the newest signature's: executors keep no defaults of their own (one
        place for one fact), so an older save runs newer inputs at their newest default.
        The engine fills these before calling an executor; tests calling one directly use
        them too.
        """
        defaults: dict[str, Any] = {}
        for sig in (signature or self.latest, self.latest):
            for spec in sig.inputs:
                if spec.is_widget and spec.default is not None:
                    defaults.setdefault(spec.name, spec.default)
        return defaults


class PackSpecs(BaseModel):
    """The contents of one ``schemas/nodes/<pack>.json`` file."""

    model_config = ConfigDict(extra="forbid")

    pack: str
    #: The Comfy registry id that ``properties.cnr_id`` carries in saved files.
    cnr_id: str | None = None
    #: Where the specs were extracted from (repository, commit range, tool).
    source: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, NodeSpec]
