"""Group nodes of ComfyUI's first frontend, expanded into their inner nodes.

Before subgraphs, the frontend (``web/extensions/core/groupNode.js``, 2023-2025) let a user
fold selected nodes into one node of type ``workflow>Name`` (``workflow/Name`` in older
saves). The file keeps the inner nodes under ``extra.groupNodes[Name]``: ``nodes`` (copies
in execution order; the *index* in this list is what ``links`` and ``external`` name),
``links`` (``[from index, from slot, to index, to slot, old id, type]``, inner to inner) and
``external`` (``[index, slot, type]``: inner outputs that fed nodes outside the group).
The group node itself carries the live widget values and the links to the rest of the graph.

The frontend builds the group's node definition from its inner nodes, in order:

* widgets: each inner node's widgets in its own order, so the group's ``widgets_values`` is
  the inner nodes' lists one after another (a seed's ``control_after_generate`` included);
* inputs: each inner node's sockets that no inner link feeds, in order;
* outputs: each inner node's outputs in order, except those only inner links read (an output
  listed in ``external`` stays).

When ComfyUI runs a group node it runs the inner nodes, with ids ``<group id>:<index>``;
wfrun does the same here, before building the graph, on a copy (the document is untouched).
Only that plain form is expanded. A group with a custom ``config`` (renamed or hidden
slots), inner widgets converted to sockets, a widget list of another length than its inner
nodes' lists together, or a group node that is bypassed is left as it is, and the checks
name it as a group node wfrun does not expand, with the way out (Convert to nodes).
"""

from __future__ import annotations

from typing import Any

from wfrun.formats.ui import UIInput, UINode, UIOutput, UIWorkflow, normalise_links
from wfrun.specs.registry import is_legacy_group_node

#: Node modes: 0 runs, 2 is muted (never runs), 4 is bypassed.
_MUTED = 2


def _definition(workflow: UIWorkflow, node: UINode) -> dict[str, Any] | None:
    groups = (workflow.extra or {}).get("groupNodes")
    if not isinstance(groups, dict) or not is_legacy_group_node(node.type):
        return None
    found = groups.get(node.type[len("workflow") + 1:])
    return found if isinstance(found, dict) else None


def _inner_links(definition: dict[str, Any], count: int) -> list[tuple[int, int, int, int, Any]] | None:
    links = []
    for link in definition.get("links") or []:
        if not isinstance(link, list) or len(link) < 4 or link[0] is None:
            continue  # the frontend skips links that leave the copied nodes
        src, src_slot, dst, dst_slot = link[:4]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (src, src_slot, dst, dst_slot)):
            return None
        if not (0 <= src < count and 0 <= dst < count):
            return None
        links.append((src, src_slot, dst, dst_slot, link[5] if len(link) > 5 else None))
    return links


def _widget_order_known(inner: list[UINode]) -> bool:
    """Whether the group's widget list is the inner nodes' lists one after another.

    The frontend puts an inner node's widgets first, node by node, and the widgets listed as
    sockets (``inputs[i].widget``: "converted" ones) after all of them, node by node, each
    node's sorted by socket index as JavaScript sorts numbers (as text). Both give the plain
    order when no inner node lists a widget as a socket (files before frontend 1.16) or when
    every one lists all its widgets so (later files: every widget has a socket), with fewer
    than ten sockets; any mix is left unexpanded."""
    listed = [sum(1 for i in n.inputs or [] if i.widget is not None) for n in inner]
    if not any(listed):
        return True
    return all(count == len(n.widgets_values) and len(n.inputs or []) < 10
               for count, n in zip(listed, inner) if isinstance(n.widgets_values, list))


class _Plan:
    """How one group node maps onto its inner nodes (``None`` fields: not the plain form)."""

    def __init__(self, group: UINode, definition: dict[str, Any]):
        self.ok = False
        raw = definition.get("nodes")
        if not isinstance(raw, list) or not raw or definition.get("config"):
            return
        try:
            self.inner = [UINode.model_validate(n) for n in raw]
        except Exception:  # noqa: BLE001 - a broken copy is simply not expanded
            return
        links = _inner_links(definition, len(self.inner))
        if links is None or group.mode not in (0, _MUTED):
            return
        self.links = links
        external = {(e[0], e[1]) for e in definition.get("external") or [] if isinstance(e, list) and len(e) >= 2}
        fed = {(dst, slot) for _, _, dst, slot, _ in links}
        read = {(src, slot) for src, slot, _, _, _ in links}
        # inputs: unfed sockets of the inner nodes, in order (widgets are not sockets of the group)
        self.group_inputs: list[tuple[int, int]] = []
        for index, node in enumerate(self.inner):
            for slot, ui_input in enumerate(node.inputs or []):
                if ui_input.widget is None and (index, slot) not in fed:
                    self.group_inputs.append((index, slot))
        if not _widget_order_known(self.inner):
            return
        # outputs: every inner output but those only inner links read
        self.group_outputs: list[tuple[int, int]] = [
            (index, slot) for index, node in enumerate(self.inner) for slot in range(len(node.outputs or []))
            if (index, slot) not in read or (index, slot) in external]
        # widgets: the inner nodes' lists one after another
        values = group.widgets_values if group.widgets_values is not None else []
        inner_values = [n.widgets_values if n.widgets_values is not None else [] for n in self.inner]
        if not isinstance(values, list) or not all(isinstance(v, list) for v in inner_values):
            return
        if sum(len(v) for v in inner_values) != len(values):
            return
        self.widgets: list[list[Any]] = []
        start = 0
        for own in inner_values:
            self.widgets.append(list(values[start:start + len(own)]))
            start += len(own)
        if any(i.widget is not None and i.link is not None for i in group.inputs or []):
            return  # a widget of the group fed from outside: which inner widget it is depends on the frontend
        if len([i for i in group.inputs or [] if i.widget is None]) > len(self.group_inputs):
            return
        if len(group.outputs or []) > len(self.group_outputs):
            return
        self.ok = True


def inline_group_nodes(workflow: UIWorkflow, max_nodes: int, max_links: int) -> UIWorkflow:
    """``workflow`` with each plain legacy group node replaced by its inner nodes (a copy;
    the same object when there is none to expand). Nothing is expanded where the result
    would hold more than ``max_nodes`` nodes or ``max_links`` links (a small file can name one
    large group many times): the group nodes then stay, and are named as not expanded."""
    plans = {}
    for node in workflow.nodes:
        definition = _definition(workflow, node)
        if definition is not None:
            plan = _Plan(node, definition)
            if plan.ok:
                plans[node.id] = plan
    if not plans:
        return workflow
    nodes_after = len(workflow.nodes) + sum(len(plan.inner) - 1 for plan in plans.values())
    links_after = len(workflow.links) + sum(len(plan.links) for plan in plans.values())
    if nodes_after > max_nodes or links_after > max_links:
        return workflow

    links = [[k.id, k.origin_id, k.origin_slot, k.target_id, k.target_slot, k.type]  # the 0.4 array layout
             for k in normalise_links(workflow.links)]
    next_link = max((link[0] for link in links), default=0) + 1
    nodes: list[UINode] = [n for n in workflow.nodes if n.id not in plans]
    for group_id, plan in plans.items():
        group = next(n for n in workflow.nodes if n.id == group_id)
        ids = [f"{group_id}:{index}" for index in range(len(plan.inner))]
        inner = []
        for index, copy in enumerate(plan.inner):
            inputs = [UIInput(name=i.name, type=i.type, label=i.label) for i in copy.inputs or []]
            outputs = [UIOutput(name=o.name, type=o.type, links=[]) for o in copy.outputs or []]
            inner.append(copy.model_copy(update={"id": ids[index], "mode": group.mode, "inputs": inputs,
                                                 "outputs": outputs, "widgets_values": plan.widgets[index]}))
        for src, src_slot, dst, dst_slot, kind in plan.links:
            links.append([next_link, ids[src], src_slot, ids[dst], dst_slot, kind])
            next_link += 1
        for link in links:  # the group's own links now start or end at an inner node
            if link[1] == group_id and link[2] < len(plan.group_outputs):
                index, slot = plan.group_outputs[link[2]]
                link[1], link[2] = ids[index], slot
            if link[3] == group_id and link[4] < len(plan.group_inputs):
                index, slot = plan.group_inputs[link[4]]
                link[3], link[4] = ids[index], slot
        nodes.extend(inner)
    by_id = {n.id: n for n in nodes}
    for link in links:
        origin, target = by_id.get(link[1]), by_id.get(link[3])
        if isinstance(link[1], str) and origin is not None and link[2] < len(origin.outputs or []):
            origin.outputs[link[2]].links.append(link[0])
        if isinstance(link[3], str) and target is not None and link[4] < len(target.inputs or []):
            target.inputs[link[4]].link = link[0]
    return workflow.model_copy(update={"nodes": nodes, "links": links})
