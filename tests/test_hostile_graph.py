"""Hostile and broken graphs: each ends in a named diagnostic or a clear error, never a
traceback, a hang or a RecursionError.

Every workflow here is made by a small generator in this file: link loops, ten thousand
chained reroutes, negative and absurd link slots, malformed API references, duplicate
node ids, a 30 KB file whose nested subgraphs would expand to 177,147 nodes, values of
10**7 steps. The CLI cases run ``wfrun.cli:main`` through click's CliRunner on the demo
workflow with one thing broken, and check the exit code, the code and the node named.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CORPUS, all_workflow_files
from specs_for_tests import inp, node, out, test_registry, workflow
from wfrun.cli import main
from wfrun.diagnostics import Severity
from wfrun.engine.plan import PlanError, make_plan
from wfrun.formats.document import FormatError, from_data
from wfrun.engine.overrides import Override, apply_overrides
from wfrun.graph import LinkRef, build, check
from wfrun.graph.numbers import plain, shown, spec_bound
from wfrun.specs.registry import default_registry
from wfrun.jobs.validate import validate_text

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"
LIMIT_CODES = {"too-many-nodes", "too-many-links", "subgraph-too-deep", "value-too-large"}
build_module = importlib.import_module("wfrun.graph.build")  # the package exports the function


def built(data: dict):
    return build(from_data(data, "hostile.json"), test_registry())


def codes(graph) -> list[str]:
    return [p.code for p in graph.problems]


def demo() -> dict:
    return json.loads(DEMO.read_text(encoding="utf-8"))


def demo_node(data: dict, node_id: int) -> dict:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def demo_link(data: dict, link_id: int) -> list:
    return next(link for link in data["links"] if link[0] == link_id)


def cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def save(tmp_path: Path, data: dict, name: str = "hostile.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def dry_run(tmp_path: Path, path: str, *extra: str):
    (tmp_path / "models").mkdir(exist_ok=True)
    return cli("run", path, "--dry-run", "--models", str(tmp_path / "models"), "-o", str(tmp_path / "out"),
               *extra)


# --- 1. link loops ------------------------------------------------------------------------

def two_filter_loop() -> dict:
    """LoadImg(1) → Filter(2) ⇄ Filter(3): 3 feeds 2's amount, 2 feeds 3's image."""
    return workflow([
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])]),
        node(2, "Filter", [1.0], inputs=[inp("image", "IMAGE", 1), inp("amount", "FLOAT", 3, widget="amount")],
             outputs=[out("IMAGE", "IMAGE", [2])]),
        node(3, "Filter", [1.0], inputs=[inp("image", "IMAGE", 2)], outputs=[out("IMAGE", "IMAGE", [3])]),
        node(4, "Save", ["out"], inputs=[inp("samples", "LATENT", 4)]),
        node(5, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 5)], outputs=[out("L", "LATENT", [4])]),
    ], [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 2, 1, "IMAGE"],
        [4, 5, 0, 4, 0, "LATENT"], [5, 3, 0, 5, 0, "IMAGE"]])


def test_a_link_loop_is_named_at_build_and_planning_refuses_it():
    g = built(two_filter_loop())
    (loop,) = [p for p in g.problems if p.code == "cycle"]
    assert loop.severity is Severity.ERROR and loop.found == ["2", "3"]
    assert "2 → 3 → 2" in loop.message and loop.node_id == "2"
    with pytest.raises(PlanError) as err:
        make_plan(g)
    assert [d.code for d in err.value.diagnostics] == ["cycle"]


def test_a_loop_in_an_api_prompt_is_named_too():
    prompt = {"2": {"class_type": "Filter", "inputs": {"image": ["3", 0], "amount": 1.0}},
              "3": {"class_type": "Filter", "inputs": {"image": ["2", 0], "amount": 1.0}},
              "4": {"class_type": "Sampler", "inputs": {"image": ["3", 0], "seed": 1, "steps": 2}}}
    g = built(prompt)
    (loop,) = g.problems
    assert loop.code == "cycle" and loop.found == ["2", "3"]
    with pytest.raises(PlanError):
        make_plan(g)


def test_a_reroute_loop_is_found_while_resolving():
    data = workflow([
        node(2, "Reroute", inputs=[inp("", "*", 2)], outputs=[out("", "IMAGE", [1, 3])]),
        node(3, "Reroute", inputs=[inp("", "*", 1)], outputs=[out("", "IMAGE", [2])]),
        node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 3)]),
    ], [[1, 2, 0, 3, 0, "IMAGE"], [2, 3, 0, 2, 0, "IMAGE"], [3, 2, 0, 9, 0, "IMAGE"]])
    g = built(data)
    (loop,) = [p for p in g.problems if p.code == "cycle"]
    assert set(loop.found) == {"2", "3"}
    assert "image" not in g.node("9").inputs and "loop" in g.node("9").cut_inputs["image"]
    with pytest.raises(PlanError):
        make_plan(g)


def test_a_subgraph_that_contains_itself_is_a_loop():
    sub = "aaaaaaaa-0000-0000-0000-000000000001"
    data = workflow([node(1, sub, [])], [],
                    definitions={"subgraphs": [{"id": sub, "name": "me again", "nodes": [node(1, sub, [])],
                                                "links": []}]})
    g = built(data)
    assert codes(g) == ["cycle"] and g.problems[0].node_id == "1:1"


def self_loop_demo() -> dict:
    data = demo()
    data["links"].append([99, 27, 0, 27, 3, "LATENT"])  # the sampler's samples from itself
    demo_node(data, 27)["inputs"][3]["link"] = 99
    return data


@pytest.mark.parametrize("command", ["graph", "validate", "run"])
def test_cli_reports_a_loop_with_exit_1(tmp_path, command):
    path = save(tmp_path, self_loop_demo())
    result = dry_run(tmp_path, path) if command == "run" else cli(command, path)
    assert result.exit_code == 1
    assert "error[cycle]" in result.output
    assert "node 27 'WanVideo Sampler' (WanVideoSampler)" in result.output and "27 → 27" in result.output


# --- 2. deep chains resolve without recursion ---------------------------------------------

def reroute_chain(count: int) -> dict:
    """LoadImg(1) → ``count`` Reroutes (ids 100…) → Sampler(9)."""
    nodes = [node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")])]
    links = []
    for i in range(count):
        nodes.append(node(100 + i, "Reroute", inputs=[inp("", "*", 1 + i)], outputs=[out("", "IMAGE", [2 + i])]))
        links.append([1 + i, 1 if i == 0 else 99 + i, 0, 100 + i, 0, "IMAGE"])
    links.append([1 + count, 99 + count, 0, 9, 0, "IMAGE"])
    nodes.append(node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 1 + count)]))
    return workflow(nodes, links)


def test_ten_thousand_reroutes_resolve_to_their_source():
    g = built(reroute_chain(10_000))
    assert g.problems == []
    assert set(g.graph.nodes) == {"1", "9"}
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


def test_long_set_get_chains_resolve():
    """SetNode k stores GetNode k-1's value; 2,000 pairs, read by the sampler at the end."""
    count = 2_000
    nodes = [node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])])]
    links = []
    for k in range(count):
        source = 1 if k == 0 else 20_000 + k - 1  # LoadImg, then the previous GetNode
        links.append([1 + k, source, 0, 10_000 + k, 0, "IMAGE"])
        nodes.append(node(10_000 + k, "SetNode", [f"v{k}"], inputs=[inp("IMAGE", "IMAGE", 1 + k)]))
        nodes.append(node(20_000 + k, "GetNode", [f"v{k}"], outputs=[out("IMAGE", "IMAGE", [2 + k])]))
    links.append([1 + count, 20_000 + count - 1, 0, 9, 0, "IMAGE"])
    nodes.append(node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 1 + count)]))
    g = built(workflow(nodes, links))
    assert g.problems == [] and g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


def test_long_chains_of_bypassed_nodes_resolve():
    count = 2_000
    nodes = [node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])])]
    links = []
    for k in range(count):
        links.append([1 + k, 1 if k == 0 else 99 + k, 0, 100 + k, 0, "IMAGE"])
        nodes.append(node(100 + k, "Filter", [1.0], mode=4, inputs=[inp("image", "IMAGE", 1 + k)],
                          outputs=[out("IMAGE", "IMAGE", [2 + k])]))
    links.append([1 + count, 99 + count, 0, 9, 0, "IMAGE"])
    nodes.append(node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 1 + count)]))
    g = built(workflow(nodes, links))
    assert g.problems == [] and set(g.graph.nodes) == {"1", "9"}
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


def pass_through(sub_id: str, inner: str | None, bottom: str = "Filter") -> dict:
    """A subgraph definition passing its image input to its output, through an instance
    of ``inner`` (the next level down) or, at the bottom, through a Filter or a Reroute."""
    middle = inner or bottom
    widgets = [0.5] if middle == "Filter" else []
    return {"id": sub_id, "name": f"level {sub_id[-4:]}",
            "inputs": [{"id": "i0", "name": "image", "type": "IMAGE", "linkIds": [1]}],
            "outputs": [{"id": "o0", "name": "IMAGE", "type": "IMAGE", "linkIds": [2]}],
            "nodes": [node(1, middle, widgets, inputs=[inp("image", "IMAGE", 1)],
                           outputs=[out("IMAGE", "IMAGE", [2])])],
            "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
                      {"id": 2, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0,
                       "type": "IMAGE"}]}


def sub_id(level: int) -> str:
    return f"bbbbbbbb-0000-0000-0000-{level:012d}"


def nested(levels: int) -> dict:
    """LoadImg(1) → instance 7 of level ``levels - 1`` → … → a Filter → Sampler(9)."""
    definitions = [pass_through(sub_id(k), sub_id(k - 1) if k else None) for k in range(levels)]
    return workflow([
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])]),
        node(7, sub_id(levels - 1), [], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])]),
        node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 2)]),
    ], [[1, 1, 0, 7, 0, "IMAGE"], [2, 7, 0, 9, 0, "IMAGE"]], definitions={"subgraphs": definitions})


def test_subgraphs_nested_to_the_limit_resolve_through_every_boundary():
    g = built(nested(32))
    filter_id = ":".join(["7"] + ["1"] * 32)  # instance 7, then node 1 at each level
    assert g.problems == []
    assert g.node(filter_id).inputs["image"] == LinkRef("1", 0, "IMAGE")
    assert g.node("9").inputs["image"] == LinkRef(filter_id, 0, "IMAGE")


def test_subgraphs_nested_deeper_than_the_limit_are_refused():
    g = built(nested(40))
    (deep,) = [p for p in g.problems if p.code == "subgraph-too-deep"]
    assert deep.node_id == ":".join(["7"] + ["1"] * 32) and deep.class_type == sub_id(40 - 33)
    with pytest.raises(PlanError) as err:
        make_plan(g)
    assert "subgraph-too-deep" in [d.code for d in err.value.diagnostics]


def test_a_chain_of_many_subgraph_instances_resolves():
    """1,500 instances of a subgraph holding a Reroute: one walk crosses 3,000 boundaries."""
    count = 1_500
    nodes = [node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])])]
    links = []
    for k in range(count):
        links.append([1 + k, 1 if k == 0 else 99 + k, 0, 100 + k, 0, "IMAGE"])
        nodes.append(node(100 + k, sub_id(0), [], inputs=[inp("image", "IMAGE", 1 + k)],
                          outputs=[out("IMAGE", "IMAGE", [2 + k])]))
    links.append([1 + count, 99 + count, 0, 9, 0, "IMAGE"])
    nodes.append(node(9, "Sampler", [7, "fixed", 20], inputs=[inp("image", "IMAGE", 1 + count)]))
    g = built(workflow(nodes, links, definitions={"subgraphs": [pass_through(sub_id(0), None, "Reroute")]}))
    assert g.problems == [] and set(g.graph.nodes) == {"1", "9"}
    assert g.node("9").inputs["image"] == LinkRef("1", 0, "IMAGE")


# --- 3. bad links --------------------------------------------------------------------------

@pytest.mark.parametrize("position,slot", [(2, -1), (4, -1), (2, 10**30), (4, 10**30)])
def test_negative_or_absurd_ui_link_slots_are_bad_links(position, slot):
    data = reroute_chain(0)  # LoadImg(1) → Sampler(9) by link 1
    data["links"][0][position] = slot
    g = built(data)
    (bad,) = [p for p in g.problems if p.code == "bad-link"]
    assert bad.node_id == "9" and slot in bad.found
    assert bad.input == ("image" if position == 2 else None)  # a bad target slot names no input
    # never read as a Python index from the end (slot -1 would be LoadImg's MASK output)
    assert "image" not in g.node("9").inputs
    assert "missing-input" in [d.code for d in check(g)]


def test_bad_slots_inside_a_subgraph_definition_are_reported_once():
    data = nested(1)
    data["definitions"]["subgraphs"][0]["links"][0]["origin_slot"] = -3
    g = built(data)
    (bad,) = [p for p in g.problems if p.code == "bad-link"]
    assert bad.node_id == "7:1" and bad.path == "definitions.subgraphs[0]" and "-3" in bad.message


def api(inputs: dict) -> dict:
    return {"1": {"class_type": "LoadImg", "inputs": {"image": "a.png"}},
            "9": {"class_type": "Sampler", "inputs": {"seed": 7, "steps": 20, **inputs}, "_meta": {"title": "S"}},
            "10": {"class_type": "Save", "inputs": {"samples": ["9", 0], "prefix": "x"}}}


@pytest.mark.parametrize("ref", [["1", -1], ["1", 0, 1], ["1", 10**30], ["1"], [], ["1", 0.0], ["1", True]])
def test_malformed_api_references_are_bad_links(ref):
    g = built(api({"image": ref}))
    (bad,) = [p for p in g.problems if p.code == "bad-link"]
    assert (bad.node_id, bad.node_title, bad.input, bad.found) == ("9", "S", "image", ref)
    assert "image" not in g.node("9").inputs  # neither a link nor a literal list


def test_a_link_to_an_output_the_node_never_had_is_refused_by_the_plan():
    g = built(api({"image": ["1", 7]}))  # LoadImg has two outputs
    with pytest.raises(PlanError) as err:
        make_plan(g)
    (bad,) = err.value.diagnostics
    assert (bad.code, bad.node_id, bad.input, bad.found) == ("bad-link", "9", "image", 7)


def test_cli_refuses_an_absurd_slot_before_running(tmp_path):
    data = demo()
    demo_link(data, 43)[2] = 10**30  # VAE loader → decode
    path = save(tmp_path, data)
    for result in (cli("validate", path), dry_run(tmp_path, path)):
        assert result.exit_code == 1
        assert "error[bad-link]" in result.output and "node 28 'WanVideo Decode'" in result.output
        assert "input 'vae'" in result.output


# --- duplicate node ids ---------------------------------------------------------------------

def test_duplicate_node_ids_are_errors():
    data = reroute_chain(0)
    data["nodes"].append(node(1, "Filter", [1.0], title="Second"))
    g = built(data)
    (dup,) = [p for p in g.problems if p.code == "duplicate-node-id"]
    assert dup.node_id == "1" and dup.found == ["LoadImg", "Filter"] and "'Second'" in dup.message
    with pytest.raises(PlanError):
        make_plan(g)


def test_duplicate_node_ids_inside_a_subgraph_definition_are_errors():
    data = nested(1)
    data["definitions"]["subgraphs"][0]["nodes"].append(node(1, "Filter", [0.1]))
    g = built(data)
    (dup,) = [p for p in g.problems if p.code == "duplicate-node-id"]
    assert dup.node_id == "7:1" and dup.path == "definitions.subgraphs[0]"


def test_cli_validate_and_run_refuse_duplicate_ids(tmp_path):
    data = demo()
    twin = copy.deepcopy(demo_node(data, 38))
    twin["outputs"][0]["links"] = []
    data["nodes"].append(twin)
    path = save(tmp_path, data)
    for result in (cli("validate", path), dry_run(tmp_path, path)):
        assert result.exit_code == 1
        assert "error[duplicate-node-id]" in result.output and "node 38 'WanVideo VAE Loader'" in result.output


# --- 4. limits ------------------------------------------------------------------------------

def exploding(levels: int, fan: int = 3) -> dict:
    """Definition k holds ``fan`` instances of definition k-1; definition 0 one Filter."""
    definitions = []
    for k in range(levels):
        if k == 0:
            nodes = [node(1, "Filter", [0.5])]
        else:
            nodes = [node(i + 1, sub_id(k - 1), []) for i in range(fan)]
        definitions.append({"id": sub_id(k), "name": f"x{k}", "nodes": nodes, "links": []})
    return workflow([node(1, sub_id(levels - 1), [])], [], definitions={"subgraphs": definitions})


def test_subgraphs_expanding_past_the_node_limit_stop_before_the_work_is_done():
    data = exploding(12)  # 3**11 = 177,147 Filters once expanded
    assert len(json.dumps(data)) < 40_000
    g = built(data)
    (big,) = [p for p in g.problems if p.code == "too-many-nodes"]
    assert len(g) <= build_module.MAX_EXPANDED_NODES
    assert big.node_id is not None and big.class_type.startswith("bbbbbbbb")
    with pytest.raises(PlanError) as err:
        make_plan(g)
    assert [d.code for d in err.value.diagnostics] == ["too-many-nodes"]
    assert [d.code for d in check(g)] == ["too-many-nodes"]  # not one per half-read node


def test_files_over_the_node_and_link_limits_are_not_built(monkeypatch):
    monkeypatch.setattr(build_module, "MAX_FILE_NODES", 50)
    monkeypatch.setattr(build_module, "MAX_FILE_LINKS", 30)
    g = built(reroute_chain(60))
    assert set(codes(g)) == {"too-many-nodes", "too-many-links"} and len(g) == 0
    prompt = {str(i): {"class_type": "Filter", "inputs": {"image": ["0", 0], "amount": 1.0}} for i in range(60)}
    g = built(prompt)
    assert set(codes(g)) == {"too-many-nodes", "too-many-links"} and len(g) == 0


def test_steps_of_ten_million_fail_validate_and_the_dry_run(tmp_path):
    data = demo()
    demo_node(data, 27)["widgets_values"][0] = 10**7  # the wrapper's steps has no max
    path = save(tmp_path, data)
    for result in (cli("validate", path), dry_run(tmp_path, path)):
        assert result.exit_code == 1
        line = next(x for x in result.output.splitlines() if "value-too-large" in x)
        assert "node 27 'WanVideo Sampler'" in line and "input 'steps'" in line and "10000000" in line


def test_count_limits_hold_at_the_ceiling_and_trip_above_it():
    """The ceilings are what ComfyUI's own sampler and Wan nodes accept (their specs)."""
    core = default_registry()
    ceilings = {"steps": core.get("KSampler"), "length": core.get("WanImageToVideo"),
                "batch_size": core.get("EmptyLatentImage")}
    for name, spec in ceilings.items():
        ceiling = int(spec.latest.input(name).max)
        prompt = {"2": {"class_type": "NoMax", "inputs": {name: ceiling}}}
        assert _limit_codes(prompt) == []
        prompt["2"]["inputs"][name] = ceiling + 1
        assert _limit_codes(prompt) == ["value-too-large"]


def _limit_codes(prompt: dict) -> list[str]:
    from wfrun.specs.registry import Registry
    from wfrun.specs.spec import PackSpecs

    name = next(iter(prompt["2"]["inputs"]))
    pack = {"pack": "nomax", "nodes": {"NoMax": {"class_type": "NoMax", "pack": "nomax", "signatures": [{
        "inputs": [{"name": name, "type": "INT", "section": "required", "min": 1}], "outputs": []}]}}}
    graph = build(from_data(prompt, "p.json"), Registry([PackSpecs.model_validate(pack)]))
    return [d.code for d in check(graph) if d.code in LIMIT_CODES | {"out-of-range"}]


def test_no_corpus_file_or_template_trips_a_limit(registry):
    """The limits sit far above real workflows: none of the 800-odd real files reaches one."""
    tripped = []
    for path in all_workflow_files():
        try:
            document = from_data(json.loads(path.read_text(encoding="utf-8")), str(path))
        except FormatError:
            continue  # a template of a format wfrun does not read; test_formats says which
        found = {d.code for d in check(build(document, registry))}
        hit = found & (LIMIT_CODES | {"bad-link", "duplicate-node-id", "cycle"})
        if hit:
            tripped.append((path.name, hit))
    assert tripped == []


# --- 5. validate --strict agrees with migrate --check ------------------------------------

EARLY_FILES = sorted((CORPUS / "wanvideowrapper").glob("2025-02-*.json"))


@pytest.mark.parametrize("path", [*EARLY_FILES, DEMO], ids=lambda p: p.name)
def test_validate_strict_and_migrate_check_agree(path):
    migrate = cli("migrate", str(path), "--check", "--format", "json")
    validate = cli("validate", str(path), "--strict", "--format", "json")
    assert migrate.exit_code in (0, 1) and validate.exit_code in (0, 1)
    report = json.loads(migrate.stdout)
    changed = {str(n["id"]) for n in report["nodes"] if n["changes"]}
    (result,) = json.loads(validate.stdout)["files"]
    flagged = {d["node_id"] for d in result["diagnostics"] if d["code"] == "needs-migration"}
    told = {d["node_id"] for d in result["diagnostics"]
            if d["severity"] in ("warning", "error") and "wfrun migrate" in d.get("hint", "")}
    assert flagged <= changed <= told  # every node migrate rewrites is named, and no other
    if changed:
        assert migrate.exit_code == 1 and validate.exit_code == 1
    else:
        assert migrate.exit_code == 0 and flagged == set()
    if path == DEMO:
        assert validate.exit_code == 0 and migrate.exit_code == 0
    else:
        assert flagged  # the 2025-02 files are in layouts the pack changed since


def test_needs_migration_names_the_old_and_new_layout(tmp_path):
    path = EARLY_FILES[0]
    result = cli("validate", str(path), "--strict")
    line = next(x for x in result.output.splitlines() if "needs-migration" in x and "node 28 " in x)
    assert "node 28 'WanVideo Decode' (WanVideoDecode)" in line and "normalization" in line
    assert "found 'the layout of 2025-" in line
    assert f"wfrun migrate {path}" in result.output
    assert cli("validate", str(path)).exit_code == 0  # a warning: only --strict fails


def test_needs_migration_inside_a_subgraph_names_the_first_instance():
    data = nested(1)
    data["definitions"]["subgraphs"][0]["nodes"][0].update(
        type="Sampler", widgets_values=[7, "fixed", 20], outputs=[out("LATENT", "LATENT", [2])])
    data["nodes"][-1]["widgets_values"] = [7, "fixed", 20, "unipc", 6.0]  # the outer sampler is current
    result = validate_text(json.dumps(data), "sub.json", registry=test_registry())
    (old,) = [d for d in result.diagnostics if d.code == "needs-migration"]
    assert (old.node_id, old.class_type, old.path) == ("7:1", "Sampler", "definitions.subgraphs[0]")
    assert old.severity is Severity.WARNING and "scheduler" in old.message


# --- 6. --set ---------------------------------------------------------------------------

def set_on(data: dict, *texts: str) -> list[str]:
    graph = build(from_data(data, "wf.json"))
    return apply_overrides(graph, [Override.parse(t) for t in texts])


def test_set_matches_titles_ignoring_case_when_nothing_matches_exactly():
    assert set_on(demo(), "wanvideo SAMPLER.steps=3") == ["node 27 'WanVideo Sampler': steps = 3"]


def test_set_prefers_the_exact_title_and_lists_ambiguous_ones(tmp_path):
    data = demo()
    demo_node(data, 22)["title"] = "Model"
    demo_node(data, 38)["title"] = "MODEL"
    assert set_on(data, "MODEL.precision=fp32") == ["node 38 'MODEL': precision = 'fp32'"]
    path = save(tmp_path, data)
    ambiguous = dry_run(tmp_path, path, "--set", "model.precision=fp32")
    assert ambiguous.exit_code == 2
    assert "2 nodes match 'model' (22 'Model', 38 'MODEL'); use the node id" in ambiguous.output
    missing = dry_run(tmp_path, path, "--set", "Modle.precision=fp32")
    assert missing.exit_code == 2 and "did you mean" in missing.output


def test_set_bounds_are_shown_as_typed(tmp_path):
    seed_max = 2**64 - 1  # the wrapper's seed: 0xffffffffffffffff
    over = dry_run(tmp_path, str(DEMO), "--set", f"27.seed={seed_max + 1}")
    assert over.exit_code == 1
    line = next(x for x in over.output.splitlines() if "out-of-range" in x)
    assert f"outside 0..{seed_max}" in line and "e+19" not in over.output
    ok = dry_run(tmp_path, str(DEMO), "--set", f"27.seed={seed_max}")
    assert "out-of-range" not in ok.output
    cfg = dry_run(tmp_path, str(DEMO), "--set", "27.cfg=99")
    assert "outside 0..30 (found 99; expected [0, 30])" in cfg.output


@pytest.mark.parametrize("value", ["true", "NaN", "Infinity", "1e400", "2.5", "x" * 5])
def test_set_refuses_values_that_are_not_whole_numbers_for_an_int(tmp_path, value):
    result = dry_run(tmp_path, str(DEMO), "--set", f"27.steps={value}")
    assert result.exit_code == 2
    assert "input 'steps' takes a whole number from 1 to ∞ (INT)" in result.output


def test_numbers_are_shown_as_a_user_writes_them():
    assert shown(0.1 + 0.2) == "0.3" and shown(30.0) == "30" and shown(2.5) == "2.5" and shown(7) == "7"
    assert plain(0.1 + 0.2) == 0.3 and type(plain(30.0)) is int and plain("x") == "x"
    assert spec_bound(float(2**64 - 1), "INT", upper=True) == 2**64 - 1
    assert spec_bound(float(2**63 - 1), "INT", upper=True) == 2**63 - 1
    assert spec_bound(9007199254740991.0, "INT", upper=True) == 2**53 - 1  # exact in a float
    assert spec_bound(-float(2**63), "INT", upper=False) == -(2**63)
    assert spec_bound(0.1 + 0.2, "FLOAT", upper=True) == 0.3
