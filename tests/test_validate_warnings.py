"""Problems that cannot stop a run are warnings: nodes that feed no output (ComfyUI and
wfrun's plan never run them) and combo values of lists that ComfyUI and other packs
extend at run time (issue 14)."""

from __future__ import annotations

import copy
import json

from specs_for_tests import inp, node, out, test_registry, workflow
from test_check import _node, base, run
from wfrun.diagnostics import Severity
from wfrun.graph.check import extended_at_run_time
from wfrun.graph.widgets import choose_signature
from wfrun.jobs.validate import validate_text
from wfrun.specs.registry import default_registry
from wfrun.specs.spec import InputSpec


def _orphan_sampler(data: dict) -> dict:
    """A second sampler, fed by the loader, with a bad scheduler, whose output goes nowhere."""
    data = copy.deepcopy(data)
    data["nodes"].append(node(52, "Sampler", [7, "fixed", 20, "no-such-scheduler", 6.0],
                              inputs=[inp("image", "IMAGE", 8)], outputs=[out("LATENT", "LATENT", [])]))
    _node(data, 1)["outputs"][0]["links"].append(8)
    data["links"].append([8, 1, 0, 52, 0, "IMAGE"])
    return data


def test_an_orphan_node_is_one_warning_and_its_errors_become_warnings():
    found = run(_orphan_sampler(base()))
    assert not [d for d in found if d.severity is Severity.ERROR], [d.text() for d in found]
    unused = [d for d in found if d.code == "unused-node"]
    assert [d.node_id for d in unused] == ["52"]
    combo = next(d for d in found if d.code == "combo-value")
    assert combo.severity is Severity.WARNING and "never runs" in combo.message


def test_unconnected_required_input_of_an_unused_node_is_a_warning():
    data = _orphan_sampler(base())
    _node(data, 52)["inputs"][0]["link"] = None
    data["links"] = [l for l in data["links"] if l[0] != 8]
    found = run(data)
    missing = next(d for d in found if d.code == "missing-input")
    assert missing.node_id == "52" and missing.severity is Severity.WARNING


def test_what_feeds_an_output_is_not_unused():
    assert [d.code for d in run(base())] == []


def test_a_node_without_spec_and_without_outputs_may_be_an_output():
    # rgthree's Display Any and other packs' previews: what feeds them stays used.
    data = _orphan_sampler(base())
    data["nodes"].append(node(53, "Display Any (rgthree)", [], inputs=[inp("source", "*", 9)]))
    _node(data, 52)["outputs"][0]["links"].append(9)
    data["links"].append([9, 52, 0, 53, 0, "LATENT"])
    found = run(data)
    assert not [d for d in found if d.code == "unused-node"]
    assert next(d for d in found if d.code == "combo-value").severity is Severity.ERROR


def test_no_output_node_at_all_keeps_every_error():
    data = base()
    data["nodes"] = [n for n in data["nodes"] if n["type"] != "Save"]
    data["links"] = [l for l in data["links"] if l[3] in {n["id"] for n in data["nodes"]}]
    found = run(widget_value(data, 3, 3, "unipcc"))
    assert not [d for d in found if d.code == "unused-node"]
    assert next(d for d in found if d.code == "combo-value").severity is Severity.ERROR


def widget_value(data: dict, node_id: int, index: int, value) -> dict:
    data = copy.deepcopy(data)
    _node(data, node_id)["widgets_values"][index] = value
    return data


def test_sampler_and_scheduler_lists_are_extended_at_run_time():
    samplers = InputSpec(name="sampler_name", section="required", type="COMBO",
                         options=["euler", "euler_ancestral", "heun", "dpmpp_2m", "uni_pc"])
    schedulers = InputSpec(name="scheduler", section="required", type="COMBO",
                           options=["simple", "sgm_uniform", "karras", "exponential", "normal", "beta"])
    files = InputSpec(name="model", section="required", type="COMBO",
                      options=["Wan2_1-T2V-1_3B_bf16.safetensors", "Wan2_1-T2V-14B_fp8_e4m3fn.safetensors"])
    fixed = InputSpec(name="scheduler", section="required", type="COMBO", options=["unipc", "dpm++", "euler"])
    assert extended_at_run_time(samplers) == "samplers"
    assert extended_at_run_time(schedulers) == "schedulers"
    assert extended_at_run_time(files) == "model files"
    assert extended_at_run_time(fixed) is None  # the wrapper's own scheduler list: a real error


def _ksampler_workflow(sampler: str, scheduler: str) -> str:
    return json.dumps(workflow([
        node(1, "KSampler", [1, "fixed", 20, 6.0, sampler, scheduler, 1.0],
             inputs=[inp("model", "MODEL"), inp("positive", "CONDITIONING"), inp("negative", "CONDITIONING"),
                     inp("latent_image", "LATENT")], outputs=[out("LATENT", "LATENT", [1])]),
        node(2, "VAEDecode", [], inputs=[inp("samples", "LATENT", 1), inp("vae", "VAE")],
             outputs=[out("IMAGE", "IMAGE", [2])]),
        node(3, "SaveImage", ["out"], inputs=[inp("images", "IMAGE", 2)]),
    ], [[1, 1, 0, 2, 0, "LATENT"], [2, 2, 0, 3, 0, "IMAGE"]]))


def test_res4lyf_sampler_and_scheduler_names_are_warnings():
    found = validate_text(_ksampler_workflow("res_2s", "bong_tangent"), "wf.json").diagnostics
    combos = [d for d in found if d.code == "combo-value"]
    assert {d.input for d in combos} == {"sampler_name", "scheduler"}
    assert all(d.severity is Severity.WARNING for d in combos), [d.text() for d in combos]
    assert "run time" in combos[0].message


def test_wrapper_model_loader_fp16_follows_the_values_not_a_stale_ver():
    # realworld 014 saves properties.ver 44c5944 (2025-02-25, base_precision fp32/bf16)
    # with base_precision 'fp16', an option every signature since 2025-02-26 has.
    spec = default_registry().get("WanVideoModelLoader")
    commits = default_registry().commit_index(spec.pack)
    ver = "44c5944f7031949440315038e94ca3f46e80adb2"
    values = ["wan2.1_i2v_480p_14B_bf16.safetensors", "fp16", "fp8_e4m3fn", "offload_device", "sageattn"]
    choice = choose_signature(spec, values, commits.get(ver), commits)
    sig = spec.signatures[choice.index]
    assert "fp16" in sig.input("base_precision").options


def test_values_that_the_ver_signature_lists_keep_the_ver_choice():
    reg = test_registry()
    spec = reg.get("Sampler")
    commits = reg.commit_index("testpack")
    choice = choose_signature(spec, [7, "fixed", 20, "unipc", 6.0], commits["b" * 40], commits)
    assert choice.how == "ver"


def test_a_node_with_no_outputs_counts_as_an_output():
    # Essentials' MaskPreview+ inherits OUTPUT_NODE from ComfyUI's SaveImage, which the
    # extracted spec cannot see: a node with nothing to hand on is there to show something.
    data = _orphan_sampler(base())
    data["nodes"].append(node(54, "MaskPreview+", [], inputs=[inp("mask", "LATENT", 10)]))
    _node(data, 52)["outputs"][0]["links"].append(10)
    data["links"].append([10, 52, 0, 54, 0, "LATENT"])
    found = validate_text(json.dumps(data), "wf.json", registry=_with_preview()).diagnostics
    assert not [d for d in found if d.code == "unused-node"], [d.text() for d in found]


def _with_preview():
    from specs_for_tests import PACK
    from wfrun.specs.registry import Registry
    from wfrun.specs.spec import PackSpecs
    pack = copy.deepcopy(PACK)
    pack["nodes"]["MaskPreview+"] = {"class_type": "MaskPreview+", "pack": "testpack", "signatures": [{
        "inputs": [{"name": "mask", "type": "LATENT", "section": "required"}], "outputs": []}]}
    return Registry([PackSpecs.model_validate(pack)])


def test_an_extensions_trailing_toggles_are_not_a_widget_value():
    """A frontend extension saves its on/off state as a list of booleans after the node's own
    values (realworld 057); the text is still read as the text, nothing is left unbound."""
    from wfrun.graph.widgets import bind, choose_signature
    from wfrun.specs.registry import default_registry

    spec = default_registry().get("CLIPTextEncode")
    values = ["a cat", [False, True]]
    binding = bind(spec, values, choose_signature(spec, values))
    assert binding.values == {"text": "a cat"} and binding.unbound == [] and binding.exact
    other = ["a cat", [1, 2]]  # numbers are not toggles: still a surplus value
    assert bind(spec, other, choose_signature(spec, other)).unbound == [[1, 2]]
