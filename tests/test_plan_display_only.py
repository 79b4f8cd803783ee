"""Display-only nodes (previews, text displays) that wfrun cannot run and nothing uses are
left out of the plan with one notice, instead of stopping the run."""

from __future__ import annotations

import pytest

from specs_for_tests import inp, node, out, workflow
from wfrun.engine import plan as plan_module
from wfrun.engine.executors import get_executor
from wfrun.engine.plan import DISPLAY_ONLY, PlanError, make_plan
from wfrun.formats.document import from_data
from wfrun.graph import build


def graph(*extra: dict, links: list | None = None, save: bool = True):
    nodes = [node(1, "LoadImage", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1, 2]), out("MASK", "MASK", [3])])]
    if save:
        nodes.append(node(2, "SaveImage", ["out"], inputs=[inp("images", "IMAGE", 1)]))
    nodes += extra
    base = [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 0, 3, 0, "IMAGE"], [3, 1, 1, 4, 0, "MASK"]]
    return build(from_data(workflow(nodes, base + (links or [])), "t.json"))


PREVIEW = node(3, "PreviewAnimation", [8], inputs=[inp("images", "IMAGE", 2)])
MASK = node(4, "MaskPreview", [], inputs=[inp("mask", "MASK", 3)])


@pytest.fixture
def no_display_executors(monkeypatch):
    """Other packs gain executors over time: here no display node has one."""
    monkeypatch.setattr(plan_module, "get_executor",
                        lambda t, spec=None: None if t in DISPLAY_ONLY else get_executor(t, spec))


def test_previews_wfrun_cannot_run_are_skipped_not_refused(no_display_executors):
    plan = make_plan(graph(PREVIEW, MASK))
    assert plan.outputs == ["2"] and plan.skipped == ["3", "4"]
    assert plan.unsupported == [] and set(plan.order) == {"1", "2"}
    assert "3" not in plan.pruned and "4" not in plan.pruned


def test_a_display_node_whose_output_is_used_is_not_skipped(no_display_executors):
    g = graph(PREVIEW)
    assert plan_module.is_display_only(g, "3")
    g.graph.add_edge("3", "2", key="extra", slot=0, input="extra", type="IMAGE")  # something reads it
    assert not plan_module.is_display_only(g, "3")


def test_only_display_outputs_is_a_plan_error_that_says_so(no_display_executors):
    with pytest.raises(PlanError, match="display-only"):
        make_plan(graph(PREVIEW, save=False))


def test_a_display_node_wfrun_can_run_still_runs():
    assert get_executor("PreviewImage") is not None
    preview = node(3, "PreviewImage", [], inputs=[inp("images", "IMAGE", 2)])
    plan = make_plan(graph(preview))
    assert plan.skipped == [] and "3" in plan.outputs


def test_dry_run_prints_one_notice(tmp_path, no_display_executors):
    import json

    from wfrun.jobs.run import RunOptions, prepare

    path = tmp_path / "w.json"
    nodes = [node(1, "EmptyImage", [64, 64, 1, 0], outputs=[out("IMAGE", "IMAGE", [1, 2])]),
             node(2, "SaveImage", ["out"], inputs=[inp("images", "IMAGE", 1)]),
             node(3, "PreviewAnimation", [8], inputs=[inp("images", "IMAGE", 2)])]
    path.write_text(json.dumps(workflow(nodes, [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 0, 3, 0, "IMAGE"]])))
    prepared = prepare(path, RunOptions(output_dir=tmp_path / "out", dry_run=True, tiny_models=True))
    notices = [d for d in prepared.warnings if d.code == "display-only-skipped"]
    assert len(notices) == 1 and "PreviewAnimation" in notices[0].message
