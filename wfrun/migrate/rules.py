"""Loading rule files and applying the edits that act on one node in place.

Rules are data (``migrations/<pack>/NNNN_<what>.yaml``, read with ``yaml.safe_load`` and
validated by :class:`~wfrun.migrate.rule.MigrationRule`), applied in file order. Each edit
checks the value it repairs, so applying a rule to an already repaired node does nothing:
that is what makes migrating twice a no-op. Node replacement lives in :mod:`replace`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wfrun.migrate.history import PackClock, Saved
from wfrun.migrate.report import Change
from wfrun.migrate.rule import (CopyValue, DropWidget, InsertWidget, MapValues, MigrationRule, RenameInput,
                                ReorderSockets, RetypeOutput, ToBool, ToNumber)
from wfrun.migrate.scope import Scope
from wfrun.specs.spec import Signature


class RuleError(Exception):
    """A rule file that cannot be read or does not match the rule schema."""


def migrations_dir() -> Path:
    """The project's ``migrations/`` folder (override with ``WFRUN_MIGRATIONS``)."""
    override = os.environ.get("WFRUN_MIGRATIONS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "migrations"


def load_rule_file(path: Path) -> MigrationRule:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return MigrationRule.model_validate(data)
    except (yaml.YAMLError, ValidationError) as err:
        raise RuleError(f"{path}: {err}") from None


@lru_cache(maxsize=4)
def _load_all(directory: str) -> tuple[MigrationRule, ...]:
    rules = []
    for path in sorted(Path(directory).glob("*/*.yaml")):
        rules.append(load_rule_file(path))
    return tuple(rules)


def load_rules(directory: Path | None = None) -> list[MigrationRule]:
    """Every rule of every pack, in file-name order."""
    return list(_load_all(str(directory or migrations_dir())))


def rules_for(rules: list[MigrationRule], class_type: str) -> list[MigrationRule]:
    return [r for r in rules if r.node == class_type]


# --- matching -----------------------------------------------------------------------------

def value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INT"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, str):
        return "STRING"
    return "*"


def matches(rule: MigrationRule, node: dict[str, Any], saved: Saved | None, clock: PackClock) -> bool:
    m = rule.match
    values = node.get("widgets_values")
    values = values if isinstance(values, list) else []
    if m.widget_count is not None and len(values) != m.widget_count:
        return False
    if m.widget_kinds is not None:
        if len(values) != len(m.widget_kinds):
            return False
        if any(k not in ("*", value_kind(v)) and not (k == "FLOAT" and value_kind(v) == "INT")
               for k, v in zip(m.widget_kinds, values)):
            return False
    if m.ver is not None and (node.get("properties") or {}).get("ver") not in m.ver:
        return False
    if m.saved_before is not None:
        if saved is None:
            return False
        first = clock.position.get(saved.signature.first_commit or "")
        before = clock.position.get(m.saved_before)
        if first is not None and before is not None:
            return first < before
        return (saved.signature.date or "") < rule.date
    return True


# --- edits on one node ----------------------------------------------------------------------

def apply_value_edits(rule: MigrationRule, values: dict[str, Any], node: dict[str, Any],
                      scope: Scope) -> list[Change]:
    """Apply the rule's edits to the node's named values and sockets; return what changed."""
    out: list[Change] = []
    for edit in rule.edits:
        if isinstance(edit, RenameInput):
            out += _rename(edit, values, node, scope, rule.id)
        elif isinstance(edit, CopyValue):
            if edit.source in values and edit.target not in values:
                values[edit.target] = values[edit.source]
                out.append(Change("inserted", edit.target, None, values[edit.target], rule.id,
                                  f"from {edit.source}"))
        elif isinstance(edit, MapValues):
            value = values.get(edit.input)
            key = value if isinstance(value, str) else None
            if edit.input in values and key is not None and key in edit.map and edit.map[key] != value:
                values[edit.input] = edit.map[key]
                out.append(Change("mapped", edit.input, value, edit.map[key], rule.id))
        elif isinstance(edit, ToBool):
            value = values.get(edit.input)
            if isinstance(value, str) or (value is None and edit.input in values):
                values[edit.input] = value is not None and value.strip().lower() == "true"
                out.append(Change("converted", edit.input, value, values[edit.input], rule.id))
        elif isinstance(edit, ToNumber):
            value = values.get(edit.input)
            if isinstance(value, bool):
                values[edit.input] = 1.0 if value else 0.0
                out.append(Change("converted", edit.input, value, values[edit.input], rule.id))
        elif isinstance(edit, InsertWidget):
            if edit.name not in values:
                values[edit.name] = edit.value
                out.append(Change("inserted", edit.name, None, edit.value, rule.id))
        elif isinstance(edit, DropWidget):
            if edit.name in values:
                out.append(Change("dropped", edit.name, values.pop(edit.name), None, rule.id))
    return out


def _rename(edit: RenameInput, values: dict[str, Any], node: dict[str, Any], scope: Scope,
            rule_id: str) -> list[Change]:
    out = []
    if edit.old in values and edit.new not in values:
        values[edit.new] = values.pop(edit.old)
        out.append(Change("renamed", f"{edit.old} → {edit.new}", None, None, rule_id,
                          f"value {values[edit.new]!r} kept"))
    for ui_input in node.get("inputs") or []:
        if not isinstance(ui_input, dict):
            continue
        widget = ui_input.get("widget") if isinstance(ui_input.get("widget"), dict) else None
        if ui_input.get("name") == edit.old:
            ui_input["name"] = edit.new
            if widget is not None and widget.get("name") == edit.old:
                widget["name"] = edit.new
            if not out:
                out.append(Change("renamed", f"{edit.old} → {edit.new}", None, None, rule_id,
                                  "socket renamed, link kept"))
    return out


def apply_structure_edits(rule: MigrationRule, node: dict[str, Any], scope: Scope,
                          latest: Signature | None, followers: dict[Any, list[Change]]) -> list[Change]:
    """Edit ``node``'s sockets; changes this makes to other nodes (an input socket whose type
    follows a retyped link) are added to ``followers`` by node id, so they are reported too."""
    out: list[Change] = []
    for edit in rule.edits:
        if isinstance(edit, RetypeOutput):
            out += retype_output(edit, node, scope, rule.id, followers)
        elif isinstance(edit, ReorderSockets) and latest is not None:
            out += reorder_sockets(node, scope, latest, rule.id)
    return out


def retype_output(edit: RetypeOutput, node: dict[str, Any], scope: Scope, rule_id: str | None,
                  followers: dict[Any, list[Change]]) -> list[Change]:
    changed = False
    outputs = node.get("outputs") or []
    if edit.slot < len(outputs) and isinstance(outputs[edit.slot], dict):
        output = outputs[edit.slot]
        if output.get("type") == edit.old_type:
            output["type"] = edit.type
            changed = True
        if edit.name and output.get("name") != edit.name:
            output["name"] = edit.name
            changed = True
    # the links out of the output, and on through reroutes (which pass the type along)
    pending = [(node, edit.slot)]
    seen: set[Any] = set()
    while pending:
        origin, slot = pending.pop()
        for link in scope.links_out_of(origin.get("id")):
            if link.origin_slot != slot or link.id in seen or link.type not in (edit.old_type, "*"):
                continue
            seen.add(link.id)
            target = scope.node(link.target_id) or {}
            for passer in _passed_on_by(target, scope):
                outputs = passer.get("outputs") or []
                if outputs and isinstance(outputs[0], dict) and outputs[0].get("type") == edit.old_type:
                    outputs[0]["type"] = edit.type
                    followers.setdefault(passer.get("id"), []).append(Change(
                        "retyped", "output 0", edit.old_type, edit.type, rule_id,
                        f"passes on the output of node {node.get('id')}"))
                pending.append((passer, 0))
            if link.type == edit.old_type:
                link.type = edit.type
                changed = True
            inputs = target.get("inputs") or []
            if 0 <= link.target_slot < len(inputs) and isinstance(inputs[link.target_slot], dict) \
                    and inputs[link.target_slot].get("type") == edit.old_type:
                inputs[link.target_slot]["type"] = edit.type
                followers.setdefault(link.target_id, []).append(Change(
                    "retyped", f"input {inputs[link.target_slot].get('name')}", edit.old_type, edit.type,
                    rule_id, f"follows the link from node {node.get('id')}"))
    return [Change("retyped", f"output {edit.slot}", edit.old_type, edit.type, rule_id)] if changed else []


def _passed_on_by(node: dict[str, Any], scope: Scope) -> list[dict[str, Any]]:
    """The nodes whose output 0 carries what flows into ``node``: a Reroute itself, and for a
    KJNodes SetNode every GetNode of the same name (the frontend types them alike)."""
    if node.get("type") == "Reroute":
        return [node]
    if node.get("type") == "SetNode":
        name = _first_value(node)
        return [n for n in scope.nodes if isinstance(n, dict) and n.get("type") == "GetNode"
                and _first_value(n) == name]
    return []


def reorder_sockets(node: dict[str, Any], scope: Scope, latest: Signature, rule_id: str | None) -> list[Change]:
    """Put link-only sockets in ``latest``'s declaration order, in the positions link-only
    sockets already hold (widget sockets and unknown inputs stay where they are), and
    renumber the links into the node. Nothing changes when the order is already right."""
    inputs = node.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return []
    order = {spec.name: i for i, spec in enumerate(latest.inputs) if not spec.is_widget}
    movable = [i for i, item in enumerate(inputs) if isinstance(item, dict)
               and item.get("widget") is None and item.get("name") in order]
    wanted = sorted(movable, key=lambda i: order[inputs[i]["name"]])
    if wanted == movable:
        return []
    arranged = list(range(len(inputs)))
    for position, source in zip(movable, wanted):
        arranged[position] = source
    new_slot = {old: new for new, old in enumerate(arranged)}
    before = [i.get("name") if isinstance(i, dict) else None for i in inputs]
    node["inputs"] = [inputs[old] for old in arranged]
    for link in scope.links_into(node.get("id")):
        if isinstance(link.target_slot, int) and link.target_slot in new_slot:
            link.target_slot = new_slot[link.target_slot]
    after = [i.get("name") if isinstance(i, dict) else None for i in node["inputs"]]
    return [Change("reordered", None, before, after, rule_id)]


def _first_value(node: dict[str, Any]) -> Any:
    """The first saved widget value, None where ``widgets_values`` is no list (a lone
    value is ignored, as the frontend ignores it)."""
    values = node.get("widgets_values")
    return values[0] if isinstance(values, list) and values else None
