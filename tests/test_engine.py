"""The engine on made-up nodes: order, pruning, freeing after last use, caching."""

from __future__ import annotations

import pytest

from specs_for_tests import inp, node, out, test_registry, workflow
from wfrun.engine.plan import PlanError, make_plan
from wfrun.engine.run import NodeError, NodeInputError, OutputCache, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.engine.executors import load_packs
from wfrun.nodes import executor as registry_module
from wfrun.nodes.executor import ExecContext, ExecutorInfo

CALLS: list[str] = []


@pytest.fixture(autouse=True)
def fake_executors(monkeypatch):
    """Executors for the test pack, registered only for these tests."""
    table = dict(registry_module._EXECUTORS)

    def load_img(ctx, image):
        CALLS.append("LoadImg")
        return (f"img:{image}", "mask")

    def filter_(ctx, image, amount):
        CALLS.append("Filter")
        if amount > 1.9:
            raise NodeInputError("amount", "too strong for this test", hint="lower it")
        return (f"{image}*{amount}",)

    def sampler(ctx, image, seed, steps, scheduler="unipc", cfg=6.0):
        CALLS.append("Sampler")
        return (f"latent({image},{seed},{steps},{scheduler})",)

    def save(ctx, samples, prefix):
        CALLS.append("Save")
        return ()

    table.update({name: ExecutorInfo(fn) for name, fn in
                  {"LoadImg": load_img, "Filter": filter_, "Sampler": sampler, "Save": save}.items()})
    load_packs()  # the real packs are in before the table is swapped, so none lands in it
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    CALLS.clear()


def graph_for(seed: int = 7, amount: float = 1.0, extra_filters: int = 0):
    nodes = [
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")]),
        node(2, "Filter", [amount], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])]),
        node(3, "Sampler", [seed, "fixed", 20], inputs=[inp("image", "IMAGE", 2)],
             outputs=[out("LATENT", "LATENT", [3])]),
        node(4, "Save", ["out"], inputs=[inp("samples", "LATENT", 3)]),
        node(5, "Filter", [1.0], inputs=[inp("image", "IMAGE", 4)]),  # unused: pruned
    ]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "LATENT"],
             [4, 1, 0, 5, 0, "IMAGE"]]
    return build(from_data(workflow(nodes, links), "t.json"), test_registry())


def test_plan_orders_prunes_and_frees():
    plan = make_plan(graph_for())
    assert plan.order == ["1", "2", "3", "4"]
    assert plan.outputs == ["4"] and plan.pruned == ["5"]
    assert plan.free_after == {"2": ["1"], "3": ["2"], "4": ["3"]}
    assert plan.unsupported == []


def test_run_executes_in_order_with_spec_defaults_and_frees_values():
    graph = graph_for()
    result = run_plan(graph, make_plan(graph), ExecContext())
    assert CALLS == ["LoadImg", "Filter", "Sampler", "Save"]
    assert result.executed == ["1", "2", "3", "4"]
    # a chain holds at most a producer and its consumer at once
    assert result.peak_live_values == 2


def test_second_run_with_changed_seed_reuses_everything_upstream():
    cache = OutputCache()
    first = graph_for(seed=7)
    run_plan(first, make_plan(first), ExecContext(), cache)
    CALLS.clear()
    second = graph_for(seed=8)
    result = run_plan(second, make_plan(second), ExecContext(), cache)
    assert result.cached == ["1", "2"]
    assert CALLS == ["Sampler", "Save"]  # output nodes always run


def test_input_error_names_node_and_input():
    graph = graph_for(amount=1.95)
    with pytest.raises(NodeError) as info:
        run_plan(graph, make_plan(graph), ExecContext())
    assert "node 2 'Filter' (Filter), input 'amount': too strong" in str(info.value)


def test_out_of_memory_names_the_node_and_its_advice(monkeypatch):
    import torch

    def hungry_sampler(ctx, image, seed, steps, scheduler="unipc", cfg=6.0):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setitem(registry_module._EXECUTORS, "Sampler", ExecutorInfo(hungry_sampler, oom_hint="swap some blocks"))
    graph = graph_for()
    with pytest.raises(NodeError) as info:
        run_plan(graph, make_plan(graph), ExecContext())
    text = str(info.value)
    assert text.startswith("node 3 'My Sampler' (Sampler): ran out of memory (CUDA out of memory.") and "hint: swap some blocks" in text
    assert "Traceback" not in text

    def hungry_save(ctx, samples, prefix):
        raise MemoryError()

    monkeypatch.setitem(registry_module._EXECUTORS, "Save", ExecutorInfo(hungry_save))
    monkeypatch.setitem(registry_module._EXECUTORS, "Sampler", ExecutorInfo(lambda ctx, **kw: ("latent",)))
    with pytest.raises(NodeError) as info:
        run_plan(graph, make_plan(graph), ExecContext())
    assert "(Save): ran out of memory" in str(info.value) and "smaller size or fewer frames" in str(info.value)


def test_an_unforeseen_executor_failure_names_the_node_and_how_to_report_it(monkeypatch):
    def broken_sampler(ctx, **kw):
        return (None.ndim,)  # a bug in an executor, not the user's doing

    monkeypatch.setitem(registry_module._EXECUTORS, "Sampler", ExecutorInfo(broken_sampler))
    graph = graph_for()
    with pytest.raises(NodeError) as info:
        run_plan(graph, make_plan(graph), ExecContext())
    text = str(info.value)
    assert text.startswith("node 3 'My Sampler' (Sampler): failed: AttributeError:") and "WFRUN_DEBUG=1" in text
    monkeypatch.setenv("WFRUN_DEBUG", "1")  # for a bug report: the original exception, traceback and all
    with pytest.raises(AttributeError):
        run_plan(graph, make_plan(graph), ExecContext())
    monkeypatch.delenv("WFRUN_DEBUG")

    def unwritable(ctx, **kw):
        raise PermissionError(13, "Permission denied", "/out/x.png")

    monkeypatch.setitem(registry_module._EXECUTORS, "Sampler", ExecutorInfo(unwritable))
    with pytest.raises(PermissionError):  # file errors go to the CLI's guard, which names the path
        run_plan(graph, make_plan(graph), ExecContext())


def test_interrupt_stops_cleanly():
    graph = graph_for()

    class Stop:
        def node_started(self, node_id, label):
            if node_id == "3":
                raise KeyboardInterrupt

        def node_finished(self, *a):
            pass

    result = run_plan(graph, make_plan(graph), ExecContext(progress=Stop()))
    assert result.interrupted and result.executed == ["1", "2"]


def test_no_output_node_is_a_plan_error():
    graph = build(from_data(workflow([node(1, "LoadImg", ["a.png", "image"])], []), "t"), test_registry())
    with pytest.raises(PlanError):
        make_plan(graph)
