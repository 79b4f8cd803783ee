"""Migrating a whole document: for each node, find what it was saved with, re-bind its
values by name, apply the pack's rules, write the newest layout.

This is the one entry point (``migrate_document``) that both ``wfrun migrate`` and
``wfrun run`` (in memory) call. It works on a copy of the file's JSON value, so the input
document is never modified and everything it does not touch is kept as it was. A node
whose values already sit where the newest signature wants them is left byte-for-byte
alone; a node that is rewritten gets ``properties.ver`` set to the pack commit its values
now match, so a second run reads it with that signature and changes nothing.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

from wfrun.atomic import (copy_owner_and_mode, name_the_file, publish_first_free, remove_quietly, temp_beside,
                          writing)
from wfrun.formats.document import Document, dumps, from_data, write_atomic
from wfrun.formats.source import read_workflow
from wfrun.graph.widgets import spec_for
from wfrun.migrate.history import PackClock, Saved, saved_signatures
from wfrun.migrate.outputs import read_signature, stale_outputs, sync_outputs
from wfrun.migrate.rebind import Bound, bind_saved, introduction_default, write
from wfrun.migrate.replace import replace_node
from wfrun.migrate.report import Change, MigrationResult, NodeReport
from wfrun.migrate.rule import MigrationRule, ReplaceNode
from wfrun.migrate.rules import apply_structure_edits, apply_value_edits, load_rules, matches, rules_for
from wfrun.migrate.scope import Scope, scopes
from wfrun.specs.registry import Registry, default_registry
from wfrun.specs.spec import NodeSpec


def migrate_document(document: Document, registry: Registry | None = None,
                     rules: list[MigrationRule] | None = None) -> MigrationResult:
    """Repair node API breaks in ``document``; returns a new document and a report.

    API prompts name their inputs already, so they come back unchanged.
    """
    registry = registry or default_registry()
    rules = load_rules() if rules is None else rules
    if document.kind != "ui":
        return MigrationResult(document, [])
    data = copy.deepcopy(document.dump())
    clocks = {pack: PackClock(registry, pack) for pack in registry.packs}
    reports: list[NodeReport] = []
    for scope in scopes(data):
        reports += _migrate_scope(scope, registry, rules, clocks)
    result = MigrationResult(document, reports)
    if result.changed:
        result.document = from_data(data, document.source)
    return result


def _migrate_scope(scope: Scope, registry: Registry, rules: list[MigrationRule],
                   clocks: dict[str, PackClock]) -> list[NodeReport]:
    saved_map = saved_signatures(scope.nodes, registry)
    reports = []
    followers: dict[Any, list[Change]] = {}  # changes made to a node by another node's rule
    for node in list(scope.nodes):
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("type"))
        spec = spec_for(registry, class_type, node.get("properties"), node.get("widgets_values"))
        own_rules = rules_for(rules, class_type)
        if spec is None and not own_rules:
            continue
        clock = clocks.get(spec.pack) if spec else None
        report = NodeReport(node.get("id"), class_type, node.get("title") or (spec.display_name if spec else None),
                            scope.path)
        saved = saved_map.get(id(node))
        active = [r for r in own_rules if clock is None or matches(r, node, saved, clock)]
        if spec is not None and id(node) in saved_map:
            if saved is None:
                report.problem = (f"its {len(node.get('widgets_values') or [])} saved widget values fit no "
                                  "signature this node ever had; left as it was")
            else:
                report.saved_commit, report.saved_date = saved.signature.first_commit, saved.signature.date
                report.saved_how, report.saved_fit = saved.how, saved.fit
                replaced = _migrate_values(node, scope, spec, saved, active, registry, clocks, report)
                if replaced:
                    reports.append(report)
                    continue
        structure = [c for rule in active
                     for c in apply_structure_edits(rule, node, scope, spec.latest if spec else None, followers)]
        if structure and spec is not None:
            _record_version(node, clock)  # its sockets are the newest now, whatever its values were
        report.changes += structure
        if spec is not None:
            report.changes += _follow_newest_outputs(node, scope, spec, registry, clock, followers,
                                                     rewritten=report.changed)
        if report.changed or report.problem:
            reports.append(report)
    return _with_followers(reports, followers, scope)


def _follow_newest_outputs(node: dict[str, Any], scope: Scope, spec: NodeSpec, registry: Registry,
                           clock: PackClock | None, followers: dict[Any, list[Change]],
                           rewritten: bool) -> list[Change]:
    """Outputs and the links leaving them take the newest signature's types (see
    :mod:`outputs`): for a rewritten node, and for one that would be read with older output
    types, which also gets ``properties.ver`` so that it is read with the newest signature."""
    stale = stale_outputs(node, spec, registry)
    if not (rewritten or stale):
        return []
    read = [o.type for o in read_signature(node, spec, registry).outputs]
    recorded = False
    if stale and not rewritten:
        # Only where the values fit the newest signature, so that it is then read with it;
        # a node saved by a version newer than the specs know is left as it was.
        had = "properties" in node
        saved_props = copy.deepcopy(node.get("properties"))
        _record_version(node, clock)
        if read_signature(node, spec, registry) is not spec.latest:
            if had:
                node["properties"] = saved_props
            else:
                node.pop("properties", None)
            return []
        recorded = saved_props != node.get("properties")
    changes = sync_outputs(node, scope, spec, followers)
    if recorded:
        latest = [o.type for o in spec.latest.outputs]
        done = {c.input for c in changes}
        for slot, (old, new) in enumerate(zip(read, latest)):
            if old != new and f"output {slot}" not in done:
                changes.append(Change("retyped", f"output {slot}", old, new, None,
                                      f"read as {old} with the signature of properties.ver; "
                                      "properties.ver now names the newest commit"))
    return changes


def _with_followers(reports: list[NodeReport], followers: dict[Any, list[Change]], scope: Scope) -> list[NodeReport]:
    """Add the changes other nodes' rules made to a node to its report (a new one if it has none)."""
    by_id = {str(r.id): r for r in reports}
    for node_id, changes in followers.items():
        report = by_id.get(str(node_id))
        if report is None:
            node = scope.node(node_id) or {}
            report = NodeReport(node_id, str(node.get("type")), node.get("title"), scope.path)
            reports.append(report)
            by_id[str(node_id)] = report
        report.changes += changes
    return reports


def _migrate_values(node: dict[str, Any], scope: Scope, spec: NodeSpec, saved: Saved,
                    active: list[MigrationRule], registry: Registry, clocks: dict[str, PackClock],
                    report: NodeReport) -> bool:
    """Re-bind one node's widget values; True when a rule replaced the node."""
    original = list(node.get("widgets_values") or [])
    bound = bind_saved(saved.signature, original, saved.legacy)
    named = dict(bound.values)
    rule_changes: list[Change] = []
    for rule in active:
        rule_changes += apply_value_edits(rule, named, node, scope)
    for rule in active:
        for edit in rule.edits:
            if isinstance(edit, ReplaceNode):
                versions = {p: c.last_commit if c.position else None for p, c in clocks.items()}
                ids, changes = replace_node(node, scope, named, edit, registry, rule.id, versions)
                report.replaced_by = ids
                report.changes += rule_changes + changes + _extras(bound)
                return True

    def default(target: Any) -> Any:
        return introduction_default(spec, saved.index, target.name, target)

    written = write(spec.latest, bound, named, saved.write_legacy, default=default)
    # A saved widget value whose input the newest signature still has, but as a type wfrun
    # does not lay out by position (a pack's own frontend widget, e.g. the LoRA Manager's
    # AUTOCOMPLETE_TEXT_LORAS), would be lost by the rewrite: the node is read as saved.
    stranded = [name for name in written.unplaced
                if (target := spec.latest.input(name)) is not None and not target.is_widget]
    if stranded:
        report.changes.append(Change("kept", ", ".join(stranded), None, None, None,
                                     "the newest signature takes it as an input of type "
                                     f"{'/'.join(spec.latest.input(n).type for n in stranded)}, not a "
                                     "positional widget: the node is read with the signature it was saved for"))
        return False
    kept = original[:len(original) - len(bound.trailing)]
    if _same(written.values, kept) and ("widgets_values" in node or not original):
        # Already in the newest layout; display-only values past the end stay as saved.
        report.changes += [c for c in rule_changes if c.what == "renamed"]
        return False
    node["widgets_values"] = written.values
    _record_version(node, clocks.get(spec.pack))
    report.changes += rule_changes
    report.changes += _moves(bound, spec, saved, written.values, named)
    report.changes += [Change("filled", name, None, value) for name, value in written.filled.items()
                       if name not in written.rejected]
    report.changes += [Change("rejected", name, value, written.filled[name], None,
                              f"the input is now {spec.latest.input(name).type if spec.latest.input(name) else '?'}; "
                              f"default {written.filled[name]!r} used")
                       for name, value in written.rejected.items()]
    report.changes += [Change("unplaced", name, value, None, None, "the input no longer exists")
                       for name, value in written.unplaced.items()]
    report.changes += _extras(bound)
    if not report.changes:
        report.changes.append(Change("moved", None, original, written.values))
    return False


def _extras(bound: Bound) -> list[Change]:
    out = [Change("unplaced", None, value, None, None, "saved past the last input")
           for value in bound.extras]
    if bound.trailing:
        out.append(Change("trailing", None, bound.trailing, None, None,
                          "not carried: the frontend would put it into the next input the pack adds"))
    return out


def _moves(bound: Bound, spec: NodeSpec, saved: Saved, new_values: list[Any],
           named: dict[str, Any]) -> list[Change]:
    from wfrun.migrate.rebind import target_slots

    new_positions = {s.input.name: i for i, s in enumerate(target_slots(spec.latest, saved.write_legacy, named))
                     if s.kind == "value"}
    out = []
    for name, old in bound.positions.items():
        new = new_positions.get(name)
        if new is not None and new != old:
            out.append(Change("moved", name, old, new))
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (so ``1`` ≠ ``1.0`` ≠ ``true``)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _record_version(node: dict[str, Any], clock: PackClock | None) -> None:
    """Mark a rewritten node with the pack commit its values now match."""
    if clock is None or not clock.last_commit or clock.last_commit not in clock.position:
        return
    props = node.get("properties")
    if props is None:
        props = node["properties"] = {}
    if not isinstance(props, dict):
        return
    cnr = props.get("cnr_id")
    if cnr is None or str(cnr).lower() in clock.names:
        props["ver"] = clock.last_commit


# --- files ------------------------------------------------------------------------------------

#: How many numbered backups (``FILE.bak.1`` …) may pile up before wfrun refuses to add one.
MAX_BACKUPS = 999


def migrate_file(path: str | Path, output: str | Path | None = None, in_place: bool = False,
                 backup: bool = True, registry: Registry | None = None) -> tuple[MigrationResult, str]:
    """Migrate the file at ``path``; return the result and the migrated JSON text.

    With ``output`` the text is written there (never over an existing file), with
    ``in_place`` over ``path`` (see :func:`rewrite_in_place`); otherwise nothing is written.
    An unchanged file is never rewritten.
    """
    loaded = read_workflow(path)  # JSON, or the workflow embedded in an image or video
    if in_place and loaded.embedded:
        raise ValueError(f"{path}: a workflow inside a {loaded.container} file is never rewritten in place")
    result = migrate_document(from_data(loaded.data, loaded.source), registry=registry)
    text = dumps(result.document) if result.changed else loaded.text
    if in_place and result.changed:
        rewrite_in_place(path, text, backup=backup)
    elif output is not None:
        write_atomic(output, text, replace=False)
    return result, text


def rewrite_in_place(path: str | Path, text: str, backup: bool = True) -> Path | None:
    """Replace the workflow at ``path`` by ``text``; return the backup's path (None without).

    Nothing the user had is lost, whatever happens:

    * the backup is a complete copy of the old bytes (mode and times kept) beside ``path``,
      under the first free name of ``FILE.bak``, ``FILE.bak.1``, ``FILE.bak.2`` … up to
      ``FILE.bak.999``: an existing backup, or anything else of that name, is never replaced;
    * a symlink is followed: its target is rewritten and the link stays a link;
    * the rewritten file keeps the old one's mode (and owner where allowed);
    * the new text and the backup are both written to synced temporary files first; only then
      does the backup take its name and the new file replace the old one. A full disk or any
      error before that leaves the folder exactly as it was; SIGKILL can leave only a hidden
      ``.FILE.….part`` temporary, never a partial file under a real name.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    old = target.read_bytes()
    made: Path | None = None
    try:
        with writing(target, replace=True, like=target) as temp:
            _write_synced(temp, text.encode("utf-8"))
            if backup:
                made = _write_backup(path, old, like=target)
    except BaseException:
        if made is not None and _holds(target, old):  # the rewrite failed after the backup
            remove_quietly(made)
        raise
    return made


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False  # unsure: keep the backup


def backup_names(path: Path) -> list[Path]:
    """``FILE.bak``, then ``FILE.bak.1`` … ``FILE.bak.999``, in the order they are tried."""
    return [path.with_name(f"{path.name}.bak")] + [path.with_name(f"{path.name}.bak.{i}")
                                                   for i in range(1, MAX_BACKUPS + 1)]


def _write_backup(path: Path, data: bytes, like: Path) -> Path:
    names = backup_names(path)
    temp = temp_beside(names[0])
    try:
        _write_synced(temp, data)
        shutil.copystat(like, temp)
        copy_owner_and_mode(like, temp)
        return publish_first_free(temp, names)
    except OSError as err:
        raise name_the_file(err, names[0], temp)
    finally:
        remove_quietly(temp)


def _write_synced(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) holding ``data``, on the disk when this returns."""
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
