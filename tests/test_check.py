"""Every diagnostic code has a workflow that triggers it and a fixed one that does not."""

from __future__ import annotations

import copy
import json
from typing import Callable

import pytest

from specs_for_tests import inp, node, out, test_registry, workflow
from wfrun.diagnostics import CODES, Diagnostic, Severity
from wfrun.graph import CheckOptions
from wfrun.models.paths import ModelRoots
from wfrun.jobs.validate import validate_text


def base() -> dict:
    """A clean workflow: LoadImg → Filter → Sampler → Save, plus Wan embeds to a sampler → Save."""
    return workflow([
        node(1, "LoadImg", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1]), out("MASK", "MASK")]),
        node(2, "Filter", [1.0], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])]),
        node(3, "Sampler", [7, "fixed", 20, "unipc", 6.0], inputs=[inp("image", "IMAGE", 2)],
             outputs=[out("LATENT", "LATENT", [3])]),
        node(4, "Save", ["out"], inputs=[inp("samples", "LATENT", 3)]),
        node(5, "WanVideoEmptyEmbeds", [832, 480, 81], outputs=[out("image_embeds", "WANVIDIMAGE_EMBEDS", [4])]),
        node(6, "WanVideoModelLoader", ["wan2.1_t2v_1.3B_bf16.safetensors"],
             outputs=[out("model", "WANVIDEOMODEL", [5])]),
        node(7, "WanVideoSampler", [], inputs=[inp("model", "WANVIDEOMODEL", 5),
                                               inp("image_embeds", "WANVIDIMAGE_EMBEDS", 4)],
             outputs=[out("LATENT", "LATENT", [20])]),
        node(8, "Save", ["wan"], inputs=[inp("samples", "LATENT", 20)]),
    ], [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "LATENT"],
        [4, 5, 0, 7, 1, "WANVIDIMAGE_EMBEDS"], [5, 6, 0, 7, 0, "WANVIDEOMODEL"], [20, 7, 0, 8, 0, "LATENT"]])


def run(data: dict | str, models: ModelRoots | None = None) -> list[Diagnostic]:
    text = data if isinstance(data, str) else json.dumps(data)
    return validate_text(text, "wf.json", CheckOptions(models=models), test_registry()).diagnostics


def widget(data: dict, node_id: int, index: int, value) -> dict:
    data = copy.deepcopy(data)
    next(n for n in data["nodes"] if n["id"] == node_id)["widgets_values"][index] = value
    return data


def edit(fn: Callable[[dict], None]) -> dict:
    data = base()
    fn(data)
    return data


def _node(data: dict, node_id: int) -> dict:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def _set_link_table_type(data: dict, link_id: int, new_type: str) -> None:
    next(l for l in data["links"] if l[0] == link_id)[5] = new_type


# code → (bad workflow, a fixed version of it). "base" means the clean workflow fixes it.
CASES: dict[str, tuple] = {
    "invalid-json": ('{"nodes": [', "base"),
    "schema": (edit(lambda d: _node(d, 2).update(mode="4")), "base"),
    "unknown-format": ('{"hello": []}', "base"),
    "too-deep": ('{"nodes": [], "links": [], "extra": ' + "[" * 300 + "]" * 300 + "}", "base"),
    "bad-number": ('{"nodes": [], "links": [], "extra": {"x": NaN}}', "base"),
    "dangling-link": (edit(lambda d: _node(d, 2)["inputs"][0].update(link=99)), "base"),
    "duplicate-link": (edit(lambda d: d["links"].append([1, 1, 0, 2, 0, "IMAGE"])), "base"),
    "cycle": (edit(lambda d: (
        _node(d, 2)["inputs"].append(inp("amount", "FLOAT", 6, widget="amount")),
        d["links"].append([6, 3, 0, 2, 1, "FLOAT"]))), "base"),
    "unknown-node": (edit(lambda d: d["nodes"].append(node(50, "MysteryNode+", [1]))), "base"),
    "type-mismatch": (edit(lambda d: (_node(d, 4)["inputs"][0].update(link=6),
                                      d["links"].append([6, 1, 1, 4, 0, "MASK"]))), "base"),
    "missing-input": (edit(lambda d: _node(d, 2)["inputs"][0].update(link=None)), "base"),
    "combo-value": (widget(base(), 3, 3, "unipcc"), "base"),
    "out-of-range": (widget(base(), 3, 2, 500), "base"),
    "wrong-value-type": (widget(base(), 3, 4, "six"), "base"),
    "widget-mismatch": (edit(lambda d: _node(d, 3).update(widgets_values=[7, "fixed", 20, "unipc", 6.0, 1, 2])), "base"),
    "frame-count": (widget(base(), 5, 2, 80), "base"),
    "size-multiple": (widget(base(), 5, 0, 830), "base"),
    "embeds-mismatch": (widget(base(), 6, 0, "Wan2_1-I2V-14B-480P_fp8.safetensors"), "base"),
    "missing-subgraph": (edit(lambda d: d["nodes"].append(
        node(60, "11111111-2222-3333-4444-555555555555", []))), "base"),
    "bad-link": (edit(lambda d: d["links"][0].__setitem__(2, -1)), "base"),
    "duplicate-node-id": (edit(lambda d: d["nodes"].append(node(2, "Filter", [1.0]))), "base"),
    "needs-migration": (edit(lambda d: _node(d, 3).update(widgets_values=[7, "fixed", 20])), "base"),
    "display-only": (edit(lambda d: (
        d["nodes"].append(node(52, "Display Any (rgthree)", [], inputs=[inp("source", "*", 8)])),
        _node(d, 1)["outputs"][0]["links"].append(8),
        d["links"].append([8, 1, 0, 52, 0, "IMAGE"]))), "base"),
    "unused-node": (edit(lambda d: (
        d["nodes"].append(node(51, "Filter", [1.0], inputs=[inp("image", "IMAGE", 7)],
                               outputs=[out("IMAGE", "IMAGE", [])])),
        _node(d, 1)["outputs"][0]["links"].append(7),
        d["links"].append([7, 1, 0, 51, 0, "IMAGE"]))), "base"),
}
#: Codes whose workflows are built by generators in tests/test_hostile_graph.py.
HOSTILE_CODES = {"too-many-nodes", "too-many-links", "subgraph-too-deep", "value-too-large"}


def test_every_code_has_a_case():
    # missing-model needs a models folder (tests/test_cli.py, tests/test_run_prepare.py);
    # missing-input-file is found when a run is prepared (tests/test_run_prepare.py);
    # too-large, no-workflow and bad-media are about files (tests/test_hostile_formats.py,
    # tests/test_media_workflows.py); bad-model-file and wrong-model come from model headers
    # (tests/test_hostile_models.py); the Anything Everywhere warnings have their cases in
    # tests/test_graph_everywhere.py, display-only-skipped in tests/test_plan_display_only.py,
    # scalar-widgets-values in tests/test_scalar_widgets_values.py, output-left-out (a run's
    # plan) in tests/test_outputs_left_out.py, missing-encoder (the machine's ffmpeg, asked
    # when a run is prepared) in tests/test_vhs_hardware_formats.py
    files = {"too-large", "no-workflow", "bad-media", "bad-model-file", "wrong-model"}
    elsewhere = {"ambiguous-broadcast", "bad-broadcast", "display-only-skipped", "scalar-widgets-values",
                 "output-left-out", "missing-encoder"}
    assert set(CASES) | {"missing-model", "missing-input-file"} | files | HOSTILE_CODES | elsewhere == set(CODES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_fires_on_the_bad_file_and_not_on_the_good_one(code):
    bad, good = CASES[code]
    found = run(bad)
    assert code in [d.code for d in found], [d.text() for d in found]
    fixed = run(base() if good == "base" else good)
    assert fixed == [], [d.text() for d in fixed]


def test_messages_name_node_title_input_found_expected_and_hint():
    (diag,) = run(widget(base(), 3, 3, "unipcc"))
    text = diag.text()
    assert "node 3 'My Sampler' (Sampler)" in text and "input 'scheduler'" in text
    assert "found 'unipcc'" in text and "did you mean 'unipc'?" in text
    assert diag.severity is Severity.ERROR


def test_frame_and_size_messages_say_why_and_suggest_values():
    diags = run(widget(widget(base(), 5, 2, 80), 5, 0, 830))
    frame = next(d for d in diags if d.code == "frame-count")
    assert "compresses every 4" in frame.message and "use 77 or 81" in frame.hint
    size = next(d for d in diags if d.code == "size-multiple")
    assert "multiple of 16" in size.message and "use 816 or 832" in size.hint


def test_missing_model_only_with_models_dir(tmp_path):
    assert [d.code for d in run(base())] == []
    (tmp_path / "diffusion_models").mkdir()
    diags = run(base(), ModelRoots((tmp_path,)))
    assert [d.code for d in diags] == ["missing-model"]
    assert "wan2.1_t2v_1.3B_bf16.safetensors" in diags[0].message
    (tmp_path / "diffusion_models" / "wan2.1_t2v_1.3B_bf16.safetensors").write_bytes(b"x")
    assert run(base(), ModelRoots((tmp_path,))) == []


def test_missing_model_finds_windows_separators_and_the_unet_alias(tmp_path):
    data = widget(base(), 6, 0, "WanVideo\\wan2.1_t2v_1.3B_bf16.safetensors")
    (tmp_path / "unet" / "WanVideo").mkdir(parents=True)
    (tmp_path / "unet" / "WanVideo" / "wan2.1_t2v_1.3B_bf16.safetensors").write_bytes(b"x")
    assert run(data, ModelRoots((tmp_path,))) == []


def test_model_names_cannot_escape_the_models_folder(tmp_path):
    (tmp_path / "diffusion_models").mkdir()
    (tmp_path / "secret.safetensors").write_bytes(b"x")
    diags = run(widget(base(), 6, 0, "../secret.safetensors"), ModelRoots((tmp_path,)))
    assert [d.code for d in diags] == ["missing-model"]
    assert "not a plain relative file name" in diags[0].message


def test_embeds_mismatch_from_weights_is_an_error(tmp_path):
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "diffusion_models"
    folder.mkdir()
    # A file named like T2V whose weights say I2V (36 input channels): the weights win.
    save_file({"patch_embedding.weight": torch.zeros(4, 36, 1, 2, 2)},
              str(folder / "wan2.1_t2v_1.3B_bf16.safetensors"))
    diags = run(base(), ModelRoots((tmp_path,)))
    (diag,) = [d for d in diags if d.code == "embeds-mismatch"]
    assert diag.severity is Severity.ERROR and "by its weights" in diag.message


@pytest.mark.parametrize("text,severity", [("", Severity.WARNING), ("true", Severity.WARNING),
                                           ("false", Severity.ERROR)])
def test_text_in_a_boolean_slot_says_how_comfyui_reads_it(text, severity):
    data = edit(lambda d: d["nodes"].extend([
        node(70, "Resize", [512, 512, text], inputs=[inp("image", "IMAGE", 7)],
             outputs=[out("IMAGE", "IMAGE", [21])]),
        node(71, "VideoCombine", [8.0, "video/h264-mp4"], inputs=[inp("images", "IMAGE", 21)])]) or
                d["links"].extend([[7, 1, 0, 70, 0, "IMAGE"], [21, 70, 0, 71, 0, "IMAGE"]]))
    (diag,) = run(data)
    assert diag.code == "wrong-value-type" and diag.severity is severity
    assert ("reads it as false" if text == "" else "reads it as true") in diag.message


@pytest.mark.parametrize("number,read_as", [(832, "true"), (0, "false"), (1.0, "true")])
def test_a_number_in_a_boolean_slot_runs_as_comfyui_reads_it(number, read_as):
    """ComfyUI's validation runs bool() on BOOLEAN inputs; a number there (a value shifted in
    from another widget, as the wrapper's MoCha example has) is a warning, not an error."""
    data = edit(lambda d: d["nodes"].extend([
        node(70, "Resize", [512, 512, number], inputs=[inp("image", "IMAGE", 7)],
             outputs=[out("IMAGE", "IMAGE", [21])]),
        node(71, "VideoCombine", [8.0, "video/h264-mp4"], inputs=[inp("images", "IMAGE", 21)])]) or
                d["links"].extend([[7, 1, 0, 70, 0, "IMAGE"], [21, 70, 0, 71, 0, "IMAGE"]]))
    (diag,) = run(data)
    assert diag.code == "wrong-value-type" and diag.severity is Severity.WARNING
    assert f"reads it as {read_as}" in diag.message


@pytest.mark.parametrize("index,value,read_as,then", [(4, True, "1.0", None), (2, False, "0", "out-of-range")])
def test_true_or_false_in_a_number_slot_is_read_as_comfyui_converts_it(index, value, read_as, then):
    """ComfyUI's validation runs int()/float() on INT/FLOAT inputs: true is 1, false 0,
    and the range is checked on that number (steps 0 is below its minimum)."""
    diags = run(widget(base(), 3, index, value))
    assert [d.code for d in diags] == ["wrong-value-type"] + ([then] if then else [])
    assert diags[0].severity is Severity.WARNING and f"reads it as {read_as}" in diags[0].message


def test_a_load_image_saved_without_its_upload_buttons_value_is_not_a_mismatch():
    """The frontend keeps a value for LoadImage's upload button after the file name; a tool that
    writes only the name leaves nothing ComfyUI would fill in, so nothing is reported (before,
    a warning named no input: "saved before input(s)  existed")."""
    from wfrun.formats.document import from_data
    from wfrun.graph import build, check

    def load_image(values):
        return {"last_node_id": 1, "last_link_id": 0, "version": 0.4, "links": [], "nodes": [
            {"id": 1, "type": "LoadImage", "pos": [0, 0], "size": [300, 300], "mode": 0, "inputs": [],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}, {"name": "MASK", "type": "MASK", "links": []}],
             "widgets_values": values}]}

    for values in (["start.png"], ["start.png", "image"]):
        graph = build(from_data(load_image(values), "w.json"))
        assert graph.node("1").inputs["image"] == "start.png"
        assert not [d for d in check(graph) if d.code == "widget-mismatch"], values


def test_a_widget_saved_as_null_is_named_as_empty_with_its_choices():
    from wfrun.diagnostics import Severity
    from wfrun.formats.document import from_data
    from wfrun.graph import build, check

    doc = {"last_node_id": 1, "last_link_id": 0, "version": 0.4, "links": [], "nodes": [
        {"id": 1, "type": "CLIPLoader", "pos": [0, 0], "size": [300, 100], "mode": 0, "inputs": [],
         "outputs": [{"name": "CLIP", "type": "CLIP", "links": []}],
         "widgets_values": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan", None]}]}
    [diag] = [d for d in check(build(from_data(doc, "w.json"))) if d.code == "wrong-value-type"]
    assert diag.severity == Severity.ERROR and diag.input == "device" and "empty (saved as null)" in diag.message
    assert "default" in diag.hint and "cpu" in diag.hint


def test_a_made_up_node_name_gets_the_close_names_of_the_pack_it_claims():
    """Apps and language models write prompts with node names no pack has (three public
    files use ``EmptyWanLatentVideo``): the error names the close ones of the pack the node
    claims (ComfyUI's own here) and says ComfyUI refuses it too; in an API prompt, with no pack
    named, only names very close to ComfyUI's own are offered; a node of a pack wfrun does
    not know whole gets no guess (it may be real)."""
    from wfrun.specs.registry import default_registry

    def unknown_hint(data: dict) -> str:
        found = [d for d in validate_text(json.dumps(data), "wf.json", CheckOptions(), default_registry()).diagnostics
                 if d.code == "unknown-node"]
        assert len(found) == 1 and found[0].severity is Severity.ERROR
        return found[0].hint

    ui = workflow([node(1, "EmptyWanLatentVideo", [832, 480, 81, 1], outputs=[out("LATENT", "LATENT", [])])], [])
    ui["nodes"][0]["properties"] = {"cnr_id": "comfy-core", "ver": "0.3.34"}
    hint = unknown_hint(ui)
    assert hint.startswith("did you mean 'EmptyHunyuanLatentVideo'") and "ComfyUI refuses it too" in hint
    api = {"1": {"class_type": "EmptyWanLatentVideo", "inputs": {"width": 832, "height": 480, "length": 81,
                                                                 "batch_size": 1}}}
    assert unknown_hint(api).startswith("did you mean 'EmptyHunyuanLatentVideo'")
    ui["nodes"][0].update(type="EmptyWanLatentVideo2", properties={"cnr_id": "some-pack-wfrun-lacks"})
    assert unknown_hint(ui).startswith("add the pack's specs")


def test_an_editor_only_node_in_an_api_prompt_is_named_as_such():
    """Some tools write API prompts that still hold a PrimitiveNode (a damaged export): the
    error says it is a node of ComfyUI's editor, which ComfyUI's server refuses too, and
    points at the UI workflow, instead of asking for a pack's specs."""
    from wfrun.specs.registry import default_registry

    api = {"5": {"class_type": "PrimitiveNode", "inputs": {}},
           "6": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": ["5", 0]}}}
    found = [d for d in validate_text(json.dumps(api), "wf.json", CheckOptions(), default_registry()).diagnostics
             if d.code == "unknown-node"]
    assert len(found) == 1 and found[0].severity is Severity.ERROR and found[0].node_id == "5"
    assert "editor only" in found[0].message and "refuses it too" in found[0].message
    assert "UI workflow" in found[0].hint


def test_a_legacy_group_node_is_named_as_such():
    """ComfyUI's first frontend saved group nodes as ``workflow>Name`` nodes whose insides sit
    under ``extra.groupNodes``: wfrun does not expand them, and says so with the way out."""
    from wfrun.specs.registry import default_registry

    ui = workflow([node(1, "workflow>Controls", ["wan22/", 480], outputs=[out("STRING", "STRING", [])])], [])
    ui["extra"] = {"groupNodes": {"Controls": {"nodes": [], "links": [], "external": []}}}
    found = [d for d in validate_text(json.dumps(ui), "wf.json", CheckOptions(), default_registry()).diagnostics
             if d.code == "unknown-node"]
    assert len(found) == 1 and "earlier frontend" in found[0].message and "Convert to nodes" in found[0].hint
