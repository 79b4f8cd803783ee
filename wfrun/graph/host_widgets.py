"""The values a subgraph instance's own widgets give its unconnected inputs.

A subgraph input that feeds an interior widget (a prompt, a size, a seed, a model name)
shows as a widget on every instance node (the *host*), and the user sets it there: ComfyUI's
frontend, turning the workflow into a prompt, gives the interior node the host widget's
value whenever the host's input has no link (``ExecutableNodeDTO.resolveInput``). The value
the interior node saved is only the definition's copy: one for all instances, and in files
from late 2025 on often still the template's (a user's copy of ComfyUI's Wan 2.2 I2V
template keeps the template's prompt, size, seed and models inside, its own on the host).

The host saves those values in ``widgets_values``, in the order of its widgets, which
depends on the frontend that saved it:

- with a ``proxyWidgets`` property (promoted widgets, frontends of autumn 2025): one value per
  entry of that list, in its order (the list may be longer; values for entries pointing at
  an interior node's own widget are that node's, kept inside, and are ignored here); an
  entry ``["-1", name]`` is the subgraph input ``name``;
- otherwise (before promotion, and after the frontend turned promoted widgets back into
  linked subgraph inputs in 2026): one value per definition input that reaches an interior
  widget, in the definition's input order, a seed's ``control_after_generate`` value after
  it where an older frontend kept one. A file whose values fit neither keeps its interior
  values, as before.

A ``None`` value is no value (a host with nothing of its own saved keeps the interior one).
"""

from __future__ import annotations

from typing import Any

from wfrun.formats import jsontext
from wfrun.formats.errors import FormatError
from wfrun.formats.ui import SUBGRAPH_INPUT_NODE_ID, Subgraph, UINode
from wfrun.graph.scopes import Table

#: The node id a ``proxyWidgets`` entry gives a subgraph input (not the input node's -10).
_INPUT_NODE = "-1"


def host_widget_values(host: UINode, definition: Subgraph, table: Table) -> dict[str, Any]:
    """Subgraph input name → the value the host's widget holds for it (only inputs with one)."""
    saved = host.widgets_values
    if not isinstance(saved, list) or not saved:
        return {}
    promoted = _proxy_widgets(host)
    if promoted and len(saved) <= len(promoted):
        pairs = [(entry[1], value) for entry, value in zip(promoted, saved) if entry[0] == _INPUT_NODE]
    else:
        pairs = _in_definition_order(_inputs_feeding_widgets(definition, table), saved)
    values: dict[str, Any] = {}
    for name, value in pairs:
        if value is not None:
            values.setdefault(name, value)
    return values


#: The values of a seed widget's ``control_after_generate`` companion.
_CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})


def _in_definition_order(names: list[str], saved: list[Any]) -> list[tuple[str, Any]]:
    """One value per name; a longer list (instances saved by older frontends, which kept a
    seed widget's ``control_after_generate`` value after it, as the node inside does) has
    those control values skipped, as the frontend skips them on load. [] when the values
    cannot be laid out so."""
    extra = len(saved) - len(names)
    if extra < 0:
        return []
    pairs, index = [], 0
    for name in names:
        pairs.append((name, saved[index]))
        index += 1
        if extra and index < len(saved) and isinstance(saved[index], str) and saved[index] in _CONTROL_VALUES \
                and not isinstance(saved[index - 1], str):
            index += 1
            extra -= 1
    return pairs if index == len(saved) else []


def _proxy_widgets(host: UINode) -> list[tuple[str, str]]:
    """The host's ``proxyWidgets`` list as (node id, widget name) pairs; [] when absent or
    not that shape (the frontend also saved it as a JSON string)."""
    raw = (host.properties or {}).get("proxyWidgets")
    if isinstance(raw, str):
        try:  # with wfrun's JSON limits: a string in a file can nest as deep as it likes
            raw = jsontext.parse(raw, "proxyWidgets", positions=False)
        except FormatError:
            return []
    if not isinstance(raw, list):
        return []
    pairs = []
    for entry in raw:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str)):
            return []
        pairs.append((str(entry[0]), entry[1]))
    return pairs


def _inputs_feeding_widgets(definition: Subgraph, table: Table) -> list[str]:
    """The definition's inputs, in order, that a link inside takes to an interior widget."""
    feeding: set[int] = set()
    for link in table.links.values():
        if link.origin_id != SUBGRAPH_INPUT_NODE_ID:
            continue
        target = table.nodes.get(str(link.target_id))
        inputs = target.inputs or [] if target is not None else []
        if link.target_slot < len(inputs) and inputs[link.target_slot].widget is not None:
            feeding.add(link.origin_slot)
    return [io.name for slot, io in enumerate(definition.inputs) if slot in feeding]
