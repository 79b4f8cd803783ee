"""ComfyUI's list semantics in the engine (``wfrun.engine.lists``), on made-up nodes whose
signatures say which outputs are lists and which node takes lists whole.

The expected calls are ComfyUI's rules (``execution.py``: ``_map_node_over_list``,
``merge_result_data``) worked out by hand for each graph: call ``i`` of a node gets item
``i`` of each list input, a shorter list repeats its last item, a node taking lists gets
every input whole (a widget as a list of one), and a node's outputs are the list of its
per-call results (list outputs joined end to end)."""

from __future__ import annotations

import pytest

from specs_for_tests import inp, node, out, workflow
from wfrun.engine import lists
from wfrun.engine.executors import load_packs
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, OutputCache, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes import executor as registry_module
from wfrun.nodes.executor import ExecContext, ExecutorInfo
from wfrun.specs.registry import Registry
from wfrun.specs.spec import PackSpecs


def _i(name, type_, **kw):
    return {"name": name, "type": type_, "section": "required", **kw}


def _node(inputs, outputs, **sig):
    return {"signatures": [{"inputs": inputs, "outputs": outputs, **sig}]}


def _link(name, type_):
    return _i(name, type_, force_input=True)


NODES = {
    # a plain text from its widget
    "TConst": _node([_i("text", "STRING", default="")], [{"type": "STRING"}]),
    # a list of text items from a comma-separated widget
    "TSplit": _node([_i("text", "STRING", default="")], [{"type": "STRING", "is_list": True}]),
    # a plain node of one input and a widget
    "TUpper": _node([_link("text", "STRING"), _i("suffix", "STRING", default="")], [{"type": "STRING"}]),
    # two inputs, to pair items
    "TPair": _node([_link("a", "STRING"), _link("b", "STRING")], [{"type": "STRING"}, {"type": "INT"}]),
    # a plain-input node with a list output: each call gives two items
    "TTwice": _node([_link("text", "STRING")], [{"type": "STRING", "is_list": True}]),
    # takes lists whole
    "TJoin": _node([_link("texts", "STRING"), _i("sep", "STRING", default="+")], [{"type": "STRING"}],
                   input_is_list=True),
    # an output node
    "TSave": _node([_link("text", "*"), _i("prefix", "STRING", default="out")], [], output_node=True),
}
PACK = PackSpecs.model_validate({"pack": "listpack", "nodes": {
    name: {"class_type": name, "pack": "listpack", **spec} for name, spec in NODES.items()}})

CALLS: list[tuple] = []


@pytest.fixture(autouse=True)
def fake_executors(monkeypatch):
    table = dict(registry_module._EXECUTORS)

    def split(ctx, text):
        CALLS.append(("TSplit", text))
        return ([t for t in text.split(",") if t] if text != "none" else [],)

    def upper(ctx, text, suffix):
        CALLS.append(("TUpper", text, suffix))
        return (text.upper() + suffix,)

    def pair(ctx, a, b):
        CALLS.append(("TPair", a, b))
        return (f"{a}{b}", len(a + b))

    def twice(ctx, text):
        CALLS.append(("TTwice", text))
        return ([text, text * 2],)

    def join(ctx, texts, sep):
        CALLS.append(("TJoin", texts, sep))
        return (sep[0].join(texts),)

    def save(ctx, text, prefix):
        CALLS.append(("TSave", text, prefix))
        return ()

    table.update({"TSplit": ExecutorInfo(split), "TUpper": ExecutorInfo(upper), "TPair": ExecutorInfo(pair),
                  "TTwice": ExecutorInfo(twice), "TJoin": ExecutorInfo(join), "TSave": ExecutorInfo(save)})
    load_packs()
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    CALLS.clear()


def build_graph(nodes, links):
    return build(from_data(workflow(nodes, links), "lists.json"), Registry([PACK]))


def run(graph, **kw):
    return run_plan(graph, make_plan(graph), ExecContext(), **kw)


def calls(kind):
    return [c[1:] for c in CALLS if c[0] == kind]


def chain(text="a,b,c", suffix="!"):
    """TSplit -> TUpper -> TJoin -> TSave, and TUpper -> TSave."""
    nodes = [
        node(1, "TSplit", [text], outputs=[out("STRING", "STRING", [1])]),
        node(2, "TUpper", [suffix], inputs=[inp("text", "STRING", 1)], outputs=[out("STRING", "STRING", [2, 3])]),
        node(3, "TJoin", ["+"], inputs=[inp("texts", "STRING", 2)], outputs=[out("STRING", "STRING", [4])]),
        node(4, "TSave", ["joined"], inputs=[inp("text", "STRING", 4)]),
        node(5, "TSave", ["each"], inputs=[inp("text", "STRING", 3)]),
    ]
    links = [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 3, 0, "STRING"], [3, 2, 0, 5, 0, "STRING"],
             [4, 3, 0, 4, 0, "STRING"]]
    return build_graph(nodes, links)


def test_a_list_runs_the_next_node_per_item_and_a_list_node_gets_it_whole():
    result = run(chain())
    assert calls("TSplit") == [("a,b,c",)]
    assert calls("TUpper") == [("a", "!"), ("b", "!"), ("c", "!")]  # the widget with every item
    assert calls("TJoin") == [(["A!", "B!", "C!"], ["+"])]  # whole lists, the widget a list of one
    # the output node: once for the joined text, once per item of the other list
    assert calls("TSave") == [("A!+B!+C!", "joined"), ("A!", "each"), ("B!", "each"), ("C!", "each")]
    assert result.outputs["4"] == () and result.outputs["5"] == ()


def test_a_list_of_one_is_its_item():
    graph = chain(text="solo")
    result = run(graph)
    assert calls("TUpper") == [("solo", "!")]
    assert calls("TJoin") == [(["SOLO!"], ["+"])]
    assert calls("TSave") == [("SOLO!", "joined"), ("SOLO!", "each")]
    assert result.executed == ["1", "2", "3", "4", "5"]


def pairs(a="a,b,c", b="x,y"):
    nodes = [
        node(1, "TSplit", [a], outputs=[out("STRING", "STRING", [1])]),
        node(2, "TSplit", [b], outputs=[out("STRING", "STRING", [2])]),
        node(3, "TPair", [], inputs=[inp("a", "STRING", 1), inp("b", "STRING", 2)],
             outputs=[out("STRING", "STRING", [3]), out("INT", "INT", [4])]),
        node(4, "TJoin", ["/"], inputs=[inp("texts", "STRING", 3)], outputs=[out("STRING", "STRING", [5])]),
        node(5, "TSave", ["lengths"], inputs=[inp("text", "INT", 4)]),
        node(6, "TSave", ["pairs"], inputs=[inp("text", "STRING", 5)]),
    ]
    links = [[1, 1, 0, 3, 0, "STRING"], [2, 2, 0, 3, 1, "STRING"], [3, 3, 0, 4, 0, "STRING"],
             [4, 3, 1, 5, 0, "INT"], [5, 4, 0, 6, 0, "STRING"]]
    return build_graph(nodes, links)


def test_a_shorter_list_repeats_its_last_item():
    run(pairs())
    assert calls("TPair") == [("a", "x"), ("b", "y"), ("c", "y")]
    assert calls("TJoin") == [(["ax", "by", "cy"], ["/"])]
    assert calls("TSave") == [(2, "lengths"), (2, "lengths"), (2, "lengths"), ("ax/by/cy", "pairs")]


def test_a_plain_value_goes_with_every_item():
    run(pairs(a="a,bb,ccc", b="z"))
    assert calls("TPair") == [("a", "z"), ("bb", "z"), ("ccc", "z")]
    assert [c[0] for c in calls("TSave")] == [2, 3, 4, "az/bbz/cccz"]


def test_list_outputs_of_a_mapped_node_are_joined_end_to_end():
    nodes = [
        node(1, "TSplit", ["p,q"], outputs=[out("STRING", "STRING", [1])]),
        node(2, "TTwice", [], inputs=[inp("text", "STRING", 1)], outputs=[out("STRING", "STRING", [2])]),
        node(3, "TJoin", [","], inputs=[inp("texts", "STRING", 2)], outputs=[out("STRING", "STRING", [3])]),
        node(4, "TSave", ["x"], inputs=[inp("text", "STRING", 3)]),
    ]
    links = [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 3, 0, "STRING"], [3, 3, 0, 4, 0, "STRING"]]
    run(build_graph(nodes, links))
    assert calls("TTwice") == [("p",), ("q",)]
    assert calls("TJoin") == [(["p", "pp", "q", "qq"], [","])]


def test_an_empty_list_stops_the_run_naming_the_input():
    with pytest.raises(NodeError) as err:
        run(chain(text="none"))
    assert "node 2" in str(err.value) and "input 'text'" in str(err.value) and "empty list" in str(err.value)
    assert calls("TUpper") == []


def test_a_list_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(lists, "MAX_LIST_ITEMS", 2)
    with pytest.raises(NodeError) as err:
        run(chain(text="a,b,c"))
    assert str(err.value).startswith("node 1 'TSplit' (TSplit): output 0 (STRING) has more than 2 items")
    assert calls("TUpper") == []  # refused before anything runs on it
    # a mapped node whose list outputs, joined, pass the limit
    monkeypatch.setattr(lists, "MAX_LIST_ITEMS", 3)
    nodes = [
        node(1, "TSplit", ["p,q"], outputs=[out("STRING", "STRING", [1])]),
        node(2, "TTwice", [], inputs=[inp("text", "STRING", 1)], outputs=[out("STRING", "STRING", [2])]),
        node(3, "TSave", ["x"], inputs=[inp("text", "STRING", 2)]),
    ]
    with pytest.raises(NodeError) as err:
        run(build_graph(nodes, [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 3, 0, "STRING"]]))
    assert str(err.value).startswith("node 2 'TTwice' (TTwice): output 0 (STRING) has more than 3 items")
    assert calls("TSave") == []


def test_plain_nodes_get_and_give_exactly_the_executors_values(monkeypatch):
    """No list anywhere: each executor is called once with the very objects upstream gave,
    and its tuple is held as returned (the plain path)."""
    marker = object()
    seen = {}

    def const(ctx, text):
        seen["made"] = (text + "!",)
        return seen["made"]

    def upper(ctx, text, suffix):
        seen["in"] = text
        seen["out"] = (marker,)
        return seen["out"]

    def save(ctx, text, prefix):
        seen["saved"] = text
        return ()

    monkeypatch.setitem(registry_module._EXECUTORS, "TConst", ExecutorInfo(const))
    monkeypatch.setitem(registry_module._EXECUTORS, "TUpper", ExecutorInfo(upper))
    monkeypatch.setitem(registry_module._EXECUTORS, "TSave", ExecutorInfo(save))
    nodes = [node(1, "TConst", ["a"], outputs=[out("STRING", "STRING", [1])]),
             node(2, "TUpper", ["?"], inputs=[inp("text", "STRING", 1)], outputs=[out("STRING", "STRING", [2])]),
             node(3, "TSave", ["x"], inputs=[inp("text", "STRING", 2)])]
    graph = build_graph(nodes, [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 3, 0, "STRING"]])
    cache = OutputCache()
    run(graph, cache=cache)
    assert seen["in"] is seen["made"][0] and seen["saved"] is marker
    assert len(cache) == 2 and any(v is seen["out"] for v in cache._store.values())


def test_cached_lists_are_reused_and_output_nodes_still_run_per_item():
    cache = OutputCache()
    run(chain(), cache=cache)
    CALLS.clear()
    result = run(chain(), cache=cache)
    assert result.cached == ["1", "2", "3"]
    assert calls("TUpper") == [] and calls("TSplit") == []
    assert calls("TSave") == [("A!+B!+C!", "joined"), ("A!", "each"), ("B!", "each"), ("C!", "each")]


def test_interrupt_is_honoured_between_items():
    graph = chain()
    ctx = ExecContext()

    def upper(c, text, suffix):
        CALLS.append(("TUpper", text, suffix))
        ctx.interrupted = True  # Ctrl-C while the first item ran
        return (text,)

    registry_module._EXECUTORS["TUpper"] = ExecutorInfo(upper)
    result = run_plan(graph, make_plan(graph), ctx)
    assert result.interrupted and calls("TUpper") == [("a", "!")]


def test_smoke_caps_apply_to_each_calls_own_values():
    seen = []

    def adjust(node_, inputs):
        seen.append((node_.class_type, dict(inputs)))
        return {**inputs, "suffix": "?"} if node_.class_type == "TUpper" else inputs

    run(chain(text="a,b"), adjust_inputs=adjust)
    assert [i["text"] for t, i in seen if t == "TUpper"] == ["a", "b"]  # plain values, one call each
    assert calls("TUpper") == [("a", "?"), ("b", "?")]
    # a list node fed a list is not adjusted (its inputs are lists, not the values the caps know)
    assert [t for t, _ in seen].count("TJoin") == 0


def test_background_loaders_fed_a_list_run_per_item_at_their_turn(monkeypatch):
    def upper(ctx, text, suffix):
        CALLS.append(("TUpper", text, suffix))
        return (text.upper(),)

    monkeypatch.setitem(registry_module._EXECUTORS, "TUpper", ExecutorInfo(upper, background=True))
    result = run(chain(), background=True)
    assert calls("TUpper") == [("a", "!"), ("b", "!"), ("c", "!")]
    assert calls("TJoin") == [(["A", "B", "C"], ["+"])]
    assert not result.interrupted


#: Executors written for ComfyUI's lists: their node's spec marks list outputs or
#: ``input_is_list``, and the executor returns lists there or takes lists whole.
LIST_AWARE = {
    "CreateList", "GetItemFromList", "StartLoop", "EndLoop", "RebatchImages", "VHS_Unbatch", "ImageListToImageBatch", "LoadImageListFromDir //Inspire",
    "Florence2Run", "ImageBatchToList+", "ImageListToBatch+", "WanVACEBatchContext", "WanDancerPadKeyframesList",
    "easy lengthAnything", "easy indexAnything",
    *(f"{prefix}{name}" for prefix in ("", "Basic data handling: ") for name in (
        "DataListLength", "DataListFirst", "DataListLast", "DataListGetItem", "DataListReverse", "DataListSlice",
        "DataListExtend", "DataListAppend", "DataListAll", "DataListAny", "DataListCount", "DataListContains",
        "DataListToList", "ListToDataList", "DataListRange", "DataListIndex", "DataListPop", "DataListSort",
        "PathListDir")),
    "easy promptLine", "easy showAnything",
    "RebatchLatents",
    "CR Prompt List", "List Length", "Text Utils - Split String to List", "StringFromList", "CreaPrompt List",
    "ShowText|pysssss",
}


def test_every_executor_of_a_list_node_is_written_for_lists():
    """A spec that gains a list flag (a re-extraction, a new pack) changes what its executor
    receives or must return: it must be looked at, not silently run on the plain path."""
    from wfrun.engine.executors import executor_info
    from wfrun.specs.registry import default_registry

    registry = default_registry()
    found = set()
    for pack in registry.packs.values():
        for name, spec in pack.nodes.items():
            listy = any(s.input_is_list or any(o.is_list for o in s.outputs) for s in spec.signatures)
            if listy and executor_info(name, spec) is not None:
                found.add(name)
    assert found <= LIST_AWARE, sorted(found - LIST_AWARE)
    assert {"CreateList", "RebatchImages", "VHS_Unbatch", "LoadImageListFromDir //Inspire"} <= found
