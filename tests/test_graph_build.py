"""Building the typed graph: frontend-only constructs resolved as the ComfyUI frontend does."""

from __future__ import annotations

import networkx as nx
from specs_for_tests import inp, node, out, test_registry, workflow
from wfrun.formats.document import from_data
from wfrun.graph import LinkRef, build


def built(data: dict):
    return build(from_data(data, "t.json"), test_registry())


def chain(middle: list[dict], links: list[list], sampler_link: int, **kw) -> dict:
    """LoadImg(1) → … middle … → Sampler(9) with the sampler's image on ``sampler_link``."""
    return workflow([
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")]),
        *middle,
        node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", sampler_link)]),
    ], links, **kw)


def test_graph_is_a_typed_networkx_digraph_with_named_inputs():
    g = built(chain([], [[1, 1, 0, 9, 0, "IMAGE"]], 1))
    assert isinstance(g.graph, nx.DiGraph)
    assert g.order() == ["1", "9"]
    sampler = g.node("9")
    assert sampler.inputs == {"seed": 7, "steps": 20, "image": LinkRef("1", 0, "IMAGE")}
    (edge,) = g.graph.edges(data=True)
    assert edge == ("1", "9", {"slot": 0, "input": "image", "type": "IMAGE"})
    assert g.node("1").inputs == {"image": "a.png"}  # LoadImage's upload value is not an input
    assert g.problems == []


def test_reroute_chain_is_followed():
    middle = [node(2, "Reroute", inputs=[inp("", "*", 1)], outputs=[out("", "IMAGE", [2])]),
              node(3, "Reroute", inputs=[inp("", "*", 2)], outputs=[out("", "IMAGE", [3])])]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 9, 0, "IMAGE"]]
    g = built(chain(middle, links, 3))
    assert set(g.graph.nodes) == {"1", "9"}
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


def test_primitive_node_becomes_a_constant_for_a_converted_widget():
    data = chain([node(5, "PrimitiveNode", [33, "fixed"], outputs=[out("INT", "INT", [4])])],
                 [[1, 1, 0, 9, 0, "IMAGE"], [4, 5, 0, 9, 1, "INT"]], 1)
    data["nodes"][-1]["inputs"].append(inp("steps", "INT", 4, widget="steps"))
    g = built(data)
    assert g.node("9").inputs["steps"] == 33
    assert "5" not in g.graph


def test_set_and_get_nodes_pass_values_by_name():
    middle = [node(2, "SetNode", ["src"], inputs=[inp("IMAGE", "IMAGE", 1)], outputs=[out("*", "*")]),
              node(3, "GetNode", ["src"], outputs=[out("IMAGE", "IMAGE", [2])])]
    g = built(chain(middle, [[1, 1, 0, 2, 0, "IMAGE"], [2, 3, 0, 9, 0, "IMAGE"]], 2))
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


def test_get_node_without_setter_is_a_dangling_link():
    g = built(chain([node(3, "GetNode", ["nope"], outputs=[out("IMAGE", "IMAGE", [2])])],
                    [[2, 3, 0, 9, 0, "IMAGE"]], 2))
    assert [p.code for p in g.problems] == ["dangling-link"]
    assert "nope" in g.problems[0].message
    assert "image" in g.node("9").cut_inputs


def test_bypassed_node_passes_its_matching_input_through():
    middle = [node(2, "Filter", [1.5], mode=4, inputs=[inp("image", "IMAGE", 1)],
                   outputs=[out("IMAGE", "IMAGE", [2])])]
    g = built(chain(middle, [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 9, 0, "IMAGE"]], 2))
    assert "2" not in g.graph
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


def test_bypass_with_no_input_of_the_type_cuts_the_link():
    middle = [node(2, "IntOut", [3], mode=4, outputs=[out("INT", "INT", [2])])]
    data = chain(middle, [[1, 1, 0, 9, 0, "IMAGE"], [2, 2, 0, 9, 1, "INT"]], 1)
    data["nodes"][-1]["inputs"].append(inp("steps", "INT", 2, widget="steps"))
    g = built(data)
    assert g.node("9").inputs["steps"] == 20  # the widget value stays, as in the frontend


def test_muted_node_is_dropped_and_its_consumers_lose_the_input():
    middle = [node(2, "Filter", [1.0], mode=2, inputs=[inp("image", "IMAGE", 1)],
                   outputs=[out("IMAGE", "IMAGE", [2])])]
    g = built(chain(middle, [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 9, 0, "IMAGE"]], 2))
    assert "2" not in g.graph
    assert "image" not in g.node("9").inputs
    assert "muted" in g.node("9").cut_inputs["image"]


def test_notes_are_not_executable():
    g = built(chain([node(4, "Note", ["hello"]), node(5, "MarkdownNote", ["# hi"])],
                    [[1, 1, 0, 9, 0, "IMAGE"]], 1))
    assert set(g.graph.nodes) == {"1", "9"}


def test_rgthree_mode_relay_repeater_collector_and_button_are_frontend_only():
    # rgthree's virtual nodes: a repeater fed by a real node's output and by a relay, a node
    # collector and an actions button; none is in ComfyUI's prompt, none is an unknown node
    data = chain([node(4, "Mute / Bypass Repeater (rgthree)", inputs=[inp("", "*", 2), inp("", "*", 3)],
                       outputs=[out("OPT_CONNECTION", "*")]),
                  node(5, "Mute / Bypass Relay (rgthree)", inputs=[inp("REPEATER", "*")],
                       outputs=[out("REPEATER", "*", [3])]),
                  node(6, "Node Collector (rgthree)", inputs=[inp("", "*")], outputs=[out("Output", "*")]),
                  node(8, "Fast Actions Button (rgthree)", ["Action!", "", ""])],
                 [[1, 1, 0, 9, 0, "IMAGE"], [2, 1, 0, 4, 0, "IMAGE"], [3, 5, 0, 4, 1, "*"]], 1)
    data["nodes"][0]["outputs"][0]["links"] = [1, 2]
    g = built(data)
    assert set(g.graph.nodes) == {"1", "9"}
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")
    assert g.problems == []


SUBGRAPH_ID = "11111111-2222-3333-4444-555555555555"


def subgraph_workflow(instance_mode: int = 0) -> dict:
    definition = {
        "id": SUBGRAPH_ID, "name": "Blur twice",
        "inputs": [{"id": "i0", "name": "image", "type": "IMAGE", "linkIds": [10]}],
        "outputs": [{"id": "o0", "name": "IMAGE", "type": "IMAGE", "linkIds": [12]}],
        "nodes": [node(1, "Filter", [0.5], inputs=[inp("image", "IMAGE", 10)], outputs=[out("IMAGE", "IMAGE", [11])]),
                  node(2, "Filter", [0.7], inputs=[inp("image", "IMAGE", 11)], outputs=[out("IMAGE", "IMAGE", [12])])],
        "links": [{"id": 10, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
                  {"id": 11, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
                  {"id": 12, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}],
    }
    instance = node(7, SUBGRAPH_ID, [], mode=instance_mode, inputs=[inp("image", "IMAGE", 1)],
                    outputs=[out("IMAGE", "IMAGE", [2])])
    return chain([instance], [[1, 1, 0, 7, 0, "IMAGE"], [2, 7, 0, 9, 0, "IMAGE"]], 2,
                 definitions={"subgraphs": [definition]})


def test_subgraph_instances_are_flattened_with_stable_ids():
    g = built(subgraph_workflow())
    assert g.order() == ["1", "7:1", "7:2", "9"]
    assert g.node("7:1").inputs == {"amount": 0.5, "image": LinkRef("1", 0, "IMAGE")}
    assert g.node("7:2").inputs["image"] == LinkRef("7:1", 0, "IMAGE")
    assert g.node("9").inputs["image"] == LinkRef("7:2", 0, "IMAGE")


def test_muted_subgraph_mutes_its_contents():
    g = built(subgraph_workflow(instance_mode=2))
    assert set(g.graph.nodes) == {"1", "9"}
    assert "image" not in g.node("9").inputs


def test_an_input_naming_a_link_the_list_lacks_is_refused_as_comfyuis_frontend_does():
    """ComfyUI's frontend keeps such a link id on load (its link fixer walks the link list)
    and stops at queueing ("No link found in parent graph for id [7:2] slot [1] amount", its
    ``ExecutableNodeDTO.resolveInput``): the widget value is not used instead. wfrun refuses
    too, naming the node, the input and the frontend's message."""
    from wfrun.diagnostics import Severity

    data = subgraph_workflow()
    inner = data["definitions"]["subgraphs"][0]["nodes"][1]
    inner["inputs"].append(inp("amount", "FLOAT", 99, widget="amount"))  # link 99 is in no list
    g = built(data)
    (problem,) = g.problems
    assert (problem.code, problem.severity, problem.node_id, problem.input) == ("dangling-link", Severity.ERROR,
                                                                               "7:2", "amount")
    assert "link 99" in problem.message
    assert "No link found in parent graph for id [7:2] slot [1] amount" in problem.message
    assert "widget value" in problem.hint
    assert g.node("7:2").cut_inputs == {"amount": "link 99 does not exist"}  # an error blocks the run


def test_missing_subgraph_definition_is_reported():
    data = subgraph_workflow()
    del data["definitions"]
    g = built(data)
    assert [p.code for p in g.problems] == ["missing-subgraph"]


def test_signature_chosen_by_widget_shape_then_by_ver():
    old = built(chain([], [[1, 1, 0, 9, 0, "IMAGE"]], 1))
    assert old.node("9").signature.date == "2025-01-01"
    data = chain([], [[1, 1, 0, 9, 0, "IMAGE"]], 1)
    data["nodes"][-1]["widgets_values"] = [7, "randomize", 20, "euler", 5.0]
    new = built(data)
    assert new.node("9").signature.date == "2025-02-01"
    assert new.node("9").inputs["scheduler"] == "euler"
    assert new.node("9").binding.chosen_by == "shape"
    data["nodes"][-1]["properties"] = {"cnr_id": "testpack", "ver": "b" * 40}
    assert built(data).node("9").binding.chosen_by == "ver"
    data["nodes"][-1]["properties"]["cnr_id"] = "TestPack"  # repository spelling, other case
    assert built(data).node("9").binding.chosen_by == "ver"
    data["nodes"][-1]["properties"]["cnr_id"] = "another-pack"  # a ver of some other pack
    assert built(data).node("9").binding.chosen_by == "shape"


def test_dict_widgets_values_bind_by_name_without_ui_only_keys():
    data = workflow([node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])]),
                     node(2, "VideoCombine", {"frame_rate": 16, "format": "video/h264-mp4", "crf": 19,
                                              "videopreview": {"hidden": False}},
                          inputs=[inp("images", "IMAGE", 1)])],
                    [[1, 1, 0, 2, 0, "IMAGE"]])
    g = built(data)
    assert g.node("2").inputs == {"frame_rate": 16, "format": "video/h264-mp4", "crf": 19,
                                  "images": LinkRef("1", 0, "IMAGE")}


def test_api_prompt_builds_the_same_graph():
    prompt = {"1": {"class_type": "LoadImg", "inputs": {"image": "a.png"}},
              "9": {"class_type": "Sampler", "inputs": {"image": ["1", 0], "seed": 7, "steps": 20},
                    "_meta": {"title": "S"}}}
    g = built(prompt)
    assert g.kind == "api"
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")
    assert g.node("9").title == "S"
    assert g.order() == ["1", "9"]


def test_links_to_missing_nodes_never_raise():
    data = chain([], [[1, 1, 0, 9, 0, "IMAGE"], [5, 77, 0, 9, 0, "IMAGE"]], 5)
    g = built(data)
    assert "dangling-link" in [p.code for p in g.problems]


def test_legacy_force_input_slots_and_display_only_values():
    """Old frontends saved a value for forceInput widgets; packs add HTML info widgets."""
    def resize(values):
        data = workflow([node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])]),
                         node(2, "Resize", values, inputs=[inp("image", "IMAGE", 1)])],
                        [[1, 1, 0, 2, 0, "IMAGE"]])
        return built(data).node("2")

    new = resize([640, 480, True, "<tr><td>Output: 1 x 640 x 480</td></tr>"])
    assert (new.inputs["width"], new.inputs["keep"], new.binding.fit) == (640, True, "exact")
    old = resize([640, 480, 0, True, None])
    assert old.binding.legacy_force_input and old.binding.fit == "exact"
    assert old.inputs["keep"] is True and "width_input" in old.inputs
