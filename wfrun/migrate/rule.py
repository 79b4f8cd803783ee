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
    """How to recognise a node saved before the break (all given conditions must hold).

    Most edits test the value they repair themselves (a rename acts only when the old
    name was saved, ``to_bool`` only on text), so an empty match is common.
    """

    #: Number of saved widget values.
    widget_count: int | None = None
    #: Kinds of the saved values by position: INT, FLOAT, BOOLEAN, STRING, or ``*``.
    widget_kinds: list[str] | None = None
    #: ``properties.ver`` values (pack commits) that still have the old signature.
    ver: list[str] | None = None
    #: The node was saved with a signature that first appeared before this pack commit.
    saved_before: str | None = None


class RenameInput(_Strict):
    """An input renamed: its saved value (and link) moves to the new name, unchanged,
    even where the new name has another default."""

    op: Literal["rename"]
    old: str
    new: str


class CopyValue(_Strict):
    """An input split in two: the new input ``target`` starts with ``source``'s saved value
    (apply before renaming ``source``)."""

    op: Literal["copy"]
    source: str
    target: str


class InsertWidget(_Strict):
    """A value for an input the node was saved without, where the spec default would
    change what the node did (e.g. a default that flipped after the input appeared)."""

    op: Literal["insert"]
    name: str
    value: Any = None


class DropWidget(_Strict):
    """An input removed on purpose: its value is dropped (and reported)."""

    op: Literal["drop"]
    name: str


class MapValues(_Strict):
    """Combo values renamed or removed: old value (as text) → new value."""

    op: Literal["map_values"]
    input: str
    map: dict[str, Any]


class ToBool(_Strict):
    """Text (or null) saved where a BOOLEAN belongs: ``"true"`` → true, ``"false"``/``""``/null
    → false (null: a widget a pack's web extension hid; Python reads None as false)."""

    op: Literal["to_bool"]
    input: str


class ToNumber(_Strict):
    """A boolean saved where a number belongs: true → 1.0, false → 0.0 (what Python
    computed with it)."""

    op: Literal["to_number"]
    input: str


class RetypeOutput(_Strict):
    """An output's type (and name) changed: the node's output and its links follow."""

    op: Literal["retype_output"]
    slot: int
    old_type: str
    type: str
    name: str | None = None


class ReorderSockets(_Strict):
    """Inputs moved between required and optional, which changes the socket order the
    frontend draws: sockets are put in the new declaration order and link slots follow."""

    op: Literal["reorder_sockets"]


class NewNode(_Strict):
    """One node that replaces (part of) the old one."""

    #: A name for this node inside the rule (``links_from`` refers to it).
    ref: str
    type: str
    #: New input name → old input name (links and widget values move across).
    inputs_from: dict[str, str] = Field(default_factory=dict)
    #: New input name → ``ref.output_slot`` of another new node.
    links_from: dict[str, str] = Field(default_factory=dict)
    #: New input name → a fixed value (where the new default would change behaviour).
    widgets: dict[str, Any] = Field(default_factory=dict)
    #: Old output slot → this node's output slot (consumers are re-wired).
    outputs_from: dict[int, int] = Field(default_factory=dict)


class ReplaceNode(_Strict):
    """The node type was replaced (or split): new nodes take its values and links."""

    op: Literal["replace_node"]
    nodes: list[NewNode]
    #: Old inputs with no counterpart, and why (reported to the user).
    dropped: dict[str, str] = Field(default_factory=dict)


Edit = Annotated[
    Union[RenameInput, CopyValue, InsertWidget, DropWidget, MapValues, ToBool, ToNumber, RetypeOutput,
          ReorderSockets, ReplaceNode],
    Field(discriminator="op"),
]


class MigrationRule(_Strict):
    """One repair, with the reason and the pack commit that made it necessary."""

    id: str
    pack: str
    node: str
    why: str
    commit: str
    date: str
    match: Match = Field(default_factory=Match)
    edits: list[Edit]
