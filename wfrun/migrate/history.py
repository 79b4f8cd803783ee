"""Which signature a node was saved with: the first question of every migration.

Widget values are positional, so before anything can be moved we must know the input
list the frontend had when it wrote them. ``properties.ver`` (a pack commit) answers
when the file carries it and the values fit that commit's signature. Otherwise several
signatures usually fit the saved count and value kinds (an input added and later
removed, side branches); we then take the one nearest in date to the *other* nodes of
the same pack in the file, because a file is saved at one moment with one version of
each pack.

Fits come in tiers, best first: exact (count and kinds), short (fewer values than slots:
saved before inputs were appended), and lenient (kinds a known frontend accident
explains: text ``"true"``/``""`` in a BOOLEAN, a boolean in a number — the pack author's
own transitional saves have these, so they must be detected by kind, not trusted by
position).

The frontend that saved a file also shows in its nodes: one before mid-2025 wrote values
for ``forceInput`` widgets, a later one does not. When the file's nodes agree on it
(:func:`frontend_era`), a node's values are only read in that era's layout, and written
back in it: a node saved just before its pack added ``forceInput`` inputs (KJNodes'
ImagePadKJ of 2025-04-03, 7 values) then migrates to the same 9-value layout as the
author's re-saves of the following days, not to the later frontend's 7.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from wfrun.graph.widgets import has_forced_widgets, slot_fits, spec_for, trim_trailing_empties, widget_slots
from wfrun.specs.registry import Registry
from wfrun.specs.spec import NodeSpec, Signature

EXACT, SHORT, LENIENT, LENIENT_SHORT = 0, 1, 2, 3
TIER_NAMES = {EXACT: "exact", SHORT: "short", LENIENT: "lenient", LENIENT_SHORT: "lenient-short"}


@dataclass(frozen=True)
class Saved:
    """The signature a node's ``widgets_values`` were written for."""

    index: int
    legacy: bool
    tier: int
    #: "ver" (properties.ver decided), "only" (one signature fits), "date" (nearest in
    #: date to the file's other nodes of the pack)
    how: str
    signature: Signature
    #: The layout the frontend that saved the file writes: with values for ``forceInput``
    #: widgets (legacy) or without. The file's era when its nodes tell it (see
    #: :func:`frontend_era`), else the layout this node was read with.
    write_legacy: bool = False

    @property
    def fit(self) -> str:
        return TIER_NAMES[self.tier]


def lenient_fits(slot: Any, value: Any) -> bool:
    """A kind mismatch with a known, repairable cause (see the module docstring)."""
    if slot.kind != "value":
        return False
    kind = slot.input.type
    if kind == "BOOLEAN":
        return value is None or (isinstance(value, str) and value.strip().lower() in ("true", "false", ""))
    if kind in ("FLOAT", "INT"):
        return isinstance(value, bool)
    return False


def tier_of(signature: Signature, values: list[Any], legacy: bool) -> int | None:
    """How well ``values`` fit ``signature`` (a tier), or None when they cannot."""
    slots = widget_slots(signature, legacy, values)
    values = trim_trailing_empties(values, len(slots), signature)
    if len(values) > len(slots):
        return None
    strict = True
    for slot, value in zip(slots, values):
        if slot_fits(slot, value):
            continue
        if not lenient_fits(slot, value):
            return None
        strict = False
    short = len(values) < len(slots)
    if strict:
        return SHORT if short else EXACT
    return LENIENT_SHORT if short else LENIENT


def candidates(spec: NodeSpec, values: list[Any]) -> list[tuple[int, int, bool]]:
    """Every (tier, signature index, legacy layout) the saved values fit."""
    out = []
    for index, sig in enumerate(spec.signatures):
        for legacy in (False, True):
            if legacy and not has_forced_widgets(sig):
                continue
            tier = tier_of(sig, values, legacy)
            if tier is not None:
                out.append((tier, index, legacy))
    return out


def _day(text: str | None) -> int | None:
    try:
        return date.fromisoformat(text).toordinal() if text else None
    except ValueError:
        return None


def live_span(spec: NodeSpec, index: int) -> tuple[int | None, int | None]:
    """Days from a signature's first commit to the next signature's (inclusive)."""
    start = _day(spec.signatures[index].date)
    end = _day(spec.signatures[index + 1].date) if index + 1 < len(spec.signatures) else None
    return start, end


def distance(spec: NodeSpec, index: int, day: int | None) -> int:
    if day is None:
        return 0
    start, end = live_span(spec, index)
    if start is not None and day < start:
        return start - day
    if end is not None and day > end:
        return day - end
    return 0


class PackClock:
    """Positions and dates of a pack's commits, to read ``properties.ver``."""

    def __init__(self, registry: Registry, pack: str):
        spec = registry.packs.get(pack)
        commits = spec.source.get("commits", []) if spec else []
        self.position = {entry[0]: i for i, entry in enumerate(commits)}
        self.dates = {entry[0]: entry[1] for entry in commits if len(entry) > 1}
        self.names = {n.lower() for n in (pack, spec.cnr_id if spec else None) if n}
        self.last_commit = spec.source.get("last_commit") if spec else None

    def ver_of(self, node: dict[str, Any]) -> str | None:
        """The node's ``properties.ver`` when it is a commit of this pack."""
        props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        cnr = props.get("cnr_id")
        ver = props.get("ver")
        if cnr is not None and str(cnr).lower() not in self.names:
            return None
        return ver if isinstance(ver, str) and ver in self.position else None

    def signature_at(self, spec: NodeSpec, ver: str) -> int | None:
        """The newest signature first seen at or before commit ``ver``."""
        at = self.position[ver]
        found = None
        for index, sig in enumerate(spec.signatures):
            first = self.position.get(sig.first_commit or "")
            if first is not None and first <= at:
                found = index
        return found


def estimate_day(spec_cands: list[tuple[NodeSpec, list[tuple[int, int, bool]]]],
                 ver_days: list[int]) -> int | None:
    """The day most of a pack's nodes in a file agree on.

    Each node votes for the days on which one of its best-tier candidate signatures was
    current; a node's ``properties.ver`` votes for its commit's day. The day with most
    votes wins, the latest on a tie (a file is saved with the newest code it has seen).
    """
    points: set[int] = set(ver_days)
    spans = []
    for spec, cands in spec_cands:
        best = min(t for t, _, _ in cands)
        node_spans = [live_span(spec, i) for t, i, _ in cands if t == best]
        spans.append(node_spans)
        for start, end in node_spans:
            points.update(d for d in (start, end) if d is not None)
    if not points:
        return None

    def votes(day: int) -> int:
        count = sum(1 for v in ver_days if v == day)
        for node_spans in spans:
            if any((s is None or s <= day) and (e is None or day <= e) for s, e in node_spans):
                count += 1
        return count

    return max(points, key=lambda d: (votes(d), d))


def frontend_era(entries: list[tuple[dict, NodeSpec, list[tuple[int, int, bool]]]]) -> bool | None:
    """Whether the frontend that saved these nodes wrote values for ``forceInput`` widgets
    (True), did not (False), or the nodes do not tell (None).

    A file is saved by one frontend. A node whose values fit only a legacy layout says
    "legacy"; one whose values fit only signatures with ``forceInput`` widgets, and only
    without their values, says "modern". Only a unanimous answer counts.
    """
    legacy = modern = 0
    for _, spec, cands in entries:
        if not cands:
            continue
        best = min(t for t, _, _ in cands)
        top = [(i, lay) for t, i, lay in cands if t == best]
        if all(lay for _, lay in top):
            legacy += 1
        elif not any(lay for _, lay in top) and all(has_forced_widgets(spec.signatures[i]) for i, _ in top):
            modern += 1
    if legacy and not modern:
        return True
    if modern and not legacy:
        return False
    return None


def _in_era(spec: NodeSpec, cands: list[tuple[int, int, bool]], era: bool | None) -> list[tuple[int, int, bool]]:
    """The candidates a frontend of ``era`` could have written (all of them if none fits)."""
    if era is None:
        return cands
    kept = [(t, i, lay) for t, i, lay in cands if lay == era or not has_forced_widgets(spec.signatures[i])]
    return kept or cands


def saved_signatures(nodes: list[dict[str, Any]], registry: Registry) -> dict[int, Saved | None]:
    """For each UI node with a spec and list-shaped ``widgets_values``: its saved signature
    (None when its values fit no signature the node ever had). Keyed by ``id(node)``."""
    entries: list[tuple[dict, NodeSpec, list]] = []
    for node in nodes:
        spec = spec_for(registry, str(node.get("type")), node.get("properties"), node.get("widgets_values"))
        values = node.get("widgets_values")
        if spec is None or isinstance(values, dict):
            continue
        values = list(values or []) if isinstance(values, list) or values is None else None
        if values is None:
            continue
        entries.append((node, spec, candidates(spec, values)))
    era = frontend_era(entries)
    by_pack: dict[str, list[tuple[dict, NodeSpec, list]]] = {}
    for node, spec, cands in entries:
        by_pack.setdefault(spec.pack, []).append((node, spec, _in_era(spec, cands, era)))

    out: dict[int, Saved | None] = {}
    for pack, entries in by_pack.items():
        clock = PackClock(registry, pack)
        ver_days = [d for node, _, _ in entries
                    if (v := clock.ver_of(node)) and (d := _day(clock.dates.get(v))) is not None]
        day = estimate_day([(s, c) for _, s, c in entries if c], ver_days)
        for node, spec, cands in entries:
            saved = _choose(spec, cands, clock, node, day)
            if saved is not None and era is not None and \
                    (saved.legacy == era or not has_forced_widgets(saved.signature)):
                saved = replace(saved, write_legacy=era)
            out[id(node)] = saved
    return out


def _choose(spec: NodeSpec, cands: list[tuple[int, int, bool]], clock: PackClock,
            node: dict[str, Any], day: int | None) -> Saved | None:
    if not cands:
        return None
    best = min(t for t, _, _ in cands)
    top = [(i, legacy) for t, i, legacy in cands if t == best]
    ver = clock.ver_of(node)
    if ver is not None:
        at = clock.signature_at(spec, ver)
        for index, legacy in sorted(top, key=lambda c: c[1]):
            if index == at:
                return Saved(index, legacy, best, "ver", spec.signatures[index], legacy)
    how = "only" if len({i for i, _ in top}) == 1 else "date"
    index, legacy = min(top, key=lambda c: (distance(spec, c[0], day), -c[0], c[1]))
    return Saved(index, legacy, best, how, spec.signatures[index], legacy)
