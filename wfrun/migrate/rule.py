"""A migration rule, as data: what node API break it repairs, how to spot it, what to edit.

Rules live in ``migrations/<pack>/NNNN_<what>.yaml`` and are validated against
``schemas/migration.schema.json`` (generated from this model). Generic re-binding from the
spec history handles inserted, dropped and reordered widgets; rules cover what history
cannot know: renames whose old value must be kept, renamed or removed combo values,
string booleans, and nodes replaced or split.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(_Strict):
    """How to recognise a node saved before the break (all given conditions must hold)."""

    widget_count: int | None = None
    #: Kinds of the saved values by position: INT, FLOAT, BOOLEAN, STRING, or ``*``.
    widget_kinds: list[str] | None = None
    #: ``properties.ver`` values (pack commits) that still have the old signature.
    ver: list[str] | None = None
    #: The node was saved with a signature that first appeared before this pack commit.
    saved_before: str | None = None


class RenameInput(_Strict):
    op: Literal["rename"]
    old: str
    new: str


class InsertWidget(_Strict):
    op: Literal["insert"]
    name: str
    value: Any = None
    after: str | None = None


class DropWidget(_Strict):
    op: Literal["drop"]
    name: str


class MapValues(_Strict):
    op: Literal["map_values"]
    input: str
    map: dict[str, Any]


class ToBool(_Strict):
    op: Literal["to_bool"]
    input: str


class NewNode(_Strict):
    """One node that replaces (part of) the old one."""

    ref: str
    type: str
    #: New input name → old input name (links and widget values move across).
    inputs_from: dict[str, str] = Field(default_factory=dict)
    #: New input name → ``ref.output_slot`` of another new node.
    links_from: dict[str, str] = Field(default_factory=dict)
    widgets: dict[str, Any] = Field(default_factory=dict)
    #: Old output slot → this node's output slot (consumers are re-wired).
    outputs_from: dict[int, int] = Field(default_factory=dict)


class ReplaceNode(_Strict):
    op: Literal["replace_node"]
    nodes: list[NewNode]


Edit = Annotated[
    Union[RenameInput, InsertWidget, DropWidget, MapValues, ToBool, ReplaceNode],
    Field(discriminator="op"),
]


class MigrationRule(_Strict):
    id: str
    pack: str
    node: str
    why: str
    commit: str
    date: str
    match: Match = Field(default_factory=Match)
    edits: list[Edit]
