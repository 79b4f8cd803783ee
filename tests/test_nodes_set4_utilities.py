"""Small utility nodes of several packs against their source's rules written out here:
ComfyMath's CM_IntBinaryOperation (Python's integer operators, the pack's table with its
Nand/Nor/Xnor quirks) and CM_FloatToInt (``int()``), comfy-image-saver's Seed Generator,
Comfyroll's CR Index Increment (two values for three outputs), rgthree's KSampler Config,
ComfyUI_Selectors' pickers and the memory-cleanup passthroughs."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.engine.executors import get_executor
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry

CTX = ExecContext()


@pytest.mark.parametrize("op,a,b,want", [
    ("Add", 7, -3, 4), ("Sub", 7, 10, -3), ("Mul", -4, 5, -20), ("Div", -7, 2, -4), ("Mod", -7, 2, 1),
    ("Pow", 2, 10, 1024), ("Pow", 2, -1, 0.5), ("And", 12, 10, 8), ("Nand", 12, 10, 2), ("Or", 12, 10, 14),
    ("Nor", 12, 10, 2), ("Xor", 12, 10, 6), ("Xnor", 12, 10, -7), ("Shl", 3, 2, 12), ("Shr", -9, 1, -5),
    ("Max", 3, 9, 9), ("Min", 3, 9, 3),
])
def test_int_binary_operation(op, a, b, want):
    assert node("CM_IntBinaryOperation")(CTX, op=op, a=a, b=b) == (want,)


@pytest.mark.parametrize("op,b", [("Div", 0), ("Mod", 0), ("Shl", -1), ("Shl", 10**6), ("Pow", 10**6)])
def test_int_binary_operation_refusals_name_b(op, b):
    with pytest.raises(NodeInputError) as err:
        node("CM_IntBinaryOperation")(CTX, op=op, a=3, b=b)
    assert err.value.input_name == "b"


def test_float_to_int_truncates():
    f = node("CM_FloatToInt")
    assert [f(CTX, a=v)[0] for v in (16.0, 2.9, -2.9, 0.0)] == [16, 2, -2, 0]
    for bad in (float("inf"), float("nan"), "3"):
        with pytest.raises(NodeInputError):
            f(CTX, a=bad)


def test_seed_generator_and_config_pass_their_widgets():
    assert node("Seed Generator")(CTX, seed=1111114) == (1111114,)
    assert node("KSampler Config (rgthree)")(CTX, steps_total=4, refiner_step=2, cfg=1.0, sampler_name="euler",
                                             scheduler="simple") == (4, 2, 1.0, "euler", "simple")
    assert node("SamplerSelector")(CTX) == ("euler",)  # the pack's default
    assert node("SchedulerSelector")(CTX) == ("normal",)


def test_cr_index_increment_returns_the_packs_two_values():
    index, second, third = node("CR Index Increment")(CTX, index=5, interval=-1)
    assert index == 4
    assert isinstance(second, str) and second.startswith("https://")  # the pack's help text, not the interval
    assert third is None


def test_memory_cleanups_pass_through():
    t = torch.ones(2)
    assert node("RAMCleanup")(CTX, anything=t)[0] is t
    registry = default_registry()
    laogou = registry.get("VRAMCleanup", {"cnr_id": "comfyui_memory_cleanup"})
    qwenvl = registry.get("VRAMCleanup", {"aux_id": "huchukato/ComfyUI-QwenVL-Mod"})
    assert {laogou.pack, qwenvl.pack} == {"Comfyui-Memory_Cleanup", "ComfyUI-QwenVL-Mod"}
    assert get_executor("VRAMCleanup", laogou)(CTX, anything=t, offload_model=True, offload_cache=True)[0] is t
    assert get_executor("VRAMCleanup", qwenvl)(CTX, input=t, cleanup_mode="Text Encoder")[0] is t


def test_cr_index_increment_check_flags_links_from_its_short_outputs():
    import json as _json

    from wfrun.formats.document import from_data
    from wfrun.graph import build
    from wfrun.packs.comfyroll.checks import cr_index_increment_outputs

    def graph(slot):
        prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
                  "2": {"class_type": "CR Index Increment", "inputs": {"index": ["1", 0], "interval": 1}},
                  "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", slot]}}}
        return build(from_data(_json.loads(_json.dumps(prompt)), "wf.json"), default_registry())

    assert list(cr_index_increment_outputs(graph(0), None)) == []
    (warning,) = cr_index_increment_outputs(graph(1), None)
    (error,) = cr_index_increment_outputs(graph(2), None)
    assert warning.severity.name == "WARNING" and error.severity.name == "ERROR"
    assert warning.node_id == error.node_id == "2"
