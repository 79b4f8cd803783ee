"""Anything Everywhere (cg-use-everywhere): broadcast links resolved while building the graph.

Small hand-made workflows, one per rule of the extension, then every real workflow of the
corpus that uses it: after building, nothing a broadcast feeds is reported missing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from specs_for_tests import inp, node, out, test_registry, workflow
from wfrun.formats.document import from_data
from wfrun.graph import LinkRef, build, check

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus/realworld")


def built(data: dict, registry=None):
    return build(from_data(data, "t.json"), registry or test_registry())


def vae_loader(id_: int, link: int, **kw) -> dict:
    return node(id_, "VAELoad", ["v.safetensors"], outputs=[out("VAE", "VAE", [link])], **kw)


def decoder(id_: int, title: str | None = None, name: str = "vae", **kw) -> dict:
    extra = {"title": title} if title else {}
    return node(id_, "Decode", inputs=[inp(name, "VAE")], outputs=[out("IMAGE", "IMAGE")], **extra, **kw)


def ue(id_: int, link: int, type_: str = "Anything Everywhere", widgets=None, props=None, slot_type="VAE", **kw):
    return node(id_, type_, widgets, inputs=[inp(slot_type, "*", link)],
                properties={"group_restricted": 0, "color_restricted": 0, **(props or {})}, **kw)


def test_anything_everywhere_feeds_every_unconnected_input_of_its_type():
    data = workflow([vae_loader(1, 1), ue(2, 1), decoder(3), decoder(4),
                     node(5, "Other", inputs=[inp("image", "IMAGE")])],
                    [[1, 1, 0, 2, 0, "VAE"]])
    g = built(data)
    assert g.node("3").inputs["vae"] == LinkRef("1", 0, "VAE")
    assert g.node("4").inputs["vae"] == LinkRef("1", 0, "VAE")
    assert "image" not in g.node("5").inputs  # another type: untouched
    assert "2" not in g.graph  # the UE node itself runs nothing
    assert set(g.graph.predecessors("3")) == {"1"}


def test_connected_inputs_are_left_alone_and_the_source_is_never_fed_itself():
    other = node(6, "VAELoad", ["w.safetensors"], outputs=[out("VAE", "VAE", [2])])
    data = workflow([vae_loader(1, 1), ue(2, 1), node(3, "Decode", inputs=[inp("vae", "VAE", 2)]), other,
                     node(7, "Mix", inputs=[inp("vae", "VAE")], outputs=[out("VAE", "VAE")])],
                    [[1, 1, 0, 2, 0, "VAE"], [2, 6, 0, 3, 0, "VAE"]])
    g = built(data)
    assert g.node("3").inputs["vae"] == LinkRef("6", 0, "VAE")
    assert g.node("7").inputs["vae"] == LinkRef("1", 0, "VAE")


def test_muted_or_bypassed_broadcaster_sends_nothing_and_muted_targets_get_nothing():
    for mode in (2, 4):
        g = built(workflow([vae_loader(1, 1), ue(2, 1, mode=mode), decoder(3)], [[1, 1, 0, 2, 0, "VAE"]]))
        assert "vae" not in g.node("3").inputs


def test_broadcast_source_is_followed_through_reroutes_and_bypassed_nodes():
    data = workflow([vae_loader(1, 1),
                     node(5, "Reroute", inputs=[inp("", "*", 1)], outputs=[out("", "VAE", [2])]),
                     node(6, "Pass", inputs=[inp("vae", "VAE", 2)], outputs=[out("VAE", "VAE", [3])], mode=4),
                     ue(2, 3), decoder(3)],
                    [[1, 1, 0, 5, 0, "VAE"], [2, 5, 0, 6, 0, "VAE"], [3, 6, 0, 2, 0, "VAE"]])
    assert built(data).node("3").inputs["vae"] == LinkRef("1", 0, "VAE")


def test_anything_everywhere_question_matches_title_and_input_regexes():
    data = workflow([vae_loader(1, 1), ue(2, 1, "Anything Everywhere?", ["^Up", "vae", ""]),
                     decoder(3, "Upscale decode"), decoder(4, "Final decode"), decoder(5, "Upper", name="other_vae"),
                     decoder(6, "Upper", name="x")],
                    [[1, 1, 0, 2, 0, "VAE"]])
    g = built(data)
    assert g.node("3").inputs["vae"] == LinkRef("1", 0, "VAE")
    assert "vae" not in g.node("4").inputs  # title does not match
    assert g.node("5").inputs["other_vae"] == LinkRef("1", 0, "VAE")  # regex searches, not full match
    assert "x" not in g.node("6").inputs


def test_higher_priority_wins_and_equal_priority_is_ambiguous():
    second = node(7, "VAELoad", ["w.safetensors"], outputs=[out("VAE", "VAE", [2])])
    # Anything Everywhere? (10) beats Anything Everywhere (2)
    data = workflow([vae_loader(1, 1), second, ue(2, 1), ue(8, 2, "Anything Everywhere?", [".*", ".*", ""]),
                     decoder(3)],
                    [[1, 1, 0, 2, 0, "VAE"], [2, 7, 0, 8, 0, "VAE"]])
    assert built(data).node("3").inputs["vae"] == LinkRef("7", 0, "VAE")
    # two plain broadcasts of one type: the extension connects neither
    data = workflow([vae_loader(1, 1), second, ue(2, 1), ue(8, 2), decoder(3)],
                    [[1, 1, 0, 2, 0, "VAE"], [2, 7, 0, 8, 0, "VAE"]])
    g = built(data)
    assert "vae" not in g.node("3").inputs
    (warning,) = [p for p in g.problems if p.code == "ambiguous-broadcast"]
    assert warning.node_id == "3" and warning.input == "vae" and warning.severity.name == "WARNING"


def test_prompts_everywhere_sends_positive_and_negative_by_input_name():
    enc = [node(i, "Enc", outputs=[out("CONDITIONING", "CONDITIONING", [i])]) for i in (1, 2)]
    pe = node(3, "Prompts Everywhere", inputs=[inp("CONDITIONING", "*", 1), inp("CONDITIONING", "*", 2)],
              properties={})
    sampler = node(4, "Sampler2", inputs=[inp("positive", "CONDITIONING"), inp("negative", "CONDITIONING"),
                                          inp("model", "MODEL")])
    g = built(workflow([*enc, pe, sampler], [[1, 1, 0, 3, 0, "CONDITIONING"], [2, 2, 0, 3, 1, "CONDITIONING"]]))
    assert g.node("4").inputs["positive"] == LinkRef("1", 0, "CONDITIONING")
    assert g.node("4").inputs["negative"] == LinkRef("2", 0, "CONDITIONING")


def test_anything_everywhere3_broadcasts_each_of_its_inputs():
    loaders = [vae_loader(1, 1), node(5, "ClipLoad", outputs=[out("CLIP", "CLIP", [2])])]
    ue3 = node(2, "Anything Everywhere3", inputs=[inp("anything", "*", 1), inp("anything2", "*", 2),
                                                  inp("anything3", "*")], properties={})
    target = node(3, "Both", inputs=[inp("vae", "VAE"), inp("clip", "CLIP")])
    g = built(workflow([*loaders, ue3, target], [[1, 1, 0, 2, 0, "VAE"], [2, 5, 0, 2, 1, "CLIP"]]))
    assert g.node("3").inputs == {"vae": LinkRef("1", 0, "VAE"), "clip": LinkRef("5", 0, "CLIP")}


def test_seed_everywhere_sends_its_seed_as_a_constant_to_seed_inputs():
    data = workflow([node(1, "Seed Everywhere", [1234, "fixed"], outputs=[out("INT", "INT")], properties={}),
                     node(2, "Sampler", [7, "fixed", 20], inputs=[inp("seed", "INT", widget="seed")],
                          properties={"widget_ue_connectable": {"seed": True}}),
                     node(3, "Sampler", [7, "fixed", 20], inputs=[inp("seed", "INT", widget="seed")]),
                     node(4, "Other", inputs=[inp("noise_seed", "INT"), inp("steps", "INT")])], [])
    g = built(data)
    assert g.node("2").inputs["seed"] == 1234  # a widget accepts broadcasts only when marked connectable
    assert g.node("3").inputs["seed"] == 7
    assert g.node("4").inputs["noise_seed"] == 1234 and "steps" not in g.node("4").inputs
    assert "1" not in g.graph


def test_group_restriction_keeps_to_the_broadcasters_group_or_outside_it():
    groups = [{"title": "Decoders", "bounding": [0, 0, 500, 500]}]
    at = {"pos": [100, 100], "size": [100, 50]}
    away = {"pos": [900, 900], "size": [100, 50]}
    for mode, fed in ((1, {"3"}), (2, {"4"})):
        data = workflow([vae_loader(1, 1, **away), ue(2, 1, props={"group_restricted": mode}, **at),
                         decoder(3, **at), decoder(4, **away)], [[1, 1, 0, 2, 0, "VAE"]], groups=groups)
        g = built(data)
        assert {i for i in ("3", "4") if "vae" in g.node(i).inputs} == fed


def test_colour_restriction_and_group_regex():
    data = workflow([vae_loader(1, 1), ue(2, 1, props={"color_restricted": 1}, color="#223"),
                     decoder(3, color="#223"), decoder(4, color="#332"), decoder(5)], [[1, 1, 0, 2, 0, "VAE"]])
    g = built(data)
    assert {i for i in ("3", "4", "5") if "vae" in g.node(i).inputs} == {"3"}
    groups = [{"title": "Upscale", "bounding": [0, 0, 500, 500]}, {"title": "Base", "bounding": [600, 0, 500, 500]}]
    data = workflow([vae_loader(1, 1), ue(2, 1, "Anything Everywhere?", [".*", ".*", "^Up"]),
                     decoder(3, pos=[100, 100], size=[50, 50]), decoder(4, pos=[700, 100], size=[50, 50])],
                    [[1, 1, 0, 2, 0, "VAE"]], groups=groups)
    g = built(data)
    assert "vae" in g.node("3").inputs and "vae" not in g.node("4").inputs


def test_version_7_properties_carry_the_regexes():
    props = {"ue_properties": {"version": "7.0.1", "title_regex": "keep", "input_regex": None, "group_regex": None,
                               "group_restricted": 0, "color_restricted": 0, "widget_ue_connectable": {}}}
    data = workflow([vae_loader(1, 1), node(2, "Anything Everywhere", inputs=[inp("VAE", "*", 1), inp("anything", "*")],
                                            properties=props),
                     decoder(3, "keep me"), decoder(4, "drop me")], [[1, 1, 0, 2, 0, "VAE"]])
    g = built(data)
    assert "vae" in g.node("3").inputs and "vae" not in g.node("4").inputs


def test_a_bad_regex_drops_the_broadcast_with_a_warning():
    data = workflow([vae_loader(1, 1), ue(2, 1, "Anything Everywhere?", ["(unclosed", ".*", ""]), decoder(3)],
                    [[1, 1, 0, 2, 0, "VAE"]])
    g = built(data)
    assert "vae" not in g.node("3").inputs
    assert [p.code for p in g.problems] == ["bad-broadcast"]


def test_saved_ue_links_are_used_as_saved():
    # the saved analysis sends the VAE only to node 3, though node 4 would match too
    saved = [{"downstream": 3, "downstream_slot": 0, "upstream": "1", "upstream_slot": 0, "controller": 2,
              "type": "VAE"}]
    data = workflow([vae_loader(1, 1), ue(2, 1), decoder(3), decoder(4)], [[1, 1, 0, 2, 0, "VAE"]],
                    extra={"ue_links": saved})
    g = built(data)
    assert g.node("3").inputs["vae"] == LinkRef("1", 0, "VAE")
    assert "vae" not in g.node("4").inputs


def test_links_left_behind_by_the_extension_count_as_unconnected():
    data = workflow([vae_loader(1, 1), ue(2, 1), node(3, "Decode", inputs=[inp("vae", "VAE", 77)])],
                    [[1, 1, 0, 2, 0, "VAE"]], extra={"links_added_by_ue": [77]})
    g = built(data)
    assert g.node("3").inputs["vae"] == LinkRef("1", 0, "VAE")
    assert not [p for p in g.problems if p.code == "dangling-link"]


def test_videohelpersuite_refuses_broadcast_vaes():
    data = workflow([vae_loader(1, 1), ue(2, 1), node(3, "VHS_VideoCombine", inputs=[inp("vae", "VAE")])],
                    [[1, 1, 0, 2, 0, "VAE"]])
    assert "vae" not in built(data).node("3").inputs


def test_saved_broadcast_vae_never_reaches_a_videohelpersuite_loader():
    # Files saved before VHS 1.6.1 list the wire in ue_links, but VHS deleted the vae input
    # of its video loaders from the queued prompt when no UI link fed it; Video Combine kept it.
    saved = [{"downstream": i, "downstream_slot": 0, "upstream": "1", "upstream_slot": 0, "controller": 2,
              "type": "VAE"} for i in (3, 4)]
    data = workflow([vae_loader(1, 1), ue(2, 1),
                     node(3, "VHS_LoadVideo", inputs=[inp("vae", "VAE")], outputs=[out("IMAGE", "IMAGE")]),
                     node(4, "VHS_VideoCombine", inputs=[inp("vae", "VAE")])],
                    [[1, 1, 0, 2, 0, "VAE"]], extra={"ue_links": saved})
    g = built(data)
    assert "vae" not in g.node("3").inputs
    assert g.node("4").inputs["vae"] == LinkRef("1", 0, "VAE")


# --- the real workflows that use it ----------------------------------------------------

def _everywhere_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.json") if "Everywhere" in p.read_text(encoding="utf-8"))


def _fed_inputs(data: dict) -> set[tuple[str, str]]:
    """(node id, input name) of every input that a live Anything Everywhere node feeds, read
    straight from the saved ``extra.ue_links`` (independently of wfrun's graph code)."""
    nodes = {n["id"]: n for n in data["nodes"]}
    live = {i for i, n in nodes.items() if n.get("mode", 0) not in (2, 4)}
    fed = set()
    for link in data.get("extra", {}).get("ue_links") or []:
        target = nodes.get(link["downstream"])
        if target is None or link["downstream"] not in live or link["controller"] not in live:
            continue
        slot = target["inputs"][link["downstream_slot"]]
        if target["type"].startswith("VHS_LoadVideo") and slot["name"] == "vae":
            continue  # VHS removed it from the queued prompt (test above)
        fed.add((str(target["id"]), (slot.get("widget") or {}).get("name") or slot["name"]))
    return fed


@pytest.mark.parametrize("path", _everywhere_files(), ids=lambda p: p.name[:3])
@pytest.mark.parametrize("saved", [True, False], ids=["saved-links", "computed"])
def test_real_workflows_have_no_missing_input_that_a_broadcast_feeds(path: Path, saved: bool):
    data = json.loads(path.read_text(encoding="utf-8"))
    fed = _fed_inputs(data)
    assert fed, "the file's saved analysis names the inputs its broadcasts feed"
    if not saved:
        data = copy.deepcopy(data)
        del data["extra"]["ue_links"]
        # Two of the files (013, 015) were analysed where Video Combine still took a broadcast
        # VAE; VideoHelperSuite's code now refuses it (reject_ue_connection), and so does
        # wfrun when it computes the links. An optional input: nothing goes missing.
        vhs = {str(n["id"]) for n in data["nodes"] if n["type"].startswith("VHS_")}
        fed = {(i, name) for i, name in fed if not (i in vhs and name == "vae")}
    graph = build(from_data(data, str(path)))
    missing = {(d.node_id, d.input) for d in check(graph) if d.code == "missing-input"}
    assert not (missing & fed)
    for node_id, name in fed:
        if node_id in graph.graph:
            assert name in graph.node(node_id).inputs, (node_id, name)
    assert not [p for p in graph.problems if p.code in ("ambiguous-broadcast", "bad-broadcast")]
    assert not any(n.class_type in ("Anything Everywhere", "Prompts Everywhere") for n in graph.nodes())


def test_a_regex_that_backtracks_for_ages_gives_up():
    import time

    data = workflow([vae_loader(1, 1), ue(2, 1, "Anything Everywhere?", ["^(a+)+$", ".*", ""]),
                     decoder(3, "a" * 40 + "!")], [[1, 1, 0, 2, 0, "VAE"]])
    start = time.perf_counter()
    g = built(data)
    assert "vae" not in g.node("3").inputs
    assert time.perf_counter() - start < 5


def test_broadcasts_inside_a_subgraph_reach_that_instance_only():
    sg = "0b0b0b0b-1111-2222-3333-444444444444"
    definition = {
        "id": sg, "name": "decode", "inputs": [], "outputs": [],
        "nodes": [vae_loader(1, 20), ue(2, 20), decoder(3)],
        "links": [{"id": 20, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "VAE"}],
    }
    data = workflow([node(7, sg, []), node(8, sg, []), decoder(9)], [], definitions={"subgraphs": [definition]})
    g = built(data)
    assert g.node("7:3").inputs["vae"] == LinkRef("7:1", 0, "VAE")
    assert g.node("8:3").inputs["vae"] == LinkRef("8:1", 0, "VAE")
    assert "vae" not in g.node("9").inputs  # the root sees no broadcast made inside a subgraph


def test_empty_saved_links_are_recomputed():
    data = workflow([vae_loader(1, 1), ue(2, 1), decoder(3)], [[1, 1, 0, 2, 0, "VAE"]], extra={"ue_links": []})
    assert built(data).node("3").inputs["vae"] == LinkRef("1", 0, "VAE")


def test_saved_links_of_a_subgraph_may_start_at_its_input():
    sg = "0c0c0c0c-1111-2222-3333-444444444444"
    definition = {
        "id": sg, "name": "decode",
        "inputs": [{"id": "i0", "name": "vae", "type": "VAE", "linkIds": [20]}], "outputs": [],
        "nodes": [ue(2, 20), decoder(3)],
        "links": [{"id": 20, "origin_id": -10, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "VAE"}],
        "extra": {"ue_links": [{"downstream": 3, "downstream_slot": 0, "upstream": "-10", "upstream_slot": 0,
                                "controller": 2, "type": "VAE"}]},
    }
    data = workflow([vae_loader(1, 1), node(7, sg, [], inputs=[inp("vae", "VAE", 1)])], [[1, 1, 0, 7, 0, "VAE"]],
                    definitions={"subgraphs": [definition]})
    assert built(data).node("7:3").inputs["vae"] == LinkRef("1", 0, "VAE")
