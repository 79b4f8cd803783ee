"""WanVideoSamplerSettings + WanVideoSamplerFromSettings (the wrapper, 2025-10-29 on): the
sampler cut in two gives what WanVideoSampler gives for the same inputs, bit for bit, also
when the settings node's widgets are fed by PrimitiveNodes and a WanVideoScheduler as in
shared workflows; errors found while sampling name the settings node."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from specs_for_tests import inp, out, workflow
from specs_for_tests import node as ui_node
from test_sampling_loop import load, t2v_embeds, text, tiny_files  # noqa: F401 (fixture)
from wfrun.engine.plan import make_plan
from wfrun.engine.progress import QuietProgress
from wfrun.engine.run import run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ContextOptions, SamplerSettings, ScheduleChoice
from wfrun.specs.registry import default_registry

T2V = "Wan2_1-T2V-1_3B_tiny_bf16.safetensors"


@pytest.fixture(scope="module")
def model(tiny_files):
    return load(tiny_files, T2V, "t2v")


def both(ctx_factory, **inputs):
    """The same inputs through WanVideoSampler and through Settings -> FromSettings."""
    direct = node("WanVideoSampler")(ctx_factory(), **inputs)
    (settings,) = node("WanVideoSamplerSettings")(ctx_factory(), **inputs)
    split = node("WanVideoSamplerFromSettings")(ctx_factory(), sampler_inputs=settings)
    return direct, split, settings


CASES = {
    "dpm++_sde with cfg": dict(steps=3, cfg=4.0, shift=5.0, seed=11, scheduler="dpm++_sde"),
    "scheduler node, range": dict(steps=30, cfg=1.0, shift=3.0, seed=2,
                                  scheduler=ScheduleChoice("euler", steps=4, shift=3.0, start_step=1, end_step=3)),
    "cfg list, rope default": dict(steps=3, cfg=[5.0, 1.0, 3.0], shift=5.0, seed=7, scheduler="unipc",
                                   rope_function="default", riflex_freq_index=2),
    "context windows": dict(steps=2, cfg=2.0, shift=5.0, seed=3, scheduler="euler",
                            context_options=ContextOptions(context_schedule="uniform_standard", context_frames=9,
                                                           context_stride=4, context_overlap=4)),
}


@pytest.mark.parametrize("case", CASES)
@torch.no_grad()
def test_settings_then_from_settings_equals_the_sampler_bit_for_bit(model, case):
    inputs = dict(CASES[case], model=model, image_embeds=t2v_embeds(frames=13 if "context" in case else 9),
                  text_embeds=text(dim=32))
    (latent, denoised), (latent2, denoised2), settings = both(ExecContext, **inputs)
    assert torch.equal(latent["samples"], latent2["samples"])
    assert torch.equal(denoised["samples"], denoised2["samples"])
    assert isinstance(settings, SamplerSettings)
    # the settings hold every input WanVideoSampler takes, the spec's defaults for the rest
    names = {i.name for i in default_registry().get("WanVideoSamplerSettings").signatures[-1].inputs
             if i.default is not None}
    assert names <= set(settings.inputs) and settings.inputs["seed"] == inputs["seed"]
    with pytest.raises(TypeError):
        settings.inputs["seed"] = 1  # read-only: a settings value feeding two samplers stays as made


@torch.no_grad()
def test_a_different_seed_in_the_settings_changes_the_result(model):
    base = dict(model=model, image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=2, cfg=1.0, scheduler="euler")
    runs = []
    for seed in (1, 2):
        (settings,) = node("WanVideoSamplerSettings")(ExecContext(), seed=seed, **base)
        runs.append(node("WanVideoSamplerFromSettings")(ExecContext(), sampler_inputs=settings)[0]["samples"])
    assert not torch.equal(runs[0], runs[1])


def test_a_sampling_error_names_the_settings_node_and_its_input(model):
    (settings,) = node("WanVideoSamplerSettings")(ExecContext(node_id="119", node_title="Settings"), model=model,
                                                  image_embeds=t2v_embeds(), text_embeds=text(dim=32),
                                                  scheduler="no_such_scheduler")
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSamplerFromSettings")(ExecContext(), sampler_inputs=settings)
    assert err.value.input_name == "sampler_inputs"
    assert "'scheduler'" in str(err.value) and "node 119 'Settings'" in str(err.value)


def test_from_settings_refuses_what_is_not_sampler_settings(model):
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSamplerFromSettings")(ExecContext(), sampler_inputs={"model": model})
    assert err.value.input_name == "sampler_inputs" and "WanVideoSamplerSettings" in err.value.hint
    incomplete = SamplerSettings(inputs={"model": model})
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSamplerFromSettings")(ExecContext(), sampler_inputs=incomplete)
    assert "incomplete" in str(err.value)


def _primitive_workflow(seed: int, cfg: float) -> dict:
    """T5 + text, model, empty embeds; a seed and a cfg PrimitiveNode and a WanVideoScheduler
    feeding both a WanVideoSamplerSettings (-> FromSettings) and a WanVideoSampler, whose own
    widgets say otherwise (seed 0, cfg 6, unipc), as the SteadyDancer example wires it."""
    sampler_widgets = [20, 6.0, 5.0, 0, "fixed", True, "unipc", 0, 1.0, False, "comfy", 0, -1, False]
    sampler_inputs = lambda first: [  # noqa: E731
        inp("model", "WANVIDEOMODEL", first), inp("image_embeds", "WANVIDIMAGE_EMBEDS", first + 1),
        inp("text_embeds", "WANVIDEOTEXTEMBEDS", first + 2), inp("cfg", "FLOAT", first + 3, widget="cfg"),
        inp("seed", "INT", first + 4, widget="seed"), inp("scheduler", "COMBO", first + 5, widget="scheduler")]
    nodes = [
        ui_node(1, "LoadWanVideoT5TextEncoder", ["umt5-xxl-enc-tiny-bf16.safetensors", "fp32", "offload_device",
                                                 "disabled"], outputs=[out("wan_t5_model", "WANTEXTENCODER", [1])]),
        ui_node(2, "WanVideoTextEncode", ["a cat dancing", "blurry", True, False, "gpu"],
                inputs=[inp("t5", "WANTEXTENCODER", 1)], outputs=[out("text_embeds", "WANVIDEOTEXTEMBEDS", [4, 14])]),
        ui_node(3, "WanVideoModelLoader", [T2V, "fp32", "disabled", "main_device", "sdpa", "default"],
                outputs=[out("model", "WANVIDEOMODEL", [2, 12])]),
        ui_node(4, "WanVideoEmptyEmbeds", [32, 32, 9], outputs=[out("image_embeds", "WANVIDIMAGE_EMBEDS", [3, 13])]),
        ui_node(5, "PrimitiveNode", [cfg, "fixed"], outputs=[dict(out("FLOAT", "FLOAT", [5, 15]), widget={"name": "cfg"})]),
        ui_node(6, "PrimitiveNode", [seed, "fixed"], outputs=[dict(out("INT", "INT", [6, 16]), widget={"name": "seed"})]),
        ui_node(7, "WanVideoScheduler", ["dpm++_sde", 3, 4.0, 0, -1, False],
                outputs=[out("sigmas", "SIGMAS"), out("steps", "INT"), out("shift", "FLOAT"),
                         out("scheduler", "COMBO", [7, 17]), out("start_step", "INT"), out("end_step", "INT")]),
        ui_node(8, "WanVideoSamplerSettings", sampler_widgets, inputs=sampler_inputs(2),
                outputs=[out("sampler_inputs", "SAMPLER_ARGS", [8])]),
        ui_node(9, "WanVideoSamplerFromSettings", [], inputs=[inp("sampler_inputs", "SAMPLER_ARGS", 8)],
                outputs=[out("samples", "LATENT"), out("denoised_samples", "LATENT")]),
        ui_node(10, "WanVideoSampler", sampler_widgets, inputs=sampler_inputs(12),
                outputs=[out("samples", "LATENT"), out("denoised_samples", "LATENT")]),
    ]
    links = [[1, 1, 0, 2, 0, "WANTEXTENCODER"]]
    for first, target in ((2, 8), (12, 10)):
        links += [[first, 3, 0, target, 0, "WANVIDEOMODEL"], [first + 1, 4, 0, target, 1, "WANVIDIMAGE_EMBEDS"],
                  [first + 2, 2, 0, target, 2, "WANVIDEOTEXTEMBEDS"], [first + 3, 5, 0, target, 3, "FLOAT"],
                  [first + 4, 6, 0, target, 4, "INT"], [first + 5, 7, 3, target, 5, "COMBO"]]
    links.append([8, 8, 0, 9, 0, "SAMPLER_ARGS"])
    return workflow(nodes, links, last_link_id=17)


@torch.no_grad()
def test_settings_fed_by_primitives_and_a_scheduler_node_run_as_the_sampler_does(tiny_files):
    graph = build(from_data(_primitive_workflow(seed=42, cfg=2.5), "w.json"), default_registry())
    settings = graph.node("8")
    assert settings.inputs["seed"] == 42 and settings.inputs["cfg"] == 2.5  # the primitives' values, not 0 / 6
    plan = make_plan(graph, outputs=["9", "10"])
    progress = QuietProgress()
    result = run_plan(graph, plan, ExecContext(models=ModelRoots.from_options(tiny_files), progress=progress))
    split, direct = result.outputs["9"], result.outputs["10"]
    assert torch.equal(split[0]["samples"], direct[0]["samples"])
    assert torch.equal(split[1]["samples"], direct[1]["samples"])
    assert progress.step_counts == [3, 3]  # the scheduler node's 3 steps, not the widgets' 20
    assert split[0]["samples"].shape == (1, 16, 3, 4, 4)
