"""Replacing a node with one or more new nodes, re-wiring its links.

When a pack retires a node (WanVideoImageClipEncode became WanVideoClipVisionEncode +
WanVideoImageToVideoEncode), the old node's values and links move to the new nodes as
the rule maps them; the new nodes get fresh ids from the document's counters, the old
node's place, mode and colours, and new links get fresh link ids. Links that fed an
input with no counterpart are removed and reported, never left dangling.
"""

from __future__ import annotations

from typing import Any

from wfrun.migrate.rebind import Bound, default_of, write
from wfrun.migrate.report import Change
from wfrun.migrate.rule import ReplaceNode
from wfrun.migrate.scope import Scope
from wfrun.specs.registry import Registry

#: Vertical gap between the nodes of a split, in canvas units.
_GAP = 40


def replace_node(old: dict[str, Any], scope: Scope, values: dict[str, Any], edit: ReplaceNode,
                 registry: Registry, rule_id: str, versions: dict[str, str | None]) -> tuple[list[Any], list[Change]]:
    """Replace ``old`` in ``scope`` as ``edit`` says. ``values`` are the old node's widget
    values by (newest) input name; ``versions`` maps a pack to the commit to record as
    ``properties.ver``. Returns the new node ids and the changes."""
    changes: list[Change] = []
    old_inputs = [i for i in old.get("inputs") or [] if isinstance(i, dict)]
    made: dict[str, dict[str, Any]] = {}
    specs = {}
    for k, new in enumerate(edit.nodes):
        spec = registry.get(new.type)
        if spec is None:
            raise ValueError(f"rule {rule_id}: no spec for {new.type}")
        specs[new.ref] = spec
        named = {n: values[o] for n, o in new.inputs_from.items() if o in values}
        named.update(new.widgets)
        written = write(spec.latest, Bound(), named, default=default_of)
        node = _new_node(old, scope, new.type, spec, written.values, k, versions.get(spec.pack))
        linked = {n for n, o in new.inputs_from.items()
                  if any(i.get("name") == o and i.get("link") is not None and i.get("widget") for i in old_inputs)}
        # in the new node's input order (a set's order would change from run to run)
        linked_widgets = [i.name for i in spec.latest.inputs if i.name in linked]
        for name in linked_widgets:
            inp = spec.latest.input(name)
            node["inputs"].append({"name": name, "type": inp.type if inp else "*",
                                   "widget": {"name": name}, "link": None})
        made[new.ref] = node
        for name, source in new.inputs_from.items():
            if source in values and name not in new.widgets:
                changes.append(Change("moved", None, source, f"{node['id']}.{name}", rule_id))
        for name, value in new.widgets.items():
            changes.append(Change("inserted", f"{node['id']}.{name}", None, value, rule_id))

    position = scope.nodes.index(old)
    scope.nodes[position:position + 1] = list(made.values())

    # links into the old node
    for link in scope.links_into(old.get("id")):
        slot = link.target_slot
        name = old_inputs[slot].get("name") if 0 <= slot < len(old_inputs) else None
        targets = [(ref, new_name) for new in edit.nodes for new_name, o in new.inputs_from.items()
                   if o == name and (ref := new.ref) in made and _slot(made[ref], new_name) is not None]
        if not targets:
            _drop_link(scope, link)
            changes.append(Change("dropped", name, f"link {link.id}", None, rule_id,
                                  edit.dropped.get(name or "", "no counterpart in the new nodes")))
            continue
        held = 0 <= slot < len(old_inputs) and old_inputs[slot].get("link") == link.id
        if not held:
            # A link the old node's socket does not hold (a frontend extension's leftover, e.g.
            # Anything Everywhere's): it follows the first counterpart, still not held by any
            # socket, and is never copied; copies would be second links into one socket.
            ref, new_name = targets[0]
            link.target_id, link.target_slot = made[ref]["id"], _slot(made[ref], new_name)
            changes.append(Change("relinked", f"{name} → {made[ref]['id']}.{new_name}", None, None, rule_id,
                                  f"link {link.id}, which no socket held, follows; still held by none"))
            continue
        for k, (ref, new_name) in enumerate(targets):
            target = made[ref]
            slot_new = _slot(target, new_name)
            if k == 0:
                link.target_id, link.target_slot = target["id"], slot_new
                link_id = link.id
            else:
                link_id = scope.add_link(link.origin_id, link.origin_slot, target["id"], slot_new, link.type)
                origin = scope.node(link.origin_id)
                _output_links(origin, link.origin_slot).append(link_id)
            target["inputs"][slot_new]["link"] = link_id
            changes.append(Change("relinked", f"{name} → {target['id']}.{new_name}", None, None, rule_id))

    _retarget_broadcasts(scope, old, old_inputs, edit, made, changes, rule_id)

    # links out of the old node
    for link in scope.links_out_of(old.get("id")):
        source = next(((made[n.ref], n.outputs_from[link.origin_slot]) for n in edit.nodes
                       if link.origin_slot in n.outputs_from), None)
        if source is None:
            _drop_link(scope, link)
            changes.append(Change("dropped", f"output {link.origin_slot}", f"link {link.id}", None, rule_id))
            continue
        node, slot = source
        link.origin_id, link.origin_slot = node["id"], slot
        _output_links(node, slot).append(link.id)
        out_type = node["outputs"][slot]["type"] if slot < len(node["outputs"]) else None
        if out_type not in (None, "*") and link.type not in (out_type, "*"):
            changes.append(Change("retyped", f"{node['id']}.output {slot}", link.type, out_type, rule_id,
                                  f"link {link.id} to node {link.target_id}"))
            link.type = out_type

    # links between the new nodes
    for new in edit.nodes:
        for name, origin in new.links_from.items():
            ref, _, slot_text = origin.rpartition(".")
            source, target = made[ref], made[new.ref]
            slot_in = _slot(target, name)
            out_type = specs[ref].latest.outputs[int(slot_text)].type
            link_id = scope.add_link(source["id"], int(slot_text), target["id"], slot_in, out_type)
            target["inputs"][slot_in]["link"] = link_id
            _output_links(source, int(slot_text)).append(link_id)
    for name, why in edit.dropped.items():
        if name in values:
            changes.append(Change("dropped", name, values[name], None, rule_id, why))
    changes.insert(0, Change("replaced", None, old.get("type"), [n["type"] for n in made.values()], rule_id,
                             "new node ids " + ", ".join(str(n["id"]) for n in made.values())))
    return [n["id"] for n in made.values()], changes


def _new_node(old: dict[str, Any], scope: Scope, class_type: str, spec: Any, widgets: list[Any],
              k: int, ver: str | None) -> dict[str, Any]:
    x, y = _pair(old.get("pos"), (0, 0))
    w, h = _pair(old.get("size"), (315, 200))
    node: dict[str, Any] = {
        "id": scope.new_node_id(), "type": class_type, "pos": [x, y + k * (h + _GAP)],
        "size": [w, h], "flags": {}, "order": old.get("order", 0), "mode": old.get("mode", 0),
        "inputs": [{"name": i.name, "type": i.type, "link": None} for i in spec.latest.inputs
                   if not i.is_widget and i.section != "hidden" and not i.force_input],
        "outputs": [{"name": o.name or o.type, "type": o.type, "links": [], "slot_index": n}
                    for n, o in enumerate(spec.latest.outputs)],
        "properties": {"Node name for S&R": class_type},
        "widgets_values": widgets,
    }
    props = old.get("properties") if isinstance(old.get("properties"), dict) else {}
    if props.get("cnr_id") is not None:
        node["properties"]["cnr_id"] = props["cnr_id"]
    if ver:
        node["properties"]["ver"] = ver
    for key in ("color", "bgcolor"):
        if key in old:
            node[key] = old[key]
    return node


def _retarget_broadcasts(scope: Scope, old: dict[str, Any], old_inputs: list[dict[str, Any]], edit: ReplaceNode,
                         made: dict[str, dict[str, Any]], changes: list[Change], rule_id: str) -> None:
    """Anything Everywhere's saved links (``extra.ue_links``, what wfrun's graph builder
    reads) into the old node follow their input to its counterpart in the new nodes, as the
    extension would recompute them on the next save; one with no counterpart is dropped."""
    extra = scope.holder.get("extra")
    saved = extra.get("ue_links") if isinstance(extra, dict) else None
    if not isinstance(saved, list):
        return
    kept = []
    for entry in saved:
        if not isinstance(entry, dict) or str(entry.get("downstream")) != str(old.get("id")):
            kept.append(entry)
            continue
        slot = entry.get("downstream_slot")
        name = old_inputs[slot].get("name") if isinstance(slot, int) and 0 <= slot < len(old_inputs) else None
        target = next(((made[n.ref], new_name) for n in edit.nodes for new_name, o in n.inputs_from.items()
                       if o == name and n.ref in made and _slot(made[n.ref], new_name) is not None), None)
        if target is None:
            changes.append(Change("dropped", name, "broadcast link", None, rule_id, "no counterpart in the new nodes"))
            continue
        node, new_name = target
        kept.append({**entry, "downstream": node["id"], "downstream_slot": _slot(node, new_name)})
        changes.append(Change("relinked", f"broadcast {name} → {node['id']}.{new_name}", None, None, rule_id))
    extra["ue_links"] = kept


def _pair(value: Any, fallback: tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) >= 2:
        return value[0], value[1]
    if isinstance(value, dict) and "0" in value and "1" in value:
        return value["0"], value["1"]
    return fallback


def _slot(node: dict[str, Any], name: str) -> int | None:
    for i, item in enumerate(node.get("inputs") or []):
        if item.get("name") == name:
            return i
    return None


def _output_links(node: dict[str, Any] | None, slot: int) -> list[Any]:
    outputs = (node or {}).get("outputs") or []
    if 0 <= slot < len(outputs) and isinstance(outputs[slot], dict):
        if not isinstance(outputs[slot].get("links"), list):
            outputs[slot]["links"] = []
        return outputs[slot]["links"]
    return []


def _drop_link(scope: Scope, link: Any) -> None:
    origin = scope.node(link.origin_id)
    links = _output_links(origin, link.origin_slot)
    if link.id in links:
        links.remove(link.id)
    scope.remove_link(link.id)
