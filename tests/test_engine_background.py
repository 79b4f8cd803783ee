"""Model loaders running ahead of their turn (``run_plan(background=True)``): the
transformer's checkpoint is read while the text encoder works, and the run is otherwise the
same: the same outputs, each loader's own context, its errors named by its node."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from wfrun.engine.executors import executor_info, load_packs
from wfrun.engine.run import NodeError, run_plan
from wfrun.jobs.run import RunOptions, prepare
from wfrun.media.video import iter_frames
from wfrun.nodes import executor as registry_module
from wfrun.nodes.executor import ExecContext, ExecutorInfo

WORKFLOW = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"


def _run(tmp_path, background: bool, name: str):
    options = RunOptions(tiny_models=True, device="cpu", output_dir=tmp_path / name)
    p = prepare(WORKFLOW, options)
    ctx = ExecContext(device="cpu", output_dir=tmp_path / name, input_dir=WORKFLOW.parent / "input", models=p.roots,
                      workflow_json=p.data)
    with torch.inference_mode():
        result = run_plan(p.graph, p.plan, ctx, background=background)
    sampler = next(n for n in p.plan.order if p.graph.node(n).class_type == "WanVideoSampler")
    return result, p, sampler


@pytest.fixture
def watched(monkeypatch):
    """The model loader and the text encoder wrapped: the encoder waits (up to 60 s) for the
    loader to have started, so it sees the loader start before it ends only if they overlap."""
    load_packs()
    table = dict(registry_module._EXECUTORS)
    seen: dict[str, object] = {}
    started = threading.Event()
    loader, encoder = executor_info("WanVideoModelLoader"), executor_info("WanVideoTextEncode")

    def load(ctx, **kwargs):
        seen.update(thread=threading.current_thread().name, node=ctx.node_id, inference=torch.is_inference_mode_enabled())
        started.set()
        return loader.fn(ctx, **kwargs)

    def encode(ctx, **kwargs):
        seen["overlapped"] = started.wait(timeout=60)
        return encoder.fn(ctx, **kwargs)

    table["WanVideoModelLoader"] = ExecutorInfo(load, background=True)
    table["WanVideoTextEncode"] = ExecutorInfo(encode)
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    return seen


def test_the_model_loads_while_the_text_encoder_works_and_nothing_else_changes(tmp_path, watched):
    ahead, p, sampler = _run(tmp_path, True, "ahead")
    assert watched["overlapped"] and watched["thread"].startswith("wfrun-load")
    loader_id = next(n for n in p.plan.order if p.graph.node(n).class_type == "WanVideoModelLoader")
    assert watched["node"] == loader_id and watched["inference"]  # its own context, the caller's mode
    assert loader_id in ahead.executed and loader_id in ahead.seconds
    watched.clear()
    plain, _, _ = _run(tmp_path, False, "plain")
    assert watched["thread"] == threading.current_thread().name
    videos = [[w for w in r.written if str(w).endswith(".mp4")] for r in (ahead, plain)]
    assert len(videos[0]) == len(videos[1]) == 1
    frames = [np.stack(list(iter_frames(v[0]))) for v in videos]
    assert frames[0].shape == frames[1].shape and np.array_equal(frames[0], frames[1])


def test_a_failing_background_loader_is_named_where_it_would_have_run(tmp_path, monkeypatch):
    load_packs()
    table = dict(registry_module._EXECUTORS)

    def broken(ctx, **kwargs):
        raise registry_module.NodeInputError("model", "this file is broken", "use another")

    table["WanVideoModelLoader"] = ExecutorInfo(broken, background=True)
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    with pytest.raises(NodeError) as err:
        _run(tmp_path, True, "broken")
    assert "(WanVideoModelLoader), input 'model': this file is broken" in str(err.value)
    assert not any(t.name.startswith("wfrun-load") for t in threading.enumerate())  # the workers are gone


def _loader_graph():
    """Two loaders (``TLoad``) and their users: the plan below lists the loader of the model
    needed later first, as a topological order may (the second expert's before the first's)."""
    from specs_for_tests import inp, node, out, workflow
    from wfrun.formats.document import from_data
    from wfrun.graph import build
    from wfrun.specs.registry import Registry
    from wfrun.specs.spec import PackSpecs

    def spec(inputs, outputs, **sig):
        return {"signatures": [{"inputs": inputs, "outputs": outputs, **sig}]}

    widget = {"name": "name", "type": "STRING", "section": "required", "default": ""}
    linked = {"name": "model", "type": "MODEL", "section": "required", "force_input": True}
    nodes = {"TLoad": spec([widget], [{"type": "MODEL"}]),
             "TUse": spec([linked], [{"type": "MODEL"}]),
             "TSave": spec([{**linked, "name": "a"}, {**linked, "name": "b"}], [], output_node=True)}
    pack = PackSpecs.model_validate({"pack": "loadpack", "nodes": {
        name: {"class_type": name, "pack": "loadpack", **s} for name, s in nodes.items()}})
    ui = workflow([
        node(1, "TLoad", ["late"], outputs=[out("MODEL", "MODEL", [1])]),
        node(2, "TLoad", ["early"], outputs=[out("MODEL", "MODEL", [2])]),
        node(3, "TUse", [], inputs=[inp("model", "MODEL", 2)], outputs=[out("MODEL", "MODEL", [3])]),
        node(4, "TUse", [], inputs=[inp("model", "MODEL", 1)], outputs=[out("MODEL", "MODEL", [4])]),
        node(5, "TSave", [], inputs=[inp("a", "MODEL", 3), inp("b", "MODEL", 4)]),
    ], [[1, 1, 0, 4, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"], [3, 3, 0, 5, 0, "MODEL"], [4, 4, 0, 5, 1, "MODEL"]])
    return build(from_data(ui, "loaders.json"), Registry([pack]))


def test_the_workers_read_first_the_model_the_plan_needs_first(monkeypatch):
    from wfrun.engine import run as run_module
    from wfrun.engine.plan import Plan

    order: list[str] = []
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(lambda ctx, name: (order.append(name) or name,), background=True),
                  "TUse": ExecutorInfo(lambda ctx, model: (model.upper(),)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    monkeypatch.setattr(run_module._BackgroundLoads, "WORKERS", 1)  # one worker: its order shows
    graph = _loader_graph()
    plan = Plan(order=["1", "2", "3", "4", "5"], outputs=["5"])
    result = run_plan(graph, plan, ExecContext(), background=True)
    assert order == ["early", "late"]  # node 2 first: node 3 needs it before node 4 needs node 1
    assert set(result.executed) == {"1", "2", "3", "4", "5"}


def test_a_loader_still_reading_at_its_turn_is_waited_for_only_where_its_model_is_needed(monkeypatch):
    """The plan lists the "late" loader first; it reads until the node that uses the other
    model has run (or 5 s pass). Waiting for it at its own turn would stall the whole plan."""
    from wfrun.engine.plan import Plan

    other_model_used = threading.Event()
    seen: dict[str, bool] = {}

    def load(ctx, name):
        if name == "late":
            seen["overlapped"] = other_model_used.wait(timeout=5)
        return (name,)

    def use(ctx, model):
        if model == "early":
            other_model_used.set()
        return (model.upper(),)

    saved: list[tuple] = []
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(load, background=True), "TUse": ExecutorInfo(use),
                  "TSave": ExecutorInfo(lambda ctx, a, b: saved.append((a, b)) or ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    result = run_plan(_loader_graph(), Plan(order=["1", "2", "3", "4", "5"], outputs=["5"]), ExecContext(),
                      background=True)
    assert seen["overlapped"]
    assert saved == [("EARLY", "LATE")]
    assert set(result.executed) == {"1", "2", "3", "4", "5"} and set(result.seconds) >= {"1", "2"}


def test_a_failing_loader_collected_late_is_still_named(monkeypatch):
    from wfrun.engine.plan import Plan

    def load(ctx, name):
        if name == "late":
            time.sleep(0.3)  # still reading at its turn
            raise registry_module.NodeInputError("name", "this file is broken", "use another")
        return (name,)

    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(load, background=True), "TUse": ExecutorInfo(lambda ctx, model: (model,)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    with pytest.raises(NodeError) as err:
        run_plan(_loader_graph(), Plan(order=["1", "2", "3", "4", "5"], outputs=["5"]), ExecContext(), background=True)
    assert "node 1 " in str(err.value) and "input 'name': this file is broken" in str(err.value)
