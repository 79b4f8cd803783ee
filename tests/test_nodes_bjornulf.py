"""Bjornulf_DisplayNote hands its ``any`` input on unchanged, whatever the note says, and a
saved node of it (in a link, as in the pack's users' files) builds with its spec and runs."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.engine.plan import make_plan
from wfrun.formats.document import from_data
from wfrun.graph import build, check
from wfrun.nodes.executor import ExecContext
from specs_for_tests import inp, node as file_node, out, workflow

CTX = ExecContext()


@pytest.mark.parametrize("value", [torch.rand(2, 8, 8, 3), "a caption", ["two", "captions"], 7, None])
def test_the_note_passes_its_input_on(value):
    result = node("Bjornulf_DisplayNote")(CTX, any=value, display_text="what this link carries")
    assert len(result) == 1 and result[0] is value


def test_a_saved_note_in_a_link_is_planned_not_skipped(registry):
    props = {"cnr_id": "bjornulf_custom_nodes", "ver": "1.1.8", "Node name for S&R": "Bjornulf_DisplayNote"}
    text = file_node(1, "PrimitiveStringMultiline", ["hello"], outputs=[out("STRING", "STRING", [1])])
    note = file_node(2, "Bjornulf_DisplayNote", ["label"], inputs=[inp("any", "*", 1)],
                     outputs=[out("any", "*", [2])], properties=props)
    show = file_node(3, "PreviewAny", [], inputs=[inp("source", "*", 2)])
    graph = build(from_data(workflow([text, note, show], [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 3, 0, "*"]]),
                            "note.json"), registry)
    assert graph.node("2").spec.pack == "Bjornulf_custom_nodes"
    assert graph.node("2").inputs["display_text"] == "label"
    assert not [d for d in [*graph.problems, *check(graph)] if d.node_id == "2" and d.severity.value == "error"]
    p = make_plan(graph)
    assert "2" in p.order and not p.unsupported and not p.skipped
