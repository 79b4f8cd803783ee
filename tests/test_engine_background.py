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
    load_packs()  # first: loading them later would fill the table this test swaps in
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
    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)

    def broken(ctx, **kwargs):
        raise registry_module.NodeInputError("model", "this file is broken", "use another")

    table["WanVideoModelLoader"] = ExecutorInfo(broken, background=True)
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    with pytest.raises(NodeError) as err:
        _run(tmp_path, True, "broken")
    assert "(WanVideoModelLoader), input 'model': this file is broken" in str(err.value)
    assert not any(t.name.startswith("wfrun-load") for t in threading.enumerate())  # the workers are gone


def _spec(inputs, outputs, **sig):
    return {"signatures": [{"inputs": inputs, "outputs": outputs, **sig}]}


def _linked(name, kind):
    return {"name": name, "type": kind, "section": "required", "force_input": True}


#: Test nodes: a loader (``TLoad``), a node that uses a model (``TUse``: MODEL in, LATENT
#: out), a patch that passes it on (``TPatch``: MODEL in, MODEL out, with a number from
#: ``TVal``), a user that also takes the number (``TUseWith``) and an output (``TSave``).
_TEST_NODES = {
    "TLoad": _spec([{"name": "name", "type": "STRING", "section": "required", "default": ""}], [{"type": "MODEL"}]),
    "TUse": _spec([_linked("model", "MODEL")], [{"type": "LATENT"}]),
    "TVal": _spec([], [{"type": "INT"}]),
    "TPatch": _spec([_linked("model", "MODEL"), _linked("extra", "INT")], [{"type": "MODEL"}]),
    "TUseWith": _spec([_linked("model", "MODEL"), _linked("extra", "INT")], [{"type": "LATENT"}]),
    "TSave": _spec([_linked("a", "LATENT"), _linked("b", "LATENT")], [], output_node=True),
    "TLoadVae": _spec([{"name": "name", "type": "STRING", "section": "required", "default": ""}], [{"type": "VAE"}]),
    "TDecode": _spec([_linked("vae", "VAE"), _linked("samples", "LATENT")], [{"type": "LATENT"}]),
}


def _graph(nodes, links):
    from specs_for_tests import workflow
    from wfrun.formats.document import from_data
    from wfrun.graph import build
    from wfrun.specs.registry import Registry
    from wfrun.specs.spec import PackSpecs

    pack = PackSpecs.model_validate({"pack": "loadpack", "nodes": {
        name: {"class_type": name, "pack": "loadpack", **s} for name, s in _TEST_NODES.items()}})
    return build(from_data(workflow(nodes, links), "loaders.json"), Registry([pack]))


def _loader_graph():
    """Two loaders (``TLoad``) and their users: the plan below lists the loader of the model
    needed later first, as a topological order may (the second expert's before the first's)."""
    from specs_for_tests import inp, node, out

    return _graph([
        node(1, "TLoad", ["late"], outputs=[out("MODEL", "MODEL", [1])]),
        node(2, "TLoad", ["early"], outputs=[out("MODEL", "MODEL", [2])]),
        node(3, "TUse", [], inputs=[inp("model", "MODEL", 2)], outputs=[out("LATENT", "LATENT", [3])]),
        node(4, "TUse", [], inputs=[inp("model", "MODEL", 1)], outputs=[out("LATENT", "LATENT", [4])]),
        node(5, "TSave", [], inputs=[inp("a", "LATENT", 3), inp("b", "LATENT", 4)]),
    ], [[1, 1, 0, 4, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"], [3, 3, 0, 5, 0, "LATENT"], [4, 4, 0, 5, 1, "LATENT"]])


def _patched_graph(sampler_first: bool = False):
    """The transformer's loader (1, "late") listed first and a patch on its model (3) right
    after it, as in ComfyUI's Wan 2.2 template (UNETLoader, LoraLoaderModelOnly,
    ModelSamplingSD3); then the VAE's loader (4, "early") and the start image's encode (5),
    which the sampler (6) comes after. The patch and the encode both take a number (2),
    which the encode is the last in plan order to read. The save (7) reads the encode's
    value first, or the sampler's (``sampler_first``)."""
    from specs_for_tests import inp, node, out

    return _graph([
        node(1, "TLoad", ["late"], outputs=[out("MODEL", "MODEL", [1])]),
        node(2, "TVal", [], outputs=[out("INT", "INT", [2, 3])]),
        node(3, "TPatch", [], inputs=[inp("model", "MODEL", 1), inp("extra", "INT", 2)],
             outputs=[out("MODEL", "MODEL", [4])]),
        node(4, "TLoad", ["early"], outputs=[out("MODEL", "MODEL", [5])]),
        node(5, "TUseWith", [], inputs=[inp("model", "MODEL", 5), inp("extra", "INT", 3)],
             outputs=[out("LATENT", "LATENT", [6])]),
        node(6, "TUse", [], inputs=[inp("model", "MODEL", 4)], outputs=[out("LATENT", "LATENT", [7])]),
        node(7, "TSave", [], inputs=[inp("a", "LATENT", 7 if sampler_first else 6),
                                     inp("b", "LATENT", 6 if sampler_first else 7)]),
    ], [[1, 1, 0, 3, 0, "MODEL"], [2, 2, 0, 3, 1, "INT"], [3, 2, 0, 5, 1, "INT"], [4, 3, 0, 6, 0, "MODEL"],
        [5, 4, 0, 5, 0, "MODEL"], [6, 5, 0, 7, 1 if sampler_first else 0, "LATENT"],
        [7, 6, 0, 7, 0 if sampler_first else 1, "LATENT"]])


def test_the_workers_read_first_the_model_the_plan_needs_first(monkeypatch):
    from wfrun.engine.plan import Plan

    order: list[str] = []
    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(lambda ctx, name: (order.append(name) or name,), background=True),
                  "TUse": ExecutorInfo(lambda ctx, model: (model.upper(),)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
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
    load_packs()  # first: loading them later would fill the table this test swaps in
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

    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(load, background=True), "TUse": ExecutorInfo(lambda ctx, model: (model,)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    with pytest.raises(NodeError) as err:
        run_plan(_loader_graph(), Plan(order=["1", "2", "3", "4", "5"], outputs=["5"]), ExecContext(), background=True)
    assert "node 1 " in str(err.value) and "input 'name': this file is broken" in str(err.value)


def _patched_executors(monkeypatch, load, encoded: threading.Event | None = None):
    saved: list[tuple] = []
    ran: list[str] = []

    def encode(ctx, model, extra):
        ran.append("encode")
        if encoded is not None:
            encoded.set()
        return (f"{model}*{extra}",)

    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(load, background=True), "TVal": ExecutorInfo(lambda ctx: (7,)),
                  "TPatch": ExecutorInfo(lambda ctx, model, extra: (ran.append("patch") or f"{model}+{extra}",)),
                  "TUseWith": ExecutorInfo(encode),
                  "TUse": ExecutorInfo(lambda ctx, model: (ran.append("sample") or model.upper(),)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: saved.append((a, b)) or ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    return saved, ran


def test_the_workers_read_first_the_model_a_node_uses_first_not_the_one_a_patch_passes_on(monkeypatch):
    """The patch on the transformer (node 3) does not use it: the VAE (node 4), which the
    encode (node 5) uses before the sampler (node 6) uses the transformer, is read first."""
    from wfrun.engine.plan import Plan

    order: list[str] = []
    saved, _ = _patched_executors(monkeypatch, lambda ctx, name: (order.append(name) or name,))
    run_plan(_patched_graph(), Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"]), ExecContext(),
             background=True)
    assert order == ["early", "late"]
    assert saved == [("early*7", "LATE+7")]


def test_a_node_that_waits_on_a_model_still_reading_is_put_off_and_the_nodes_after_it_run_first(monkeypatch):
    """The transformer reads until the encode has run (or 5 s pass): the patch on it (node 3)
    is put off instead of waiting at its turn, the encode runs, then the patch and the
    sampler; the number both read is kept for the patch though the encode was its last
    reader in plan order. The same values as a run without loads ahead."""
    from wfrun.engine.plan import Plan

    encoded = threading.Event()
    seen: dict[str, bool] = {}

    def load(ctx, name):
        if name == "late":
            seen["overlapped"] = encoded.wait(timeout=5)
        return (name,)

    saved, ran = _patched_executors(monkeypatch, load, encoded)
    plan = Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"])
    result = run_plan(_patched_graph(), plan, ExecContext(), background=True)
    assert seen["overlapped"] and ran == ["encode", "patch", "sample"]
    assert saved == [("early*7", "LATE+7")]
    assert set(result.executed) == {"1", "2", "3", "4", "5", "6", "7"}
    ahead = list(saved)
    saved.clear(), ran.clear()
    encoded.set()
    run_plan(_patched_graph(), plan, ExecContext(), background=False)
    assert saved == ahead and ran == ["patch", "encode", "sample"]


def test_nodes_put_off_run_before_the_output_node_that_reads_them(monkeypatch):
    """Output nodes are not put off: the save takes, in plan order, what it reads."""
    from wfrun.engine.plan import Plan

    def load(ctx, name):
        if name == "late":
            time.sleep(0.2)
        return (name,)

    saved, ran = _patched_executors(monkeypatch, load)
    run_plan(_patched_graph(), Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"]), ExecContext(),
             background=True)
    assert saved == [("early*7", "LATE+7")] and ran[-1] == "sample"


def test_an_output_takes_what_it_reads_as_the_models_arrive(monkeypatch):
    """Everything before the save is put off (the VAE, node 4, reads for 0.2 s; the
    transformer, node 1, until the encode has run), and the save reads the sampler's value
    first: it takes the encode as soon as the VAE is there instead of waiting first on the
    transformer (which it reads first, and which comes first in plan order) for its 5 s."""
    from wfrun.engine.plan import Plan

    encoded = threading.Event()
    seen: dict[str, bool] = {}

    def load(ctx, name):
        if name == "late":
            seen["overlapped"] = encoded.wait(timeout=5)
        else:
            time.sleep(0.2)
        return (name,)

    saved, ran = _patched_executors(monkeypatch, load, encoded)
    run_plan(_patched_graph(sampler_first=True), Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"]),
             ExecContext(), background=True)
    assert seen["overlapped"] and ran == ["encode", "patch", "sample"]
    assert saved == [("LATE+7", "early*7")]


def test_diffusion_models_are_read_one_at_a_time_and_the_rest_beside_them(monkeypatch):
    """Two transformers (nodes 1, 2) and a VAE (node 5): the transformers' reads never
    overlap each other, and the VAE is read while one of them is."""
    from specs_for_tests import inp, node, out
    from wfrun.engine.plan import Plan

    lock = threading.Lock()
    reading: list[str] = []
    seen = {"models_at_once": 0, "vae_beside_a_model": False}

    def load(ctx, name):
        with lock:
            reading.append(name)
            seen["models_at_once"] = max(seen["models_at_once"], len(reading))
        time.sleep(0.3)
        with lock:
            reading.remove(name)
        return (name,)

    def load_vae(ctx, name):
        time.sleep(0.1)
        with lock:
            seen["vae_beside_a_model"] = bool(reading)
        return (name,)

    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(load, background=True), "TLoadVae": ExecutorInfo(load_vae, background=True),
                  "TUse": ExecutorInfo(lambda ctx, model: (model,)),
                  "TDecode": ExecutorInfo(lambda ctx, vae, samples: (f"{vae}({samples})",)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    graph = _graph([
        node(1, "TLoad", ["high"], outputs=[out("MODEL", "MODEL", [1])]),
        node(2, "TLoad", ["low"], outputs=[out("MODEL", "MODEL", [2])]),
        node(3, "TUse", [], inputs=[inp("model", "MODEL", 1)], outputs=[out("LATENT", "LATENT", [3])]),
        node(4, "TUse", [], inputs=[inp("model", "MODEL", 2)], outputs=[out("LATENT", "LATENT", [4])]),
        node(5, "TLoadVae", ["vae"], outputs=[out("VAE", "VAE", [5])]),
        node(6, "TDecode", [], inputs=[inp("vae", "VAE", 5), inp("samples", "LATENT", 3)],
             outputs=[out("LATENT", "LATENT", [6])]),
        node(7, "TSave", [], inputs=[inp("a", "LATENT", 6), inp("b", "LATENT", 4)]),
    ], [[1, 1, 0, 3, 0, "MODEL"], [2, 2, 0, 4, 0, "MODEL"], [3, 3, 0, 6, 1, "LATENT"], [4, 4, 0, 7, 1, "LATENT"],
        [5, 5, 0, 6, 0, "VAE"], [6, 6, 0, 7, 0, "LATENT"]])
    result = run_plan(graph, Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"]), ExecContext(),
                      background=True)
    assert seen == {"models_at_once": 1, "vae_beside_a_model": True}
    assert set(result.executed) == {"1", "2", "3", "4", "5", "6", "7"}


def test_nodes_start_their_reads_ahead_when_the_run_starts_and_untaken_ones_are_dropped_at_its_end(monkeypatch):
    """``ExecutorInfo.prefetch``: called with each node's constant inputs before the first
    node runs, only in a run with background loads; a failing one does not stop the run;
    what each returned is called when the run ends."""
    from wfrun.engine.plan import Plan

    events: list[tuple] = []

    def prefetch(ctx, constants):
        events.append(("prefetch", ctx.node_id, constants))
        if constants["name"] == "early":
            raise RuntimeError("a file that is not there")
        return lambda: events.append(("release", ctx.node_id))

    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(lambda ctx, name: (events.append(("load", name)) or name,), prefetch=prefetch),
                  "TUse": ExecutorInfo(lambda ctx, model: (model.upper(),)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    plan = Plan(order=["1", "2", "3", "4", "5"], outputs=["5"])
    run_plan(_loader_graph(), plan, ExecContext(), background=True)
    assert events[:2] == [("prefetch", "1", {"name": "late"}), ("prefetch", "2", {"name": "early"})]
    assert sorted(e[1] for e in events[2:4]) == ["early", "late"]  # then the nodes ran
    assert events[-1] == ("release", "1")
    events.clear()
    run_plan(_loader_graph(), plan, ExecContext(), background=False)
    assert [e[0] for e in events] == ["load", "load"]  # no background loads: nothing read ahead


def test_a_fast_run_prepares_the_compiler_on_the_main_thread_while_its_first_model_is_read(monkeypatch):
    """``--fast`` loaders compile the model's blocks; the compiler's imports (1.3-1.5 s of
    GIL) are done once by the main thread while the first diffusion model is being read, not
    on the loader beside the first GPU nodes. Not for runs without ``fast`` nor off CUDA."""
    import dataclasses

    from wfrun.engine.plan import Plan
    from wfrun.models import compile as compile_module

    model_read = threading.Event()
    release = threading.Event()
    prepared: list[tuple] = []

    def load(ctx, name):
        model_read.set()
        release.wait(timeout=60)  # the model is still being read while the main thread prepares
        return (name,)

    def prepare():
        prepared.append((threading.current_thread() is threading.main_thread(), model_read.wait(timeout=60)))
        release.set()

    saved, _ = _patched_executors(monkeypatch, load)
    monkeypatch.setattr(compile_module, "prepare_compiler", prepare)
    plan = Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"])
    for ctx, expected in ((ExecContext(), []), (dataclasses.replace(ExecContext(), fast=True), []),
                          (dataclasses.replace(ExecContext(), fast=True, device="cuda:0"), [(True, True)])):
        release.clear()
        model_read.clear()
        prepared.clear()
        if not expected:
            release.set()
        run_plan(_patched_graph(), plan, ctx, background=True)
        assert prepared == expected
    assert saved[-1] == ("early*7", "LATE+7")


def test_a_fast_run_hands_every_ready_loader_to_its_worker_before_preparing_the_compiler(monkeypatch):
    """The compiler's imports hold the main thread (0.6 s, 2.9 s where Python compiled their
    bytecode); a loader ready at the same time as the first diffusion model's (here the VAE's,
    which the plan needs after the model) is handed to its worker first, so it reads beside
    them instead of after them (the end-frame job's CLIP loader started 0.6-2.9 s late,
    bench/RESULTS.md, session 24)."""
    import dataclasses

    from specs_for_tests import inp, node, out

    from wfrun.engine.plan import Plan
    from wfrun.models import compile as compile_module

    vae_read = threading.Event()
    seen: list[bool] = []
    saved: list[tuple] = []
    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(lambda ctx, name: (name,), background=True),
                  "TLoadVae": ExecutorInfo(lambda ctx, name: (vae_read.set() or name,), background=True),
                  "TUse": ExecutorInfo(lambda ctx, model: (model.upper(),)),
                  "TDecode": ExecutorInfo(lambda ctx, vae, samples: (f"{samples}/{vae}",)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: saved.append((a, b)) or ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    monkeypatch.setattr(compile_module, "prepare_compiler", lambda: seen.append(vae_read.wait(timeout=10)))
    graph = _graph([
        node(1, "TLoad", ["m"], outputs=[out("MODEL", "MODEL", [1])]),
        node(2, "TLoadVae", ["v"], outputs=[out("VAE", "VAE", [2])]),
        node(3, "TUse", [], inputs=[inp("model", "MODEL", 1)], outputs=[out("LATENT", "LATENT", [3, 4])]),
        node(4, "TDecode", [], inputs=[inp("vae", "VAE", 2), inp("samples", "LATENT", 3)],
             outputs=[out("LATENT", "LATENT", [5])]),
        node(5, "TSave", [], inputs=[inp("a", "LATENT", 4), inp("b", "LATENT", 5)]),
    ], [[1, 1, 0, 3, 0, "MODEL"], [2, 2, 0, 4, 0, "VAE"], [3, 3, 0, 4, 1, "LATENT"], [4, 3, 0, 5, 0, "LATENT"],
        [5, 4, 0, 5, 1, "LATENT"]])
    run_plan(graph, Plan(order=["1", "2", "3", "4", "5"], outputs=["5"]),
             dataclasses.replace(ExecContext(), fast=True, device="cuda:0"), background=True)
    assert seen == [True]  # the VAE was being read while the compiler was prepared
    assert saved == [("M", "M/v")]


def _ahead_executors(monkeypatch, ahead, *, encode_waits: threading.Event | None = None):
    """The patch (``TPatch``) gets an ``ahead`` hook; the encode waits (up to 5 s) for
    ``encode_waits`` so that it sees the hook run only if the two overlap. The loader takes
    0.3 s, as a model's read takes seconds: still reading when its turn comes."""
    saved: list[tuple] = []
    seen: dict[str, object] = {}

    def encode(ctx, model, extra):
        if encode_waits is not None:
            seen["overlapped"] = encode_waits.wait(timeout=5)
        return (f"{model}*{extra}",)

    load_packs()  # first: loading them later would fill the table this test swaps in
    table = dict(registry_module._EXECUTORS)
    table.update({"TLoad": ExecutorInfo(lambda ctx, name: (time.sleep(0.3) or name,), background=True),
                  "TVal": ExecutorInfo(lambda ctx: (7,)),
                  "TPatch": ExecutorInfo(lambda ctx, model, extra: (f"{model}+{extra}",), ahead=ahead),
                  "TUseWith": ExecutorInfo(encode),
                  "TUse": ExecutorInfo(lambda ctx, model: (model.upper(),)),
                  "TSave": ExecutorInfo(lambda ctx, a, b: saved.append((a, b)) or ())})
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    return saved, seen


def test_a_patch_works_ahead_on_the_loaded_model_while_the_main_thread_encodes(monkeypatch):
    """The patch's ``ahead`` gets the patch's own outputs on a worker once the model's loader is
    done and the patch's other input (node 2) exists, while the encode (node 5) runs; the run's
    values are those of a run without it."""
    from wfrun.engine.plan import Plan

    calls: list[tuple] = []
    done = threading.Event()

    def ahead(ctx, outputs):
        calls.append((threading.current_thread().name, ctx.node_id, outputs))
        done.set()

    saved, seen = _ahead_executors(monkeypatch, ahead, encode_waits=done)
    plan = Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"])
    run_plan(_patched_graph(), plan, ExecContext(), background=True)
    assert seen["overlapped"]
    assert [(thread.startswith("wfrun-ahead"), node, outputs) for thread, node, outputs in calls] == [
        (True, "3", ("late+7",))]
    assert saved == [("early*7", "LATE+7")]
    assert not any(t.name.startswith("wfrun-ahead") for t in threading.enumerate())  # the worker is gone

    calls.clear()
    saved_plain, _ = _ahead_executors(monkeypatch, ahead)
    run_plan(_patched_graph(), plan, ExecContext(), background=False)
    assert calls == [] and saved_plain == saved  # no background loads: no ahead work either


def test_ahead_work_follows_a_chain_of_patches_and_skips_a_model_two_branches_read(monkeypatch):
    from specs_for_tests import inp, node, out
    from wfrun.engine.plan import Plan

    calls: list[tuple] = []
    saved, _ = _ahead_executors(monkeypatch, lambda ctx, outputs: calls.append((ctx.node_id, outputs)))
    chain = _graph([
        node(1, "TLoad", ["m"], outputs=[out("MODEL", "MODEL", [1])]),
        node(2, "TVal", [], outputs=[out("INT", "INT", [2, 3])]),
        node(3, "TPatch", [], inputs=[inp("model", "MODEL", 1), inp("extra", "INT", 2)],
             outputs=[out("MODEL", "MODEL", [4])]),
        node(4, "TPatch", [], inputs=[inp("model", "MODEL", 4), inp("extra", "INT", 3)],
             outputs=[out("MODEL", "MODEL", [5])]),
        node(5, "TUse", [], inputs=[inp("model", "MODEL", 5)], outputs=[out("LATENT", "LATENT", [6])]),
        node(6, "TSave", [], inputs=[inp("a", "LATENT", 6), inp("b", "LATENT", 6)]),
    ], [[1, 1, 0, 3, 0, "MODEL"], [2, 2, 0, 3, 1, "INT"], [3, 2, 0, 4, 1, "INT"], [4, 3, 0, 4, 0, "MODEL"],
        [5, 4, 0, 5, 0, "MODEL"], [6, 5, 0, 6, 0, "LATENT"]])
    run_plan(chain, Plan(order=["1", "2", "3", "4", "5", "6"], outputs=["6"]), ExecContext(), background=True)
    assert calls == [("4", ("m+7+7",))]  # the last patch's, with both patches on the model
    assert saved == [("M+7+7", "M+7+7")]

    calls.clear()
    branches = _graph([
        node(1, "TLoad", ["m"], outputs=[out("MODEL", "MODEL", [1, 4])]),
        node(2, "TVal", [], outputs=[out("INT", "INT", [2])]),
        node(3, "TPatch", [], inputs=[inp("model", "MODEL", 1), inp("extra", "INT", 2)],
             outputs=[out("MODEL", "MODEL", [3])]),
        node(4, "TUse", [], inputs=[inp("model", "MODEL", 3)], outputs=[out("LATENT", "LATENT", [5])]),
        node(5, "TUse", [], inputs=[inp("model", "MODEL", 4)], outputs=[out("LATENT", "LATENT", [6])]),
        node(6, "TSave", [], inputs=[inp("a", "LATENT", 5), inp("b", "LATENT", 6)]),
    ], [[1, 1, 0, 3, 0, "MODEL"], [2, 2, 0, 3, 1, "INT"], [3, 3, 0, 4, 0, "MODEL"], [4, 1, 0, 5, 0, "MODEL"],
        [5, 4, 0, 6, 0, "LATENT"], [6, 5, 0, 6, 1, "LATENT"]])
    run_plan(branches, Plan(order=["1", "2", "3", "4", "5", "6"], outputs=["6"]), ExecContext(), background=True)
    assert calls == []  # the plain branch reads the model too: which merge to keep is not the patch's to say
    assert saved[-1] == ("M+7", "M")


def test_failing_ahead_work_changes_nothing(monkeypatch):
    from wfrun.engine.plan import Plan

    tried = threading.Event()

    def ahead(ctx, outputs):
        tried.set()
        raise RuntimeError("out of luck")

    saved, _ = _ahead_executors(monkeypatch, ahead)
    result = run_plan(_patched_graph(), Plan(order=["1", "2", "3", "4", "5", "6", "7"], outputs=["7"]), ExecContext(),
                      background=True)
    assert tried.is_set() and saved == [("early*7", "LATE+7")]
    assert set(result.executed) == {"1", "2", "3", "4", "5", "6", "7"}
