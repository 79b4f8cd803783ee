"""Anything Everywhere (chrisgoringe/cg-use-everywhere): the links its nodes broadcast.

A "UE" node takes an output and, in the ComfyUI frontend, sends it to every *unconnected*
input of the same type anywhere in the graph, when the workflow is queued. The saved file
has no link for those inputs; without this module they read as missing.

What the extension does, and what is done here the same way:

- **Sources.** Each live (not muted, not bypassed) UE node makes one broadcast per
  connected input: its type is the type of the link that feeds it, its value what that
  link resolves to (through reroutes, bypassed nodes, …). ``Seed Everywhere`` broadcasts
  its own seed widget (an ``INT``), to inputs whose name matches ``seed``.
- **Targets.** Every unconnected input of a live node that is not a UE node, unless the
  node's properties say ``rejects_ue_links`` or its pack refuses that input
  (``REJECTED_INPUTS``). An input whose link is not in the link list counts as
  unconnected, as in the extension. An input that is a widget (a converted or
  socketed widget) is a target only when ``widget_ue_connectable`` names it.
- **Matching.** Same type (exact string); not the source node itself; the node title
  (else its "Node name for S&R", else its type) must match a title regex and the input
  label (else its name) an input regex, when the variant has them (``re.search``, as JS
  ``RegExp.test``); group and colour restrictions (below) limit which nodes it reaches.
- **Priorities.** When several broadcasts match one input, the highest priority wins; a
  tie at the top leaves the input unconnected (the extension logs "ambiguous"); wfrun
  warns.

Two generations of the extension are read:

- before 7.0 (``properties.group_restricted``/``color_restricted`` on the node): priorities
  ``Anything Everywhere3`` 0, ``Anything Everywhere`` 2, ``Prompts Everywhere`` and
  ``Seed Everywhere`` 5, ``Anything Everywhere?`` 10, plus 0.1 when group-restricted, 0.3
  when colour-restricted and ``priority_boost``; ``Anything Everywhere?`` takes its title,
  input and group regexes from its widgets 0, 1, 2 (a widget fed by a link reads that
  node's first widget, as the extension does); ``Prompts Everywhere`` sends input 0 to
  inputs matching ``(^prompt|^positive)`` and input 1 to those matching ``neg``.
- 7.0 and later (``properties.ue_properties`` with a ``version``): all variants are one
  node with any number of inputs; regexes and restrictions live in ``ue_properties``;
  the priority is ``ue_properties.priority`` or the extension's default (10, +10 for
  Seed/Prompts, +20 with a regex other than ``.*``, +3 group-, +6 colour-restricted);
  Prompts Everywhere uses the 7.x positive/negative regexes.

Group restriction 1 keeps nodes in a group the UE node is in, 2 those in none of them;
a group's nodes are those whose centre lies inside its rectangle (the frontend's rule).
Colour restriction 1 keeps nodes of the UE node's colour, 2 the others. A group regex
keeps the nodes of groups whose title matches.

When a graph holds a non-empty ``extra.ue_links`` (what the extension computed when it
last analysed that graph, saved with it: the root's, and since 7.x each subgraph
definition's), those links are used as saved rather than recomputed: that is what
ComfyUI queued. Each names the target node and input slot, the source output (``-10``:
the subgraph's input), its controlling UE node and the type. Entries whose controller is
not live, or whose input is now connected, are ignored. Otherwise broadcasts are
computed, per subgraph instance from its own nodes (a broadcast never leaves its graph).

Regexes come from the file: one that Python cannot compile, or longer than
``MAX_REGEX``, makes its broadcast match nothing (with a warning). A regex can also be
written to backtrack for ages; where the ``regex`` package is installed (transformers
needs it) each search is cut off after ``REGEX_SECONDS`` and counts as no match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from wfrun.formats.ui import SUBGRAPH_INPUT_NODE_ID, UIInput, UINode
from wfrun.graph.resolve import BYPASSED, MUTED, Origin, Resolver
from wfrun.graph.scopes import Scope, full_id

#: The node types of cg-use-everywhere; none of them runs: they only make links.
UE_NODES = frozenset({
    "Anything Everywhere", "Anything Everywhere?", "Anything Everywhere3",
    "Prompts Everywhere", "Seed Everywhere",
})

#: Inputs that other packs' frontend code refuses broadcasts to (their nodes define the
#: extension's ``reject_ue_connection`` hook): node type prefix → input names.
#: VideoHelperSuite refuses ``vae`` on every node with its VAE toggle (Video Combine and
#: the video loaders), so a broadcast VAE never turns their latent mode on.
REJECTED_INPUTS: dict[str, frozenset[str]] = {"VHS_": frozenset({"vae"})}

#: Inputs that a pack's frontend drops from the queued prompt when no UI link feeds them,
#: so a saved broadcast into them never reached the node: node type prefix → input names.
#: Before it rejected broadcasts (1.6.1, 2025-04-26), VideoHelperSuite wrapped
#: ``graphToPrompt`` (since 2024-06-30) to delete ``vae`` from every ``VHS_LoadVideo*``
#: node without a link there; the saved ``ue_links`` of that era still list the wire.
DROPPED_AT_QUEUE: dict[str, frozenset[str]] = {"VHS_LoadVideo": frozenset({"vae"})}

#: Regexes longer than this are not compiled (a file is untrusted input).
MAX_REGEX = 500
#: Time one search may take (with the ``regex`` package; ``re`` has no time limit).
REGEX_SECONDS = 0.05

try:
    import regex as _regex_engine
except ImportError:  # pragma: no cover - transformers installs it
    _regex_engine = None


class Pattern:
    """A compiled file-given regex whose search gives up (no match) after ``REGEX_SECONDS``."""

    def __init__(self, text: str):
        self.text = text
        self._compiled = (_regex_engine or re).compile(text)

    def search(self, value: str) -> bool:
        if _regex_engine is None:
            return self._compiled.search(value) is not None
        try:
            return self._compiled.search(value, timeout=REGEX_SECONDS) is not None
        except TimeoutError:
            return False

_OLD_PRIORITY = {"Anything Everywhere3": 0.0, "Anything Everywhere": 2.0, "Prompts Everywhere": 5.0,
                 "Seed Everywhere": 5.0, "Anything Everywhere?": 10.0}
_OLD_PROMPT = ("(^prompt|^positive)", "neg")
_NEW_PROMPT = (r"(_|\b)pos(itive|_|\b)|^prompt|正面", r"(_|\b)neg(ative|_|\b)|负面")
_SEED = {"old": "seed", "new": "seed|随机种"}


@dataclass
class Broadcast:
    controller: UINode
    index: int  # the controller's input (−1: Seed Everywhere's own value)
    type: Any
    origin: Origin
    priority: float
    title_regex: Pattern | None = None
    input_regex: Pattern | None = None
    #: Local ids of the nodes it may reach (None: all).
    restrict_to: set[str] | None = None
    source_id: str | None = None

    def matches(self, node: UINode, ui_input: UIInput) -> bool:
        if self.source_id is not None and str(node.id) == self.source_id:
            return False
        if self.restrict_to is not None and str(node.id) not in self.restrict_to:
            return False
        if ui_input.type != self.type:
            return False
        props = node.properties or {}
        title = node.title or props.get("Node name for S&R") or node.type
        if self.title_regex is not None and not self.title_regex.search(str(title)):
            return False
        label = ui_input.label or ui_input.name
        return self.input_regex is None or self.input_regex.search(label)


@dataclass
class Wire:
    """One resolved broadcast link: ``node``'s input ``name`` receives ``origin``."""

    node_id: str
    name: str
    origin: Origin
    controller: str


@dataclass
class Result:
    wires: list[Wire] = field(default_factory=list)
    #: (node, input name, controllers) of inputs matched by several broadcasts of equal priority.
    ambiguous: list[tuple[str, str, list[str]]] = field(default_factory=list)
    #: (controller full id, what was wrong) of broadcasts that were dropped.
    dropped: list[tuple[str, str]] = field(default_factory=list)


def added_links(extra: Any) -> set[int]:
    """``extra.links_added_by_ue``: links the extension wrote into node inputs while it
    serialised the prompt, to be removed again; the clean-up does not always run, so saved
    inputs may still hold them (often with no such link left in the link list). The
    extension reads them as unconnected, and so does wfrun."""
    ids = extra.get("links_added_by_ue") if isinstance(extra, dict) else None
    return {i for i in ids if isinstance(i, int) and not isinstance(i, bool)} if isinstance(ids, list) else set()


def resolve_scope(scope: Scope, resolver: Resolver, groups: list[Any] | None,
                  saved: list[Any] | None, is_target: Callable[[str], bool], added: set[int] = frozenset()) -> Result:
    """The broadcast links of one scope (the root graph or a subgraph instance).

    ``saved`` is the ``extra.ue_links`` of the scope's graph (the root's, or the subgraph
    definition's; used when not empty),
    ``is_target(full_id)`` says whether a node is in the graph being built and ``added``
    holds the scope's ``links_added_by_ue``."""
    result = Result()

    def unconnected(ui_input: UIInput) -> bool:
        # as the extension's is_connected: no link, or a link that is not in the list
        return ui_input.link is None or ui_input.link in added or ui_input.link not in scope.links

    live = {key: n for key, n in scope.nodes.items() if resolver.mode(scope, n) not in (MUTED, BYPASSED)}
    controllers = {key: n for key, n in live.items() if n.type in UE_NODES}
    if not controllers:
        return result
    if saved:
        _from_saved(scope, resolver, saved, controllers, live, is_target, unconnected, result)
        return result
    broadcasts = [b for node in controllers.values() for b in _broadcasts(scope, resolver, node, live, groups, result)]
    for key, node in live.items():
        node_id = full_id(scope.id, key)
        if node.type in UE_NODES or not is_target(node_id) or (node.properties or {}).get("rejects_ue_links"):
            continue
        for ui_input in _connectable(node, unconnected):
            found = [b for b in broadcasts if b.matches(node, ui_input)]
            if not found:
                continue
            top = max(b.priority for b in found)
            best = [b for b in found if b.priority == top]
            name = _input_name(ui_input)
            if len(best) > 1:
                result.ambiguous.append((node_id, name, [full_id(scope.id, b.controller.id) for b in best]))
                continue
            result.wires.append(Wire(node_id, name, best[0].origin, full_id(scope.id, best[0].controller.id)))
    return result


# --- saved links ----------------------------------------------------------------------

def _from_saved(scope: Scope, resolver: Resolver, saved: list[Any], controllers: dict[str, UINode],
                live: dict[str, UINode], is_target: Callable[[str], bool],
                unconnected: Callable[[UIInput], bool], result: Result) -> None:
    for entry in saved:
        if not isinstance(entry, dict):
            continue
        controller = controllers.get(str(entry.get("controller")))
        target = live.get(str(entry.get("downstream")))
        slot, up_slot = entry.get("downstream_slot"), entry.get("upstream_slot")
        if controller is None or target is None or not is_target(full_id(scope.id, target.id)):
            continue
        inputs = target.inputs or []
        if not isinstance(slot, int) or not 0 <= slot < len(inputs) or not unconnected(inputs[slot]):
            continue
        if inputs[slot].name in _names(DROPPED_AT_QUEUE, target.type):
            continue
        if controller.type == "Seed Everywhere":
            origin = _seed_origin(controller)
        elif isinstance(up_slot, int) and (str(entry.get("upstream")) in scope.nodes
                                           or str(entry.get("upstream")) == str(SUBGRAPH_INPUT_NODE_ID)):
            upstream = str(entry.get("upstream"))
            origin = resolver.from_output(scope.id, SUBGRAPH_INPUT_NODE_ID if upstream == str(SUBGRAPH_INPUT_NODE_ID)
                                          else upstream, up_slot, entry.get("type"), inputs[slot].type, controller)
        else:
            continue
        result.wires.append(Wire(full_id(scope.id, target.id), _input_name(inputs[slot]), origin,
                                 full_id(scope.id, controller.id)))


# --- computed links -------------------------------------------------------------------

def _broadcasts(scope: Scope, resolver: Resolver, node: UINode, live: dict[str, UINode],
                groups: list[Any] | None, result: Result) -> Iterable[Broadcast]:
    props = node.properties or {}
    ue = props.get("ue_properties") if isinstance(props.get("ue_properties"), dict) else None
    new = ue is not None and _version(ue.get("version")) >= (7,)
    rules = ue if new else props
    values = node.widgets_values if isinstance(node.widgets_values, list) else []
    node_id = full_id(scope.id, node.id)
    try:
        if new:
            regex = [_compile(ue.get(f"{w}_regex")) for w in ("title", "input", "group")]
        elif node.type == "Anything Everywhere?":
            regex = [_compile(_widget_text(scope, resolver, node, values, i)) for i in range(3)]
        else:
            regex = [None, None, None]
    except ValueError as err:
        result.dropped.append((node_id, str(err)))
        return
    title_re, input_re, group_re = regex
    restrict, boost = _restriction(scope, node, rules, live, groups, group_re, new)
    if new:
        priority = ue.get("priority")
        if not isinstance(priority, (int, float)) or isinstance(priority, bool):
            priority = _default_priority(node.type, ue, boost)
    else:
        priority = _OLD_PRIORITY[node.type] + boost
        extra = props.get("priority_boost")
        if isinstance(extra, (int, float)) and not isinstance(extra, bool):
            priority += extra
    common = dict(priority=float(priority), title_regex=title_re, restrict_to=restrict)
    if node.type == "Seed Everywhere":
        seed_re = input_re or Pattern(_SEED["new" if new else "old"])
        yield Broadcast(node, -1, "INT", _seed_origin(node), input_regex=seed_re, source_id=str(node.id), **common)
        return
    for index, ui_input in enumerate(node.inputs or []):
        if ui_input.link is None or ui_input.widget is not None:
            continue
        if node.type == "Anything Everywhere" and not new and index > 0:
            break
        if node.type == "Prompts Everywhere":
            if index > 1:
                break
            this_input = input_re or Pattern((_NEW_PROMPT if new else _OLD_PROMPT)[index])
        else:
            this_input = input_re
        link = scope.links.get(ui_input.link)
        kind = link.type if link is not None and link.type not in (None, "*") else ui_input.type
        if kind in (None, "*"):
            continue
        origin = resolver.from_link(scope.id, ui_input.link, kind, node)
        if origin.is_none:
            continue
        source = origin.ref.node_id.rsplit(":", 1)[-1] if origin.ref is not None else None
        yield Broadcast(node, index, kind, origin, input_regex=this_input, source_id=source, **common)


def _default_priority(node_type: str, ue: dict, boost: float) -> float:
    priority = 10.0
    if node_type in ("Seed Everywhere", "Prompts Everywhere"):
        priority += 10
    if any(ue.get(f"{w}_regex") not in (None, "", ".*") for w in ("title", "input", "group")):
        priority += 20
    return priority + boost


def _restriction(scope: Scope, node: UINode, rules: dict, live: dict[str, UINode], groups: list[Any] | None,
                 group_re: Pattern | None, new: bool) -> tuple[set[str] | None, float]:
    restrict: set[str] | None = None
    boost = 0.0
    members = _group_members(scope, groups)
    group_mode, colour_mode = rules.get("group_restricted"), rules.get("color_restricted")
    me = str(node.id)
    if group_mode in (1, 2):
        mine = set().union(*[m for _, m in members if me in m])
        restrict = mine if group_mode == 1 else set(scope.nodes) - mine
        boost += 3 if new else 0.1
    if colour_mode in (1, 2):
        colour = _extra(node).get("color")
        pool = restrict if restrict is not None else set(scope.nodes)
        restrict = {k for k in pool if (_extra(scope.nodes[k]).get("color") == colour) == (colour_mode == 1)}
        boost += 6 if new else 0.3
    if group_re is not None:
        inside = set().union(*[m for title, m in members if group_re.search(title)])
        restrict = inside if restrict is None else restrict & inside
    return restrict, boost


def _group_members(scope: Scope, groups: list[Any] | None) -> list[tuple[str, set[str]]]:
    """Each group's title and the local ids of the nodes whose centre lies inside it."""
    found = []
    for group in groups or []:
        box = group.get("bounding") if isinstance(group, dict) else None
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            continue
        x, y, w, h = box
        inside = set()
        for key, node in scope.nodes.items():
            centre = _centre(node)
            if centre is not None and x <= centre[0] <= x + w and y <= centre[1] <= y + h:
                inside.add(key)
        found.append((str(group.get("title") or ""), inside))
    return found


def _centre(node: UINode) -> tuple[float, float] | None:
    extra = _extra(node)
    pos, size = extra.get("pos"), extra.get("size")
    if isinstance(pos, dict):
        pos = [pos.get("0"), pos.get("1")]
    if isinstance(size, dict):
        size = [size.get("0"), size.get("1")]
    if not (isinstance(pos, list) and len(pos) >= 2 and all(_number(v) for v in pos[:2])):
        return None
    if not (isinstance(size, list) and len(size) >= 2 and all(_number(v) for v in size[:2])):
        size = [0, 0]
    return pos[0] + size[0] / 2, pos[1] + size[1] / 2


def _connectable(node: UINode, unconnected: Callable[[UIInput], bool]) -> Iterable[UIInput]:
    props = node.properties or {}
    ue = props.get("ue_properties") if isinstance(props.get("ue_properties"), dict) else {}
    allowed = props.get("widget_ue_connectable") or ue.get("widget_ue_connectable") or {}
    rejected = _names(REJECTED_INPUTS, node.type)
    for ui_input in node.inputs or []:
        if not unconnected(ui_input) or ui_input.name in rejected:
            continue
        if ui_input.widget is not None and not (isinstance(allowed, dict) and allowed.get(ui_input.name)):
            continue
        yield ui_input


def _names(table: dict[str, frozenset[str]], node_type: str) -> frozenset[str]:
    """The input names ``table`` lists for ``node_type`` (keys are type prefixes)."""
    return frozenset().union(*[names for prefix, names in table.items() if node_type.startswith(prefix)])


def _widget_text(scope: Scope, resolver: Resolver, node: UINode, values: list, index: int) -> str | None:
    """Widget ``index`` of an ``Anything Everywhere?`` node, or, when that widget is fed by
    a link, the value it resolves to (the extension reads the source's first widget)."""
    names = ("title", "input", "group")
    for ui_input in node.inputs or []:
        if ui_input.widget is not None and ui_input.widget.name in (names[index], f"{names[index]}_regex") \
                and ui_input.link is not None:
            origin = resolver.from_link(scope.id, ui_input.link, "STRING", node)
            return origin.constant if origin.has_constant and isinstance(origin.constant, str) else "(?!)"
    value = values[index] if index < len(values) else None
    return value if isinstance(value, str) else None


def _compile(text: Any) -> Pattern | None:
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ValueError(f"regex {text!r} is not text")
    if len(text) > MAX_REGEX:
        raise ValueError(f"regex of {len(text)} characters (wfrun reads at most {MAX_REGEX})")
    try:
        return Pattern(text)
    except (re.error, getattr(_regex_engine, "error", re.error)) as err:
        raise ValueError(f"regex {text!r} does not compile: {err}") from None


def _seed_origin(node: UINode) -> Origin:
    values = node.widgets_values if isinstance(node.widgets_values, list) else []
    if values and isinstance(values[0], int) and not isinstance(values[0], bool):
        return Origin(constant=values[0], has_constant=True)
    return Origin(why_none=f"Seed Everywhere {node.id} has no seed value")


def _input_name(ui_input: UIInput) -> str:
    return ui_input.widget.name if ui_input.widget else ui_input.name


def _extra(node: UINode) -> dict:
    return node.model_extra or {}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _version(value: Any) -> tuple[int, ...]:
    parts = []
    for part in str(value or "0").split("."):
        digits = re.match(r"\d+", part)
        parts.append(int(digits.group()) if digits else 0)
    return tuple(parts)
