"""The pack author's own re-saves, as migration test cases (shared by the migrate tests).

The corpus manifest lists every version of every example workflow of the pack. Two
consecutive versions of one example are a re-save by the author; where a node (same id,
same type) was saved with different signatures in the two, the older file migrated must
hold the values the author saved in the newer one. Pairs are computed from the manifest,
so new corpus files are picked up without editing a test.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from conftest import CORPUS, wan_manifest
from wfrun.formats.document import load
from wfrun.migrate import migrate_document
from wfrun.migrate.history import PackClock, saved_signatures
from wfrun.migrate.rebind import bind_saved
from wfrun.specs.registry import default_registry

WAN = CORPUS / "wanvideowrapper"


@dataclass(frozen=True)
class Pair:
    older: str
    newer: str

    @property
    def id(self) -> str:
        return f"{self.older[:18]}->{self.newer[:18]}{self.older[18:-5]}"


def resave_pairs() -> list[Pair]:
    clock = PackClock(default_registry(), "ComfyUI-WanVideoWrapper")
    by_path: dict[str, list[dict]] = defaultdict(list)
    for entry in wan_manifest():
        by_path[entry["path"]].append(entry)
    pairs = []
    for entries in by_path.values():
        entries.sort(key=lambda e: (e["date"], clock.position.get(e["commit"], -1)))
        pairs += [Pair(a["file"], b["file"]) for a, b in zip(entries, entries[1:])]
    return sorted(pairs, key=lambda p: p.older)


@lru_cache(maxsize=None)
def migrated(name: str):
    return migrate_document(load(WAN / name))


def named_values(nodes: list[dict]) -> dict[str, tuple[str, tuple[str, ...], dict[str, Any]]]:
    """node id → (type, saved widget names, values by name), read the way migrate reads."""
    registry = default_registry()
    saved = saved_signatures(nodes, registry)
    out = {}
    for node in nodes:
        found = saved.get(id(node))
        if found is None:
            continue
        bound = bind_saved(found.signature, list(node.get("widgets_values") or []), found.legacy)
        out[str(node["id"])] = (node["type"], tuple(w.name for w in found.signature.widgets), bound.values)
    return out


def raw_nodes(name: str) -> list[dict]:
    return json.loads((WAN / name).read_text(encoding="utf-8"))["nodes"]


def same(a: Any, b: Any) -> bool:
    """Equal values, numbers compared as numbers (the frontend re-saves 6 as
    6.000000000000001); a boolean never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


@dataclass(frozen=True)
class Difference:
    pair: str
    node: str
    class_type: str
    input: str
    migrated: Any
    author: Any


def differences(pair: Pair) -> tuple[int, list[Difference]]:
    """How many nodes changed signature between the two saves, and where the migrated
    older file differs from the values the author saved in the newer one."""
    old_saved = named_values(raw_nodes(pair.older))
    new_saved = named_values(raw_nodes(pair.newer))
    old_result, new_result = migrated(pair.older), migrated(pair.newer)
    old_migrated = named_values(old_result.document.dump()["nodes"])
    new_migrated = named_values(new_result.document.dump()["nodes"])
    not_saved = _not_saved_by_author(new_result)
    compared, out = 0, []
    for node_id, (class_type, names, _) in old_saved.items():
        newer = new_saved.get(node_id)
        if newer is None or newer[0] != class_type:
            continue
        if names == newer[1]:
            continue
        targets = [(node_id, node_id)]
        report = next((n for n in old_result.nodes if str(n.id) == node_id and n.replaced_by), None)
        if report is not None:
            targets = _replacement_targets(report.replaced_by, old_migrated, new_migrated)
        for mine, theirs in targets:
            compared += 1
            out += _compare(pair, theirs, old_migrated.get(mine), new_migrated.get(theirs),
                            not_saved.get(theirs, set()))
    for report in old_result.nodes:
        if not report.replaced_by or str(report.id) in new_saved:
            continue
        for mine, theirs in _replacement_targets(report.replaced_by, old_migrated, new_migrated):
            compared += 1
            out += _compare(pair, theirs, old_migrated.get(mine), new_migrated.get(theirs),
                            not_saved.get(theirs, set()))
    return compared, out


def _not_saved_by_author(result) -> dict[str, set[str]]:
    """Inputs of the newer file that migration filled in (the author saved no value)."""
    out: dict[str, set[str]] = defaultdict(set)
    for report in result.nodes:
        for change in report.changes:
            if change.what in ("filled", "inserted") and change.input:
                out[str(report.id)].add(change.input)
    return out


def _replacement_targets(new_ids: list, mine: dict, theirs: dict) -> list[tuple[str, str]]:
    """Match each replacement node to the newer file's only node of its type."""
    out = []
    for new_id in new_ids:
        class_type = mine[str(new_id)][0]
        same_type = [i for i, v in theirs.items() if v[0] == class_type]
        ours = [i for i, v in mine.items() if v[0] == class_type]
        if len(same_type) == 1 and len(ours) == 1:
            out.append((str(new_id), same_type[0]))
    return out


def _compare(pair: Pair, node_id: str, mine, theirs, skip: set[str]) -> list[Difference]:
    if mine is None or theirs is None:
        return [Difference(pair.id, node_id, "?", "(node)", mine is not None, theirs is not None)]
    out = []
    for name, value in theirs[2].items():
        if name in skip:
            continue
        if name not in mine[2] or not same(mine[2][name], value):
            out.append(Difference(pair.id, node_id, theirs[0], name, mine[2].get(name, "(missing)"), value))
    return out
