"""What a migration did, per node, for people (text) and tools (JSON).

Every change names the input, the old and new value and the rule that made it (none for
generic re-binding), so a user can check a migrated file against the original and a
reviewer can see which pack commit each repair comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wfrun.formats.document import Document

#: Kinds of change, in the words the report uses.
WHAT = {
    "moved": "moved",            # a value changed position (inputs added/removed/reordered)
    "filled": "new input",        # an input the file was saved without got a default
    "renamed": "renamed",         # an input renamed; value and link kept
    "converted": "converted",     # a value of the wrong kind repaired (to_bool, to_number)
    "mapped": "combo value",      # a renamed/removed combo value mapped
    "inserted": "set",            # a rule's value for an input the file lacked
    "dropped": "dropped",         # an input removed on purpose (by rule or by the pack)
    "rejected": "not kept",       # a saved value of a kind the new input cannot hold
    "unplaced": "fits no slot",   # a saved value with no input left to hold it
    "trailing": "display-only",   # display-only values past the last slot, not carried
    "retyped": "link type",       # an output's type changed; links follow
    "reordered": "sockets",       # socket order changed; link slots follow
    "replaced": "replaced",       # the node was replaced/split into new nodes
    "relinked": "relinked",       # a link moved to a new node
}


@dataclass
class Change:
    what: str
    input: str | None = None
    old: Any = None
    new: Any = None
    rule: str | None = None
    note: str | None = None

    def text(self) -> str:
        label = WHAT.get(self.what, self.what)
        parts = [label]
        if self.input:
            parts.append(self.input)
        if self.what in ("moved", "reordered"):
            parts.append(f"{self.old} → {self.new}")
        elif self.what in ("filled", "inserted"):
            parts.append(f"= {_show(self.new)}")
        elif self.what in ("dropped", "rejected", "unplaced", "trailing"):
            parts.append(f"(was {_show(self.old)})")
        elif self.old is not None or self.new is not None:
            parts.append(f"{_show(self.old)} → {_show(self.new)}")
        line = " ".join(parts)
        if self.note:
            line += f": {self.note}"
        if self.rule:
            line += f" [{self.rule}]"
        return line

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:80]


@dataclass
class NodeReport:
    """One node: where it is, what it was saved with, what changed."""

    id: Any
    class_type: str
    title: str | None = None
    #: "" for the root graph, else the subgraph definition id.
    scope: str = ""
    saved_commit: str | None = None
    saved_date: str | None = None
    #: how the saved signature was decided: "ver", "only", "date"
    saved_how: str | None = None
    saved_fit: str | None = None
    changes: list[Change] = field(default_factory=list)
    #: Ids of the nodes that replace this one.
    replaced_by: list[Any] = field(default_factory=list)
    #: Why the node could not be migrated (values fit no known signature).
    problem: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def rules(self) -> list[str]:
        return sorted({c.rule for c in self.changes if c.rule})

    def heading(self) -> str:
        where = f"{self.scope}:" if self.scope else ""
        title = f" '{self.title}'" if self.title else ""
        saved = ""
        if self.saved_date or self.saved_commit:
            saved = f", saved for {self.saved_date or '?'} ({(self.saved_commit or '')[:7]}, by {self.saved_how})"
        return f"node {where}{self.id}{title} ({self.class_type}){saved}"

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "scope": self.scope, "class_type": self.class_type, "title": self.title,
               "saved": {"commit": self.saved_commit, "date": self.saved_date, "how": self.saved_how,
                         "fit": self.saved_fit},
               "changes": [c.to_json() for c in self.changes], "rules": self.rules}
        if self.replaced_by:
            out["replaced_by"] = self.replaced_by
        if self.problem:
            out["problem"] = self.problem
        return out


@dataclass
class MigrationResult:
    """The migrated document and a report per node that changed or could not be read."""

    document: Document
    nodes: list[NodeReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(n.changed for n in self.nodes)

    @property
    def problems(self) -> list[NodeReport]:
        return [n for n in self.nodes if n.problem]

    def summary_lines(self) -> list[str]:
        """One line per changed node (what ``wfrun run`` prints)."""
        return [f"{n.heading()}: " + "; ".join(c.text() for c in n.changes)
                for n in self.nodes if n.changed]

    def text(self, source: str) -> str:
        lines = []
        for node in self.nodes:
            if not node.changed and not node.problem:
                continue
            lines.append(node.heading())
            lines += [f"  {c.text()}" for c in node.changes]
            if node.problem:
                lines.append(f"  not migrated: {node.problem}")
        changed = sum(1 for n in self.nodes if n.changed)
        status = f"{changed} node(s) migrated" if changed else "nothing to migrate"
        if self.problems:
            status += f", {len(self.problems)} node(s) left as they were"
        lines.append(f"{source}: {status}")
        return "\n".join(lines) + "\n"

    def to_json(self, source: str) -> dict[str, Any]:
        return {"file": source, "changed": self.changed,
                "nodes": [n.to_json() for n in self.nodes if n.changed or n.problem]}
