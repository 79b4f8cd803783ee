"""``wfrun coverage``: which node types keep a set of workflows from running, and how often.

Each file goes the way ``wfrun run --smoke`` takes it, up to the point where a run would
refuse: read (JSON, or embedded in an image or video), migrate in memory, build the
graph, plan. The plan's unsupported nodes (planned nodes with no executor; nodes the
planner prunes — untaken lazy branches too —, display-only nodes it skips and frontend-only
nodes never count) are what
blocks the file. A file that cannot be read or planned at all is listed apart, with why.
Nothing is loaded and no model file is looked at: this answers "could wfrun run these,
node-wise", not "are the models here".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfrun.engine.plan import PlanError, make_plan
from wfrun.formats.document import FormatError, from_data
from wfrun.formats.source import read_workflow
from wfrun.graph import build
from wfrun.jobs.run import migrate_in_memory, pack_name
from wfrun.specs.registry import Registry, default_registry


@dataclass
class FileCoverage:
    path: str
    #: (class_type, pack) of each node type that blocks the file (each once).
    blocking: list[tuple[str, str | None]] = field(default_factory=list)
    #: The ids of the planned nodes that no pack of wfrun runs (what ``wfrun run`` names).
    unsupported_ids: list[str] = field(default_factory=list)
    #: Why the file could not be read or planned (None when it was planned).
    error: str | None = None

    @property
    def supported(self) -> bool:
        return self.error is None and not self.blocking


@dataclass
class Coverage:
    files: list[FileCoverage]

    @property
    def supported(self) -> int:
        return sum(1 for f in self.files if f.supported)

    @property
    def unplanned(self) -> list[FileCoverage]:
        return [f for f in self.files if f.error is not None]

    def rows(self) -> list[dict[str, Any]]:
        """One row per node type: the workflows it blocks, most first, and its pack (the
        spec's, else the guess most files suggest, marked ``?``)."""
        blocked: dict[str, list[str]] = defaultdict(list)
        packs: dict[str, Counter] = defaultdict(Counter)
        for f in self.files:
            for class_type, pack in f.blocking:
                blocked[class_type].append(f.path)
                packs[class_type][pack] += 1
        ordered = sorted(blocked.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return [{"type": t, "pack": _likeliest(packs[t]), "workflows": len(paths), "files": paths}
                for t, paths in ordered]

    def summary(self) -> str:
        line = f"{self.supported} of {len(self.files)} workflows have every planned node supported"
        if self.unplanned:
            line += f" ({len(self.unplanned)} could not be read or planned)"
        return line

    def to_json(self) -> dict[str, Any]:
        return {"workflows": len(self.files), "supported": self.supported, "summary": self.summary(),
                "node_types": self.rows(),
                "unplanned": [{"file": f.path, "error": f.error} for f in self.unplanned],
                "files": [{"file": f.path, "supported": f.supported,
                           "blocking": [{"type": t, "pack": p} for t, p in f.blocking]}
                          for f in self.files]}

    def text(self) -> str:
        rows = self.rows()
        lines = []
        if rows:
            width = max(len("node type"), *(len(r["type"]) for r in rows))
            lines.append(f"{'blocks':>6}  {'node type':<{width}}  pack")
            for r in rows:
                lines.append(f"{r['workflows']:>6}  {r['type']:<{width}}  {r['pack'] or 'unknown'}")
        for f in self.unplanned:
            lines.append(f"not planned: {f.path}: {f.error}")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"


def _likeliest(packs: Counter) -> str | None:
    """A spec's pack (no ``?``) first, else the most frequent guess."""
    known = [p for p in packs if p is not None and not p.endswith("?")]
    if known:
        return known[0]
    guesses = [(n, p) for p, n in packs.items() if p is not None]
    return max(guesses, key=lambda g: (g[0], g[1]))[1] if guesses else None


def file_coverage(path: str | Path, registry: Registry | None = None) -> FileCoverage:
    registry = registry or default_registry()
    result = FileCoverage(str(path))
    try:
        document = from_data(read_workflow(Path(path)).data, str(path))
    except FormatError as err:
        result.error = str(err).splitlines()[0]
        return result
    except OSError as err:
        result.error = f"cannot read it: {err.strerror or err}"
        return result
    document, _ = migrate_in_memory(document, registry)
    graph = build(document, registry)
    try:
        plan = make_plan(graph)
    except PlanError as err:
        result.error = str(err)
        return result
    seen: set[tuple[str, str | None]] = set()
    result.unsupported_ids = [str(node_id) for node_id in plan.unsupported]
    for node_id in plan.unsupported:
        node = graph.node(node_id)
        key = (node.class_type, pack_name(node))
        if key not in seen:
            seen.add(key)
            result.blocking.append(key)
    return result


def coverage(paths: list[str | Path], registry: Registry | None = None) -> Coverage:
    registry = registry or default_registry()
    return Coverage([file_coverage(p, registry) for p in paths])
