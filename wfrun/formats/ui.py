"""The ComfyUI frontend's "UI" workflow format, versions 0.4 and 1.x, with subgraphs.

0.4 stores links as arrays ``[id, origin_id, origin_slot, target_id, target_slot, type]``;
1.x stores them as objects and keeps counters in ``state``. Subgraph definitions
(``definitions.subgraphs``) always use object links, with the subgraph's own input node
as origin ``-10`` and output node as target ``-20``.

Only the fields wfrun interprets are typed; everything else rides along untouched in the
models' extras (see :class:`~wfrun.formats.kept.KeptModel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Iterator

from pydantic import AfterValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr, WithJsonSchema

from wfrun.formats.kept import KeptModel

NodeId = StrictInt | StrictStr

#: Ids the frontend gives a subgraph's boundary nodes inside its definition.
SUBGRAPH_INPUT_NODE_ID = -10
SUBGRAPH_OUTPUT_NODE_ID = -20


class UIWidgetRef(KeptModel):
    """Marks a node input that is a widget (converted to a socket, or shown as one)."""

    name: StrictStr


class UIInput(KeptModel):
    name: StrictStr
    type: Any = None
    link: StrictInt | None = None
    widget: UIWidgetRef | None = None
    label: StrictStr | None = None


class UIOutput(KeptModel):
    name: StrictStr
    type: Any = None
    links: list[StrictInt] | None = None
    slot_index: StrictInt | None = None


#: A lone value where the frontend writes a list, as some hand-edited or tool-written
#: files have (``"widgets_values": 5``). Kept as saved so a round trip changes nothing.
ScalarWidgets = StrictBool | StrictInt | StrictFloat | StrictStr


class UINode(KeptModel):
    id: NodeId
    type: StrictStr
    mode: StrictInt = 0
    title: StrictStr | None = None
    inputs: list[UIInput] | None = None
    outputs: list[UIOutput] | None = None
    properties: dict[str, Any] | None = None
    widgets_values: list[Any] | dict[str, Any] | ScalarWidgets | None = None

    @property
    def saved_widgets(self) -> list[Any] | dict[str, Any] | None:
        """``widgets_values`` as the frontend applies it: a list or a dict, else nothing.

        ``LGraphNode.configure`` walks the node's widgets and assigns
        ``widgets_values[i]`` while ``i`` is below ``widgets_values.length``. A number or
        boolean has no length and no items, so every widget is handed ``undefined`` (and a
        numeric widget keeps its default): the value is never taken as the first widget's.
        A string would be spread one character per widget, which no node means; wfrun
        ignores every lone value alike (the graph builder warns) and keeps it in the file.
        """
        return None if is_scalar_widgets(self.widgets_values) else self.widgets_values


def is_scalar_widgets(values: Any) -> bool:
    """Whether a saved ``widgets_values`` is a lone value rather than a list or dict."""
    return values is not None and not isinstance(values, (list, dict))


def _check_link_array(value: list[Any]) -> list[Any]:
    kinds = (int, (int, str), int, (int, str), int)
    for position, (item, kind) in enumerate(zip(value, kinds)):
        if isinstance(item, bool) or not isinstance(item, kind):
            raise ValueError(f"link element {position} must be {_kind_name(kind)}, found {item!r}")
    return value


def _kind_name(kind: Any) -> str:
    return "an integer" if kind is int else "an integer or string"


_LINK_ARRAY_SCHEMA = {
    "type": "array",
    "minItems": 6,
    "prefixItems": [
        {"type": "integer"},
        {"type": ["integer", "string"]},
        {"type": "integer"},
        {"type": ["integer", "string"]},
        {"type": "integer"},
        {},
    ],
    "description": "[id, origin_id, origin_slot, target_id, target_slot, type]",
}

LinkArray = Annotated[
    list[Any],
    Field(min_length=6),
    AfterValidator(_check_link_array),
    WithJsonSchema(_LINK_ARRAY_SCHEMA),
]


class LinkObject(KeptModel):
    id: StrictInt
    origin_id: NodeId
    origin_slot: StrictInt
    target_id: NodeId
    target_slot: StrictInt
    type: Any = None


class SubgraphIO(KeptModel):
    """One input or output socket of a subgraph definition."""

    name: StrictStr
    type: Any = None
    linkIds: list[StrictInt] | None = None


class Subgraph(KeptModel):
    id: StrictStr
    name: StrictStr | None = None
    inputs: list[SubgraphIO] = Field(default_factory=list)
    outputs: list[SubgraphIO] = Field(default_factory=list)
    nodes: list[UINode] = Field(default_factory=list)
    links: list[LinkObject] = Field(default_factory=list)


class Definitions(KeptModel):
    subgraphs: list[Subgraph] | None = None


@dataclass(frozen=True)
class Link:
    """A link in either layout, normalised for the graph builder."""

    id: int
    origin_id: int | str
    origin_slot: int
    target_id: int | str
    target_slot: int
    type: Any


class UIWorkflow(KeptModel):
    """A workflow as the frontend saves it (``File → Save``)."""

    version: StrictFloat | StrictInt | None = None
    nodes: list[UINode]
    links: list[LinkArray] | list[LinkObject] = Field(default_factory=list)
    groups: list[Any] | None = None
    extra: dict[str, Any] | None = None
    definitions: Definitions | None = None

    def iter_links(self) -> Iterator[Link]:
        yield from normalise_links(self.links)

    @property
    def subgraphs(self) -> list[Subgraph]:
        if self.definitions is None or not self.definitions.subgraphs:
            return []
        return self.definitions.subgraphs


def normalise_links(links: list[Any]) -> Iterator[Link]:
    """Yield :class:`Link` for arrays (0.4) and objects (1.x, subgraphs) alike."""
    for link in links:
        if isinstance(link, LinkObject):
            yield Link(link.id, link.origin_id, link.origin_slot, link.target_id,
                       link.target_slot, link.type)
        else:
            yield Link(link[0], link[1], link[2], link[3], link[4], link[5])
