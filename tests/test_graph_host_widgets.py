"""A subgraph instance's own widgets feed its unconnected inputs (wfrun/graph/host_widgets.py),
as ComfyUI's frontend resolves them (``ExecutableNodeDTO.resolveInput``: an instance input
with no link gives the instance widget's value), not the value saved inside the definition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specs_for_tests import inp, node, out, test_registry, workflow
from wfrun.formats.document import from_data, load
from wfrun.graph import LinkRef, build
from wfrun.specs.registry import default_registry

SUBGRAPH_ID = "99999999-2222-3333-4444-555555555555"
TEMPLATES = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "templates"


def built(data: dict):
    return build(from_data(data, "t.json"), test_registry())


def definition(amount_inside: float = 0.5) -> dict:
    """Inputs: image (IMAGE, a socket), amount (FLOAT, into Filter 1's amount widget),
    strength (FLOAT, into Filter 2's amount widget)."""
    return {
        "id": SUBGRAPH_ID, "name": "Two filters",
        "inputs": [{"id": "i0", "name": "image", "type": "IMAGE", "linkIds": [10]},
                   {"id": "i1", "name": "amount", "type": "FLOAT", "linkIds": [13]},
                   {"id": "i2", "name": "strength", "type": "FLOAT", "linkIds": [14]}],
        "outputs": [{"id": "o0", "name": "IMAGE", "type": "IMAGE", "linkIds": [12]}],
        "nodes": [node(1, "Filter", [amount_inside], inputs=[inp("image", "IMAGE", 10),
                                                             inp("amount", "FLOAT", 13, widget="amount")],
                       outputs=[out("IMAGE", "IMAGE", [11])]),
                  node(2, "Filter", [0.7], inputs=[inp("image", "IMAGE", 11), inp("amount", "FLOAT", 14, widget="amount")],
                       outputs=[out("IMAGE", "IMAGE", [12])])],
        "links": [{"id": 10, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
                  {"id": 13, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1, "type": "FLOAT"},
                  {"id": 14, "origin_id": -10, "origin_slot": 2, "target_id": 2, "target_slot": 1, "type": "FLOAT"},
                  {"id": 11, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
                  {"id": 12, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}],
    }


def host(id_: int, widgets: list | None, image_link: int, out_link: int, amount_link: int | None = None,
         **extra) -> dict:
    return node(id_, SUBGRAPH_ID, widgets,
                inputs=[inp("image", "IMAGE", image_link), inp("amount", "FLOAT", amount_link, widget="amount"),
                        inp("strength", "FLOAT", None, widget="strength")],
                outputs=[out("IMAGE", "IMAGE", [out_link])], **extra)


def two_instances(first: dict, second: dict, extra_nodes: list | None = None, extra_links: list | None = None,
                  inside: float = 0.5) -> dict:
    """LoadImg 1 → instance 7 → Sampler 9, and LoadImg 1 → instance 8 → Sampler 10."""
    return workflow([
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1, 3]), out("MASK", "MASK")]),
        first, second, *(extra_nodes or []),
        node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 2)]),
        node(10, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 4)]),
    ], [[1, 1, 0, 7, 0, "IMAGE"], [2, 7, 0, 9, 0, "IMAGE"], [3, 1, 0, 8, 0, "IMAGE"], [4, 8, 0, 10, 0, "IMAGE"],
        *(extra_links or [])], definitions={"subgraphs": [definition(inside)]})


def test_each_instance_gives_its_own_widget_values_to_the_nodes_inside():
    """One definition saves one value inside; two instances set 1.25/0.25 and 1.5/0.75 on
    their own widgets (one per input that reaches an interior widget, in the definition's
    input order): each copy runs with its instance's values."""
    g = built(two_instances(host(7, [1.25, 0.25], 1, 2), host(8, [1.5, 0.75], 3, 4)))
    assert g.node("7:1").inputs["amount"] == 1.25 and g.node("7:2").inputs["amount"] == 0.25
    assert g.node("8:1").inputs["amount"] == 1.5 and g.node("8:2").inputs["amount"] == 0.75
    assert g.node("7:1").inputs["image"] == LinkRef("1", 0, "IMAGE")


def test_a_link_into_the_instance_input_wins_over_its_widget_value():
    int_out = node(5, "IntOut", [3], outputs=[out("INT", "INT", [5])])
    first = host(7, [1.25, 0.25], 1, 2, amount_link=5)
    g = built(two_instances(first, host(8, [1.5, 0.75], 3, 4), [int_out], [[5, 5, 0, 7, 1, "FLOAT"]]))
    assert g.node("7:1").inputs["amount"] == LinkRef("5", 0, "FLOAT")
    assert g.node("7:2").inputs["amount"] == 0.25


def test_an_instance_without_a_widget_entry_in_its_inputs_still_gives_its_value():
    """Frontends of 2026 save only some instance inputs; the widgets still follow the
    definition's inputs."""
    bare = node(7, SUBGRAPH_ID, [1.25, 0.25], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])])
    g = built(two_instances(bare, host(8, [1.5, 0.75], 3, 4)))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (1.25, 0.25)


def test_promoted_widget_lists_give_the_order_and_only_subgraph_inputs_take_values():
    """With ``proxyWidgets`` the values follow that list; an entry naming an interior node's
    own widget keeps the node's value (the frontend saved it inside); the list may be longer."""
    promoted = [["2", "amount"], ["-1", "strength"], ["-1", "amount"], ["2", "image"]]
    first = host(7, [1.9, 0.25, 1.25], 1, 2, properties={"proxyWidgets": promoted})
    second = host(8, [None, 0.75, 1.5], 3, 4, properties={"proxyWidgets": json.dumps(promoted)})
    g = built(two_instances(first, second))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (1.25, 0.25)
    assert (g.node("8:1").inputs["amount"], g.node("8:2").inputs["amount"]) == (1.5, 0.75)


@pytest.mark.parametrize("widgets", [[1.25], [1.25, 0.25, 0.5], [], None])
def test_a_count_that_fits_no_layout_keeps_the_values_inside(widgets):
    g = built(two_instances(host(7, widgets, 1, 2), host(8, [1.5, 0.75], 3, 4)))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (0.5, 0.7)
    assert g.node("8:1").inputs["amount"] == 1.5


def test_a_null_host_value_keeps_the_value_inside():
    g = built(two_instances(host(7, [None, 0.25], 1, 2), host(8, [1.5, None], 3, 4)))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (0.5, 0.25)
    assert (g.node("8:1").inputs["amount"], g.node("8:2").inputs["amount"]) == (1.5, 0.7)


def test_a_host_value_reaches_through_a_nested_instance():
    """Outer instance 7 sets amount; inside its definition an inner instance of the
    two-filter subgraph takes amount from the outer input (a widget socket linked to -10)."""
    inner = definition()
    outer_id = "88888888-2222-3333-4444-555555555555"
    outer = {
        "id": outer_id, "name": "Wrapper",
        "inputs": [{"id": "j0", "name": "image", "type": "IMAGE", "linkIds": [20]},
                   {"id": "j1", "name": "amount", "type": "FLOAT", "linkIds": [21]}],
        "outputs": [{"id": "p0", "name": "IMAGE", "type": "IMAGE", "linkIds": [22]}],
        "nodes": [node(3, SUBGRAPH_ID, [0.1, 0.2], inputs=[inp("image", "IMAGE", 20), inp("amount", "FLOAT", 21, widget="amount"),
                                                          inp("strength", "FLOAT", None, widget="strength")],
                       outputs=[out("IMAGE", "IMAGE", [22])])],
        "links": [{"id": 20, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "IMAGE"},
                  {"id": 21, "origin_id": -10, "origin_slot": 1, "target_id": 3, "target_slot": 1, "type": "FLOAT"},
                  {"id": 22, "origin_id": 3, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}],
    }
    data = workflow([
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")]),
        node(7, outer_id, [1.75], inputs=[inp("image", "IMAGE", 1), inp("amount", "FLOAT", None, widget="amount")],
             outputs=[out("IMAGE", "IMAGE", [2])]),
        node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 2)]),
    ], [[1, 1, 0, 7, 0, "IMAGE"], [2, 7, 0, 9, 0, "IMAGE"]], definitions={"subgraphs": [inner, outer]})
    g = built(data)
    assert g.node("7:3:1").inputs["amount"] == 1.75  # the outer instance's widget
    assert g.node("7:3:2").inputs["amount"] == 0.2  # the inner instance's own widget


def test_comfyuis_wan_animate_template_runs_the_prompt_set_on_its_instance():
    """ComfyUI's Wan Animate 2 template (corpus): the positive prompt is set on the subgraph
    instance (its ``text_2`` widget); the CLIPTextEncode inside saved an empty text."""
    path = TEMPLATES / "video_wan_animate2.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    definitions = {d["id"]: d for d in data["definitions"]["subgraphs"]}
    (instance,) = [n for n in data["nodes"] if n["type"] in definitions
                   and any(i["name"] == "text_2" for i in definitions[n["type"]]["inputs"])]
    sub = definitions[instance["type"]]
    slot = [i["name"] for i in sub["inputs"]].index("text_2")
    (link,) = [lk for lk in sub["links"] if lk["origin_id"] == -10 and lk["origin_slot"] == slot]
    inner = next(n for n in sub["nodes"] if n["id"] == link["target_id"])
    assert inner["type"] == "CLIPTextEncode" and inner["widgets_values"] == [""]
    g = build(load(path), default_registry())
    text = g.node(f"{instance['id']}:{inner['id']}").inputs["text"]
    assert text.startswith("A girl doing energetic street dance") and text in instance["widgets_values"]


def test_set_names_an_instance_by_id_or_title_and_reaches_every_input_its_widget_feeds():
    """``--set INSTANCE.WIDGET=V`` does what editing that widget in the UI does, also where
    the instance saved no value of its own (the node inside kept its value)."""
    from wfrun.engine.overrides import Override, apply_overrides, overridden_inputs

    titled = host(8, [None, 0.75], 3, 4, title="Second pass")
    g = built(two_instances(host(7, [1.25, 0.25], 1, 2), titled))
    sets = [Override.parse("7.strength=1.5"), Override.parse("second PASS.amount=0.125")]
    apply_overrides(g, sets)
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (1.25, 1.5)
    assert (g.node("8:1").inputs["amount"], g.node("8:2").inputs["amount"]) == (0.125, 0.75)
    assert overridden_inputs(g, sets) == {("7:2", "amount"), ("8:1", "amount")}


def test_set_on_an_instance_widget_that_feeds_nothing_or_a_linked_one_is_refused_by_name():
    from wfrun.engine.overrides import Override, OverrideError, apply_overrides

    int_out = node(5, "IntOut", [3], outputs=[out("INT", "INT", [5])])
    g = built(two_instances(host(7, [1.25, 0.25], 1, 2, amount_link=5), host(8, [1.5, 0.75], 3, 4),
                            [int_out], [[5, 5, 0, 7, 1, "FLOAT"]]))
    for text, words in (("7.amount=1", "its widgets: strength"), ("7.strength=abc", "takes a number"),
                        ("Two filterz.amount=1", "did you mean 'Two filters'")):
        with pytest.raises(OverrideError, match=words.replace("(", r"\(")):
            apply_overrides(g, [Override.parse(text)])
    apply_overrides(g, [Override.parse("7.strength=2")])
    assert g.node("7:2").inputs["amount"] == 2.0


def test_a_seeds_control_value_saved_after_it_on_the_instance_is_skipped():
    """Older frontends kept the seed's control_after_generate value in the instance's list
    (the frontend skips it on load): ``[1.25, "randomize", 0.25]`` is amount, strength."""
    g = built(two_instances(host(7, [1.25, "randomize", 0.25], 1, 2), host(8, [1.5, 0.75, "fixed"], 3, 4)))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (1.25, 0.25)
    assert (g.node("8:1").inputs["amount"], g.node("8:2").inputs["amount"]) == (1.5, 0.75)
    g = built(two_instances(host(7, [1.25, "other", 0.25], 1, 2), host(8, [1.5, 0.75], 3, 4)))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (0.5, 0.7)  # no layout fits


@pytest.mark.parametrize("promoted", ["[" * 100_000 + "]" * 100_000, "not json", '[["-1"]]', "[1, 2]", "{}"])
def test_a_promoted_widget_list_of_any_other_shape_is_ignored_without_a_crash(promoted):
    """proxyWidgets saved as a JSON string is parsed with wfrun's limits (a deep one raised
    RecursionError from json.loads); a shape that is not a list of pairs is no list."""
    g = built(two_instances(host(7, [1.25, 0.25], 1, 2, properties={"proxyWidgets": promoted}),
                            host(8, [1.5, 0.75], 3, 4)))
    assert (g.node("7:1").inputs["amount"], g.node("7:2").inputs["amount"]) == (1.25, 0.25)  # definition order
