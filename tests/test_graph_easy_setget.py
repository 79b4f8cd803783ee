"""ComfyUI-Easy-Use's ``easy setNode``/``easy getNode``: frontend-only, like KJNodes' pair.

The reference is Easy-Use's frontend code (web_version/v1/js ``easy setNode``): both are
virtual nodes (``isVirtualNode``), the getter's ``getInputLink`` follows the link into the
first ``easy setNode`` of ``this.graph._nodes`` whose name equals its own non-empty name,
and it throws "No setter found" otherwise. It never looks at KJNodes' ``SetNode`` nor at
an outer graph.
"""

from __future__ import annotations

from specs_for_tests import inp, node, out
from test_graph_build import SUBGRAPH_ID, built, chain
from wfrun.graph import LinkRef


def easy_pair(setter_type: str = "easy setNode", name: str = "src", getter_name: str = "src") -> dict:
    middle = [node(2, setter_type, [name], inputs=[inp("IMAGE", "IMAGE", 1)]),
              node(3, "easy getNode", [getter_name], outputs=[out("*", "*", [2])])]
    return chain(middle, [[1, 1, 0, 2, 0, "IMAGE"], [2, 3, 0, 9, 0, "*"]], 2)


def test_easy_get_reads_the_easy_set_of_the_same_name():
    g = built(easy_pair())
    assert set(g.graph.nodes) == {"1", "9"}
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")
    assert g.problems == []


def test_easy_get_never_reads_a_kjnodes_setter():
    g = built(easy_pair(setter_type="SetNode"))
    assert [p.code for p in g.problems] == ["dangling-link"]
    assert "easy getNode reads 'src', but no easy setNode of that name exists" in g.problems[0].message
    assert "image" in g.node("9").cut_inputs


def test_an_empty_name_matches_no_setter():
    g = built(easy_pair(name="", getter_name=""))
    assert [p.code for p in g.problems] == ["dangling-link"]


def test_easy_get_inside_a_subgraph_does_not_read_the_outer_graph():
    """Unlike wfrun's KJNodes GetNode, which also looks in outer graphs."""
    definition = {
        "id": SUBGRAPH_ID, "name": "reads src",
        "inputs": [], "outputs": [{"id": "o0", "name": "IMAGE", "type": "IMAGE", "linkIds": [12]}],
        "nodes": [node(1, "easy getNode", ["src"], outputs=[out("*", "*", [11])]),
                  node(2, "Filter", [0.7], inputs=[inp("image", "IMAGE", 11)], outputs=[out("IMAGE", "IMAGE", [12])])],
        "links": [{"id": 11, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "*"},
                  {"id": 12, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}],
    }
    middle = [node(2, "easy setNode", ["src"], inputs=[inp("IMAGE", "IMAGE", 1)]),
              node(7, SUBGRAPH_ID, [], outputs=[out("IMAGE", "IMAGE", [2])])]
    data = chain(middle, [[1, 1, 0, 2, 0, "IMAGE"], [2, 7, 0, 9, 0, "IMAGE"]], 2,
                 definitions={"subgraphs": [definition]})
    g = built(data)
    assert [p.code for p in g.problems] == ["dangling-link"]
    assert "image" in g.node("7:2").cut_inputs
    # The same file with KJNodes' pair reads the outer setter.
    data["nodes"][1]["type"] = "SetNode"
    data["definitions"]["subgraphs"][0]["nodes"][0]["type"] = "GetNode"
    g = built(data)
    assert g.problems == []
    assert g.node("7:2").inputs["image"] == LinkRef("1", 0, "IMAGE")
