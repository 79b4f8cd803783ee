"""Pack-specific checks are registered by their pack and passed to ``check``; executor
metadata is typed (``ExecutorInfo``), registered with the executor."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from specs_for_tests import node, out, test_registry, workflow
from wfrun.diagnostics import Diagnostic, Severity
from wfrun.engine.executors import executor_info, get_executor, pack_checks
from wfrun.formats.document import from_data
from wfrun.graph import CheckOptions, build, check
from wfrun.graph.check import PackChecks, node_diagnostic
from wfrun.nodes import checks as checks_registry, executor as registry_module
from wfrun.nodes.executor import ExecContext, ExecutorInfo, executor

from test_check import base, widget

ROOT = Path(__file__).resolve().parents[1]


def graph_of(data: dict):
    return build(from_data(json.loads(json.dumps(data)), "wf.json"), test_registry())


def test_a_registered_check_runs_only_when_passed_in(monkeypatch):
    monkeypatch.setattr(checks_registry, "_GRAPH_CHECKS", [])
    monkeypatch.setattr(checks_registry, "_VALUE_CHECKS", [])
    seen: list[str] = []

    @checks_registry.graph_check
    def no_more_than_six(graph, options):
        seen.append("graph")
        if len(list(graph.nodes())) > 6:
            first = next(iter(graph.nodes()))
            yield node_diagnostic(graph, first, "cycle", Severity.WARNING, "fake: too many nodes")

    @checks_registry.value_check
    def no_sevens(graph, node, spec, value):
        seen.append(f"{node.id}.{spec.name}")
        if value == 7:
            yield node_diagnostic(graph, node, "out-of-range", Severity.ERROR, "fake: no sevens", input=spec.name)

    graph = graph_of(base())
    assert check(graph) == [] and seen == []  # not passed in: the generic checks only
    given = PackChecks(graph=checks_registry.registered_graph_checks(),
                       values=checks_registry.registered_value_checks())
    found = check(graph, CheckOptions(), given)
    assert [(d.code, d.message, d.node_id) for d in found] == [
        ("out-of-range", "fake: no sevens", "3"), ("cycle", "fake: too many nodes", "1")]
    assert "graph" in seen and "3.seed" in seen
    assert seen[-1] == "graph"  # whole-graph checks run after every node's own


def test_the_wan_rules_live_in_the_wanvideo_pack():
    text = (ROOT / "wfrun" / "graph" / "check.py").read_text(encoding="utf-8")
    for name in ("WanVideoEmptyEmbeds", "WanVideoImageToVideoEncode", "WanVideoImageClipEncode", "frame-count",
                 "size-multiple", "embeds-mismatch", "_is_wan_node", "num_frames", "i2v", "4n+1"):
        assert name not in text, name
    from wfrun.packs.wanvideo import checks as wan

    registered = pack_checks()
    assert wan.wan_shape in registered.values and wan.embeds_mismatch in registered.graph
    # Without the packs' checks, the Wan rules are silent; with them, they speak.
    bad = graph_of(widget(widget(base(), 5, 2, 80), 6, 0, "Wan2_1-I2V-14B-480P_fp8.safetensors"))
    assert not {"frame-count", "embeds-mismatch"} & {d.code for d in check(bad)}
    assert [d.code for d in check(bad, None, registered)] == ["frame-count", "embeds-mismatch"]


def test_executor_metadata_is_typed():
    for class_type in ("LoadImage", "VHS_LoadVideo"):
        info = executor_info(class_type)
        assert isinstance(info, ExecutorInfo) and info.volatile and info.input_files is not None
        assert info.fn is get_executor(class_type)
    assert executor_info("LoadImage").input_files({"image": "a.png"}) == {"image": ("a.png", "image")}
    assert executor_info("VHS_LoadVideo").input_files({"video": "clip.mp4"}) == {"video": ("clip.mp4", "video")}
    for class_type in ("WanVideoSampler", "WanVideoDecode", "WanVideoEncode"):
        info = executor_info(class_type)
        assert info.oom_hint and not info.volatile and info.input_files is None
    saver = executor_info("SaveImage")  # an output node: never cached because it is one
    assert saver is not None and not saver.volatile and saver.oom_hint is None
    assert executor_info("NoSuchNode") is None
    with pytest.raises(Exception):
        executor_info("LoadImage").volatile = False  # frozen


def test_the_decorator_registers_metadata(monkeypatch):
    monkeypatch.setattr(registry_module, "_EXECUTORS", {})

    files = lambda inputs: {"x": (inputs.get("x"), "image")}  # noqa: E731

    @executor("A", "B", volatile=True, oom_hint="tile it", input_files=files)
    def fn(ctx: ExecContext, **_):
        return ()

    for class_type in ("A", "B"):  # one function, the same metadata under every type
        assert registry_module.registered_info(class_type) == ExecutorInfo(fn, oom_hint="tile it", volatile=True,
                                                                           input_files=files)
